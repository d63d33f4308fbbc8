"""Splits: the SASRec leave-one-out protocol and the temporal split, with no leakage of held-out targets."""

from datasets import Dataset, DatasetDict

from modeling_attnrank.collator import NextItemCollator, left_pad
from modeling_attnrank.splits import build_tokenizer, encode_splits, leave_one_out_split, temporal_split
from modeling_attnrank.synthetic import generate_synthetic_sequences


def sequences():
    return Dataset.from_dict({
        "user_id": ["a", "b", "c"],
        "item_ids": [["1", "2", "3", "4", "5"], ["2", "3", "6"], ["7", "8"]],
        "timestamps": [[1, 2, 3, 4, 5], [1, 5, 9], [3, 4]],
    })


def test_leave_one_out_by_hand():
    splits, stats = leave_one_out_split(sequences())
    assert splits["train"]["item_ids"] == [["1", "2", "3"], ["2"], ["7", "8"]]  # short user c only trains
    assert splits["validation"]["history"] == [["1", "2", "3"], ["2"]]
    assert splits["validation"]["target"] == ["4", "3"]
    assert splits["test"]["history"] == [["1", "2", "3", "4"], ["2", "3"]]  # includes the validation item
    assert splits["test"]["target"] == ["5", "6"]
    assert stats["train_only_users"] == 1


def test_vocabulary_from_training_only_and_unknown_targets_kept():
    splits, _ = leave_one_out_split(sequences())
    tokenizer = build_tokenizer(splits["train"], max_seq_len=10)
    assert set(tokenizer.get_vocab()) == {"[PAD]", "1", "2", "3", "7", "8"}
    encoded, stats = encode_splits(splits, tokenizer, max_seq_len=10)
    assert encoded["test"]["labels"] == [0, 0]  # "5" and "6" never trained: unknown, counted as misses
    assert len(encoded["test"]) == 2 and stats["test_unknown_targets"] == 2
    assert encoded["train"]["input_ids"][0] == [1, 2] and encoded["train"]["labels"][0] == [2, 3]


def test_no_test_or_validation_target_is_ever_a_training_label():
    data = generate_synthetic_sequences(num_users=200, num_items=100, min_length=3, max_length=20, seed=3)
    splits, _ = leave_one_out_split(data)
    tokenizer = build_tokenizer(splits["train"], max_seq_len=50)
    encoded, _ = encode_splits(splits, tokenizer, max_seq_len=50)
    train_by_user = dict(zip(splits["train"]["user_id"], splits["train"]["item_ids"]))
    for name in ("validation", "test"):
        for user, target, history in zip(splits[name]["user_id"], splits[name]["target"], splits[name]["history"]):
            train_items = train_by_user[user]
            # the held-out event is not among the user's training events (users never repeat items here)
            assert target not in train_items
            assert len(train_items) == len(data[int(user[1:])]["item_ids"]) - 2
    # validation targets are never test inputs' future: test history = validation history + validation target
    for v_hist, v_target, t_hist in zip(splits["validation"]["history"], splits["validation"]["target"],
                                        splits["test"]["history"]):
        assert t_hist == v_hist + [v_target]
    # training labels only come from training sequences
    for user, labels in zip(encoded["train"]["user_id"], encoded["train"]["labels"]):
        assert tokenizer.convert_ids_to_tokens(labels) == train_by_user[user][1:][-50:]


def test_temporal_split():
    splits, stats = temporal_split(sequences(), validation_cutoff=4, test_cutoff=5)
    assert splits["train"]["item_ids"] == [["1", "2", "3"], ["2"], ["7"]]
    assert splits["validation"]["target"] == ["4", "8"]
    assert splits["test"]["target"] == ["5", "3"]
    assert splits["test"]["history"] == [["1", "2", "3", "4"], ["2"]]


def test_left_pad_and_collator():
    assert left_pad([[1, 2, 3], [4]]).tolist() == [[1, 2, 3], [0, 0, 4]]
    assert left_pad([[1, 2, 3], [4]], max_length=2).tolist() == [[2, 3], [0, 4]]
    batch = NextItemCollator(max_seq_len=2)([{"input_ids": [1, 2, 3], "labels": [2, 3, 4]},
                                              {"input_ids": [5], "labels": [6]}])
    assert batch["input_ids"].tolist() == [[2, 3], [0, 5]]
    assert batch["labels"].tolist() == [[3, 4], [-100, 6]]
    assert batch["attention_mask"].tolist() == [[1, 1], [0, 1]]
    eval_batch = NextItemCollator(max_seq_len=2)([{"input_ids": [1, 2, 3], "labels": 4}])
    assert eval_batch["input_ids"].tolist() == [[1, 2, 3]]  # evaluation keeps the whole history
    assert eval_batch["labels"].tolist() == [4]


def test_synthetic_data_is_deterministic_and_has_no_repeats():
    a = generate_synthetic_sequences(num_users=50, num_items=100, seed=1)
    b = generate_synthetic_sequences(num_users=50, num_items=100, seed=1)
    assert a["item_ids"] == b["item_ids"]
    assert all(len(set(items)) == len(items) for items in a["item_ids"])


def test_all_windows_cover_every_next_item_pair_once():
    data = Dataset.from_dict({"user_id": ["a"], "item_ids": [[str(i) for i in range(1, 9)]]})
    splits = DatasetDict(train=data)
    tokenizer = build_tokenizer(data, max_seq_len=3)
    last, _ = encode_splits(splits, tokenizer, max_seq_len=3)
    assert last["train"]["input_ids"] == [[5, 6, 7]]
    every, _ = encode_splits(splits, tokenizer, max_seq_len=3, train_windows="all")
    pairs = [(i, j) for inputs, labels in zip(every["train"]["input_ids"], every["train"]["labels"])
             for i, j in zip(inputs, labels)]
    assert sorted(pairs) == [(i, i + 1) for i in range(1, 8)]
    assert set(every["train"]["user_id"]) == {"a"}
