"""Metric values against hand-computed numbers."""

import math

import pytest
import torch

from modeling_attnrank.metrics import metrics_from_ranks, target_ranks


def test_ranks_are_pessimistic_on_ties_and_inf_when_unrankable():
    scores = torch.tensor([
        [float("-inf"), 0.9, 0.5, 0.7, 0.1],  # target 2 (0.5): items 1 and 3 ahead -> rank 2
        [float("-inf"), 0.3, 0.3, 0.3, 0.3],  # all tied: target 4 placed after the 3 others -> rank 3
        [float("-inf"), 0.3, float("-inf"), 0.1, 0.2],  # target excluded -> miss
        [float("-inf"), 0.3, 0.2, 0.1, 0.0],  # no target -> miss
    ])
    ranks = target_ranks(scores, torch.tensor([2, 4, 2, -1]))
    assert ranks.tolist() == [2.0, 3.0, math.inf, math.inf]


def test_hand_computed_metrics():
    ranks = torch.tensor([0.0, 2.0, 9.0, 10.0, math.inf])
    sums = metrics_from_ranks(ranks, ks=(1, 10))
    assert sums["hr@1"] == 1
    assert sums["hr@10"] == 3  # ranks 0, 2, 9
    assert sums["ndcg@10"] == pytest.approx(1 + 1 / math.log2(4) + 1 / math.log2(11))
    assert sums["mrr@10"] == pytest.approx(1 + 1 / 3 + 1 / 10)
    assert sums["ndcg@1"] == pytest.approx(1.0)
