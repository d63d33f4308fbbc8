"""The benchmark's arithmetic (never its timings)."""

import pytest

from modeling_attnrank.benchmarking import catalogue_scaling_step, matmul_roofline, training_flops

from conftest import tiny_config


def test_training_flops_by_hand():
    config = tiny_config(num_items=10, hidden_size=4, intermediate_size=8, num_hidden_layers=1)
    # one sequence of 2 positions: keys 1 + 2 = 3
    per_position = 8 * 16 + 4 * 4 * 8 + 2 * 4 * 10  # projections, feed-forward, catalogue scores
    expected = 3 * (2 * per_position + 4 * 4 * 3)
    assert training_flops(config, [2]) == pytest.approx(expected)
    local = tiny_config(num_items=10, hidden_size=4, intermediate_size=8, num_hidden_layers=1,
                        attention_type="local", attention_window=1)
    assert training_flops(local, [2]) == pytest.approx(3 * (2 * per_position + 4 * 4 * 2))


def test_benchmark_functions_run_on_tiny_sizes():
    assert matmul_roofline(size=64, repeats=1) > 0
    result = catalogue_scaling_step(500, hidden_size=8, batch_size=4, seq_len=10, steps=1, inference_users=8,
                                    num_negatives=16)
    assert result["num_items"] == 500 and result["step_s"] > 0 and result["item_table_mb"] > 0
