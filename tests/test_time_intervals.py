"""Time-interval features (TiSASRec-style attention bias): bucketing, the model, data plumbing, train -> pipeline."""

import json

import pytest
import torch
from datasets import Dataset
from transformers import AutoModel, AutoTokenizer

from modeling_attnrank import AttnRankForNextItemPrediction
from modeling_attnrank.collator import NextItemCollator
from modeling_attnrank.evaluation import evaluate_ranking, model_scorer
from modeling_attnrank.modeling_attnrank import time_interval_buckets
from modeling_attnrank.pipeline_attnrank import NextItemRecommendationPipeline
from modeling_attnrank.splits import build_tokenizer, encode_splits, leave_one_out_split
from modeling_attnrank.synthetic import generate_synthetic_sequences
from modeling_attnrank.training import main

from conftest import tiny_config


def timed_model(**overrides):
    torch.manual_seed(0)
    model = AttnRankForNextItemPrediction(tiny_config(time_interval_buckets=8, **overrides)).eval()
    with torch.no_grad():  # a visible bias: interval bucket b adds b to every head's scores
        for block in model.model.blocks:
            block.attention.time_interval_bias.weight.copy_(torch.arange(8.0)[:, None].expand(8, 2))
    return model


HISTORY = torch.tensor([[3, 4, 5, 6]])
TIMES = torch.tensor([[100, 101, 160, 5000]])


def test_buckets_are_log2_of_the_interval_capped():
    buckets = time_interval_buckets(torch.tensor([[0, 0, 1, 3, 1000, 10**9]]), 8)[0]
    assert buckets[0].tolist() == [0, 0, 1, 2, 7, 7]  # |dt| 0, 0, 1, 3, 1000 (log2 ~10, capped), 1e9
    assert torch.equal(buckets, buckets.T)  # symmetric: |t_i - t_j|


def test_model_requires_timestamps_and_uses_them():
    model = timed_model()
    with pytest.raises(ValueError, match="timestamps"):
        model(HISTORY)
    base = model(HISTORY, timestamps=TIMES).logits
    other = model(HISTORY, timestamps=torch.tensor([[100, 4000, 4001, 5000]])).logits
    assert not torch.allclose(base[0, -1], other[0, -1])
    shifted = model(HISTORY, timestamps=TIMES + 12345).logits  # only intervals matter
    torch.testing.assert_close(base, shifted)


def test_left_padding_and_last_position_only_change_nothing():
    model = timed_model()
    padded = torch.tensor([[0, 0, 3, 4, 5, 6]])
    padded_times = torch.tensor([[0, 0, 100, 101, 160, 5000]])
    full = model(HISTORY, timestamps=TIMES).logits[0]
    torch.testing.assert_close(model(padded, timestamps=padded_times).logits[0, 2:], full, rtol=1e-5, atol=1e-5)
    last = model.user_representation(padded, timestamps=padded_times)
    torch.testing.assert_close(model.score_items(last)[0], full[-1], rtol=1e-5, atol=1e-5)
    explicit = model(padded, timestamps=padded_times, output_attentions=True)
    torch.testing.assert_close(explicit.logits[0, 2:], full, rtol=1e-5, atol=1e-5)
    rows = explicit.attentions[0].sum(-1)
    torch.testing.assert_close(rows, torch.ones_like(rows))
    top = model.recommend(padded, timestamps=padded_times, k=3).item_ids[0]
    assert not set(top.tolist()) & {3, 4, 5, 6}


def test_encoding_keeps_timestamps_aligned_and_collator_pads_them():
    data = Dataset.from_dict({"user_id": ["u1", "u2"], "item_ids": [list("abcdefg"), list("xzy")],
                              "timestamps": [[1, 2, 3, 4, 5, 6, 7], [10, 20, 30]]})
    splits, _ = leave_one_out_split(data)
    tokenizer = build_tokenizer(splits["train"], 3)
    encoded, _ = encode_splits(splits, tokenizer, 3, train_windows="all", with_timestamps=True)
    train = encoded["train"]
    for row in train:
        assert len(row["timestamps"]) == len(row["input_ids"])
    u1 = [row for row in train if row["user_id"] == "u1"]
    assert [row["timestamps"] for row in u1] == [[2, 3, 4], [1]]  # windows over a b c d e: pairs (b..e), (a->b)
    test = encoded["test"]
    assert test[1]["input_ids"] == [tokenizer.item_to_index["x"]]  # "z" is not in the training vocabulary
    assert test[1]["timestamps"] == [10]  # ... and its timestamp goes with it
    batch = NextItemCollator(3)([train[0], train[1]])
    assert batch["timestamps"].shape == batch["input_ids"].shape
    assert ((batch["timestamps"] == 0) == (batch["input_ids"] == 0)).all()
    no_times = Dataset.from_dict({"user_id": ["u1"], "item_ids": [list("abcd")], "timestamps": [[]]})
    splits, _ = leave_one_out_split(no_times)
    with pytest.raises(ValueError, match="timestamp"):
        encode_splits(splits, build_tokenizer(splits["train"], 3), 3, with_timestamps=True)


def test_training_with_time_intervals_end_to_end(tmp_path):
    out = tmp_path / "timed"
    main(["--synthetic_users", "200", "--synthetic_items", "80", "--hidden_size", "16", "--intermediate_size", "32",
          "--max_seq_len", "20", "--per_device_train_batch_size", "64", "--seed", "1", "--num_train_epochs", "1",
          "--time_interval_buckets", "16", "--sampled_test", "false", "--output_dir", str(out)])
    saved = json.loads((out / "test_results.json").read_text())
    model = AutoModel.from_pretrained(out).eval()
    assert model.config.time_interval_buckets == 16
    tokenizer = AutoTokenizer.from_pretrained(out)
    splits, _ = leave_one_out_split(generate_synthetic_sequences(num_users=200, num_items=80, seed=0))
    encoded, _ = encode_splits(splits, tokenizer, 20, with_timestamps=True)
    again = evaluate_ranking(model_scorer(model), encoded["test"], model.config.num_items, ks=(10,))
    assert again["ndcg@10"] == pytest.approx(saved["test_ndcg@10"], abs=1e-6)

    recommender = NextItemRecommendationPipeline(model=model, tokenizer=tokenizer)
    history = splits["test"][0]["history"]
    with pytest.raises(ValueError, match="timestamps"):
        recommender(history)
    times = splits["test"][0]["history_timestamps"]
    batched = recommender([{"history": history, "timestamps": times}, {"history": history[:3], "timestamps": times[:3]}])
    assert len(batched) == 2 and len(batched[0]) == 10
    alone = recommender({"history": history, "timestamps": times})
    assert [r["item_id"] for r in alone] == [r["item_id"] for r in batched[0]]
