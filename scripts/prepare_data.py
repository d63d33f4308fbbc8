#!/usr/bin/env python
"""Raw interaction log -> per-user chronological sequences on disk (`datasets.Dataset.save_to_disk`) + stats.json.

Thin wrapper over `modeling_attnrank.data.load_user_sequences`; the protocol is documented in `data.py`.

    python scripts/prepare_data.py /path/to/ml-1m.txt.gz --format pairs --output_dir out/ml-1m
    python scripts/prepare_data.py --movielens ml-1m --min_rating 4 --min_user_interactions 5 --output_dir out/ml1m
    python scripts/prepare_data.py log.csv --user_column who --item_column what --output_dir out/log
"""

import argparse
import json
import logging
from pathlib import Path

from modeling_attnrank.data import FORMATS, load_user_sequences


def column(value: str):
    """Column names stay strings; plain integers are 0-based positions (header-less csv/tsv)."""
    return int(value) if value.isdigit() else value


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("data_file", nargs="?", help="Raw file, folder, or Hub id (with --format hub).")
    source.add_argument("--movielens", help="Download this GroupLens release first (ml-100k, ml-1m, ml-20m, ...).")
    parser.add_argument("--output_dir", required=True, help="Where to save the sequences dataset and stats.json.")
    parser.add_argument("--format", default="auto", choices=FORMATS, help="Input layout (default: from the name).")
    parser.add_argument("--user_column", type=column, default="user_id")
    parser.add_argument("--item_column", type=column, default="item_id")
    parser.add_argument("--timestamp_column", type=column, default=None)
    parser.add_argument("--rating_column", type=column, default=None)
    parser.add_argument("--delimiter", default=None, help="Field separator (default depends on the format).")
    header = parser.add_mutually_exclusive_group()
    header.add_argument("--has_header", dest="has_header", action="store_true", default=None)
    header.add_argument("--no_header", dest="has_header", action="store_false")
    parser.add_argument("--split", default="train", help="Split of a DatasetDict folder or Hub dataset.")
    parser.add_argument("--min_rating", type=float, default=None, help="Keep ratings >= this (implicit feedback).")
    parser.add_argument("--min_user_interactions", type=int, default=None, help="k-core threshold for users.")
    parser.add_argument("--min_item_interactions", type=int, default=None, help="k-core threshold for items.")
    parser.add_argument("--keep_duplicates", action="store_true", help="Keep exact duplicate events.")
    parser.add_argument("--cache_dir", default=None, help="Download cache for --movielens (default $ATTNRANK_CACHE).")
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s", level=logging.INFO)
    data_file = args.data_file
    if args.movielens:
        from modeling_attnrank.download import download_movielens

        data_file = download_movielens(args.movielens, args.cache_dir)
    sequences, stats = load_user_sequences(
        data_file,
        args.format,
        user_column=args.user_column,
        item_column=args.item_column,
        timestamp_column=args.timestamp_column,
        rating_column=args.rating_column,
        delimiter=args.delimiter,
        has_header=args.has_header,
        split=args.split,
        min_rating=args.min_rating,
        min_user_interactions=args.min_user_interactions,
        min_item_interactions=args.min_item_interactions,
        drop_duplicates=not args.keep_duplicates,
    )
    output_dir = Path(args.output_dir)
    sequences.save_to_disk(str(output_dir))
    (output_dir / "stats.json").write_text(json.dumps(stats, indent=2) + "\n")
    width = max(map(len, stats))
    print("\n".join(f"{key:<{width}}  {value}" for key, value in stats.items()))
    print(f"saved {len(sequences)} user sequences to {output_dir}")
    return stats


if __name__ == "__main__":
    main()
