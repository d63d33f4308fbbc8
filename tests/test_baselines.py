import torch

from modeling_attnrank.baselines import ItemKNN, MostPopular


def test_most_popular_orders_by_count_then_index():
    scorer = MostPopular([[1, 2, 2], [2, 3], [3, 4]], num_items=5)
    scores = scorer(torch.tensor([[1]]), torch.tensor([[1]]))[0]
    order = scores[1:].argsort(descending=True) + 1
    assert order.tolist() == [2, 3, 1, 4, 5]  # 2 and 3 twice, 2 first on index; unseen 5 last


def test_item_knn_cosine_by_hand():
    # users: {1,2}, {1,2,3}, {3}: cos(1,2) = 2/sqrt(2*2) = 1, cos(1,3) = 1/sqrt(2*2) = 0.5
    scorer = ItemKNN([[1, 2], [1, 2, 3], [3]], num_items=3, num_neighbors=2)
    scores = scorer(torch.tensor([[0, 1]]), torch.tensor([[0, 1]]))[0]
    torch.testing.assert_close(scores, torch.tensor([0.0, 0.0, 1.0, 0.5]))
