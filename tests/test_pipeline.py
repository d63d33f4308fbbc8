"""The next-item-recommendation pipeline: remote code from a trained folder in a clean process, whole-catalogue
recommendations, re-ranking of given candidates, attention explanations, and how it is declared in a saved folder."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from transformers import pipeline

from modeling_attnrank import (
    PIPELINE_TASK,
    AttnRankForNextItemPrediction,
    AttnRankTokenizer,
    NextItemRecommendationPipeline,
    add_pipeline_to_folder,
)

from conftest import tiny_model
from test_remote_code import BLOCK_PACKAGE
from tiny_run import tiny_run


ITEMS = [f"item{i}" for i in range(1, 31)]


@pytest.fixture(scope="module")
def pipe():
    tokenizer = AttnRankTokenizer(items=ITEMS, model_max_length=12)
    return pipeline(PIPELINE_TASK, model=tiny_model(), tokenizer=tokenizer, device="cpu")


def expected_top(pipe, history, k, exclude_seen=True):
    """Recommendations computed by hand from the model: raw IDs and scores, best first."""
    batch = pipe.tokenizer([history], truncation=False, return_tensors="pt")
    top = pipe.model.recommend(**batch, k=k, exclude_seen=exclude_seen)
    return pipe.tokenizer.decode_items(top.item_ids[0]), top.scores[0]


def assert_same_recommendations(result, item_ids, scores):
    assert [r["item_id"] for r in result] == item_ids
    torch.testing.assert_close(torch.tensor([r["score"] for r in result]), scores[: len(result)].float())


def assert_same_answer(first, second):
    """Same items in the same order; scores equal up to float rounding (batch composition changes padding)."""
    assert [r["item_id"] for r in first] == [r["item_id"] for r in second]
    for a, b in zip(first, second):
        assert (a["score"] is None and b["score"] is None) or a["score"] == pytest.approx(b["score"], abs=1e-5)


def test_trained_folder_loads_as_pipeline_in_clean_process(tmp_path):
    run = tiny_run()
    folder = run.folder
    config = json.loads((folder / "config.json").read_text())
    assert config["custom_pipelines"][PIPELINE_TASK]["impl"] == "pipeline_attnrank.NextItemRecommendationPipeline"
    assert (folder / "pipeline_attnrank.py").exists()

    items = json.loads((folder / "items.json").read_text())
    histories = [items[:3], items[10:12], items[20:45]]  # the last is longer than max_seq_len (20)
    candidates = [[items[5], "never-seen", items[6], items[0]], [items[7]], []]
    script = BLOCK_PACKAGE + textwrap.dedent(
        f"""
        import json
        from transformers import pipeline
        try:
            import modeling_attnrank
            raise SystemExit("package visible")
        except ImportError:
            pass
        pipe = pipeline({PIPELINE_TASK!r}, model={str(folder)!r}, trust_remote_code=True, device="cpu")
        histories, candidates = {histories!r}, {candidates!r}
        print(json.dumps({{
            "class": type(pipe).__module__ + "." + type(pipe).__name__,
            "single": pipe(histories[0], top_k=5),
            "batch": pipe(histories, top_k=5, batch_size=2),
            "reranked": pipe(histories, candidates=candidates),
            "explained": pipe(histories, top_k=3, explain=True),
        }}))
        """
    )
    env = dict(os.environ, HF_HOME=str(tmp_path / "hf_home"), HF_HUB_OFFLINE="1", PYTHONPATH="")
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    payload = json.loads(result.stdout.strip().splitlines()[-1])
    assert payload["class"].startswith("transformers_modules.")  # the folder's own copy of the pipeline code

    # The same numbers as the model computes here, with this package.
    model = AttnRankForNextItemPrediction.from_pretrained(folder).eval()
    tokenizer = AttnRankTokenizer.from_pretrained(folder)
    local = NextItemRecommendationPipeline(model=model, tokenizer=tokenizer, device="cpu")
    assert_same_answer(payload["single"], payload["batch"][0])
    for history, recommendations in zip(histories, payload["batch"]):
        assert len(recommendations) == 5 and not {r["item_id"] for r in recommendations} & set(history)
        assert all(isinstance(r["item_id"], str) and isinstance(r["score"], float) for r in recommendations)
        assert_same_recommendations(recommendations, *expected_top(local, history, 5))

    first, second, third = payload["reranked"]
    assert [r["item_id"] for r in first][-1] == "never-seen" and first[-1]["score"] is None  # reported, last
    assert sorted(r["item_id"] for r in first) == sorted(candidates[0])  # nothing dropped
    assert [r["score"] for r in first[:-1]] == sorted((r["score"] for r in first[:-1]), reverse=True)
    assert [r["item_id"] for r in second] == [items[7]] and third == []

    for history, answer in zip(histories, payload["explained"]):
        explanation = answer["explanation"]
        assert explanation["history"] == history[-20:]  # raw IDs of the items read (the last max_seq_len)
        assert len(explanation["attentions"]) == model.config.num_hidden_layers
        for layer in explanation["attentions"]:
            assert len(layer) == model.config.num_attention_heads
            for head in layer:
                assert len(head) == len(explanation["history"]) and sum(head) == pytest.approx(1.0, abs=1e-5)
        assert sum(explanation["rollout"]) == pytest.approx(1.0, abs=1e-5)
        assert [r["item_id"] for r in answer["recommendations"]] == expected_top(local, history, 3)[0]


def test_task_is_registered_and_recommends_raw_ids(pipe):
    assert isinstance(pipe, NextItemRecommendationPipeline)
    history = ["item3", "item7", "item2"]
    single = pipe(history, top_k=4)
    assert_same_recommendations(single, *expected_top(pipe, history, 4))
    assert not {r["item_id"] for r in single} & set(history)
    assert_same_answer(pipe("item3 item7 item2", top_k=4), single)  # whitespace-separated string
    assert pipe([3, 7], top_k=2) == pipe(["3", "7"], top_k=2)  # IDs given as numbers are read as strings
    with_seen = pipe(history, top_k=30, exclude_seen=False)
    assert {r["item_id"] for r in with_seen} == set(ITEMS)


def test_batches_with_left_padding_change_nothing(pipe):
    histories = [["item1"], ["item4", "item5", "item6", "item7", "item8"], ["item9", "item2"], ["item30"] * 3]
    one_by_one = [pipe(history, top_k=5) for history in histories]
    batched = pipe(histories, top_k=5, batch_size=3)
    for alone, together in zip(one_by_one, batched):
        assert_same_answer(alone, together)
    assert pipe([]) == []


def test_long_history_excludes_every_seen_item(pipe):
    history = ITEMS[:25]  # longer than max_seq_len=12: read from the last 12, all 25 excluded
    result = pipe(history, top_k=10)
    assert {r["item_id"] for r in result} == set(ITEMS[25:])  # only 5 items are left to recommend
    assert_same_recommendations(result, *expected_top(pipe, history, 10))


def test_candidates_are_reranked_and_unknown_ones_reported(pipe):
    histories = [["item3", "item7"], ["item9"]]
    candidates = [["item10", "unknown-a", "item3", "item11", "item12"], ["item1", "unknown-b"]]
    reranked = pipe(histories, candidates=candidates, batch_size=2)
    for history, given, result in zip(histories, candidates, reranked):
        known = [item for item in given if not item.startswith("unknown")]
        batch = pipe.tokenizer([history], return_tensors="pt")
        scores = pipe.model.score_items(pipe.model.user_representation(**batch))[0]
        by_hand = sorted(known, key=lambda item: -scores[pipe.tokenizer.item_to_index[item]].item())
        assert [r["item_id"] for r in result] == by_hand + [item for item in given if item.startswith("unknown")]
        for r in result[: len(known)]:
            assert r["score"] == pytest.approx(scores[pipe.tokenizer.item_to_index[r["item_id"]]].item(), abs=1e-5)
        assert all(r["score"] is None for r in result[len(known):])
    # A seen candidate is ranked, not removed: the caller chose it.
    assert "item3" in [r["item_id"] for r in reranked[0]]
    # One history with a flat candidate list; dict inputs mixing re-ranking and the catalogue in one batch.
    assert_same_answer(pipe(histories[0], candidates=candidates[0]), reranked[0])
    mixed = pipe([{"history": histories[0], "candidates": candidates[0]}, {"history": histories[1]}], top_k=3)
    assert_same_answer(mixed[0], reranked[0])
    assert_same_answer(mixed[1], pipe(histories[1], top_k=3))
    with pytest.raises(ValueError, match="2 histories but 1 candidate"):
        pipe(histories, candidates=candidates[:1])


def test_explanations_sum_to_one_per_head_under_left_padding(pipe):
    histories = [["item1", "item2", "item3", "item4"], ["item5"], ITEMS[:20]]
    explained = pipe(histories, top_k=3, explain=True, batch_size=3)
    alone = [pipe(history, top_k=3, explain=True, batch_size=1) for history in histories]
    for history, together, single in zip(histories, explained, alone):
        explanation = together["explanation"]
        assert explanation["history"] == history[-12:]
        weights = torch.tensor(explanation["attentions"])  # (layers, heads, positions)
        assert weights.shape == (2, 2, len(explanation["history"]))
        torch.testing.assert_close(weights.sum(-1), torch.ones(2, 2))
        assert sum(explanation["rollout"]) == pytest.approx(1.0, abs=1e-5)
        torch.testing.assert_close(weights, torch.tensor(single["explanation"]["attentions"]), atol=1e-5, rtol=0)
        assert_same_answer(together["recommendations"], pipe(history, top_k=3))


def test_explain_is_the_last_attention_row_and_its_rollout():
    model = tiny_model()
    input_ids = torch.tensor([[0, 0, 4, 9, 2], [3, 1, 4, 1, 5]])
    explanation = model.explain(input_ids)
    attentions = model(input_ids, output_attentions=True).attentions
    for layer, weights in enumerate(attentions):
        torch.testing.assert_close(explanation.attentions[:, layer], weights[:, :, -1, :])
    assert explanation.attentions[0, ..., :2].abs().max() == 0 and explanation.rollout[0, :2].abs().max() == 0
    torch.testing.assert_close(explanation.rollout.sum(-1), torch.ones(2))
    # Rollout by hand for one history: (0.5 A + 0.5 I) per layer, rows renormalised, multiplied through the layers.
    rollout = torch.eye(5)
    for weights in attentions:
        mixed = 0.5 * weights[1].mean(0) + 0.5 * torch.eye(5)
        rollout = (mixed / mixed.sum(-1, keepdim=True)) @ rollout
    torch.testing.assert_close(explanation.rollout[1], rollout[-1])
    local = tiny_model(attention_type="local", attention_window=2).explain(input_ids[1:])
    assert local.attentions[0, ..., :3].abs().max() == 0  # outside the window of the last 2 items


def test_rank_candidates_orders_by_catalogue_scores():
    model = tiny_model()
    input_ids = torch.tensor([[0, 4, 9, 2], [3, 1, 4, 1]])
    candidates = torch.tensor([[7, 0, 2, 19], [5, 6, 0, 0]])
    ranked = model.rank_candidates(input_ids, candidates)
    scores = model.score_items(model.user_representation(input_ids))
    for row in range(2):
        real = [c for c in candidates[row].tolist() if c != 0]
        by_hand = sorted(real, key=lambda c: -scores[row, c].item())
        assert ranked.item_ids[row, : len(real)].tolist() == by_hand
        torch.testing.assert_close(ranked.scores[row, : len(real)], scores[row, by_hand])
        assert torch.isneginf(ranked.scores[row, len(real):]).all() and (ranked.item_ids[row, len(real):] == 0).all()
    with pytest.raises(ValueError, match="0..30"):
        model.rank_candidates(input_ids, torch.tensor([[31], [1]]))


def test_saved_folders_declare_the_pipeline(pipe, tmp_path):
    pipe.save_pretrained(tmp_path / "via_pipeline")  # transformers' own way: the registered task is recorded
    saved = json.loads((tmp_path / "via_pipeline" / "config.json").read_text())
    tiny_model().save_pretrained(tmp_path / "via_model")  # a fresh config, which declares no pipeline
    assert "custom_pipelines" not in json.loads((tmp_path / "via_model" / "config.json").read_text())
    written = add_pipeline_to_folder(tmp_path / "via_model")  # for folders written by save_pretrained / Trainer
    declared = json.loads((tmp_path / "via_model" / "config.json").read_text())
    assert declared["custom_pipelines"] == saved["custom_pipelines"] == {
        PIPELINE_TASK: {"impl": "pipeline_attnrank.NextItemRecommendationPipeline", "pt": ["AutoModel"]}}
    assert declared["auto_map"] == saved["auto_map"]
    for folder in ("via_pipeline", "via_model"):
        assert (tmp_path / folder / "pipeline_attnrank.py").read_text() == open(
            sys.modules[NextItemRecommendationPipeline.__module__].__file__).read()
    assert str(tmp_path / "via_model" / "pipeline_attnrank.py") in written


def test_input_errors_say_what_to_do(pipe):
    with pytest.raises(ValueError, match="not a mix"):
        pipe(["item1", ["item2"]])
    with pytest.raises(ValueError, match="'history' key"):
        pipe({"items": ["item1"]})
    with pytest.raises(ValueError, match="when calling"):
        pipeline(PIPELINE_TASK, model=pipe.model, tokenizer=pipe.tokenizer, candidates=[["item1"]])
