"""Ranking metrics for one held-out target per user.

`rank` is the 0-based position of the target in the ranked list (0 = first). With one relevant item:
- HR@K = Recall@K = 1 if rank < K;
- NDCG@K = 1 / log2(rank + 2) if rank < K (the ideal DCG is 1);
- MRR@K = 1 / (rank + 1) if rank < K.
A user whose target cannot be ranked (unknown to the vocabulary, or excluded because already seen) has rank = inf:
a miss on every metric, still in the denominator.

Ties are ranked pessimistically: the target is placed after every other candidate with an equal score, so a model
that gives every item the same score gets 0, never a free hit (optimistic tie-breaking is a known source of
inflated numbers).
"""

import math

import torch


def target_ranks(scores, targets):
    """0-based pessimistic rank of each target among the finite-scored candidates.

    Args:
        scores: (batch, candidates) float; excluded candidates hold -inf.
        targets: (batch,) column index of each target in `scores`; a negative index means "no rankable target".
    Returns:
        (batch,) float tensor of ranks; inf where the target is missing or excluded.
    """
    valid = targets >= 0
    safe_targets = targets.clamp(min=0)
    target_scores = scores.gather(1, safe_targets[:, None])  # (B, 1)
    ahead = (scores >= target_scores).sum(dim=1) - 1  # others scoring >= the target (the target itself removed)
    ranks = ahead.double()
    unrankable = ~valid | (torch.isinf(target_scores[:, 0]) & (target_scores[:, 0] < 0))
    return ranks.masked_fill(unrankable, math.inf)


def metrics_from_ranks(ranks, ks):
    """Sums (not means) of HR/NDCG/MRR@K over the batch, so shards can be added up before dividing."""
    sums = {}
    for k in ks:
        hit = ranks < k
        sums[f"hr@{k}"] = hit.double().sum().item()
        sums[f"ndcg@{k}"] = torch.where(hit, 1.0 / torch.log2(ranks.clamp(max=1e9) + 2.0), 0.0).sum().item()
        sums[f"mrr@{k}"] = torch.where(hit, 1.0 / (ranks.clamp(max=1e9) + 1.0), 0.0).sum().item()
    return sums


__all__ = ["target_ranks", "metrics_from_ranks"]
