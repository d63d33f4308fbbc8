"""Readers: every supported raw interaction layout -> one Arrow table (step 0 of the data protocol).

Each reader returns a `pyarrow.Table` with the columns of `INTERACTION_COLUMNS`:

    user_id (string) | item_id (string) | timestamp (int64, nullable) | rating (float64, nullable)

in the order the rows appear in the file. File order is kept on purpose: it is the tie-break of the stable
(user, timestamp) sort in `data.preprocess_interactions`, and for SASRec / S3-Rec files without timestamps it is
the only record of chronology. IDs are kept as the exact strings written ("007" stays "007").

Layouts (`format=`), with the protocol each one comes from:

| format                            | layout                                        | origin                         |
|-----------------------------------|-----------------------------------------------|--------------------------------|
| `interactions`                    | `user item [timestamp]`, whitespace or commas | a user's own log               |
| `pairs`                           | `user item` per line, per-user chronological  | SASRec (Kang & McAuley, 2018)  |
| `seq`                             | `user item1 item2 ...` per line               | S3-Rec (Zhou et al., 2020)     |
| `ml-100k`                         | `u.data`: user TAB item TAB rating TAB time   | GroupLens MovieLens 100K       |
| `ml-1m`, `ml-10m`                 | `ratings.dat`: user::item::rating::time       | GroupLens MovieLens 1M / 10M   |
| `ml-20m`, `ml-25m`, `ml-latest`   | `ratings.csv` with header userId,movieId,...  | GroupLens MovieLens 20M / 25M  |
| `csv`, `tsv`, `parquet`, `jsonl`  | tables with named (or positional) columns     | generic                        |
| `disk`, `hub`                     | `datasets.Dataset.save_to_disk` folder, Hub id| Hugging Face `datasets`        |

Line-oriented layouts are parsed with Arrow compute kernels over the whole file at once (`_split_lines` makes an
Arrow string array with one entry per physical line, zero-copy), so a bad value is located to its exact
1-based line number at no extra cost. Quoted CSV goes through `pyarrow.csv`; only when parsing or a value check
fails is the file re-scanned with Python's `csv` module to name the offending line. Problems raise
`DataFormatError` naming the file, the line, the value and what to do. Gzip is detected from the file's magic
bytes, not its name.
"""

from __future__ import annotations

import codecs
import csv
import functools
import gzip
import io
import json
import logging
import os
import re
from pathlib import Path
from typing import Any, Callable, Optional, Union

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


logger = logging.getLogger(__name__)

INTERACTION_COLUMNS = ("user_id", "item_id", "timestamp", "rating")
INTERACTION_SCHEMA = pa.schema(
    [("user_id", pa.string()), ("item_id", pa.string()), ("timestamp", pa.int64()), ("rating", pa.float64())]
)
FORMATS = (
    "auto", "interactions", "pairs", "seq", "csv", "tsv", "parquet", "jsonl",
    "ml-100k", "ml-1m", "ml-10m", "ml-20m", "ml-25m", "ml-latest", "ml-latest-small", "disk", "hub",
)  # fmt: skip
READ_STATS_KEY = b"attnrank.read_stats"

ColumnSpec = Union[str, int, None]

# Fixed line layouts: (field names, exact delimiter or None for runs of ASCII whitespace, human description).
_LINE_LAYOUTS = {
    "pairs": (("user_id", "item_id"), None, "user item"),
    "ml-100k": (("user_id", "item_id", "rating", "timestamp"), "\t", "user<TAB>item<TAB>rating<TAB>timestamp"),
    "ml-1m": (("user_id", "item_id", "rating", "timestamp"), "::", "user::item::rating::timestamp"),
}
_FORMAT_ALIASES = {"ml-10m": "ml-1m", "ml-25m": "ml-20m", "ml-latest": "ml-20m", "ml-latest-small": "ml-20m"}
_MOVIELENS_FILES = {"u.data": "ml-100k", "ratings.dat": "ml-1m", "ratings.csv": "ml-20m"}
_SUFFIX_FORMATS = {
    ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl",
    ".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".txt": "interactions",
}  # fmt: skip

_INTEGER_PATTERN = r"^-?[0-9]{1,18}$"
_NUMBER_PATTERN = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_EMPTY_HINT = "Check the path: an interaction file needs one line per interaction"
_REPEATED_HEADER_HINT = "Delete it (were several files concatenated?)"
_VALUE_HINTS = {
    "timestamp": "Timestamps must be integer Unix times (convert dates first), or empty when unknown",
    "rating": "Ratings must be numbers, or empty when unknown",
}
_USER_WORDS = ("user", "user_id", "uid", "users", "customer_id", "visitor_id", "session_id", "reviewer_id")
_ITEM_WORDS = ("item", "item_id", "iid", "items", "movie", "movie_id", "product_id", "asin", "track_id", "song_id")


def _spellings(words: tuple[str, ...]) -> frozenset[str]:
    return frozenset(spelling for w in words for spelling in (w, w.replace("_", ""), w.replace("_", " ")))


_USER_HEADER_NAMES, _ITEM_HEADER_NAMES = _spellings(_USER_WORDS), _spellings(_ITEM_WORDS)


class DataFormatError(ValueError):
    """The raw file cannot be read as the requested format.

    The message names the file, the 1-based line (or row, for columnar files) where reading stopped, the
    offending value, and what to do about it, e.g.
    ``log.txt, line 7: timestamp is not an integer: 'yesterday'. Timestamps must be integer Unix times ...``.
    The same facts are available as attributes: `path`, `line`, `value`, `problem`, `hint`.
    """

    def __init__(
        self,
        path: Union[str, os.PathLike],
        problem: str,
        *,
        line: Optional[int] = None,
        value: Any = None,
        hint: Optional[str] = None,
        unit: str = "line",
    ):
        self.path, self.problem, self.hint = str(path), problem, hint
        self.line, self.value, self.unit = line, value, unit
        location = f"{path}, {unit} {line}" if line is not None else str(path)
        message = f"{location}: {problem}"
        if value is not None:
            shown = value if len(str(value)) <= 160 else f"{str(value)[:160]}..."
            message += f": {shown!r}"
        super().__init__(f"{message}. {hint}" if hint else message)

    def __reduce__(self):  # keep the keyword-only fields when the error crosses a process boundary
        fields = {"line": self.line, "value": self.value, "hint": self.hint, "unit": self.unit}
        return functools.partial(type(self), **fields), (self.path, self.problem)


def read_interactions(
    path: Union[str, os.PathLike],
    format: str = "auto",
    *,
    user_column: ColumnSpec = "user_id",
    item_column: ColumnSpec = "item_id",
    timestamp_column: ColumnSpec = None,
    rating_column: ColumnSpec = None,
    delimiter: Optional[str] = None,
    has_header: Optional[bool] = None,
    split: str = "train",
    load_dataset_kwargs: Optional[dict] = None,
) -> pa.Table:
    """Read a raw interaction log into an Arrow table with the columns of `INTERACTION_COLUMNS`, in file order.

    Args:
        path (`str` or `os.PathLike`):
            File to read (gzip is detected automatically), a `datasets.Dataset.save_to_disk` folder, a MovieLens
            folder (containing `u.data`, `ratings.dat` or `ratings.csv`), or, with `format="hub"`, any name
            `datasets.load_dataset` accepts.
        format (`str`, *optional*, defaults to `"auto"`):
            One of `FORMATS`. `"auto"` infers it from the name: `u.data` -> `ml-100k`, `ratings.dat` -> `ml-1m`,
            `ratings.csv` -> `ml-20m`, `.parquet`, `.jsonl`/`.json`, `.csv`, `.tsv`, `.txt[.gz]` -> `interactions`.
            SASRec (`pairs`) and S3-Rec (`seq`) files also end in `.txt`: name those formats explicitly.
        user_column, item_column (`str` or `int`, *optional*, defaults to `"user_id"` / `"item_id"`):
            Column names, or 0-based positions for header-less csv/tsv, for the tabular formats
            (`csv`, `tsv`, `parquet`, `jsonl`, `disk`, `hub`). Fixed layouts ignore them.
        timestamp_column, rating_column (`str` or `int`, *optional*):
            As above. When `None`, a column literally named `timestamp` / `rating` is used if present.
        delimiter (`str`, *optional*):
            Field separator. Defaults: `,` for csv, TAB for tsv; for `interactions` a comma if the first line has
            one, else runs of whitespace; runs of whitespace for `pairs` and `seq`.
        has_header (`bool`, *optional*):
            Whether the first non-blank line is a header. Defaults: csv/tsv -> `True` unless the columns are
            given as positions; `interactions` -> detected (a header names a user and an item column, e.g.
            `user_id item_id`, or has a non-integer third field such as `timestamp`); MovieLens `ratings.csv` ->
            `True`; other layouts -> `False`.
        split (`str`, *optional*, defaults to `"train"`):
            Split to read from a `DatasetDict` folder or a Hub dataset.
        load_dataset_kwargs (`dict`, *optional*):
            Extra arguments for `datasets.load_dataset` (`revision`, `cache_dir`, `data_files`, ...), for
            `format="hub"`.

    Returns:
        `pyarrow.Table`: the interactions, schema `INTERACTION_SCHEMA`. Columns absent from the source are all
        null. Reader counts (`format`, `source`, `rows_read`, `blank_lines_skipped`, `header_lines_skipped`) are
        kept in the schema metadata; see `read_stats`.

    Raises:
        DataFormatError: the file does not match the format (message gives file, line, value, and the fix).
        FileNotFoundError: `path` does not exist.
    """
    if format not in FORMATS:
        raise ValueError(f"format={format!r} is not supported; choose one of {', '.join(FORMATS)}.")
    if format != "hub":
        path = Path(path)
        if format == "auto":
            format, path = _infer_format(path)
        elif not path.exists():
            raise FileNotFoundError(f"{path} does not exist.")
        if path.is_dir() and format != "disk":  # a MovieLens folder: the ratings file inside it
            layout = _FORMAT_ALIASES.get(format, format)
            inside = [path / name for name, name_layout in _MOVIELENS_FILES.items() if name_layout == layout]
            if not inside or not inside[0].exists():
                raise DataFormatError(path, f"is a folder; format={format!r} reads a file", hint="Pass the file")
            path = inside[0]
    layout = _FORMAT_ALIASES.get(format, format)
    columns = {"user": user_column, "item": item_column, "timestamp": timestamp_column, "rating": rating_column}
    if layout in ("interactions", "pairs", "seq", "ml-100k", "ml-1m", "ml-20m"):
        _warn_ignored_columns(format, columns)
    if layout in ("ml-100k", "ml-1m", "ml-20m") and delimiter is not None:
        logger.warning("delimiter=%r is ignored: the %s layout fixes its separator.", delimiter, format)

    if layout == "ml-20m":
        fixed = {"user": "userId", "item": "movieId", "timestamp": "timestamp", "rating": "rating"}
        table, stats = _read_delimited(path, ",", True, fixed)
    elif layout in ("csv", "tsv"):
        table, stats = _read_delimited(path, delimiter or ("," if layout == "csv" else "\t"), has_header, columns)
    elif layout == "parquet":
        table, stats = _read_parquet(path, columns)
    elif layout == "jsonl":
        table, stats = _read_json(path, columns)
    elif layout in ("disk", "hub"):
        table, stats = _read_datasets(path, layout, columns, split, load_dataset_kwargs or {})
    else:
        table, stats = _read_lines(path, layout, delimiter, has_header)

    if table.num_rows == 0:
        raise DataFormatError(path, "contains no interactions", hint="Check that this is the right file and format.")
    stats = {"format": format, "source": str(path), "rows_read": table.num_rows,
             "blank_lines_skipped": 0, "header_lines_skipped": 0, **stats}  # fmt: skip
    skipped = [f"{stats[key]} {key.split('_')[0]} line(s)" for key in ("header_lines_skipped", "blank_lines_skipped")]
    logger.info("%s: read %d interactions as %s (skipped %s)", path, table.num_rows, format, ", ".join(skipped))
    return table.replace_schema_metadata({READ_STATS_KEY: json.dumps(stats)})


def read_stats(table: pa.Table) -> dict:
    """Return the reader counts `read_interactions` stored in `table`'s schema metadata (empty if none)."""
    metadata = table.schema.metadata or {}
    return json.loads(metadata[READ_STATS_KEY]) if READ_STATS_KEY in metadata else {}


# ----------------------------------------------------------------------------------------------- format inference


def _infer_format(path: Path) -> tuple[str, Path]:
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist. For a Hugging Face Hub dataset pass format='hub'.")
    if path.is_dir():
        if any((path / marker).exists() for marker in ("dataset_info.json", "state.json", "dataset_dict.json")):
            return "disk", path
        for name, format in _MOVIELENS_FILES.items():
            if (path / name).exists():
                return format, path / name
        raise DataFormatError(
            path, "is a folder but neither a `datasets.save_to_disk` folder nor a MovieLens folder",
            hint="Pass the data file itself, or format=... (one of " + ", ".join(FORMATS[1:]) + ")",
        )  # fmt: skip
    name = path.name.lower().removesuffix(".gz")
    if name in _MOVIELENS_FILES:
        return _MOVIELENS_FILES[name], path
    suffix = Path(name).suffix
    if suffix not in _SUFFIX_FORMATS:
        raise DataFormatError(
            path, f"cannot infer the format from the file name (suffix {suffix or 'none'!r})",
            hint="Pass format=... (one of " + ", ".join(FORMATS[1:]) + ")",
        )  # fmt: skip
    return _SUFFIX_FORMATS[suffix], path


def _warn_ignored_columns(format: str, columns: dict) -> None:
    defaults = {"user": "user_id", "item": "item_id", "timestamp": None, "rating": None}
    changed = [f"{role}_column={spec!r}" for role, spec in columns.items() if spec != defaults[role]]
    if changed:
        logger.warning("%s ignored: the %s layout fixes its columns.", ", ".join(changed), format)


# -------------------------------------------------------------------------------------------- raw bytes and lines


def _read_bytes(path: Path) -> bytes:
    """Whole file as bytes: gunzipped when it starts with the gzip magic, UTF-8 checked, BOM removed."""
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as error:
            raise DataFormatError(path, f"is a damaged gzip file ({error})", hint="Fetch it again") from None
    data = data.removeprefix(codecs.BOM_UTF8)
    _check_utf8(path, data)
    return data


def _check_utf8(path: Path, data: bytes, chunk_size: int = 1 << 24) -> None:
    view, position = memoryview(data), 0
    while position < len(data):
        end = min(position + chunk_size, len(data))
        try:  # `final=False` leaves a multi-byte character cut by the chunk edge to the next chunk
            _, consumed = codecs.utf_8_decode(view[position:end], "strict", end == len(data))
        except UnicodeDecodeError as error:
            bad = position + error.start
            start, stop = data.rfind(b"\n", 0, bad) + 1, data.find(b"\n", bad)
            raise DataFormatError(
                path, f"is not UTF-8 text (byte 0x{data[bad]:02x} at column {bad - start + 1})",
                line=data.count(b"\n", 0, bad) + 1, value=data[start : stop if stop >= 0 else len(data)].rstrip(b"\r"),
                hint="Re-encode the file as UTF-8, e.g. `iconv -f latin1 -t utf-8 in.txt > out.txt`",
            ) from None  # fmt: skip
        position += consumed


def _split_lines(data: bytes) -> pa.Array:
    """One string per physical line (line `i + 1` is entry `i`), sharing `data`'s memory; newlines kept."""
    ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 0x0A) + 1
    if data and not data.endswith(b"\n"):
        ends = np.append(ends, len(data))
    large = len(data) >= 2**31
    offsets = np.concatenate([[0], ends]).astype(np.int64 if large else np.int32)
    array_type = pa.large_string() if large else pa.string()
    return pa.Array.from_buffers(array_type, len(offsets) - 1, [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def _split_fields(lines: pa.Array, delimiter: Optional[str]) -> pa.ListArray:
    """Fields of each (trimmed) line: runs of ASCII whitespace when `delimiter` is None, else the exact delimiter."""
    if delimiter is None:
        return pc.ascii_split_whitespace(lines)
    lists = pc.split_pattern(lines, delimiter)
    return type(lists).from_arrays(lists.offsets, pc.ascii_trim_whitespace(lists.values))


# -------------------------------------------------------------------------------------- line-oriented layouts


def _read_lines(
    path: Path, layout: str, delimiter: Optional[str], has_header: Optional[bool]
) -> tuple[pa.Table, dict]:
    """`interactions`, `pairs`, `seq`, `ml-100k` and `ml-1m`/`ml-10m` (`::`) files."""
    lines = pc.ascii_trim_whitespace(_split_lines(_read_bytes(path)))
    nonblank = np.flatnonzero(pc.binary_length(lines).to_numpy() > 0)
    if len(nonblank) == 0:
        raise DataFormatError(path, "is empty", hint=_EMPTY_HINT)
    first_line = lines[int(nonblank[0])].as_py()
    if layout in _LINE_LAYOUTS:
        names, fixed_delimiter, description = _LINE_LAYOUTS[layout]
        delimiter = fixed_delimiter if layout != "pairs" else delimiter
    elif layout == "interactions" and delimiter is None:
        delimiter = "," if "," in first_line else None
    fields = _split_fields(lines, delimiter)
    counts = pc.list_value_length(fields).to_numpy(zero_copy_only=False)
    offsets = fields.offsets.to_numpy()
    values = fields.values

    if has_header is None:
        has_header = layout == "interactions" and _looks_like_header(_fields_of(fields, nonblank[0]), first=True)
    rows = nonblank[1:] if has_header else nonblank
    if len(rows) == 0:
        line = int(nonblank[0]) + 1
        problem = "has a header line but no interactions"
        raise DataFormatError(path, problem, line=line, value=first_line, hint=_EMPTY_HINT)
    stats = {"blank_lines_skipped": len(lines) - len(nonblank), "header_lines_skipped": int(bool(has_header))}

    header = _fields_of(fields, nonblank[0]) if has_header else None

    def fail(row: int, problem: str, hint: str) -> None:
        row_fields = _fields_of(fields, row)
        if row_fields == header or _looks_like_header(row_fields):
            if row == nonblank[0]:
                problem, hint = "looks like a header line", "Pass has_header=True to skip it"
            else:
                problem, hint = "header line in the middle of the file", _REPEATED_HEADER_HINT
        raise DataFormatError(path, problem, line=int(row) + 1, value=lines[int(row)].as_py(), hint=hint)

    if layout == "seq":
        return _seq_table(values, offsets, counts, rows), stats
    if layout == "interactions":
        width = int(counts[rows[0]])
        if width not in (2, 3):
            fail(rows[0], f"has {width} fields; the 'interactions' format is `user item [timestamp]`",
                 "For one user per line (S3-Rec) pass format='seq'; for more columns use format='csv' or 'tsv' "
                 "with user_column=..., item_column=..., timestamp_column=...")  # fmt: skip
        names = ("user_id", "item_id", "timestamp")[:width]
        description = "user item" + (" timestamp" if width == 3 else "")
    wrong = rows[counts[rows] != len(names)]
    if len(wrong):
        row = int(wrong[0])
        problem = f"expected {len(names)} fields ({description}) but found {counts[row]}"
        fail(row, problem, "Fix or delete this line (every line must have the same fields)")

    starts = offsets[rows]
    columns = {name: values.take(pa.array(starts + k)) for k, name in enumerate(names)}
    for name, parse in (("timestamp", _parse_integers), ("rating", _parse_numbers)):
        if name in columns:
            bad, columns[name] = parse(columns[name])
            if bad is not None:
                kind = "an integer" if name == "timestamp" else "a number"
                fail(rows[bad], f"{name} {columns[name][bad].as_py()!r} is not {kind}", _VALUE_HINTS[name])
    if "timestamp" not in columns:
        header_row = _find_header_row(columns["user_id"], columns["item_id"], header)
        if header_row is not None:
            fail(rows[header_row], "header line", _REPEATED_HEADER_HINT)
    return _assemble(columns), stats


def _fields_of(fields: pa.ListArray, row: int) -> list[str]:
    return fields[int(row)].as_py()


def _looks_like_header(fields: list[str], first: bool = False) -> bool:
    """A header names a user and an item column (`user_id item_id`), or has a non-integer third field."""
    lower = [f.lower() for f in fields]
    if len(lower) >= 2 and lower[0] in _USER_HEADER_NAMES and lower[1] in _ITEM_HEADER_NAMES:
        return True
    return first and len(fields) == 3 and fields[2] != "" and not _is_integer(fields[2])


def _is_integer(text: str) -> bool:
    return re.fullmatch(_INTEGER_PATTERN, text) is not None


def _is_position(spec: ColumnSpec) -> bool:
    """0-based column positions: ints, or digit strings from a command line (`--user_column 0`)."""
    return (isinstance(spec, int) and not isinstance(spec, bool)) or (isinstance(spec, str) and spec.isdigit())


def _find_header_row(users: pa.Array, items: pa.Array, header: Optional[list[str]]) -> Optional[int]:
    """Index of the first row that names a user and an item column, or repeats `header`; None if there is none.

    Formats without numeric columns cannot count on a parse error to reveal a stray header line.
    """
    suspect = pc.and_(pc.is_in(pc.utf8_lower(users), pa.array(sorted(_USER_HEADER_NAMES))),
                      pc.is_in(pc.utf8_lower(items), pa.array(sorted(_ITEM_HEADER_NAMES))))  # fmt: skip
    if header is not None:
        suspect = pc.or_(suspect, pc.and_(pc.equal(users, header[0]), pc.equal(items, header[1])))
    hits = np.flatnonzero(suspect.to_numpy(zero_copy_only=False))
    return int(hits[0]) if len(hits) else None


def _seq_table(values: pa.Array, offsets: np.ndarray, counts: np.ndarray, rows: np.ndarray) -> pa.Table:
    """S3-Rec `user item1 item2 ...`: one row per item, in line order then item order."""
    line_of_value = np.repeat(np.arange(len(counts)), counts)
    is_data_line = np.zeros(len(counts), dtype=bool)
    is_data_line[rows] = True
    is_item = is_data_line[line_of_value] & (np.arange(len(values)) != offsets[line_of_value])
    users = values.take(pa.array(offsets[rows]))
    without_items = int((counts[rows] == 1).sum())
    if without_items:
        logger.warning("%d lines name a user with no items; they add no interactions.", without_items)
    repeated_users = users.take(pa.array(np.repeat(np.arange(len(rows)), counts[rows] - 1)))
    return _assemble({"user_id": repeated_users, "item_id": values.filter(pa.array(is_item))})


def _parse_integers(strings: pa.Array) -> tuple[Optional[int], pa.Array]:
    """(index of the first non-integer, int64 array); empty strings become nulls."""
    return _parse(strings, _INTEGER_PATTERN, pa.int64())


def _parse_numbers(strings: pa.Array) -> tuple[Optional[int], pa.Array]:
    return _parse(strings, _NUMBER_PATTERN, pa.float64())


def _parse(strings: pa.Array, pattern: str, target: pa.DataType) -> tuple[Optional[int], pa.Array]:
    empty = pc.equal(pc.binary_length(strings), 0)
    ok = pc.or_(pc.match_substring_regex(strings, pattern), empty)
    if not pc.all(pc.fill_null(ok, True)).as_py():
        return int(np.flatnonzero(~ok.to_numpy(zero_copy_only=False))[0]), strings
    return None, pc.if_else(empty, pa.scalar(None, target), pc.cast(pc.if_else(empty, "0", strings), target))


def _assemble(columns: dict[str, pa.Array]) -> pa.Table:
    n = len(columns["user_id"])
    arrays = [
        pc.cast(columns[field.name], field.type) if field.name in columns else pa.nulls(n, field.type)
        for field in INTERACTION_SCHEMA
    ]
    return pa.Table.from_arrays(arrays, schema=INTERACTION_SCHEMA)


# ------------------------------------------------------------------------------------------ tabular layouts

Locator = Callable[[int], tuple[str, int]]  # 0-based data row -> ("line" or "row", 1-based number)
_ROLE_COLUMNS = {"user": "user_id", "item": "item_id", "timestamp": "timestamp", "rating": "rating"}
_SEQUENCE_COLUMNS = {"item": "item_ids", "timestamp": "timestamps"}  # as written by `data.group_user_sequences`


def _resolve_names(path, names: list[str], columns: dict, has_header: bool = True) -> dict[str, str]:
    """Map each role (user, item, timestamp, rating) to a column name of the file; `None` specs are optional."""
    resolved = {}
    for role, spec in columns.items():
        if spec is None or (spec == _ROLE_COLUMNS[role] and spec not in names):
            # defaults: a column literally named after the role, or the plural written by group_user_sequences
            candidates = [_ROLE_COLUMNS[role], _SEQUENCE_COLUMNS.get(role)]
            found = [name for name in candidates if name in names]
            if found:
                resolved[role] = found[0]
                continue
            if spec is None:
                continue
        if _is_position(spec) and spec not in names:
            spec = int(spec)
            if not -len(names) <= spec < len(names):
                raise DataFormatError(path, f"{role}_column={spec} is out of range: the file has {len(names)} columns",
                                      hint=f"Columns are {names}")  # fmt: skip
            resolved[role] = names[spec]
        elif spec in names:
            resolved[role] = spec
        else:
            hint = f"Its columns are {names}; pass {role}_column=<name or 0-based position>"
            if not has_header:
                hint = f"It is read without a header (has_header=False): give 0-based positions, e.g. {role}_column=0"
            raise DataFormatError(path, f"has no column {spec!r} (asked for by {role}_column)", hint=hint)
    return resolved


def _read_delimited(path: Path, delimiter: str, has_header: Optional[bool], columns: dict) -> tuple[pa.Table, dict]:
    """`csv` / `tsv` / MovieLens `ratings.csv` through `pyarrow.csv`; Python's `csv` only to locate an error."""
    import pyarrow.csv as pacsv

    data = _read_bytes(path)
    head = io.StringIO(data[: 1 << 20].decode("utf-8", "replace"))
    first = next((row for row in csv.reader(head, delimiter=delimiter) if row), None)
    if first is None:
        raise DataFormatError(path, "is empty", hint=_EMPTY_HINT)
    if has_header is None:
        has_header = not (_is_position(columns["user"]) and _is_position(columns["item"]))
    names = first if has_header else [f"column_{i}" for i in range(len(first))]
    resolved = _resolve_names(path, names, columns, has_header)
    id_types = {resolved[role]: pa.string() for role in ("user", "item")}
    try:
        table = pacsv.read_csv(
            pa.BufferReader(data),
            read_options=pacsv.ReadOptions(column_names=None if has_header else names),
            parse_options=pacsv.ParseOptions(delimiter=delimiter),
            convert_options=pacsv.ConvertOptions(
                include_columns=list(dict.fromkeys(resolved.values())),
                column_types=id_types,  # IDs as written: "007" must not become 7
                strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as error:
        _raise_csv_error(path, data, delimiter, len(names), error)

    def locate(row: int) -> tuple[str, int]:
        reader = csv.reader(io.StringIO(data.decode("utf-8")), delimiter=delimiter)
        data_rows = (reader.line_num for row_fields in reader if row_fields)
        if has_header:
            next(data_rows)
        return "line", next(number for index, number in enumerate(data_rows) if index == row)

    table = _conform(table, path, resolved, locate)
    if has_header:  # a second header (concatenated files) in string-only columns parses fine: look for it
        repeated = pc.and_(pc.equal(table["user_id"], resolved["user"]), pc.equal(table["item_id"], resolved["item"]))
        hits = np.flatnonzero(repeated.to_numpy())
        if len(hits):
            raise DataFormatError(path, "header line in the middle of the file", line=locate(int(hits[0]))[1],
                                  value=delimiter.join(first), hint=_REPEATED_HEADER_HINT)  # fmt: skip
    return table, {"blank_lines_skipped": 0, "header_lines_skipped": int(has_header)}


def _raise_csv_error(path: Path, data: bytes, delimiter: str, width: int, error: Exception):
    reader = csv.reader(io.StringIO(data.decode("utf-8")), delimiter=delimiter)
    try:
        for fields in reader:
            if fields and len(fields) != width:
                raise DataFormatError(
                    path, f"expected {width} {delimiter!r}-separated fields but found {len(fields)}",
                    line=reader.line_num, value=delimiter.join(fields),
                    hint="Fix or delete this line (quote fields that contain the delimiter)",
                )  # fmt: skip
    except csv.Error as csv_error:
        raise DataFormatError(path, f"is not valid CSV ({csv_error})", line=reader.line_num) from None
    raise DataFormatError(path, f"could not be parsed ({error})", hint="Check the delimiter and quoting") from None


def _read_parquet(path: Path, columns: dict) -> tuple[pa.Table, dict]:
    import pyarrow.parquet as pq

    resolved = _resolve_names(path, pq.read_schema(path).names, columns)
    table = pq.read_table(path, columns=list(dict.fromkeys(resolved.values())))
    return _conform(table, path, resolved, lambda row: ("row", row + 1)), {}


def _read_json(path: Path, columns: dict) -> tuple[pa.Table, dict]:
    """JSON Lines via `pyarrow.json`; a JSON array, or lines mixing numbers and strings, via the `json` module."""
    import pyarrow.json as pajson

    data = _read_bytes(path)
    if data.lstrip()[:1] == b"[":  # one JSON array of records
        try:
            records = json.loads(data)
        except json.JSONDecodeError as error:
            raise DataFormatError(path, f"is not valid JSON ({error.msg})", line=error.lineno) from None
        locate: Locator = lambda row: ("record", row + 1)  # noqa: E731
    else:
        lines = pc.ascii_trim_whitespace(_split_lines(data))
        numbers = np.flatnonzero(pc.binary_length(lines).to_numpy() > 0) + 1  # the line of each record
        locate = lambda row: ("line", int(numbers[row]))  # noqa: E731
        try:
            table = pajson.read_json(pa.BufferReader(data))
            return _conform(table, path, _resolve_names(path, table.column_names, columns), locate), {}
        except pa.ArrowInvalid:
            pass  # a malformed line, or a column mixing numbers and strings: the line-by-line path sorts it out
        records = []
        for number in numbers:
            try:
                records.append(json.loads(lines[int(number) - 1].as_py()))
            except json.JSONDecodeError as error:
                raise DataFormatError(path, f"is not valid JSON ({error.msg})", line=int(number),
                                      value=lines[int(number) - 1].as_py(),
                                      hint="Each line must hold one JSON object (JSON Lines)") from None  # fmt: skip
    names = list(dict.fromkeys(key for record in records if isinstance(record, dict) for key in record))
    resolved = _resolve_names(path, names, columns)
    texts: dict[str, list] = {name: [] for name in dict.fromkeys(resolved.values())}
    for index, record in enumerate(records):
        try:
            if not isinstance(record, dict):
                raise TypeError("is not a JSON object")
            for name, column in texts.items():
                column.append(_json_text(record.get(name), name))
        except TypeError as error:
            unit, number = locate(index)
            hint = "Use strings or integers for IDs, numbers for timestamps and ratings"
            raise DataFormatError(path, f"record {error}", line=number, unit=unit, value=record, hint=hint) from None
    table = pa.table({name: pa.array(column, pa.string()) for name, column in texts.items()})
    return _conform(table, path, resolved, locate), {}


def _json_text(value: Any, name: str) -> Optional[str]:
    """A JSON scalar as the text an Arrow cast gives (whole numbers as integers: 7 and 7.0 both give "7")."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"field {name!r} is a {type(value).__name__}, not a string or a number")
    return str(int(value)) if isinstance(value, int) or value.is_integer() else repr(value)


def _read_datasets(path, layout: str, columns: dict, split: str, load_dataset_kwargs: dict) -> tuple[pa.Table, dict]:
    """A `save_to_disk` folder or a `load_dataset` name: interaction rows, or sequences (`item_ids` lists)."""
    import datasets

    if layout == "disk":
        loaded = datasets.load_from_disk(str(path))
    else:
        loaded = datasets.load_dataset(str(path), split=split, **load_dataset_kwargs)
    if isinstance(loaded, datasets.DatasetDict):
        if split not in loaded and len(loaded) != 1:
            raise DataFormatError(path, f"has splits {list(loaded)} but not {split!r}", hint="Pass split=<one>")
        loaded = loaded[split] if split in loaded else next(iter(loaded.values()))
    table = loaded.with_format("arrow")[:]
    resolved = _resolve_names(path, table.column_names, columns)
    return _conform(table, path, resolved, lambda row: ("row", row + 1)), {}


# ----------------------------------------------------------------------------------------- type normalisation


def _conform(table: pa.Table, path, resolved: dict[str, str], locate: Locator) -> pa.Table:
    """Select the resolved columns and cast them to `INTERACTION_SCHEMA`; sequence lists are exploded first."""
    table = table.select(list(dict.fromkeys(resolved.values()))).combine_chunks()
    if pa.types.is_list(table[resolved["item"]].type) or pa.types.is_large_list(table[resolved["item"]].type):
        table = _explode_sequences(table, path, resolved)
        locate = lambda row: ("item", row + 1)  # noqa: E731 - rows of a sequence dataset are not lines
    columns = {}
    for role, name in resolved.items():
        convert = {"user": _to_ids, "item": _to_ids, "timestamp": _to_timestamps, "rating": _to_ratings}[role]
        column = table[name].chunk(0) if table[name].num_chunks else pa.array([], table[name].type)
        columns[_ROLE_COLUMNS[role]] = convert(column, path, name, locate)
    return _assemble(columns)


def _explode_sequences(table: pa.Table, path, resolved: dict[str, str]) -> pa.Table:
    items = table[resolved["item"]].chunk(0) if table.num_rows else pa.array([], table[resolved["item"]].type)
    parents = pc.list_parent_indices(items)
    exploded = {resolved["item"]: pc.list_flatten(items)}
    for role, name in resolved.items():
        if name in exploded:
            continue
        column = table[name]
        if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
            flat = pc.list_flatten(column)
            if len(flat) == 0:  # group_user_sequences writes empty lists when the source had no timestamps
                flat = pa.nulls(len(parents), column.type.value_type)
            elif not pc.all(pc.equal(pc.list_value_length(column), pc.list_value_length(items))).as_py():
                raise DataFormatError(path, f"lists in {name!r} and {resolved['item']!r} differ in length",
                                      hint="Each sequence needs one value per item")  # fmt: skip
            exploded[name] = flat
        else:
            exploded[name] = column.take(parents)
    return pa.table(exploded)


def _to_ids(column: pa.Array, path, name: str, locate: Locator) -> pa.Array:
    kind = column.type
    if pa.types.is_dictionary(kind):
        return _to_ids(column.dictionary_decode(), path, name, locate)
    if pa.types.is_floating(kind):  # pandas turns integer IDs with gaps into floats: write 7.0 back as "7"
        whole = pc.fill_null(pc.equal(pc.floor(column), column), True)
        if pc.all(whole).as_py():
            logger.warning("%s: IDs in %r are floats; reading them as integers.", path, name)
            return pc.cast(pc.cast(column, pa.int64()), pa.string())
    if pa.types.is_null(kind) or pa.types.is_integer(kind) or pa.types.is_floating(kind) or _is_text(kind):
        return pc.cast(column, pa.string())
    raise DataFormatError(path, f"column {name!r} has type {kind}, which cannot serve as an ID",
                          hint="Store IDs as strings or integers")  # fmt: skip


def _to_timestamps(column: pa.Array, path, name: str, locate: Locator) -> pa.Array:
    kind = column.type
    if pa.types.is_null(kind) or pa.types.is_integer(kind):
        return _checked_cast(column, pa.int64(), path, name, locate)
    if pa.types.is_floating(kind):
        fractional = ~pc.fill_null(pc.equal(pc.floor(column), column), True).to_numpy(zero_copy_only=False)
        hint = "Store timestamps as integers (e.g. milliseconds)"
        _fail_first(fractional, column, path, name, locate, "is not a whole number", hint)
        return _checked_cast(column, pa.int64(), path, name, locate)
    if pa.types.is_date(kind):
        return pc.cast(pc.cast(column, pa.timestamp("s")), pa.int64())
    if pa.types.is_timestamp(kind):  # the integer count in the column's own unit: only the order matters
        return pc.cast(column, pa.int64())
    if _is_text(kind):
        bad, parsed = _parse_integers(pc.cast(column, pa.string()))
        _fail_at(bad, column, path, name, locate, "is not an integer", _VALUE_HINTS["timestamp"])
        return parsed
    raise DataFormatError(path, f"column {name!r} has type {kind}; timestamps must be integers or datetimes")


def _to_ratings(column: pa.Array, path, name: str, locate: Locator) -> pa.Array:
    kind = column.type
    if pa.types.is_null(kind) or pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return pc.cast(column, pa.float64())
    if _is_text(kind):
        bad, parsed = _parse_numbers(pc.cast(column, pa.string()))
        _fail_at(bad, column, path, name, locate, "is not a number", _VALUE_HINTS["rating"])
        return parsed
    raise DataFormatError(path, f"column {name!r} has type {kind}; ratings must be numbers")


def _is_text(kind: pa.DataType) -> bool:
    return pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind)


def _checked_cast(column, target, path, name, locate) -> pa.Array:
    try:
        return pc.cast(column, target)
    except pa.ArrowInvalid:  # e.g. uint64 beyond int64
        too_big = pc.fill_null(pc.greater(column, 2**63 - 1), False).to_numpy(zero_copy_only=False)
        _fail_first(too_big, column, path, name, locate, "does not fit in int64", "Use smaller integers")
        raise


def _fail_first(mask: np.ndarray, column, path, name, locate, problem, hint) -> None:
    hits = np.flatnonzero(mask)
    _fail_at(int(hits[0]) if len(hits) else None, column, path, name, locate, problem, hint)


def _fail_at(row: Optional[int], column, path, name, locate, problem, hint) -> None:
    if row is not None:
        unit, number = locate(row)
        raise DataFormatError(path, f"{name} {problem}", line=number, unit=unit, value=column[row].as_py(), hint=hint)
