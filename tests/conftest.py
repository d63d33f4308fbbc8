from pathlib import Path

import pytest
import torch

from modeling_attnrank import AttnRankConfig, AttnRankForNextItemPrediction


SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def tiny_config(**overrides):
    values = dict(num_items=30, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                  max_seq_len=12, hidden_dropout_prob=0.0, attention_dropout_prob=0.0)
    values.update(overrides)
    return AttnRankConfig(**values)


def tiny_model(**overrides):
    torch.manual_seed(0)
    return AttnRankForNextItemPrediction(tiny_config(**overrides)).eval()


@pytest.fixture
def shared_data():
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real datasets not found at {SHARED_DATA}")
    return SHARED_DATA


def pytest_configure(config):
    import datasets

    datasets.disable_progress_bars()
