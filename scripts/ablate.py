#!/usr/bin/env python
"""Ablation: train a base recipe and one variant per lever, print validation / test NDCG@10 and training time.

    python scripts/ablate.py configs/ml-100k.yaml --output_dir runs/ablation-ml-100k [--jobs 2] [--only base,bce]
        [-- --num_train_epochs 40 ...]   # options after `--` go to every run

Each variant is the base config plus the overrides below, trained by scripts/train.py in its own process (with
`--jobs 2`, two at a time, one thread each). The checkpoint is chosen on validation, as always; the table reports
the selected checkpoint's validation NDCG@10, its test NDCG@10 / HR@10 (full catalogue, seen items excluded) and
`train_runtime`. Writes `ablation.json` in the output folder.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


VARIANTS = {
    "base": [],
    "loss bce 1 negative (SASRec)": ["--loss_type", "bce", "--num_negatives", "1"],
    "loss sampled softmax 256 neg.": ["--loss_type", "sampled_softmax", "--num_negatives", "256"],
    "loss gbce 256 neg. (gSASRec)": ["--loss_type", "gbce", "--num_negatives", "256"],
    "FFN 128": ["--intermediate_size", "128"],
    "weight decay 0.1": ["--weight_decay", "0.1"],
    "post-LN": ["--pre_norm", "false"],
    "attention dropout 0.2": ["--attention_dropout_prob", "0.2"],
    "hidden dropout 0.5": ["--hidden_dropout_prob", "0.5"],
    "hidden 128": ["--hidden_size", "128", "--intermediate_size", "512"],
    "3 layers": ["--num_hidden_layers", "3"],
    "2 heads": ["--num_attention_heads", "2"],
    "sinusoidal positions": ["--position_embedding_type", "sinusoidal"],
    "no positions": ["--position_embedding_type", "none"],
    "rotary positions": ["--position_embedding_type", "rotary"],
    "time intervals 32 buckets": ["--time_interval_buckets", "32"],
    "local attention window 20": ["--attention_type", "local", "--attention_window", "20"],
    "untied output embeddings": ["--tie_item_embeddings", "false"],
    "train on all windows": ["--train_windows", "all"],
    "fp32 (no bf16)": ["--precision", "fp32"],
}


def run_variant(name, config, output_dir, extra, threads):
    folder = Path(output_dir) / name.replace(" ", "_").replace(",", "").replace(":", "").replace("(", "").replace(")", "")
    command = [sys.executable, str(Path(__file__).with_name("train.py")), config, "--output_dir", str(folder),
               "--save_total_limit", "1", "--sampled_test", "false", *VARIANTS[name], *extra]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    start = time.time()
    completed = subprocess.run(command, capture_output=True, text=True, env=env)
    if completed.returncode != 0:
        return name, {"error": completed.stderr[-2000:]}
    test = json.loads((folder / "test_results.json").read_text())
    validation = json.loads((folder / "eval_results.json").read_text())
    train = json.loads((folder / "train_results.json").read_text())
    return name, {"validation_ndcg@10": validation["eval_ndcg@10"], "test_ndcg@10": test["test_ndcg@10"],
                  "test_hr@10": test["test_hr@10"], "train_runtime_s": train["train_runtime"],
                  "epochs": train.get("epoch"), "wall_s": time.time() - start, "overrides": VARIANTS[name]}


def main():
    argv = sys.argv[1:]
    extra = []
    if "--" in argv:
        extra = argv[argv.index("--") + 1 :]
        argv = argv[: argv.index("--")]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config")
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--only", default="", help="comma-separated variant names (default: all)")
    parser.add_argument("--threads", type=int, default=None, help="threads per run (default: cores / jobs)")
    args = parser.parse_args(argv)
    names = [n for n in VARIANTS if not args.only or n in args.only.split(",")]
    threads = args.threads or max(1, (os.cpu_count() or 2) // args.jobs)
    unknown = [n for n in args.only.split(",") if n and n not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {unknown}; choose from {list(VARIANTS)}")
    with ThreadPoolExecutor(args.jobs) as pool:
        results = dict(pool.map(lambda n: run_variant(n, args.config, args.output_dir, extra, threads), names))
    base = results.get("base", {})
    print(f"\nAblation of {args.config} ({' '.join(extra) or 'config as is'}); test: full catalogue, seen items excluded")
    print(f"{'variant':<34}{'val NDCG@10':>12}{'test NDCG@10':>13}{'vs base':>9}{'test HR@10':>11}{'train s':>9}")
    for name, r in results.items():
        if "error" in r:
            print(f"{name:<34} failed: {r['error'].strip().splitlines()[-1]}")
            continue
        delta = r["test_ndcg@10"] - base["test_ndcg@10"] if "test_ndcg@10" in base else float("nan")
        print(f"{name:<34}{r['validation_ndcg@10']:>12.4f}{r['test_ndcg@10']:>13.4f}{delta:>+9.4f}"
              f"{r['test_hr@10']:>11.4f}{r['train_runtime_s']:>9.0f}")
    Path(args.output_dir).mkdir(parents=True, exist_ok=True)
    (Path(args.output_dir) / "ablation.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
