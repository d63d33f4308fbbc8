"""Data preparation shared by training and evaluation: raw data -> sequences -> split -> encoded datasets.

The same function is used by `scripts/train.py` and `scripts/evaluate.py`, so an evaluation re-creates exactly
the split the model was trained and selected on.
"""

import os

import numpy as np

from .splits import build_tokenizer, encode_splits, leave_one_out_split, temporal_split
from .synthetic import generate_synthetic_sequences


def load_sequences(data_args):
    """Per-user sequences and a short description of where they came from."""
    if data_args.data_file is None:
        sequences = generate_synthetic_sequences(
            num_users=data_args.synthetic_users, num_items=data_args.synthetic_items, seed=data_args.synthetic_seed
        )
        name = data_args.dataset_name or "built-in synthetic"
        description = (f"{name}: {len(sequences)} users, {data_args.synthetic_items} items, generated in code "
                       f"(seed {data_args.synthetic_seed}) with item-to-item transitions and popularity skew")
        return sequences, name, description, {}
    from .data import load_user_sequences  # the raw-data readers

    sequences, stats = load_user_sequences(
        data_args.data_file, data_args.data_format, user_column=data_args.user_column,
        item_column=data_args.item_column, timestamp_column=data_args.timestamp_column,
        rating_column=data_args.rating_column, min_rating=data_args.min_rating,
        min_user_interactions=data_args.min_user_interactions, min_item_interactions=data_args.min_item_interactions,
    )
    name = data_args.dataset_name or os.path.basename(str(data_args.data_file).rstrip("/"))
    description = f"{name}: {len(sequences)} users, {stats.get('rows_out', '?')} behaviours, from {data_args.data_file}"
    return sequences, name, description, stats


def split_sequences(sequences, data_args):
    if data_args.split == "leave-one-out":
        return leave_one_out_split(sequences)
    if data_args.split == "temporal":
        if data_args.validation_cutoff is None or data_args.test_cutoff is None:
            raise ValueError("--split temporal needs --validation_cutoff and --test_cutoff.")
        cutoffs = []
        for cutoff in (data_args.validation_cutoff, data_args.test_cutoff):
            if cutoff <= 1:
                all_times = np.concatenate([np.asarray(t) for t in sequences["timestamps"]])
                cutoff = float(np.quantile(all_times, cutoff))
            cutoffs.append(cutoff)
        return temporal_split(sequences, *cutoffs)
    raise ValueError(f"--split must be 'leave-one-out' or 'temporal', got {data_args.split!r}.")



def prepare_datasets(data_args, max_seq_len, tokenizer=None, with_timestamps=False):
    """Load, split and encode. Builds the tokenizer from the training split unless one is given (a trained model's).
    `with_timestamps=True` (time-interval features) keeps each behaviour's timestamp beside its item.

    Returns a dict with `splits` (raw IDs), `encoded`, `tokenizer`, `dataset_name`, `description`, `stats`.
    """
    sequences, dataset_name, description, data_stats = load_sequences(data_args)
    splits, split_stats = split_sequences(sequences, data_args)
    if tokenizer is None:
        tokenizer = build_tokenizer(splits["train"], max_seq_len)
    encoded, encode_stats = encode_splits(splits, tokenizer, max_seq_len, data_args.train_windows, with_timestamps)
    stats = {"data": data_stats, "split": split_stats, "encoding": encode_stats}
    return {"splits": splits, "encoded": encoded, "tokenizer": tokenizer, "dataset_name": dataset_name,
            "description": description, "stats": stats}


__all__ = ["load_sequences", "split_sequences", "prepare_datasets"]
