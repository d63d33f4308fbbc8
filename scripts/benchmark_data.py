#!/usr/bin/env python
"""Time the data path (read -> preprocess -> group -> split -> tokenise) on the local benchmark files; print a
table, write JSON.

Each dataset runs in a fresh subprocess so that its peak RSS (`resource.getrusage`, `ru_maxrss`) is its own.
Files that are absent are skipped. The data never leaves `shared/data` (its licence forbids redistribution).

    python scripts/benchmark_data.py --output out/benchmark_data.json
"""

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path


DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data"
BENCHMARKS = {  # name: (path relative to the data folder, format)
    "ml-1m (SASRec pairs, gz)": ("ml-1m/ml-1m.txt.gz", "pairs"),
    "ml-100k (u.data)": ("ml-100k/u.data", "ml-100k"),
    "beauty (S3-Rec seq)": ("amazon-beauty/Beauty.txt", "seq"),
}


def run_one(path: str, format: str, repeats: int) -> dict:
    """Best-of-`repeats` seconds per stage for one file, plus this process's peak RSS."""
    import datasets

    from modeling_attnrank.data import group_user_sequences, preprocess_interactions, read_interactions
    from modeling_attnrank.splits import build_tokenizer, encode_splits, leave_one_out_split

    datasets.disable_progress_bars()
    baseline_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # after imports, KiB on Linux
    timings = {"read_s": [], "preprocess_s": [], "group_s": [], "split_s": [], "tokenise_s": []}
    for _ in range(repeats):
        start = time.perf_counter()
        table = read_interactions(path, format)
        read_done = time.perf_counter()
        clean, stats = preprocess_interactions(table)
        preprocess_done = time.perf_counter()
        sequences = group_user_sequences(clean)
        group_done = time.perf_counter()
        splits, _ = leave_one_out_split(sequences)
        split_done = time.perf_counter()
        tokenizer = build_tokenizer(splits["train"], max_seq_len=200)
        encode_splits(splits, tokenizer, max_seq_len=200)
        tokenise_done = time.perf_counter()
        timings["split_s"].append(split_done - group_done)
        timings["tokenise_s"].append(tokenise_done - split_done)
        timings["read_s"].append(read_done - start)
        timings["preprocess_s"].append(preprocess_done - read_done)
        timings["group_s"].append(group_done - preprocess_done)
    result = {key: round(min(values), 3) for key, values in timings.items()}
    result["total_s"] = round(sum(result.values()), 3)
    result.update(rows=stats["rows_out"], users=len(sequences), items=stats["items"])
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    result["import_rss_mb"] = round(baseline_rss_mb, 1)
    return result


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data_dir", type=Path, default=DATA_DIR)
    parser.add_argument("--output", type=Path, default=None, help="Write the results as JSON here.")
    parser.add_argument("--repeats", type=int, default=1, help="Runs per dataset; the best time is reported.")
    parser.add_argument("--_child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._child:  # inside the per-dataset subprocess
        print(json.dumps(run_one(*args._child, args.repeats)))
        return {}

    results = {}
    for name, (relative, format) in BENCHMARKS.items():
        path = args.data_dir / relative
        if not path.exists():
            print(f"skipping {name}: {path} not found")
            continue
        command = [sys.executable, __file__, "--repeats", str(args.repeats), "--_child", str(path), format]
        completed = subprocess.run(command, capture_output=True, text=True, check=True)
        results[name] = json.loads(completed.stdout.strip().splitlines()[-1])

    columns = ["read_s", "preprocess_s", "group_s", "split_s", "tokenise_s", "total_s", "peak_rss_mb", "rows",
               "users"]
    print(f"{'dataset':<22}" + "".join(f"{c:>13}" for c in columns))
    for name, result in results.items():
        print(f"{name:<22}" + "".join(f"{result[c]:>13}" for c in columns))
    report = {"python": platform.python_version(), "machine": platform.machine(), "results": results}
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    main()
