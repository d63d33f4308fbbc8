"""Train / validation / test splits of per-user sequences, the item vocabulary, and encoding to indices.

Input: a `datasets.Dataset` of per-user sequences (`user_id`, `item_ids` chronological, `timestamps`), as produced
by `data.load_user_sequences` or `synthetic.generate_synthetic_sequences`.

Protocols
- Leave-one-out (SASRec, Kang & McAuley 2018): for a user with n >= 3 behaviours, items 1..n-2 train, item n-1 is
  the validation target (history: items 1..n-2) and item n the test target (history: items 1..n-1, i.e. it
  includes the validation item). Users with fewer than 3 behaviours only train, as in SASRec; they are counted.
- Global temporal split: behaviours before `validation_cutoff` train; a user's first behaviour in
  [validation_cutoff, test_cutoff) is their validation target and their first behaviour at or after `test_cutoff`
  their test target, each with every earlier behaviour as history.

No validation or test target is ever a training label, and only the validation split is used to select
checkpoints; `tests/test_splits.py` checks both. The item vocabulary is built from the training split only, so an
item first seen as a target is unknown: it still counts, as a miss (see `evaluation.py`).
"""

import logging

import numpy as np
from datasets import Dataset, DatasetDict

from .tokenization_attnrank import AttnRankTokenizer


logger = logging.getLogger(__name__)


def leave_one_out_split(sequences):
    """SASRec leave-one-out split. Returns (DatasetDict with train/validation/test, stats dict)."""
    lengths = np.array([len(items) for items in sequences["item_ids"]])
    evaluable = lengths >= 3

    if "timestamps" not in sequences.column_names:
        sequences = sequences.add_column("timestamps", [[] for _ in range(len(sequences))])

    def train_items(batch):
        return {"item_ids": [items[:-2] if len(items) >= 3 else items for items in batch["item_ids"]],
                "timestamps": [times[:-2] if len(items) >= 3 else times
                               for items, times in zip(batch["item_ids"], batch["timestamps"])]}

    def holdout(offset):
        def fn(batch):
            histories = [items[: len(items) - offset] for items in batch["item_ids"]]
            times = [times[: len(items) - offset] for items, times in zip(batch["item_ids"], batch["timestamps"])]
            return {"history": histories, "history_timestamps": times,
                    "target": [items[len(items) - offset] for items in batch["item_ids"]]}

        return fn

    train = sequences.map(train_items, batched=True, remove_columns=[c for c in sequences.column_names
                                                                     if c not in ("user_id", "item_ids", "timestamps")])
    evaluated = sequences.select(np.flatnonzero(evaluable))
    keep = ["user_id"]
    drop = [c for c in evaluated.column_names if c not in keep]
    validation = evaluated.map(holdout(2), batched=True, remove_columns=drop)
    test = evaluated.map(holdout(1), batched=True, remove_columns=drop)
    stats = {"users": len(sequences), "evaluated_users": int(evaluable.sum()),
             "train_only_users": int((~evaluable).sum())}
    if stats["train_only_users"]:
        logger.warning(f"{stats['train_only_users']} user(s) with fewer than 3 behaviours are used for training only "
                       "(not evaluable under leave-one-out).")
    return DatasetDict(train=train, validation=validation, test=test), stats


def temporal_split(sequences, validation_cutoff, test_cutoff):
    """Global temporal split at two timestamps (validation_cutoff <= test_cutoff). Returns (DatasetDict, stats)."""
    if validation_cutoff > test_cutoff:
        raise ValueError(f"validation_cutoff ({validation_cutoff}) must not be after test_cutoff ({test_cutoff}).")
    if any(len(times) != len(items) for items, times in zip(sequences["item_ids"], sequences["timestamps"])):
        raise ValueError("The temporal split needs a timestamp for every behaviour; this data has none.")
    train = {"user_id": [], "item_ids": [], "timestamps": []}
    validation = {"user_id": [], "history": [], "history_timestamps": [], "target": []}
    test = {"user_id": [], "history": [], "history_timestamps": [], "target": []}
    for user, items, times in zip(sequences["user_id"], sequences["item_ids"], sequences["timestamps"]):
        times = np.asarray(times)
        first_validation = int(np.searchsorted(times, validation_cutoff, side="left"))
        first_test = int(np.searchsorted(times, test_cutoff, side="left"))
        if first_validation > 0:
            train["user_id"].append(user)
            train["item_ids"].append(items[:first_validation])
            train["timestamps"].append(times[:first_validation].tolist())
        if first_validation < first_test and first_validation > 0:
            validation["user_id"].append(user)
            validation["history"].append(items[:first_validation])
            validation["history_timestamps"].append(times[:first_validation].tolist())
            validation["target"].append(items[first_validation])
        if first_test < len(items) and first_test > 0:
            test["user_id"].append(user)
            test["history"].append(items[:first_test])
            test["history_timestamps"].append(times[:first_test].tolist())
            test["target"].append(items[first_test])
    splits = DatasetDict(train=Dataset.from_dict(train), validation=Dataset.from_dict(validation),
                         test=Dataset.from_dict(test))
    stats = {"users": len(sequences), "validation_users": len(validation["user_id"]),
             "test_users": len(test["user_id"])}
    return splits, stats


def build_tokenizer(train, max_seq_len, **tokenizer_kwargs):
    """Item vocabulary from the training split only, items in order of first appearance."""
    items = dict.fromkeys(item for sequence in train["item_ids"] for item in sequence)
    return AttnRankTokenizer(items=list(items), model_max_length=max_seq_len, **tokenizer_kwargs)


def encode_splits(splits, tokenizer, max_seq_len, train_windows="last", with_timestamps=False):
    """Raw item IDs -> indices.

    train: `input_ids` = items[:-1] and `labels` = items[1:] (position t predicts item t + 1), both the most recent
    `max_seq_len` (`train_windows="last"`, SASRec); with `train_windows="all"` a longer sequence is cut, from its end
    backwards, into windows of `max_seq_len` next-item pairs, so every pair of the history is trained on exactly once
    (one row per window). Sequences with fewer than 2 known items are dropped (counted). validation / test: `input_ids` =
    the FULL history (the evaluator reads the last `max_seq_len` but excludes every seen item), `labels` = the
    target index, 0 when the target is not in the vocabulary (it then counts as a miss). With `with_timestamps=True`
    (time-interval features) every split also gets `timestamps` aligned with `input_ids`; data without timestamps
    is then an error.

    Returns (DatasetDict, stats dict).
    """
    lookup = tokenizer.item_to_index
    stats = {"unknown_history_items": 0}

    if train_windows not in ("last", "all"):
        raise ValueError(f"train_windows must be 'last' or 'all', got {train_windows!r}.")

    def check_times(items, times, name):
        if len(times) != len(items):
            raise ValueError(
                f"Time-interval features (time_interval_buckets > 0) need a timestamp for every behaviour, but a "
                f"{name} sequence has {len(items)} items and {len(times)} timestamps; use data with a timestamp "
                "column (e.g. --timestamp_column) or set time_interval_buckets to 0."
            )

    def encode_train(batch):
        out = {"user_id": [], "input_ids": [], "labels": [], "length": []}
        if with_timestamps:
            out["timestamps"] = []
        all_times = batch["timestamps"] if with_timestamps else [None] * len(batch["item_ids"])
        for user, items, times in zip(batch["user_id"], batch["item_ids"], all_times):
            ids = [lookup[item] for item in items]
            if with_timestamps:
                check_times(items, times, "training")
            end = len(ids)
            while True:
                start = max(0, end - max_seq_len - 1)  # max_seq_len pairs share max_seq_len + 1 items
                window = ids[start:end]
                out["user_id"].append(user)
                out["input_ids"].append(window[:-1])
                out["labels"].append(window[1:])
                out["length"].append(len(window) - 1)
                if with_timestamps:
                    out["timestamps"].append(times[start : end - 1])
                end -= max_seq_len
                if train_windows == "last" or end < 2:
                    break
        return out

    def encode_holdout(batch):
        out = {"input_ids": [], "labels": [], **({"timestamps": []} if with_timestamps else {})}
        all_times = batch["history_timestamps"] if with_timestamps else [None] * len(batch["history"])
        for history, times, target in zip(batch["history"], all_times, batch["target"]):
            known = [position for position, item in enumerate(history) if item in lookup]  # one filter for both
            out["input_ids"].append([lookup[history[position]] for position in known])
            out["labels"].append(lookup.get(target, 0))
            if with_timestamps:
                check_times(history, times, "validation/test")
                out["timestamps"].append([times[position] for position in known])
        return out

    if with_timestamps and "timestamps" not in splits["train"].column_names:
        raise ValueError("Time-interval features (time_interval_buckets > 0) need timestamps; this data has none.")
    train = splits["train"].map(encode_train, batched=True, remove_columns=splits["train"].column_names)
    too_short = sum(1 for n in train["length"] if n < 1)
    if too_short:
        logger.info(f"Dropped {too_short} training sequence(s) with fewer than 2 items (no next-item pair).")
        train = train.filter(lambda batch: [n >= 1 for n in batch["length"]], batched=True)
    stats["train_sequences_dropped"] = too_short
    encoded = DatasetDict(train=train)
    for name in ("validation", "test"):
        if name not in splits:
            continue
        split = splits[name]
        known = sum(1 for history in split["history"] for item in history if item in lookup)
        total = sum(len(history) for history in split["history"])
        unknown_targets = sum(1 for target in split["target"] if target not in lookup)
        encoded[name] = split.map(encode_holdout, batched=True, remove_columns=[
            c for c in ("history", "history_timestamps", "target") if c in split.column_names])
        stats[f"{name}_unknown_history_items"] = total - known
        stats[f"{name}_unknown_targets"] = unknown_targets
        if total - known:
            logger.warning(f"{name}: skipped {total - known} history item(s) not in the training vocabulary.")
        if unknown_targets:
            logger.warning(f"{name}: {unknown_targets} target(s) not in the training vocabulary; they count as misses.")
    stats.pop("unknown_history_items")
    return encoded, stats


__all__ = ["leave_one_out_split", "temporal_split", "build_tokenizer", "encode_splits"]
