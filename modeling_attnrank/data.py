"""Raw interactions -> per-user chronological sequences (`datasets.Dataset`): step 1 of the AttnRank protocol.

The protocol follows the preprocessing of SASRec (Kang & McAuley, ICDM 2018) and of the BERT4Rec / S3-Rec
benchmark files, with every choice made explicit and every dropped row counted and logged:

1. read the raw log in file order (`read_interactions`, see `readers.py` for the supported layouts);
2. drop rows with a missing user or item (and, when timestamps exist, rows without one);
3. drop exact duplicate events (same user, item, timestamp and rating), keeping the first;
4. optionally keep only ratings >= `min_rating` (explicit ratings read as implicit feedback);
5. optionally apply the iterative k-core filter (users with < `min_user_interactions` and items with
   < `min_item_interactions` removed until no more are), as SASRec's 5-core and S3-Rec's 5-core do;
6. stable sort by (user, timestamp): ties keep file order; without timestamps the file order is the order;
7. group each user's items into one row (`group_user_sequences`), users in order of first appearance.

Splitting (leave-one-out etc.) and item-ID indexing happen later, in the tokenizer and split code.

Example:

```python
>>> from modeling_attnrank.data import load_user_sequences
>>> sequences, stats = load_user_sequences("ml-1m.txt.gz", format="pairs")
>>> sequences[0]["item_ids"][:3], stats["users"]
(['1', '2', '3'], 6040)
```
"""

from __future__ import annotations

import logging
import os
from typing import Any, Optional, Union

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .readers import FORMATS, INTERACTION_COLUMNS, INTERACTION_SCHEMA, DataFormatError, read_interactions, read_stats


__all__ = [
    "FORMATS",
    "INTERACTION_COLUMNS",
    "DataFormatError",
    "group_user_sequences",
    "load_user_sequences",
    "preprocess_interactions",
    "read_interactions",
    "read_stats",
]

logger = logging.getLogger(__name__)

_READ_OPTIONS = frozenset(
    {"user_column", "item_column", "timestamp_column", "rating_column", "delimiter", "has_header", "split"}
    | {"load_dataset_kwargs"}
)
_PREPROCESS_OPTIONS = frozenset({"min_rating", "min_user_interactions", "min_item_interactions", "drop_duplicates"})


def preprocess_interactions(
    table: pa.Table,
    *,
    min_rating: Optional[float] = None,
    min_user_interactions: Optional[int] = None,
    min_item_interactions: Optional[int] = None,
    drop_duplicates: bool = True,
) -> tuple[pa.Table, dict[str, int]]:
    """Clean an interaction table and sort it chronologically per user (steps 2-6 of the module docstring).

    Args:
        table (`pyarrow.Table`):
            Output of `read_interactions`, or any table with `user_id` and `item_id` columns (`timestamp` and
            `rating` are optional).
        min_rating (`float`, *optional*):
            Keep only rows with `rating >= min_rating`; rows without a rating are dropped too.
        min_user_interactions (`int`, *optional*):
            k-core threshold for users (e.g. 5 as in SASRec); applied jointly with `min_item_interactions`
            until no user or item falls below its threshold.
        min_item_interactions (`int`, *optional*):
            k-core threshold for items.
        drop_duplicates (`bool`, *optional*, defaults to `True`):
            Drop exact repeats of (user, item, timestamp, rating), keeping the first. Without timestamps a
            repeated (user, item) pair counts as a duplicate: pass `False` to keep repeat consumption.

    Returns:
        `tuple(pyarrow.Table, dict)`: the table (schema of `INTERACTION_COLUMNS`, users in order of first
        appearance, each user's rows by timestamp with file order breaking ties) and the counts `rows_in`,
        `dropped_missing`, `dropped_duplicates`, `dropped_rating`, `dropped_kcore`, `rows_out`, `users`, `items`.
    """
    thresholds = {"min_user_interactions": min_user_interactions, "min_item_interactions": min_item_interactions}
    for name, value in thresholds.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"{name} must be a positive integer or None, got {value!r}.")
    table = _as_interactions(table)
    stats = {"rows_in": table.num_rows}

    table, stats["dropped_missing"] = _drop_missing(table)
    table, stats["dropped_duplicates"] = _drop_duplicates(table) if drop_duplicates else (table, 0)
    table, stats["dropped_rating"] = _apply_min_rating(table, min_rating) if min_rating is not None else (table, 0)
    stats["dropped_kcore"] = 0
    if min_user_interactions or min_item_interactions:
        table, stats["dropped_kcore"] = _apply_kcore(table, min_user_interactions or 1, min_item_interactions or 1)

    table = table.take(_chronological_order(table)[0])
    stats.update(
        rows_out=table.num_rows,
        users=pc.count_distinct(table["user_id"]).as_py(),
        items=pc.count_distinct(table["item_id"]).as_py(),
    )
    if table.num_rows == 0:
        logger.warning("Preprocessing left no interactions (%s); loosen the filters.", stats)
    return table, stats


def group_user_sequences(table: pa.Table) -> datasets.Dataset:
    """One row per user: `user_id`, chronological `item_ids` and their `timestamps`.

    Users come in order of first appearance in `table`; each user's items are ordered by timestamp with table
    order breaking ties (so a table from `preprocess_interactions` keeps its order exactly).

    Args:
        table (`pyarrow.Table`): interactions with no missing `user_id` (run `preprocess_interactions` first).

    Returns:
        `datasets.Dataset` with columns `user_id` (string), `item_ids` (list of strings) and `timestamps`
        (list of int64; empty lists when the source has no timestamps).
    """
    table = _as_interactions(table)
    if table["user_id"].null_count or (table.num_rows and pc.any(pc.equal(table["user_id"], "")).as_py()):
        raise ValueError("group_user_sequences needs every row to have a user_id; run preprocess_interactions first.")
    order, user_codes, users = _chronological_order(table)
    num_users = len(users)
    offsets = np.zeros(num_users + 1, dtype=np.int64)
    np.cumsum(np.bincount(user_codes, minlength=num_users), out=offsets[1:])
    large = table.num_rows >= 2**31
    list_type, offset_dtype = (pa.LargeListArray, np.int64) if large else (pa.ListArray, np.int32)
    offsets = pa.array(offsets.astype(offset_dtype))

    timestamps = table["timestamp"]
    if timestamps.null_count == table.num_rows:  # no timestamps at all: empty lists, not lists of nulls
        no_offsets = pa.array(np.zeros(num_users + 1, dtype=offset_dtype))
        timestamp_lists = list_type.from_arrays(no_offsets, pa.array([], pa.int64()))
    else:
        timestamp_lists = list_type.from_arrays(offsets, timestamps.take(order).combine_chunks())
    sequences = pa.table(
        {
            "user_id": users,
            "item_ids": list_type.from_arrays(offsets, table["item_id"].take(order).combine_chunks()),
            "timestamps": timestamp_lists,
        }
    )
    return datasets.Dataset(datasets.table.InMemoryTable(sequences))


def load_user_sequences(
    path: Union[str, os.PathLike], format: str = "auto", **read_and_preprocess_kwargs: Any
) -> tuple[datasets.Dataset, dict[str, Any]]:
    """Read, preprocess and group: `read_interactions` -> `preprocess_interactions` -> `group_user_sequences`.

    Args:
        path (`str` or `os.PathLike`): see `read_interactions`.
        format (`str`, *optional*, defaults to `"auto"`): see `read_interactions`.
        read_and_preprocess_kwargs:
            Keyword arguments of `read_interactions` (`user_column`, `item_column`, `timestamp_column`,
            `rating_column`, `delimiter`, `has_header`, `split`, `load_dataset_kwargs`) and of
            `preprocess_interactions` (`min_rating`, `min_user_interactions`, `min_item_interactions`,
            `drop_duplicates`).

    Returns:
        `tuple(datasets.Dataset, dict)`: the sequences and the reader's plus the preprocessing counts.
    """
    unknown = set(read_and_preprocess_kwargs) - _READ_OPTIONS - _PREPROCESS_OPTIONS
    if unknown:
        raise TypeError(
            f"load_user_sequences() got unexpected keyword argument(s) {sorted(unknown)}; reading accepts "
            f"{sorted(_READ_OPTIONS)} and preprocessing accepts {sorted(_PREPROCESS_OPTIONS)}."
        )
    read_kwargs = {k: v for k, v in read_and_preprocess_kwargs.items() if k in _READ_OPTIONS}
    preprocess_kwargs = {k: v for k, v in read_and_preprocess_kwargs.items() if k in _PREPROCESS_OPTIONS}
    table = read_interactions(path, format, **read_kwargs)
    clean, stats = preprocess_interactions(table, **preprocess_kwargs)
    sequences = group_user_sequences(clean)
    stats = {**read_stats(table), **stats}
    logger.info("%s: %d interactions -> %d user sequences", path, stats["rows_out"], len(sequences))
    return sequences, stats


# --------------------------------------------------------------------------------------------------- steps


def _as_interactions(table: pa.Table) -> pa.Table:
    """`table` with exactly the columns of `INTERACTION_SCHEMA` (absent timestamp / rating become nulls)."""
    missing = [name for name in ("user_id", "item_id") if name not in table.column_names]
    if missing:
        raise ValueError(f"The interaction table has no {missing} column; it has {table.column_names}.")
    columns = []
    for field in INTERACTION_SCHEMA:
        column = table[field.name] if field.name in table.column_names else pa.nulls(table.num_rows, field.type)
        columns.append(pc.cast(column, field.type))
    return pa.Table.from_arrays(columns, schema=INTERACTION_SCHEMA)


def _is_missing(column: pa.ChunkedArray) -> np.ndarray:
    return pc.fill_null(pc.equal(pc.binary_length(column), 0), True).to_numpy()


def _drop_missing(table: pa.Table) -> tuple[pa.Table, int]:
    drop = np.zeros(table.num_rows, dtype=bool)
    checks = [("user_id", _is_missing(table["user_id"])), ("item_id", _is_missing(table["item_id"]))]
    timestamps = table["timestamp"]
    if 0 < timestamps.null_count < table.num_rows:  # such rows cannot be placed in time among the others
        checks.append(("timestamp", pc.is_null(timestamps).to_numpy()))
    for name, missing in checks:
        newly = missing & ~drop
        if newly.any():
            logger.warning("dropped %d rows with a missing %s", int(newly.sum()), name)
        drop |= missing
    return (table.filter(pa.array(~drop)), int(drop.sum())) if drop.any() else (table, 0)


def _codes(column: pa.ChunkedArray) -> np.ndarray:
    """Dense integer code of each value, numbered in order of first appearance."""
    if len(column) == 0:
        return np.zeros(0, dtype=np.int32)
    return pc.dictionary_encode(column).combine_chunks().indices.to_numpy(zero_copy_only=False)


def _drop_duplicates(table: pa.Table) -> tuple[pa.Table, int]:
    item_codes = _codes(table["item_id"])
    pairs = _codes(table["user_id"]).astype(np.int64) * (int(item_codes.max(initial=0)) + 1) + item_codes
    if not (np.diff(np.sort(pairs)) == 0).any():  # no (user, item) pair repeats: nothing can be a duplicate
        return table, 0
    keys = pa.table({"pair": pairs, "timestamp": table["timestamp"], "rating": table["rating"]})
    keys = keys.append_column("row", pa.array(np.arange(table.num_rows)))
    firsts = keys.group_by(["pair", "timestamp", "rating"], use_threads=False).aggregate([("row", "min")])["row_min"]
    dropped = table.num_rows - len(firsts)
    if not dropped:
        return table, 0
    keep = np.zeros(table.num_rows, dtype=bool)
    keep[firsts.to_numpy()] = True
    note = "" if table["timestamp"].null_count < table.num_rows else (
        " (no timestamps: repeated user-item pairs count as duplicates; pass drop_duplicates=False to keep them)"
    )  # fmt: skip
    logger.warning("dropped %d duplicate interactions (same user, item, timestamp and rating)%s", dropped, note)
    return table.filter(pa.array(keep)), dropped


def _apply_min_rating(table: pa.Table, min_rating: float) -> tuple[pa.Table, int]:
    ratings = table["rating"]
    if table.num_rows and ratings.null_count == table.num_rows:
        raise ValueError(f"min_rating={min_rating!r} was given but the interactions have no ratings; drop min_rating.")
    keep = pc.fill_null(pc.greater_equal(ratings, min_rating), False)
    dropped = table.num_rows - pc.sum(keep).as_py() if table.num_rows else 0
    if dropped:
        logger.info("dropped %d rows with a rating below %s (or no rating)", dropped, min_rating)
    return table.filter(keep), dropped


def _apply_kcore(table: pa.Table, min_user: int, min_item: int) -> tuple[pa.Table, int]:
    """Iterate to the fixed point: removing an item can push a user below its threshold, and back."""
    user_codes, item_codes = _codes(table["user_id"]), _codes(table["item_id"])
    keep = np.ones(table.num_rows, dtype=bool)
    passes = 0
    while True:
        passes += 1
        user_counts = np.bincount(user_codes[keep], minlength=user_codes.max(initial=-1) + 1)
        item_counts = np.bincount(item_codes[keep], minlength=item_codes.max(initial=-1) + 1)
        still = keep & (user_counts[user_codes] >= min_user) & (item_counts[item_codes] >= min_item)
        if still.sum() == keep.sum():
            break
        keep = still
    dropped = int((~keep).sum())
    if dropped:
        logger.info(
            "dropped %d rows by the k-core filter (min_user_interactions=%d, min_item_interactions=%d, %d passes)",
            dropped, min_user, min_item, passes,
        )  # fmt: skip
    return table.filter(pa.array(keep)), dropped


def _chronological_order(table: pa.Table) -> tuple[np.ndarray, np.ndarray, pa.Array]:
    """Stable (user, timestamp) order: (row order, sorted user codes, users in order of first appearance)."""
    encoded = pc.dictionary_encode(table["user_id"]).combine_chunks()
    codes = encoded.indices.to_numpy(zero_copy_only=False) if table.num_rows else np.zeros(0, dtype=np.int32)
    timestamps = table["timestamp"]
    if timestamps.null_count == table.num_rows:
        order = np.argsort(codes, kind="stable")
    else:  # np.lexsort is stable: equal keys keep their table order
        order = np.lexsort((pc.fill_null(timestamps, np.iinfo(np.int64).max).to_numpy(), codes))
    users = encoded.dictionary if table.num_rows else pa.array([], pa.string())
    return order, codes[order], users
