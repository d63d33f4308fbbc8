#!/usr/bin/env python
"""Speed and scale benchmark: prints tables and writes JSON, in one run.

    python scripts/benchmark.py [--output benchmark.json] [--quality_minutes 10] [--skip quality,scaling]

Sections (each in its own process, so peak memory is its own; run it alone on the machine):
1. roofline     fp32 (and bf16) GFLOP/s of a large square matmul and of the model's matmul shapes
2. epoch        one ML-1M training epoch at the reference config (hidden 64, 2 layers, max length 200, full
                cross-entropy) in fp32 and with the shipped recipe's bf16: seconds, useful FLOPs, MFU, peak memory
3. quality      the shipped configs/ml-1m.yaml recipe trained until validation NDCG@10 >= 0.17 or the time budget
4. inference    top-10 over the full catalogue for all 6,040 ML-1M users; single-user p50/p99 latency
5. scaling      generated catalogues of 10k, 100k and 1M items: sampled-loss training step, top-k, peak memory
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
ML1M = ROOT.parent / "shared" / "data" / "ml-1m" / "ml-1m.txt.gz"
SECTIONS = ("roofline", "epoch", "quality", "inference", "scaling")


def load_ml1m(max_seq_len=200):
    import datasets

    from modeling_attnrank.arguments import DataArguments
    from modeling_attnrank.prepare import prepare_datasets

    datasets.disable_progress_bars()
    return prepare_datasets(DataArguments(data_file=str(ML1M), data_format="pairs"), max_seq_len)


def reference_config(num_items, **overrides):
    from modeling_attnrank import AttnRankConfig

    values = dict(num_items=num_items, hidden_size=64, num_hidden_layers=2, num_attention_heads=1,
                  intermediate_size=256, max_seq_len=200, loss_type="ce", hidden_dropout_prob=0.2,
                  attention_dropout_prob=0.0)
    values.update(overrides)
    return AttnRankConfig(**values)


def section_roofline(_args):
    import torch

    from modeling_attnrank.benchmarking import machine_description, matmul_roofline, model_matmul_shapes

    config = reference_config(3416)
    return {"machine": machine_description(), "fp32_gflops": matmul_roofline(dtype=torch.float32),
            "bf16_gflops": matmul_roofline(dtype=torch.bfloat16), "shapes_fp32": model_matmul_shapes(config)}


def section_epoch(args):
    import torch

    from modeling_attnrank import AttnRankForNextItemPrediction
    from modeling_attnrank.benchmarking import matmul_roofline, peak_rss_mb, time_training_epoch, training_flops

    data = load_ml1m()
    train = data["encoded"]["train"]
    config = reference_config(data["tokenizer"].num_items)
    flops = training_flops(config, train["length"])
    results = {"positions": int(sum(train["length"])), "useful_gflop_per_epoch": flops / 1e9}
    for precision in ("fp32", "bf16"):
        dtype = torch.bfloat16 if precision == "bf16" else torch.float32
        roofline = matmul_roofline(dtype=dtype)
        torch.manual_seed(0)
        timing = time_training_epoch(AttnRankForNextItemPrediction(config), train, bf16=precision == "bf16")
        results[precision] = {"epoch_s": timing["seconds"], "steps": timing["steps"], "roofline_gflops": roofline,
                              "achieved_gflops": flops / timing["seconds"] / 1e9,
                              "mfu": flops / timing["seconds"] / 1e9 / roofline}
    results["peak_rss_mb"] = peak_rss_mb()
    return results


def section_quality(args):
    from transformers import TrainerCallback

    from modeling_attnrank.arguments import parse_arguments
    from modeling_attnrank.training import run

    class StopAtTarget(TrainerCallback):
        """Stop when validation NDCG@10 reaches the target or the time budget is spent; record when."""

        def __init__(self):
            self.start = None
            self.history = []
            self.reached_at = None

        def on_train_begin(self, *_, **__):
            self.start = time.perf_counter()

        def on_step_end(self, _args, _state, control, **__):
            if time.perf_counter() - self.start > args.quality_minutes * 60:
                control.should_training_stop = True
                control.should_evaluate = True

        def on_evaluate(self, _args, state, control, metrics=None, **__):
            elapsed = time.perf_counter() - self.start
            ndcg = metrics.get("eval_ndcg@10", 0.0)
            self.history.append({"epoch": state.epoch, "elapsed_s": elapsed, "eval_ndcg@10": ndcg})
            if ndcg >= args.quality_target and self.reached_at is None:
                self.reached_at = {"epoch": state.epoch, "elapsed_s": elapsed, "eval_ndcg@10": ndcg}
                control.should_training_stop = True

    callback = StopAtTarget()
    model_args, data_args, training_args = parse_arguments(
        [str(ROOT / "configs" / "ml-1m.yaml"), "--data_file", str(ML1M), "--output_dir", args.work_dir + "/quality",
         "--save_strategy", "no", "--load_best_model_at_end", "false", "--sampled_test", "false",
         "--baselines", "most-popular"])
    run(model_args, data_args, training_args, callbacks=[callback])
    return {"target": args.quality_target, "budget_minutes": args.quality_minutes, "reached": callback.reached_at,
            "history": callback.history}


def quality_from_run(run_dir, target):
    """The same measurement read from a finished `scripts/train.py configs/ml-1m.yaml` run: validation NDCG@10 per
    epoch from its trainer_state.json, elapsed training time per epoch from its train_runtime (epochs take the same
    time; evaluation time included)."""
    state = json.loads((Path(run_dir) / "trainer_state.json").read_text())
    runtime = json.loads((Path(run_dir) / "train_results.json").read_text())["train_runtime"]
    evals = [entry for entry in state["log_history"] if "eval_ndcg@10" in entry]
    last_epoch = max(entry["epoch"] for entry in evals)
    history = [{"epoch": e["epoch"], "elapsed_s": runtime * e["epoch"] / last_epoch, "eval_ndcg@10": e["eval_ndcg@10"]}
               for e in evals]
    reached = next((h for h in history if h["eval_ndcg@10"] >= target), None)
    return {"target": target, "budget_minutes": None, "reached": reached, "history": history, "source": str(run_dir)}


def section_inference(_args):
    import torch

    from modeling_attnrank import AttnRankForNextItemPrediction
    from modeling_attnrank.benchmarking import peak_rss_mb, time_inference

    data = load_ml1m()
    test = data["encoded"]["test"]
    torch.manual_seed(0)
    model = AttnRankForNextItemPrediction(reference_config(data["tokenizer"].num_items)).eval()
    result = time_inference(model, test["input_ids"], k=10)
    result["peak_rss_mb"] = peak_rss_mb()
    return result


def section_scaling(args):
    from modeling_attnrank.benchmarking import catalogue_scaling_step

    return catalogue_scaling_step(int(args.num_items), loss_type=args.loss_type)


def child(args):
    handler = globals()[f"section_{args.section}"]
    print("RESULT " + json.dumps(handler(args)), flush=True)


def run_child(section, args, **extra):
    command = [sys.executable, __file__, "--_child", section, "--quality_minutes", str(args.quality_minutes),
               "--quality_target", str(args.quality_target), "--work_dir", args.work_dir]
    for key, value in extra.items():
        command += [f"--{key}", str(value)]
    completed = subprocess.run(command, capture_output=True, text=True)
    for line in completed.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"benchmark section {section} failed:\n{completed.stderr[-3000:]}")


def print_report(report):
    if "roofline" in report:
        r = report["roofline"]
        print(f"\nMachine: {r['machine']['cpu']}, {r['machine']['threads']} threads, {r['machine']['cpu_capability']},"
              f" torch {r['machine']['torch']}")
        print(f"Roofline: fp32 {r['fp32_gflops']:.0f} GFLOP/s, bf16 {r['bf16_gflops']:.0f} GFLOP/s (4096^3 matmul)")
        for name, shape in r["shapes_fp32"].items():
            print(f"  {name:<26} {shape['shape']:<30} {shape['gflops']:>7.1f} GFLOP/s fp32")
    if "epoch" in report:
        e = report["epoch"]
        print(f"\nML-1M epoch, reference config ({e['positions']} positions, {e['useful_gflop_per_epoch']:.0f} useful"
              f" GFLOP):")
        print(f"  {'precision':<10}{'epoch s':>10}{'GFLOP/s':>10}{'roofline':>10}{'MFU':>8}")
        for precision in ("fp32", "bf16"):
            p = e[precision]
            print(f"  {precision:<10}{p['epoch_s']:>10.1f}{p['achieved_gflops']:>10.1f}{p['roofline_gflops']:>10.0f}"
                  f"{p['mfu']:>8.1%}")
        print(f"  peak memory {e['peak_rss_mb']:.0f} MB")
    if "quality" in report:
        q = report["quality"]
        reached = q["reached"]
        when = (f"epoch {reached['epoch']:.0f} after {reached['elapsed_s'] / 60:.1f} min (NDCG@10 "
                f"{reached['eval_ndcg@10']:.4f})" if reached else f"not reached in "
                f"{q['budget_minutes'] or q['history'][-1]['elapsed_s'] / 60:.0f} min (best "
                f"{max([h['eval_ndcg@10'] for h in q['history']] or [0]):.4f})")
        if q.get("source"):
            when += f" [read from the run in {q['source']}]"
        ten = [h for h in q["history"] if h["elapsed_s"] <= 600]
        if ten:
            when += f"; best within 10 min: {max(h['eval_ndcg@10'] for h in ten):.4f}"
        print(f"\nValidation NDCG@10 >= {q['target']} (configs/ml-1m.yaml, full catalogue): {when}")
    if "inference" in report:
        i = report["inference"]
        print(f"\nInference (random weights, ML-1M catalogue): top-10 for {i['users']} users {i['all_users_s']:.2f} s;"
              f" single user p50 {i['single_user_p50_ms']:.2f} ms, p99 {i['single_user_p99_ms']:.2f} ms")
    if "scaling" in report:
        print("\nCatalogue scaling (hidden 64, batch 128 x 200 positions, 256 negatives):")
        print(f"  {'items':>9}{'loss':>17}{'step s':>9}{'vs 10k':>8}{'train MB':>10}{'top-10 1024 users s':>21}"
              f"{'peak MB':>9}{'item table MB':>15}")
        base = {}
        for s in report["scaling"]:
            base.setdefault(s["loss_type"], s["step_s"])
            print(f"  {s['num_items']:>9}{s['loss_type']:>17}{s['step_s']:>9.3f}{s['step_s'] / base[s['loss_type']]:>8.2f}"
                  f"{s['train_peak_rss_mb']:>10.0f}{s['topk_s']:>21.2f}{s['peak_rss_mb']:>9.0f}{s['item_table_mb']:>15.0f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", default="benchmark.json")
    parser.add_argument("--skip", default="", help=f"comma-separated sections to skip: {', '.join(SECTIONS)}")
    parser.add_argument("--quality_minutes", type=float, default=10.0)
    parser.add_argument("--quality_target", type=float, default=0.17)
    parser.add_argument("--work_dir", default="/tmp/attnrank-benchmark")
    parser.add_argument("--quality_from", default=None,
                        help="read the quality section from a finished configs/ml-1m.yaml run folder instead of training")
    parser.add_argument("--_child", dest="section", help=argparse.SUPPRESS)
    parser.add_argument("--num_items", help=argparse.SUPPRESS)
    parser.add_argument("--loss_type", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.section:
        return child(args)
    skip = {s for s in args.skip.split(",") if s}
    needs_ml1m = {"epoch", "quality", "inference"} - skip
    if needs_ml1m and not ML1M.exists():
        print(f"{ML1M} not found: skipping {', '.join(sorted(needs_ml1m))}")
        skip |= needs_ml1m
    report = {}
    for section in SECTIONS:
        if section in skip:
            continue
        print(f"running {section} ...", flush=True)
        if section == "quality" and args.quality_from:
            report["quality"] = quality_from_run(args.quality_from, args.quality_target)
        elif section == "scaling":
            report["scaling"] = [run_child("scaling", args, num_items=n, loss_type=loss)
                                 for loss in ("sampled_softmax", "gbce") for n in (10_000, 100_000, 1_000_000)]
        else:
            report[section] = run_child(section, args)
    print_report(report)
    Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nWrote {args.output}")


if __name__ == "__main__":
    main()
