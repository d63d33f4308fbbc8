import json

import pytest
import torch

from modeling_attnrank import AttnRankTokenizer
from transformers import AutoTokenizer


ITEMS = ["1193", "661", "914", "3408", "café", "x" * 200]


def test_raw_ids_round_trip():
    tokenizer = AttnRankTokenizer(items=ITEMS)
    ids = tokenizer.convert_tokens_to_ids(["1193", "661", "café"])
    assert ids == [1, 2, 5]
    assert tokenizer.convert_ids_to_tokens(ids) == ["1193", "661", "café"]
    assert tokenizer.num_items == len(ITEMS) and len(tokenizer) == len(ITEMS) + 1


def test_unknown_items_policy():
    tokenizer = AttnRankTokenizer(items=ITEMS)
    assert tokenizer.convert_tokens_to_ids(["nope"]) == [0]  # padding index: ignored by the model
    encoded = tokenizer(["1193", "nope", "661"])
    assert encoded["input_ids"] == [1, 2]
    strict = AttnRankTokenizer(items=ITEMS, unknown_item_policy="error")
    with pytest.raises(KeyError, match="nope"):
        strict(["1193", "nope"])


def test_left_padding_and_left_truncation():
    tokenizer = AttnRankTokenizer(items=ITEMS, model_max_length=3)
    batch = tokenizer([["1193", "661", "914", "3408"], ["661"]], return_tensors="pt")
    assert batch["input_ids"].tolist() == [[2, 3, 4], [0, 0, 2]]  # most recent items kept, padding on the left
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [0, 0, 1]]
    single = tokenizer("1193 661", return_tensors="pt")
    assert single["input_ids"].shape == (1, 2)


def test_save_and_load(tmp_path):
    tokenizer = AttnRankTokenizer(items=ITEMS, model_max_length=7, unknown_item_policy="error")
    tokenizer.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "items.json").read_text(encoding="utf-8")) == ITEMS
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    assert isinstance(loaded, AttnRankTokenizer)
    assert loaded.model_max_length == 7 and loaded.unknown_item_policy == "error"
    assert loaded.convert_tokens_to_ids(ITEMS) == list(range(1, len(ITEMS) + 1))
    assert loaded.decode_items(torch.tensor([0, 5, 1])) == ["café", "1193"]


def test_rejects_bad_vocabularies():
    with pytest.raises(ValueError, match="duplicate"):
        AttnRankTokenizer(items=["a", "a"])
    with pytest.raises(ValueError, match="reserved"):
        AttnRankTokenizer(items=["[PAD]"])
