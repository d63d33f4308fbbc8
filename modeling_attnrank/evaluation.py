"""Evaluation protocols: score users' held-out targets and report HR/NDCG/MRR@K and coverage@K.

Protocols
- `"full"` (default): rank the target against the WHOLE catalogue. With `exclude_seen=True` (default) every item
  in the user's full history is removed from the ranking first (a target the user has already seen therefore
  counts as a miss; the number of such users is reported).
- `"sampled"`: rank the target against `num_negatives` (100) items drawn uniformly, without replacement, from the
  items not in the history and not the target, seeded per user (the SASRec paper's protocol; with fewer items
  left, all of them). Numbers under this protocol are several times higher and are only comparable with papers
  that used it.

Every user of the split is in the denominator: targets unknown to the vocabulary count as misses and are reported
(`num_unknown_targets`). Under `torch.distributed`, each process scores a disjoint shard of the users (rows
rank, rank + world, ...) and sums are all-reduced, so every user is scored exactly once.

A "scorer" is any callable `(input_ids, attention_mask, **inputs) -> scores` (inputs: `timestamps` when the data
carries them) with `input_ids` the (batch, L) left-padded
full histories and `scores` (batch, num_items + 1); column 0 (padding) is ignored. `model_scorer` wraps an
`AttnRankForNextItemPrediction`; the baselines in `baselines.py` are scorers too.
"""

import os

import numpy as np
import torch
import torch.distributed as dist

from .collator import NextItemCollator
from .metrics import metrics_from_ranks, target_ranks


PROTOCOLS = ("full", "sampled")


def describe_protocol(protocol="full", exclude_seen=True, num_items=None, num_negatives=100, split="leave-one-out"):
    """One line naming the protocol, printed beside and saved with every number."""
    if protocol == "full":
        catalogue = f"full catalogue ({num_items} items)" if num_items else "full catalogue"
        seen = "seen items excluded" if exclude_seen else "seen items kept"
        return f"{split}; {catalogue}; {seen}; pessimistic ties"
    return f"{split}; {num_negatives} uniformly sampled negatives not in the history (seeded); pessimistic ties"


def model_scorer(model):
    """Scorer for an AttnRankForNextItemPrediction: encoder once per history, scores of the last position only."""

    @torch.no_grad()
    def score(input_ids, attention_mask, timestamps=None):
        return model.score_items(model.user_representation(input_ids, attention_mask, timestamps)).float()

    return score


def _sample_negatives(num_items, history, target, num_negatives, seed, row):
    """`num_negatives` distinct items in 1..num_items outside the history and != target; reproducible per row."""
    rng = np.random.default_rng([seed, row])
    forbidden = set(history)
    forbidden.add(target)
    forbidden.discard(0)
    available = num_items - len(forbidden)
    if available <= num_negatives:  # tiny catalogue: every remaining item is a negative
        return [item for item in range(1, num_items + 1) if item not in forbidden]
    chosen = []
    chosen_set = set()
    while len(chosen) < num_negatives:
        for item in rng.integers(1, num_items + 1, size=2 * num_negatives).tolist():
            if item not in forbidden and item not in chosen_set:
                chosen.append(item)
                chosen_set.add(item)
                if len(chosen) == num_negatives:
                    break
    return chosen


def evaluate_ranking(scorer, dataset, num_items, ks=(10,), protocol="full", exclude_seen=True, num_negatives=100,
                     seed=42, batch_size=256, device="cpu"):
    """Score every row of `dataset` (`input_ids` = full history indices, `labels` = target index, 0 = unknown).

    Returns a dict of metric means (`hr@K`, `ndcg@K`, `mrr@K`, and `coverage@K` for the full protocol) plus
    `num_users`, `num_unknown_targets`, `num_seen_targets` (targets already in the history: misses when seen items
    are excluded).
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}.")
    distributed = dist.is_available() and dist.is_initialized()
    rank, world = (dist.get_rank(), dist.get_world_size()) if distributed else (0, 1)
    rows = np.arange(rank, len(dataset), world)
    shard = dataset.select(rows)
    collate = NextItemCollator()
    sums = {name: 0.0 for k in ks for name in (f"hr@{k}", f"ndcg@{k}", f"mrr@{k}")}
    counts = torch.zeros(3, dtype=torch.float64)  # users, unknown targets, seen targets
    covered = {k: torch.zeros(num_items + 1, dtype=torch.bool) for k in ks}  # items in anyone's top-K
    max_k = min(max(ks), num_items)

    # Shortest histories first: each batch is padded only to its own longest history.
    order = np.argsort(np.fromiter((len(h) for h in shard["input_ids"]), dtype=np.int64, count=len(shard)),
                       kind="stable")
    for start in range(0, len(shard), batch_size):
        batch_rows = order[start : start + batch_size]
        features = [shard[int(i)] for i in batch_rows]
        batch = collate(features)
        input_ids, attention_mask, targets = batch["input_ids"], batch["attention_mask"], batch["labels"]
        extra = {"timestamps": batch["timestamps"].to(device)} if "timestamps" in batch else {}
        scores = scorer(input_ids.to(device), attention_mask.to(device), **extra).float().cpu()  # (B, num_items + 1)
        scores[:, 0] = float("-inf")
        seen = torch.zeros_like(scores, dtype=torch.bool).scatter_(1, input_ids, True)
        seen[:, 0] = False
        target_seen = seen.gather(1, targets[:, None])[:, 0] & (targets > 0)
        counts += torch.tensor([len(features), float((targets == 0).sum()), float(target_seen.sum())],
                               dtype=torch.float64)
        if protocol == "full":
            if exclude_seen:
                scores = scores.masked_fill(seen, float("-inf"))
            ranks = target_ranks(scores, torch.where(targets > 0, targets, -1))
            top = scores.topk(max_k, dim=1)  # sorted, so the first k columns are the top-k
            for k in ks:
                values, indices = top.values[:, :k], top.indices[:, :k]
                covered[k][indices[torch.isfinite(values)]] = True
        else:
            candidates = []
            for row_offset, (history, target) in enumerate(zip(input_ids.tolist(), targets.tolist())):
                row = int(rows[batch_rows[row_offset]])  # the dataset row seeds its negatives
                candidates.append([target] + _sample_negatives(num_items, history, target, num_negatives, seed, row))
            width = max(len(c) for c in candidates)  # pad with 0 (padding scores -inf: never ahead of a target)
            candidates = torch.tensor([c + [0] * (width - len(c)) for c in candidates])
            candidate_scores = scores.gather(1, candidates)
            # Target in column 0; an unknown target (index 0 = padding, score -inf) is unrankable.
            ranks = target_ranks(candidate_scores, torch.where(targets > 0, 0, -1))
        for name, value in metrics_from_ranks(ranks, ks).items():
            sums[name] += value

    totals = torch.tensor(list(sums.values()), dtype=torch.float64)
    if distributed:
        reduce_device = device if dist.get_backend() == "nccl" else "cpu"
        totals, counts = totals.to(reduce_device), counts.to(reduce_device)
        dist.all_reduce(totals)
        dist.all_reduce(counts)
        totals, counts = totals.cpu(), counts.cpu()
        for k in ks:
            as_int = covered[k].to(reduce_device, torch.int32)
            dist.all_reduce(as_int, op=dist.ReduceOp.MAX)
            covered[k] = as_int.cpu().bool()
    num_users = counts[0].item()
    results = {name: (total / num_users if num_users else 0.0) for name, total in zip(sums, totals.tolist())}
    if protocol == "full":
        for k in ks:
            results[f"coverage@{k}"] = covered[k][1:].sum().item() / num_items
    results["num_users"] = int(num_users)
    results["num_unknown_targets"] = int(counts[1].item())
    results["num_seen_targets"] = int(counts[2].item())
    return results


def compare_systems(scorers, dataset, num_items, ks=(10,), protocols=("full",), split="leave-one-out", **kwargs):
    """Evaluate several scorers on the same rows under the same protocol(s).

    Returns `{protocol: {"description": str, "systems": {name: metrics}}}`.
    """
    report = {}
    for protocol in protocols:
        report[protocol] = {
            "description": describe_protocol(protocol, kwargs.get("exclude_seen", True), num_items, split=split),
            "systems": {name: evaluate_ranking(scorer, dataset, num_items, ks=ks, protocol=protocol, **kwargs)
                        for name, scorer in scorers.items()},
        }
    return report


def format_results_table(title, systems, ks):
    """Plain-text table, one row per system: HR, NDCG and MRR at each K."""
    columns = [f"{name}@{k}" for k in ks for name in ("hr", "ndcg", "mrr")]
    header = f"{'system':<16}" + "".join(f"{column.upper():>10}" for column in columns)
    lines = [title, header, "-" * len(header)]
    for system, metrics in systems.items():
        lines.append(f"{system:<16}" + "".join(f"{metrics[column]:>10.4f}" for column in columns))
    return "\n".join(lines)


def evaluate_saved_model(model_dir, data_args, split_name="test", protocols=PROTOCOLS, batch_size=256,
                         device="cpu", seed=42):
    """Re-create the data split of `data_args` with the saved tokenizer, then score the saved model and the
    baselines (`data_args.baselines`, fitted on the training split) under each protocol. Returns the report of
    `compare_systems` plus `num_items`, `dataset` and `split`."""
    from transformers import AutoModel, AutoTokenizer

    from .baselines import build_baselines
    from .checkpointing import validate_checkpoint
    from .prepare import prepare_datasets

    if os.path.isdir(model_dir):
        validate_checkpoint(model_dir)  # safetensors only, and weights that match the config
    model = AutoModel.from_pretrained(model_dir).to(device).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    data = prepare_datasets(data_args, model.config.max_seq_len, tokenizer, bool(model.config.time_interval_buckets))
    num_items = model.config.num_items
    scorers = {"AttnRank": model_scorer(model)}
    scorers.update(build_baselines(data_args.baselines, data["splits"]["train"], tokenizer, num_items))
    report = compare_systems(scorers, data["encoded"][split_name], num_items, ks=data_args.eval_ks,
                             protocols=protocols, split=data_args.split, batch_size=batch_size, device=device,
                             seed=seed)
    return {"dataset": data["dataset_name"], "split": split_name, "num_items": num_items,
            "num_users": len(data["encoded"][split_name]), "protocols": report}


__all__ = ["PROTOCOLS", "evaluate_saved_model", "describe_protocol", "model_scorer", "evaluate_ranking", "compare_systems",
           "format_results_table"]
