import numpy as np
import torch

from modeling_attnrank.inference import recommend_many

from conftest import tiny_model


def test_recommend_many_matches_one_by_one_and_keeps_input_order():
    model = tiny_model()
    rng = np.random.default_rng(0)
    histories = [rng.choice(np.arange(1, 31), size=n, replace=False).tolist() for n in (3, 20, 1, 7, 12, 25)]
    item_ids, scores = recommend_many(model, histories, k=4, batch_size=2)
    for row, history in enumerate(histories):
        single = model.recommend(torch.tensor([history]), k=4)
        assert item_ids[row].tolist() == single.item_ids[0].tolist()
        np.testing.assert_allclose(scores[row], single.scores[0].numpy(), rtol=1e-5, atol=1e-6)
        assert not set(item_ids[row].tolist()) & set(history)  # also items older than max_seq_len (12)
