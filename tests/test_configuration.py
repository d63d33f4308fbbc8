import pytest

from modeling_attnrank import AttnRankConfig
from transformers import AutoConfig


def test_round_trip(tmp_path):
    config = AttnRankConfig(num_items=123, hidden_size=32, num_attention_heads=4, loss_type="gbce",
                            attention_type="local", attention_window=7, position_embedding_type="sinusoidal")
    config.save_pretrained(tmp_path)
    loaded = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(loaded, AttnRankConfig)
    for key in ("num_items", "hidden_size", "num_attention_heads", "loss_type", "attention_type", "attention_window",
                "position_embedding_type", "tie_item_embeddings", "max_seq_len"):
        assert getattr(loaded, key) == getattr(config, key)


def test_extra_kwargs_are_kept():
    assert AttnRankConfig(my_note="x").my_note == "x"


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"num_items": 0}, "num_items"),
        ({"hidden_size": 30, "num_attention_heads": 4}, "divisible"),
        ({"hidden_dropout_prob": 1.5}, "hidden_dropout_prob"),
        ({"loss_type": "mse"}, "'mse'"),
        ({"attention_type": "sparse"}, "'sparse'"),
        ({"position_embedding_type": "alibi"}, "'alibi'"),
        ({"position_embedding_type": "rotary", "hidden_size": 6, "num_attention_heads": 2}, "even head size"),
        ({"pad_token_id": 3}, "pad_token_id"),
        ({"gbce_t": 2.0}, "gbce_t"),
        ({"max_seq_len": -1}, "max_seq_len"),
        ({"hidden_act": "tanh"}, "'tanh'"),
    ],
)
def test_invalid_values_raise_naming_the_value(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        AttnRankConfig(**kwargs)
