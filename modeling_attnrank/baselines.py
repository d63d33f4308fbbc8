"""Non-sequential baselines, scored by the same evaluator and protocol as the model.

- `MostPopular`: items ranked by their number of training behaviours (ties broken by lower item index, so the
  ranking is a strict order).
- `ItemKNN`: item-item cosine similarity over the user-item co-occurrence of the training split (Sarwar et al.,
  WWW 2001; Deshpande & Karypis, TOIS 2004), keeping each item's `num_neighbors` most similar items; a user's score
  for item i is the sum of i's similarities to the items in their history.

Both are built from the complete sequences of the training split only (`training_sequences`) and are
scorers: `scorer(input_ids, attention_mask, **inputs) -> (batch, num_items + 1)` scores (extra inputs such as
`timestamps` are ignored).
"""

import warnings

import numpy as np
import torch


def training_sequences(raw_train, tokenizer):
    """The complete (untruncated) training sequences of the raw train split, as item indices."""
    lookup = tokenizer.item_to_index
    return [[lookup[item] for item in items] for items in raw_train["item_ids"]]


class MostPopular:
    name = "most-popular"

    def __init__(self, sequences, num_items):
        counts = np.bincount(np.concatenate([np.asarray(s, dtype=np.int64) for s in sequences]),
                             minlength=num_items + 1)[: num_items + 1]
        counts[0] = -1
        order = np.lexsort((np.arange(num_items + 1), -counts))  # most popular first, lower index on ties
        score = np.empty(num_items + 1, dtype=np.float32)
        score[order] = np.arange(num_items + 1, 0, -1, dtype=np.float32)  # distinct, exact in float32
        self.scores = torch.from_numpy(score)

    def __call__(self, input_ids, attention_mask, **inputs):
        return self.scores[None, :].expand(input_ids.shape[0], -1).clone()


class ItemKNN:
    name = "item-knn"

    def __init__(self, sequences, num_items, num_neighbors=100, block_size=1024):
        users = np.repeat(np.arange(len(sequences)), [len(s) for s in sequences])
        items = np.concatenate([np.asarray(s, dtype=np.int64) for s in sequences])
        pairs = np.unique(np.stack([users, items]), axis=1)  # binary user-item matrix
        users, items = torch.from_numpy(pairs[0]), torch.from_numpy(pairs[1])
        num_users = len(sequences)
        with warnings.catch_warnings():  # torch flags sparse CSR as beta; the product below is all we use
            warnings.simplefilter("ignore", UserWarning)
            item_by_user = torch.sparse_coo_tensor(torch.stack([items, users]), torch.ones(len(items)),
                                                   (num_items + 1, num_users)).coalesce().to_sparse_csr()
        counts = torch.bincount(items, minlength=num_items + 1).float()
        num_neighbors = min(num_neighbors, num_items)
        self.neighbor_ids = torch.zeros(num_items + 1, num_neighbors, dtype=torch.long)
        self.neighbor_sims = torch.zeros(num_items + 1, num_neighbors)
        for start in range(1, num_items + 1, block_size):
            end = min(start + block_size, num_items + 1)
            in_block = (items >= start) & (items < end)
            block = torch.zeros(num_users, end - start)
            block[users[in_block], items[in_block] - start] = 1.0
            cooccurrence = (item_by_user @ block).T  # (b, num_items + 1)
            norm = torch.sqrt(counts[start:end, None] * counts[None, :]).clamp(min=1e-12)
            similarity = cooccurrence / norm
            similarity[torch.arange(end - start), torch.arange(start, end)] = 0.0  # not its own neighbour
            similarity[:, 0] = 0.0
            top = similarity.topk(num_neighbors, dim=1)
            self.neighbor_ids[start:end] = top.indices
            self.neighbor_sims[start:end] = top.values
        self.num_items = num_items

    def __call__(self, input_ids, attention_mask, **inputs):
        input_ids = input_ids.cpu()
        sims = self.neighbor_sims[input_ids] * attention_mask.cpu()[..., None].float()  # (B, L, n)
        scores = torch.zeros(input_ids.shape[0], self.num_items + 1)
        scores.scatter_add_(1, self.neighbor_ids[input_ids].flatten(1), sims.flatten(1))
        return scores


def build_baselines(names, raw_train, tokenizer, num_items):
    """Baseline scorers fitted on the complete training sequences."""
    builders = {"most-popular": MostPopular, "item-knn": ItemKNN}
    unknown = sorted(set(names) - set(builders))
    if unknown:
        raise ValueError(f"Unknown baseline(s) {unknown}; choose from {sorted(builders)}.")
    sequences = training_sequences(raw_train, tokenizer)
    return {name: builders[name](sequences, num_items) for name in names}


__all__ = ["training_sequences", "MostPopular", "ItemKNN", "build_baselines"]
