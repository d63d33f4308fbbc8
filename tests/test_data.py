"""Tests for the raw-data layer: readers (`readers.py`) and preprocessing / grouping (`data.py`).

Fixtures are tiny logs written into `tmp_path`. The optional real-data tests read the local copies in
`shared/data` (never shipped with the project) and are skipped when that folder is absent.
"""

import gzip
import importlib.util
import json
import logging
import pickle
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modeling_attnrank.data import (
    INTERACTION_COLUMNS,
    DataFormatError,
    group_user_sequences,
    load_user_sequences,
    preprocess_interactions,
    read_interactions,
)


SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
LONG_ID = "x" * 200
# (user, item, timestamp, rating) in file order: IDs that must survive as written, a timestamp tie for "u2".
EVENTS = [
    ("007", "café", 30, 4.0),
    ("u2", "i1", 10, 5.0),
    ("007", "i1", 10, 3.0),
    ("u2", LONG_ID, 10, 2.0),
    ("007", "i2", 20, 1.0),
]
# After the stable (user, timestamp) sort: users by first appearance, u2's tie kept in file order.
CHRONOLOGICAL = [EVENTS[2], EVENTS[4], EVENTS[0], EVENTS[1], EVENTS[3]]


def rows(table, columns=INTERACTION_COLUMNS):
    data = table.select(list(columns)).to_pydict()
    return list(zip(*data.values()))


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def write_lines(path: Path, lines) -> Path:
    return write(path, "".join(line + "\n" for line in lines))


# ------------------------------------------------------------------------------------------------ every format


def _timestamped_files(tmp_path: Path) -> dict:
    """The same log in every layout that carries timestamps and ratings: {name: (path, read kwargs)}."""
    header = "user_id,item_id,timestamp,rating"
    csv_lines = [header] + [f"{u},{i},{t},{r}" for u, i, t, r in EVENTS]
    files = {
        "csv": (write_lines(tmp_path / "log.csv", csv_lines), {}),
        "tsv": (write_lines(tmp_path / "log.tsv", [line.replace(",", "\t") for line in csv_lines]), {}),
        "ml-100k": (write_lines(tmp_path / "ml100k" / "u.data", [f"{u}\t{i}\t{r:g}\t{t}" for u, i, t, r in EVENTS]), {}),
        "ml-1m": (write_lines(tmp_path / "ml1m" / "ratings.dat", [f"{u}::{i}::{r:g}::{t}" for u, i, t, r in EVENTS]), {}),
        "ml-20m": (
            write_lines(tmp_path / "ml20m" / "ratings.csv", ["userId,movieId,rating,timestamp"] + [f"{u},{i},{r},{t}" for u, i, t, r in EVENTS]),
            {},
        ),
        "jsonl": (
            write_lines(tmp_path / "log.jsonl", [json.dumps(dict(zip(INTERACTION_COLUMNS, e)), ensure_ascii=False) for e in EVENTS]),
            {},
        ),
        "headerless csv by position": (
            write_lines(tmp_path / "positions.csv", [f"{t};{r};{i};{u}" for u, i, t, r in EVENTS]),
            dict(format="csv", delimiter=";", user_column=3, item_column=2, timestamp_column=0, rating_column=1),
        ),
        "csv with other names": (
            write_lines(tmp_path / "named.csv", ["rating,when,who,what"] + [f"{r},{t},{u},{i}" for u, i, t, r in EVENTS]),
            dict(user_column="who", item_column="what", timestamp_column="when"),
        ),
        "csv.gz": (tmp_path / "log.csv.gz", {}),
    }
    (tmp_path / "log.csv.gz").write_bytes(gzip.compress((tmp_path / "log.csv").read_bytes()))
    table = pa.table({name: list(column) for name, column in zip(INTERACTION_COLUMNS, zip(*EVENTS))})
    pq.write_table(table, tmp_path / "log.parquet")
    files["parquet"] = (tmp_path / "log.parquet", {})
    datasets.Dataset(datasets.table.InMemoryTable(table)).save_to_disk(str(tmp_path / "saved"))
    files["save_to_disk folder"] = (tmp_path / "saved", {})
    files["MovieLens folder"] = (tmp_path / "ml1m", {})
    return files


def test_every_timestamped_format_reads_the_same_rows(tmp_path):
    for name, (path, kwargs) in _timestamped_files(tmp_path).items():
        table = read_interactions(path, **kwargs)
        assert table.schema.names == list(INTERACTION_COLUMNS), name
        assert rows(table) == EVENTS, name


def test_interactions_format_whitespace_comma_and_header(tmp_path):
    expected = [(u, i, t) for u, i, t, _ in EVENTS]
    variants = {
        "spaces.txt": [f"{u} {i} {t}" for u, i, t, _ in EVENTS],
        "tabs_and_runs.txt": ["", f"  {EVENTS[0][0]}\t\t{EVENTS[0][1]}   {EVENTS[0][2]}  "] + [f"{u}\t{i}\t{t}" for u, i, t, _ in EVENTS[1:]],
        "commas.txt": ["user_id, item_id, timestamp"] + [f"{u}, {i}, {t}" for u, i, t, _ in EVENTS],
        "header.txt": ["user item timestamp"] + [f"{u} {i} {t}\r" for u, i, t, _ in EVENTS],
    }
    for name, lines in variants.items():
        table = read_interactions(write_lines(tmp_path / name, lines))
        assert rows(table, INTERACTION_COLUMNS[:3]) == expected, name
        assert table["rating"].null_count == len(EVENTS), name
    two_columns = read_interactions(write_lines(tmp_path / "pairs_like.txt", ["user_id item_id", "007 café"]))
    assert rows(two_columns) == [("007", "café", None, None)]


def test_pairs_and_seq_formats_keep_file_order(tmp_path):
    pairs = [("007", "b"), ("007", "a"), ("7", LONG_ID), ("7", "café"), ("007", "c")]
    pairs_path = write_lines(tmp_path / "pairs.txt", [f"{u} {i}" for u, i in pairs])
    gz_path = tmp_path / "pairs.txt.gz"
    gz_path.write_bytes(gzip.compress(pairs_path.read_bytes()))
    seq_path = write_lines(tmp_path / "seq.txt", ["007 b a", "7 " + LONG_ID + " café", "007 c"])
    for path, format in ((pairs_path, "pairs"), (gz_path, "pairs"), (seq_path, "seq")):
        table = read_interactions(path, format)
        assert rows(table, ["user_id", "item_id"]) == pairs, path.name
        assert table["timestamp"].null_count == len(pairs)
    # Without timestamps the file order is the order; users by first appearance.
    sequences = group_user_sequences(preprocess_interactions(read_interactions(gz_path, "pairs"))[0])
    assert sequences["user_id"] == ["007", "7"]
    assert sequences["item_ids"] == [["b", "a", "c"], [LONG_ID, "café"]]
    assert sequences["timestamps"] == [[], []]


def test_hub_format_reads_a_local_folder(tmp_path):
    table = pa.table({name: list(column) for name, column in zip(INTERACTION_COLUMNS, zip(*EVENTS))})
    (tmp_path / "hub").mkdir()
    pq.write_table(table, tmp_path / "hub" / "train.parquet")
    loaded = read_interactions(tmp_path / "hub", "hub", load_dataset_kwargs={"cache_dir": str(tmp_path / "cache")})
    assert rows(loaded) == EVENTS


def test_sequences_dataset_round_trips_through_disk(tmp_path):
    sequences, _ = load_user_sequences(_timestamped_files(tmp_path)["csv"][0])
    sequences.save_to_disk(str(tmp_path / "sequences"))
    columns = INTERACTION_COLUMNS[:3]  # sequences keep no ratings
    assert rows(read_interactions(tmp_path / "sequences"), columns) == rows(pa.Table.from_pylist(
        [dict(zip(INTERACTION_COLUMNS, event)) for event in CHRONOLOGICAL]), columns)


def test_jsonl_mixed_id_types_and_json_array(tmp_path):
    lines = ['{"user_id": 7, "item_id": "007", "timestamp": 3}', "", '{"user_id": "u", "item_id": 8.0, "timestamp": "4"}']
    expected = [("7", "007", 3, None), ("u", "8", 4, None)]
    assert rows(read_interactions(write_lines(tmp_path / "mixed.jsonl", lines))) == expected
    array = "[" + ",".join(line for line in lines if line) + "]"
    assert rows(read_interactions(write(tmp_path / "array.json", array))) == expected


# ----------------------------------------------------------------------------------------------- preprocessing


def test_stable_sort_by_user_then_time(tmp_path):
    table, stats = preprocess_interactions(read_interactions(_timestamped_files(tmp_path)["csv"][0]))
    assert rows(table) == CHRONOLOGICAL
    assert stats == dict(rows_in=5, dropped_missing=0, dropped_duplicates=0, dropped_rating=0, dropped_kcore=0,
                         rows_out=5, users=2, items=4)  # fmt: skip
    sequences = group_user_sequences(table)
    assert sequences.column_names == ["user_id", "item_ids", "timestamps"]
    assert sequences[1] == {"user_id": "u2", "item_ids": ["i1", LONG_ID], "timestamps": [10, 10]}
    assert sequences[0]["timestamps"] == [10, 20, 30]


def test_missing_and_duplicates_are_dropped_counted_and_logged(tmp_path, caplog):
    lines = ["user_id,item_id,timestamp", "u1,a,1", ",b,2", "u1,,3", "u1,a,1", "u1,a,5", "u2,c,", "u2,d,7", "u1,a,1"]
    table = read_interactions(write_lines(tmp_path / "dirty.csv", lines))
    with caplog.at_level(logging.INFO, logger="modeling_attnrank"):
        clean, stats = preprocess_interactions(table)
    assert rows(clean, INTERACTION_COLUMNS[:3]) == [("u1", "a", 1), ("u1", "a", 5), ("u2", "d", 7)]
    assert (stats["dropped_missing"], stats["dropped_duplicates"], stats["rows_out"]) == (3, 2, 3)
    assert "dropped 1 rows with a missing user_id" in caplog.text
    assert "dropped 1 rows with a missing item_id" in caplog.text
    assert "dropped 1 rows with a missing timestamp" in caplog.text
    assert "dropped 2 duplicate interactions" in caplog.text
    # Without timestamps a repeated pair is a duplicate unless asked otherwise (repeat consumption).
    pairs = read_interactions(write_lines(tmp_path / "repeats.txt", ["u a", "u b", "u a"]), "pairs")
    assert preprocess_interactions(pairs)[1]["dropped_duplicates"] == 1
    assert preprocess_interactions(pairs, drop_duplicates=False)[1]["rows_out"] == 3


def test_min_rating_threshold(tmp_path, caplog):
    table = read_interactions(_timestamped_files(tmp_path)["ml-100k"][0])
    with caplog.at_level(logging.INFO, logger="modeling_attnrank"):
        clean, stats = preprocess_interactions(table, min_rating=3)
    assert rows(clean, ["item_id", "rating"]) == [("i1", 3.0), ("café", 4.0), ("i1", 5.0)]
    assert stats["dropped_rating"] == 2 and "dropped 2 rows with a rating below 3" in caplog.text
    with pytest.raises(ValueError, match="no ratings"):
        preprocess_interactions(read_interactions(write_lines(tmp_path / "p.txt", ["u a"]), "pairs"), min_rating=1)


def test_kcore_iterates_to_a_fixed_point(tmp_path):
    # One pass drops only D (1 interaction); then i3 has 1 user, so C's i3 goes; then C has 1 interaction.
    log = ["A i1", "A i2", "B i1", "B i2", "C i2", "C i3", "D i3"]
    table = read_interactions(write_lines(tmp_path / "k.txt", log), "pairs")
    clean, stats = preprocess_interactions(table, min_user_interactions=2, min_item_interactions=2)
    assert rows(clean, ["user_id", "item_id"]) == [("A", "i1"), ("A", "i2"), ("B", "i1"), ("B", "i2")]
    assert (stats["dropped_kcore"], stats["users"], stats["items"]) == (3, 2, 2)
    with pytest.raises(ValueError, match="min_user_interactions"):
        preprocess_interactions(table, min_user_interactions=0)


def test_load_user_sequences_reports_reader_and_preprocessing_counts(tmp_path):
    path = write_lines(tmp_path / "log.txt", ["user item timestamp", "", "u1 a 2", "u1 b 1", "u2 a 1"])
    sequences, stats = load_user_sequences(path, min_user_interactions=2)
    assert sequences["item_ids"] == [["b", "a"]]
    assert stats["format"] == "interactions" and stats["rows_read"] == 3
    assert stats["blank_lines_skipped"] == 1 and stats["header_lines_skipped"] == 1
    assert stats["dropped_kcore"] == 1 and stats["rows_out"] == 2
    with pytest.raises(TypeError, match="min_ratings"):
        load_user_sequences(path, min_ratings=3)


# ------------------------------------------------------------------------------------------------- bad input


BAD_INPUTS = {
    # name: (file name, content, read kwargs, expected line, expected value, words in the message)
    "wrong field count": ("log.txt", "u1 a 1\nu1 b 2\nu1 c 3 4\n", {}, 3, "u1 c 3 4", "expected 3 fields"),
    "non-numeric timestamp": ("log.txt", "u1 a 1\n\nu1 b 2\nu1 c yesterday\n", {}, 4, "yesterday", "not an integer"),
    "header in the middle": ("log.txt", "user item timestamp\nu a 1\nuser item timestamp\n", {}, 3, "user item timestamp", "header line in the middle"),
    "pairs header in the middle": ("p.txt", "1 2\nuser_id item_id\n", {"format": "pairs"}, 2, "user_id item_id", "header line in the middle"),
    "csv header in the middle": ("c.csv", "user_id,item_id\na,b\n\nuser_id,item_id\n", {}, 4, "user_id,item_id", "header line in the middle"),
    "ml-1m short line": ("ratings.dat", "1::2::5::978300760\n1::3::978300761\n", {}, 2, "1::3::978300761", "expected 4 fields"),
    "ml-100k bad rating": ("u.data", "1\t2\t5\t9\n1\t3\tfive\t9\n", {}, 2, "five", "rating 'five' is not a number"),
    "ml-100k header": ("u.data", "user_id\titem_id\trating\ttimestamp\n1\t2\t5\t9\n", {}, 1, "user_id", "has_header=True"),
    "csv wrong field count": ("c.csv", 'user_id,item_id,timestamp\na,"b,c",1\n\na,b,1,9\n', {}, 4, "a,b,1,9", "expected 3"),
    "csv bad timestamp": ("c.csv", "user_id,item_id,timestamp\na,b,1\n\na,c,soon\n", {}, 4, "soon", "timestamp is not an integer"),
    "csv fractional timestamp": ("c.csv", "user_id,item_id,timestamp\na,b,1\na,c,1.5\n", {}, 3, 1.5, "whole number"),
    "jsonl bad line": ("j.jsonl", '{"user_id": "a", "item_id": "b"}\n{"user_id": "a", "item_id": \n', {}, 2, '"item_id"', "not valid JSON"),
    "seq given to interactions": ("s.txt", "1 2 3 4 5\n", {}, 1, "1 2 3 4 5", "format='seq'"),
    "pairs header on line 1": ("p.txt", "user_id item_id\n1 2\n", {"format": "pairs"}, 1, "user_id", "has_header=True"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_names_file_line_and_value(tmp_path, case):
    name, content, kwargs, line, value, words = BAD_INPUTS[case]
    path = write(tmp_path / name, content)
    with pytest.raises(DataFormatError) as caught:
        read_interactions(path, **kwargs)
    message = str(caught.value)
    assert name in message and f"line {line}:" in message and str(value) in message and words in message, message
    assert caught.value.line == line
    # The same error from a gzipped copy reports the same (decompressed) line.
    if kwargs.get("format") is None and name.endswith(".txt"):
        gz_path = tmp_path / (name + ".gz")
        gz_path.write_bytes(gzip.compress(content.encode()))
        with pytest.raises(DataFormatError, match=f"line {line}:"):
            read_interactions(gz_path)


def test_empty_files_and_non_utf8(tmp_path):
    for name, content in (("empty.txt", ""), ("blank.txt", "\n \n"), ("empty.csv", "")):
        with pytest.raises(DataFormatError, match=rf"{name}: is empty"):
            read_interactions(write(tmp_path / name, content))
    with pytest.raises(DataFormatError, match="header line but no interactions"):
        read_interactions(write(tmp_path / "only_header.txt", "user_id item_id timestamp\n"))
    with pytest.raises(DataFormatError, match="no interactions"):
        read_interactions(write(tmp_path / "only_header.csv", "user_id,item_id\n"))
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("u1 a 1\nu1 café 2\n".encode("latin-1"))
    with pytest.raises(DataFormatError, match=r"latin1.txt, line 2: is not UTF-8 .*caf") as caught:
        read_interactions(latin1)
    assert "iconv" in str(caught.value)


def test_column_errors_and_parquet_rows(tmp_path):
    with pytest.raises(DataFormatError, match=r"has no column 'user_id'.*\['who', 'what'\]"):
        read_interactions(write(tmp_path / "c.csv", "who,what\na,b\n"))
    with pytest.raises(DataFormatError, match="0-based positions"):
        read_interactions(write(tmp_path / "d.csv", "a,b\n"), has_header=False)
    pq.write_table(pa.table({"user_id": ["a", "b"], "item_id": ["x", "y"], "timestamp": ["1", "later"]}), tmp_path / "t.parquet")
    with pytest.raises(DataFormatError, match=r"t.parquet, row 2: timestamp is not an integer: 'later'"):
        read_interactions(tmp_path / "t.parquet")
    with pytest.raises(DataFormatError, match="cannot infer the format"):
        read_interactions(write(tmp_path / "log.weird", "a b\n"))
    with pytest.raises(FileNotFoundError, match="format='hub'"):
        read_interactions(tmp_path / "nowhere.txt")


def test_command_line_column_positions(tmp_path):
    # HfArgumentParser / argparse hand over "0", not 0: digit strings are positions unless a column has that name.
    path = write_lines(tmp_path / "headerless.tsv", ["1\t007\tx", "2\tcafé\ty"])
    table = read_interactions(path, user_column="2", item_column="1", timestamp_column="0")
    assert rows(table, INTERACTION_COLUMNS[:3]) == [("x", "007", 1), ("y", "café", 2)]


def test_prepare_data_script(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("prepare_data", Path(__file__).parents[1] / "scripts" / "prepare_data.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    path = write_lines(tmp_path / "log.txt", ["u1 a 2", "u1 b 1", "u2 a 1"])
    stats = script.main([str(path), "--output_dir", str(tmp_path / "out"), "--min_item_interactions", "2"])
    assert json.loads((tmp_path / "out" / "stats.json").read_text()) == stats
    assert datasets.load_from_disk(str(tmp_path / "out"))["item_ids"] == [["a"], ["a"]]
    assert "dropped_kcore" in capsys.readouterr().out


def test_data_format_error_survives_pickling():
    error = DataFormatError("f.txt", "timestamp is not an integer", line=3, value="x", hint="Fix it")
    copy = pickle.loads(pickle.dumps(error))
    assert str(copy) == str(error) == "f.txt, line 3: timestamp is not an integer: 'x'. Fix it"
    assert (copy.line, copy.value) == (3, "x")


# ----------------------------------------------------------------------------------- real data (local only)


REAL_DATA = {
    # file: (format, rows, users, items)
    "ml-1m/ml-1m.txt.gz": ("pairs", 999_611, 6_040, 3_416),
    "ml-100k/u.data": ("auto", 100_000, 943, 1_682),
    "amazon-beauty/Beauty.txt": ("seq", 198_502, 22_363, 12_101),
}


@pytest.mark.parametrize("name", sorted(REAL_DATA))
def test_real_dataset_statistics(name):
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"{path} is not available (local benchmark data only)")
    format, num_rows, num_users, num_items = REAL_DATA[name]
    sequences, stats = load_user_sequences(path, format)
    assert (stats["rows_out"], stats["users"], stats["items"]) == (num_rows, num_users, num_items)
    assert len(sequences) == num_users
    if stats["format"] == "ml-100k":  # rows are shuffled in u.data: sequences must come out time-ordered
        assert all(ts == sorted(ts) for ts in sequences["timestamps"])
