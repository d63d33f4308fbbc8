"""Built-in default data: a deterministic synthetic behaviour log with real sequential structure.

Each item has a few fixed "successor" items (think: the next episode, the matching accessory). A user's next
behaviour follows a successor of their current item with probability `follow_prob`, otherwise it is drawn from a
Zipf popularity distribution. Users never repeat an item. A most-popular ranking can only exploit the skew; a
sequential model can also learn the transitions, so it must beat most-popular clearly on this data.

Generated in code from a seed (no download), in the same per-user sequence format as the real-data loaders:
columns `user_id`, `item_ids` (list of raw item ID strings), `timestamps` (list of int).
"""

import numpy as np
from datasets import Dataset


def generate_synthetic_sequences(
    num_users=2000,
    num_items=500,
    min_length=10,
    max_length=60,
    num_successors=3,
    follow_prob=0.6,
    zipf_exponent=1.0,
    seed=0,
):
    """Generate per-user sequences (a `datasets.Dataset`); identical output for identical arguments."""
    if num_items < max_length + num_successors + 1:
        raise ValueError(f"num_items ({num_items}) must exceed max_length + num_successors ({max_length + num_successors}).")
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, num_items + 1) ** zipf_exponent
    popularity = popularity[rng.permutation(num_items)]
    popularity /= popularity.sum()
    successors = np.stack([rng.choice(num_items, num_successors, replace=False) for _ in range(num_items)])

    lengths = rng.integers(min_length, max_length + 1, size=num_users)
    # Pre-draw all random numbers in bulk; the walk itself is a cheap loop over ~num_users * mean_length steps.
    total = int(lengths.sum())
    follow = rng.random(total) < follow_prob
    successor_pick = rng.integers(0, num_successors, size=total)
    popular_pick = rng.choice(num_items, size=4 * total, p=popularity)
    popular_cursor = 0

    user_ids, item_lists, time_lists = [], [], []
    step = 0
    for user, length in enumerate(lengths):
        seen = set()
        items = []
        current = None
        for _ in range(length):
            candidate = None
            if current is not None and follow[step]:
                candidate = int(successors[current, successor_pick[step]])
                if candidate in seen:
                    candidate = None
            while candidate is None or candidate in seen:
                candidate = int(popular_pick[popular_cursor % len(popular_pick)])
                popular_cursor += 1
            items.append(candidate)
            seen.add(candidate)
            current = candidate
            step += 1
        start = 1_600_000_000 + user * 97
        user_ids.append(f"u{user}")
        item_lists.append([f"i{item}" for item in items])
        time_lists.append([start + 60 * position for position in range(length)])
    return Dataset.from_dict({"user_id": user_ids, "item_ids": item_lists, "timestamps": time_lists})


__all__ = ["generate_synthetic_sequences"]
