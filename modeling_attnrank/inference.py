"""Batch inference for many users: top-k over the whole catalogue, seen items excluded.

`recommend_many` sorts histories by length so each batch is padded only to its own longest history (capped at the
model's `max_seq_len`), runs `model.recommend` batch by batch (encoder once per history, last position only, the
catalogue scored in chunks), and returns the results in the input order. Every item of a history is excluded, also
those older than the `max_seq_len` items the model reads.
"""

import numpy as np
import torch

from .collator import left_pad


@torch.no_grad()
def recommend_many(model, histories, k=10, batch_size=512, exclude_seen=True, device=None):
    """Top-`k` item indices and scores for each history (lists of item indices, oldest first).

    Returns two arrays of shape (len(histories), k): `item_ids` (int64, 0 where fewer than k items remain) and
    `scores` (float32), row i for `histories[i]`.
    """
    device = device or next(model.parameters()).device
    max_seq_len = model.config.max_seq_len
    lengths = np.fromiter((min(len(h), max_seq_len) for h in histories), dtype=np.int64, count=len(histories))
    order = np.argsort(lengths, kind="stable")
    k = min(k, model.config.num_items)
    item_ids = np.zeros((len(histories), k), dtype=np.int64)
    scores = np.zeros((len(histories), k), dtype=np.float32)
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        batch = [histories[i] for i in rows]
        inputs = torch.from_numpy(left_pad(batch, max_length=max_seq_len)).to(device)
        exclude = None
        if exclude_seen and any(len(h) > max_seq_len for h in batch):  # items older than the window
            exclude = torch.from_numpy(left_pad([h[:-max_seq_len] for h in batch])).to(device)
        out = model.recommend(inputs, k=k, exclude_seen=exclude_seen, exclude_ids=exclude)
        item_ids[rows] = out.item_ids.cpu().numpy()
        scores[rows] = out.scores.float().cpu().numpy()
    return item_ids, scores


__all__ = ["recommend_many"]
