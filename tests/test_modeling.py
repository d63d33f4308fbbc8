import pytest
import torch

from modeling_attnrank import AttnRankForNextItemPrediction, AttnRankModel
from modeling_attnrank.modeling_attnrank import apply_rotary, build_attention_mask, rotary_cos_sin

from conftest import tiny_config, tiny_model


HISTORIES = torch.tensor([[0, 0, 3, 4, 5, 6], [1, 2, 3, 4, 5, 6], [0, 0, 0, 0, 0, 7]])


def test_output_shapes():
    model = tiny_model()
    out = model(HISTORIES, output_attentions=True, output_hidden_states=True)
    assert out.logits.shape == (3, 6, 31)
    assert len(out.attentions) == 2 and out.attentions[0].shape == (3, 2, 6, 6)
    assert len(out.hidden_states) == 3
    assert (out.logits[..., 0] == torch.finfo(out.logits.dtype).min).all()  # padding is never a candidate
    assert model(HISTORIES, logits_to_keep=1).logits.shape == (3, 1, 31)
    base = AttnRankModel(tiny_config())
    assert base(HISTORIES).last_hidden_state.shape == (3, 6, 16)


@pytest.mark.parametrize("attention_type", ["global", "local"])
def test_causal_mask_hides_the_future(attention_type):
    model = tiny_model(attention_type=attention_type, attention_window=3)
    changed = HISTORIES.clone()
    changed[:, 4] = 11
    before, after = model(HISTORIES).logits, model(changed).logits
    torch.testing.assert_close(before[:, :4], after[:, :4])
    assert not torch.allclose(before[1, 4:], after[1, 4:])


def test_local_attention_window():
    model = tiny_model(attention_type="local", attention_window=2)
    weights = model(HISTORIES[1:2], output_attentions=True).attentions[0][0, 0]  # (T, T)
    allowed = torch.tril(torch.ones(6, 6, dtype=torch.bool)) & ~torch.tril(torch.ones(6, 6, dtype=torch.bool), -2)
    assert (weights[~allowed] == 0).all()
    torch.testing.assert_close(weights.sum(-1), torch.ones(6))


@pytest.mark.parametrize("position_embedding_type", ["learned", "sinusoidal", "rotary", "none"])
def test_left_padding_changes_nothing(position_embedding_type):
    model = tiny_model(position_embedding_type=position_embedding_type)
    short = torch.tensor([[3, 4, 5, 6]])
    padded = torch.tensor([[0, 0, 0, 3, 4, 5, 6]])
    torch.testing.assert_close(model(short).logits[0], model(padded).logits[0, 3:], rtol=1e-5, atol=1e-5)


def test_attention_weights_ignore_padding_and_sum_to_one():
    model = tiny_model()
    attentions = model(HISTORIES, output_attentions=True).attentions
    for layer in attentions:
        torch.testing.assert_close(layer.sum(-1), torch.ones_like(layer.sum(-1)))
        assert (layer[0, :, 2:, :2] == 0).all()  # real positions never attend to padding


def test_sdpa_and_explicit_attention_agree():
    model = tiny_model()
    sdpa = model(HISTORIES).logits
    explicit = model(HISTORIES, output_attentions=True).logits
    torch.testing.assert_close(sdpa, explicit, rtol=1e-5, atol=1e-5)


def test_mask_builder():
    mask = build_attention_mask(torch.tensor([[0, 1, 1]]))[0, 0]
    assert mask.tolist() == [[True, False, False], [False, True, False], [False, True, True]]


def test_too_long_input_is_rejected_with_advice():
    model = tiny_model()
    with pytest.raises(ValueError, match="max_seq_len"):
        model(torch.ones(1, 13, dtype=torch.long))


@pytest.mark.parametrize("loss_type", ["ce", "bce", "sampled_softmax", "gbce"])
def test_loss_only_on_labelled_positions_and_backprop(loss_type):
    model = tiny_model(loss_type=loss_type, num_negatives=8).train()
    labels = torch.tensor([[-100, -100, 4, 5, 6, 7], [2, 3, 4, 5, 6, 7], [-100] * 5 + [8]])
    out = model(HISTORIES, labels=labels)
    assert out.loss.ndim == 0 and torch.isfinite(out.loss)
    assert out.logits is None  # never materialised in training
    out.loss.backward()
    assert model.model.item_embeddings.weight.grad is not None


def test_chunked_cross_entropy_equals_plain():
    from modeling_attnrank.loss_attnrank import full_cross_entropy

    torch.manual_seed(0)
    hidden = torch.randn(50, 8, requires_grad=True)
    weight = torch.randn(21, 8, requires_grad=True)
    targets = torch.randint(1, 21, (50,))
    plain = torch.nn.functional.cross_entropy(hidden @ weight[1:].T, targets - 1)
    chunked = full_cross_entropy(hidden, weight, targets, chunk_size=7)
    torch.testing.assert_close(plain, chunked)
    grad_plain = torch.autograd.grad(plain, (hidden, weight))
    grad_chunked = torch.autograd.grad(chunked, (hidden, weight))
    for a, b in zip(grad_plain, grad_chunked):
        torch.testing.assert_close(a, b)


def test_recommend_excludes_seen_and_padding():
    model = tiny_model()
    out = model.recommend(HISTORIES, k=10)
    assert out.item_ids.shape == (3, 10)
    for row, history in zip(out.item_ids.tolist(), HISTORIES.tolist()):
        assert 0 not in row
        assert not set(row) & set(history)
    scores = out.scores
    assert (scores[:, :-1] >= scores[:, 1:]).all()  # best first
    kept = model.recommend(HISTORIES, k=30, exclude_seen=False).item_ids
    assert set(kept[1].tolist()) == set(range(1, 31))


def test_recommend_chunks_equal_one_pass_and_match_logits():
    model = tiny_model()
    one = model.recommend(HISTORIES, k=7, exclude_seen=False)
    chunked = model.recommend(HISTORIES, k=7, exclude_seen=False, chunk_size=4)
    assert torch.equal(one.item_ids, chunked.item_ids)
    logits = model(HISTORIES, logits_to_keep=1).logits[:, -1]
    torch.testing.assert_close(one.scores, logits.topk(7).values)


def test_recommend_truncates_long_histories_but_excludes_all_of_them():
    model = tiny_model()
    long_history = torch.arange(1, 21)[None]  # 20 items > max_seq_len 12
    out = model.recommend(long_history, k=10)
    assert set(out.item_ids[0].tolist()) == set(range(21, 31))
    with pytest.raises(ValueError, match="left-padded"):
        model.recommend(torch.tensor([[3, 4, 0]]), attention_mask=torch.tensor([[1, 1, 0]]))


def test_save_load_round_trip_safetensors(tmp_path):
    model = tiny_model(tie_item_embeddings=False)
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    assert not list(tmp_path.glob("*.bin")) and not list(tmp_path.glob("*.pt"))
    loaded = AttnRankForNextItemPrediction.from_pretrained(tmp_path)
    torch.testing.assert_close(model(HISTORIES).logits, loaded(HISTORIES).logits)


def test_deterministic_given_seed():
    a, b = tiny_model(), tiny_model()
    torch.testing.assert_close(a(HISTORIES).logits, b(HISTORIES).logits)


@pytest.mark.parametrize("overrides", [{}, {"attention_type": "local", "attention_window": 3}, {"pre_norm": False},
                                       {"position_embedding_type": "rotary"}])
def test_last_position_only_equals_the_full_forward(overrides):
    model = tiny_model(**overrides)
    full = model.model(HISTORIES).last_hidden_state[:, -1]
    torch.testing.assert_close(model.user_representation(HISTORIES), full, rtol=1e-5, atol=1e-5)
    no_padding = HISTORIES[1:2]
    torch.testing.assert_close(model.user_representation(no_padding), model.model(no_padding).last_hidden_state[:, -1],
                               rtol=1e-5, atol=1e-5)


def test_rotary_scores_depend_on_relative_distance_only():
    torch.manual_seed(0)
    q, k = torch.randn(1, 1, 1, 8), torch.randn(1, 1, 1, 8)

    def score(query_position, key_position):
        rq = apply_rotary(q, *rotary_cos_sin(torch.tensor([[query_position]]), 8))
        rk = apply_rotary(k, *rotary_cos_sin(torch.tensor([[key_position]]), 8))
        return (rq * rk).sum()

    torch.testing.assert_close(score(5, 2), score(13, 10))
    torch.testing.assert_close(score(0, 0), (q * k).sum())  # position 0 is not rotated
    assert not torch.allclose(score(5, 2), score(5, 4))


def test_rotary_positions_change_the_output():
    rotary = tiny_model(position_embedding_type="rotary")
    plain = AttnRankForNextItemPrediction(tiny_config(position_embedding_type="none")).eval()
    plain.load_state_dict(rotary.state_dict())  # rotary adds no parameters
    history = torch.tensor([[3, 4, 5, 6]])
    with_rotary, without = rotary(history).logits[0], plain(history).logits[0]
    torch.testing.assert_close(with_rotary[0], without[0])  # the first item sits at position 0: no rotation
    assert not torch.allclose(with_rotary[-1], without[-1])


def test_gbce_matches_a_hand_computation_with_per_sequence_negatives():
    from modeling_attnrank.loss_attnrank import gbce

    torch.manual_seed(0)
    hidden, weight = torch.randn(2, 3, 4), torch.randn(11, 4)  # 2 sequences, 3 positions, 10 items
    labels = torch.tensor([[-100, 2, 3], [4, 5, -100]])
    labelled = labels > 0
    torch.manual_seed(1)
    loss = gbce(hidden, weight, labels, labelled, num_negatives=5, t=0.5)
    torch.manual_seed(1)
    negatives = torch.randint(1, 11, (2, 5))  # the same draw: one row of negatives per sequence
    alpha = 5 / 9
    beta = alpha * (0.5 * (1 - 1 / alpha) + 1 / alpha)
    terms = []
    for b, t in labelled.nonzero().tolist():
        h, target = hidden[b, t], labels[b, t]
        term = -beta * torch.log(torch.sigmoid(h @ weight[target]))
        for negative in negatives[b]:
            if negative != target:
                term = term - torch.log(1 - torch.sigmoid(h @ weight[negative]))
        terms.append(term)
    torch.testing.assert_close(loss, torch.stack(terms).mean())
