"""Batching: left-pad variable-length index lists into tensors, vectorised (no Python loop over positions).

Each batch is padded to its own longest sequence, not to `max_seq_len`, so with length-grouped sampling
(`train_sampling_strategy="group_by_length"`) little padding is ever computed.
"""

import numpy as np
import torch


def left_pad(sequences, pad_value=0, max_length=None):
    """List of int lists -> (batch, longest) int64 array, right-aligned; keeps the last `max_length` items."""
    if max_length is not None:
        sequences = [seq[-max_length:] if len(seq) > max_length else seq for seq in sequences]
    lengths = np.fromiter((len(seq) for seq in sequences), dtype=np.int64, count=len(sequences))
    width = int(lengths.max()) if len(sequences) else 0
    out = np.full((len(sequences), width), pad_value, dtype=np.int64)
    filled = np.arange(width)[None, :] >= (width - lengths)[:, None]  # row-major order == concatenation order
    if width:
        out[filled] = np.concatenate([np.asarray(seq, dtype=np.int64) for seq in sequences])
    return out


class NextItemCollator:
    """Collate training examples `{"input_ids": [...], "labels": [...]}` (labels already shifted by one) and
    evaluation examples `{"input_ids": [...full history...], "labels": target}` into left-padded tensors.

    Training labels are padded with -100 (ignored by the loss). Evaluation histories are NOT truncated: the
    evaluator reads the last `max_seq_len` items and excludes all of them. A `timestamps` list per example (time-
    interval features) is padded and truncated exactly like `input_ids`.
    """

    def __init__(self, max_seq_len=None):
        self.max_seq_len = max_seq_len

    def __call__(self, features):
        histories = [feature["input_ids"] for feature in features]
        labels = [feature["labels"] for feature in features]
        sequence_labels = isinstance(labels[0], (list, tuple, np.ndarray))
        input_ids = left_pad(histories, 0, self.max_seq_len if sequence_labels else None)
        batch = {"input_ids": torch.from_numpy(input_ids), "attention_mask": torch.from_numpy((input_ids != 0).astype(np.int64))}
        if sequence_labels:
            batch["labels"] = torch.from_numpy(left_pad(labels, -100, self.max_seq_len))
        else:
            batch["labels"] = torch.tensor(labels, dtype=torch.long)
        if "timestamps" in features[0]:
            times = [feature["timestamps"] for feature in features]
            batch["timestamps"] = torch.from_numpy(left_pad(times, 0, self.max_seq_len if sequence_labels else None))
        return batch


__all__ = ["left_pad", "NextItemCollator"]
