"""Sharing on the Hub, tested against a stand-in of the Hub's HTTP API on 127.0.0.1 (tests/fake_hub.py): the real
`huggingface_hub` client runs up to the HTTP boundary; nothing reaches the internet. Also the rendered model card."""

import json

import pytest
from huggingface_hub import ModelCard

from modeling_attnrank import AttnRankTokenizer, add_pipeline_to_folder
from modeling_attnrank.hub import files_to_push, push_to_hub

from conftest import tiny_model
from fake_hub import FakeHub
from tiny_run import HUB_REPO_ID, tiny_run


@pytest.fixture
def hub(monkeypatch):
    for variable in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
    fake = FakeHub().start()
    yield fake
    fake.stop()


@pytest.fixture
def saved_folder(tmp_path):
    """A save_pretrained folder with the pipeline declared, plus what must stay local."""
    folder = tmp_path / "model"
    tiny_model().save_pretrained(folder)
    AttnRankTokenizer(items=[f"item{i}" for i in range(1, 31)], model_max_length=12).save_pretrained(folder)
    add_pipeline_to_folder(folder)
    (folder / "README.md").write_text("---\nlibrary_name: transformers\n---\n# tiny\n")
    (folder / "training_args.bin").write_bytes(b"pickle")
    (folder / "checkpoint-3").mkdir()
    (folder / "checkpoint-3" / "optimizer.pt").write_bytes(b"state")
    (folder / ".tmp-checkpoint-4").mkdir()
    return folder


def test_training_pushes_exactly_its_final_folder():
    run = tiny_run()  # trained with --push_to_hub --hub_model_id attnrank-test/tiny against the stand-in
    uploaded = run.hub.files(HUB_REPO_ID)
    top_level = {path.name for path in run.folder.iterdir() if path.is_file()} - {"training_args.bin"}
    assert set(uploaded) == top_level == set(files_to_push(run.folder))
    for name, content in uploaded.items():
        assert content == (run.folder / name).read_bytes(), name  # the final state of every file, card included
    for name in ("config.json", "model.safetensors", "items.json", "tokenizer_config.json", "README.md",
                 "modeling_attnrank.py", "configuration_attnrank.py", "loss_attnrank.py",
                 "tokenization_attnrank.py", "pipeline_attnrank.py", "test_results.json", "training_curves.png"):
        assert name in uploaded, name
    assert not any(name.startswith("checkpoint-") for name in uploaded)
    config = json.loads(uploaded["config.json"])
    assert config["auto_map"]["AutoModel"] == "modeling_attnrank.AttnRankForNextItemPrediction"
    assert "next-item-recommendation" in config["custom_pipelines"]
    posts = [path for method, path, _ in run.hub.requests if method == "POST"]
    assert posts.count(f"/api/models/{HUB_REPO_ID}/commit/main") == 1  # one commit, after the card was written
    assert all(auth == "Bearer hf_test_token" for method, _, auth in run.hub.requests if method == "POST")


def test_model_card_parses_and_holds_the_test_results():
    run = tiny_run()
    card = ModelCard.load(run.folder / "README.md")
    saved = json.loads((run.folder / "test_results.json").read_text())
    assert card.data.library_name == "transformers" and "sequential-recommendation" in card.data.tags
    results = {result.metric_type: result for result in card.data.eval_results}
    for k in (5, 10, 20):
        for metric in ("ndcg", "hr", "mrr", "coverage"):
            assert results[f"{metric}@{k}"].metric_value == pytest.approx(saved[f"test_{metric}@{k}"], abs=1e-6)
            assert saved["test_protocol"] in results[f"{metric}@{k}"].metric_name
            assert results[f"{metric}@{k}"].dataset_split == "test"
    text = card.text
    assert "![Training loss and validation NDCG@10](training_curves.png)" in text
    assert f'"{HUB_REPO_ID}"' in text and "trust_remote_code=True" in text and "revision=revision" in text
    assert 'pipeline("next-item-recommendation"' in text


def test_push_uploads_model_files_only(hub, saved_folder):
    commit = push_to_hub(saved_folder, "someone/tiny", token="hf_x", private=True, revision="v1",
                         endpoint=hub.url)
    expected = {"config.json", "model.safetensors", "items.json", "tokenizer_config.json", "README.md",
                "configuration_attnrank.py", "modeling_attnrank.py", "loss_attnrank.py",
                "tokenization_attnrank.py", "pipeline_attnrank.py"}
    assert set(hub.files("someone/tiny", "v1")) == expected  # no pickle, no checkpoint, no hidden folder
    assert hub.files("someone/tiny", "main") == {}  # committed to the branch only
    assert hub.repos["someone/tiny"]["private"]
    assert commit.oid and commit.commit_url.startswith(hub.url)
    for name in expected:
        assert hub.files("someone/tiny", "v1")[name] == (saved_folder / name).read_bytes()


def test_push_refuses_a_folder_that_would_not_load(hub, saved_folder):
    (saved_folder / "pipeline_attnrank.py").unlink()
    with pytest.raises(FileNotFoundError, match=r"pipeline_attnrank\.py"):
        push_to_hub(saved_folder, "someone/tiny", token="hf_x", endpoint=hub.url)
    (saved_folder / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        files_to_push(saved_folder)
    assert hub.requests == []  # refused before any request
