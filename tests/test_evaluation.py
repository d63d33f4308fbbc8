import math

import pytest
import torch
from datasets import Dataset

from modeling_attnrank.evaluation import describe_protocol, evaluate_ranking


NUM_ITEMS = 6


def fixed_scorer(item_scores):
    scores = torch.tensor([float("-inf")] + item_scores)

    def score(input_ids, attention_mask):
        return scores[None, :].expand(input_ids.shape[0], -1).clone()

    return score


# Item scores: 6 > 5 > 4 > 3 > 2 > 1 (item i scores i).
SCORER = fixed_scorer([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])


def dataset(rows):
    return Dataset.from_dict({"input_ids": [r[0] for r in rows], "labels": [r[1] for r in rows]})


def test_full_catalogue_with_seen_items_excluded_by_hand():
    data = dataset([
        ([6, 1], 5),  # 6 excluded -> 5 ranks first: rank 0
        ([2], 4),  # 6, 5 ahead: rank 2
        ([1], 0),  # unknown target: miss, still counted
        ([3, 2], 3),  # target already seen: miss when seen items are excluded
    ])
    result = evaluate_ranking(SCORER, data, NUM_ITEMS, ks=(1, 3))
    assert result["num_users"] == 4 and result["num_unknown_targets"] == 1 and result["num_seen_targets"] == 1
    assert result["hr@1"] == pytest.approx(1 / 4)
    assert result["hr@3"] == pytest.approx(2 / 4)
    assert result["ndcg@3"] == pytest.approx((1 + 1 / math.log2(4)) / 4)
    assert result["mrr@3"] == pytest.approx((1 + 1 / 3) / 4)
    # top-3 lists: [5,4,3], [6,5,4], [6,5,4], [6,5,4] -> items 3,4,5,6 of 6
    assert result["coverage@3"] == pytest.approx(4 / 6)


def test_keeping_seen_items_changes_ranks():
    data = dataset([([6, 1], 5)])
    assert evaluate_ranking(SCORER, data, NUM_ITEMS, ks=(1,), exclude_seen=False)["hr@1"] == 0.0
    assert evaluate_ranking(SCORER, data, NUM_ITEMS, ks=(1,), exclude_seen=True)["hr@1"] == 1.0


def test_sampled_protocol_is_seeded_and_never_samples_history_or_target():
    num_items = 300
    scorer = fixed_scorer([float(i) for i in range(1, num_items + 1)])
    data = dataset([([1, 2, 3], 150), ([4], 299), ([5], 0)])
    first = evaluate_ranking(scorer, data, num_items, ks=(10,), protocol="sampled", seed=7)
    again = evaluate_ranking(scorer, data, num_items, ks=(10,), protocol="sampled", seed=7)
    assert first == again
    assert first["num_users"] == 3 and first["num_unknown_targets"] == 1
    # target 299 is beaten only by 300, which is sampled with probability 100/296
    from modeling_attnrank.evaluation import _sample_negatives

    negatives = _sample_negatives(num_items, [1, 2, 3], 150, 100, seed=7, row=0)
    assert len(set(negatives)) == 100 and not set(negatives) & {0, 1, 2, 3, 150}


def test_protocol_descriptions_name_the_protocol():
    assert "full catalogue (3416 items)" in describe_protocol("full", True, 3416)
    assert "seen items excluded" in describe_protocol("full", True, 3416)
    assert "100 uniformly sampled negatives" in describe_protocol("sampled")
