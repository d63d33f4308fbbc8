"""Speed and scale measurements behind `scripts/benchmark.py` (issue targets in the README).

- `matmul_roofline`: this machine's GFLOP/s for a large square matmul (the ceiling MFU is measured against), and
  for the matmul shapes the model uses.
- `training_flops`: useful model FLOPs of a training pass over given sequence lengths (non-padding positions only;
  forward + backward = 3 x forward).
- `time_training_epoch`: one real `Trainer` epoch (length-grouped batches, AdamW) on an encoded train split.
- `time_inference`: top-k over the full catalogue for many users, and single-user latency percentiles.
- `catalogue_scaling_step`: one sampled-loss training step and a top-k pass on a synthetic catalogue of any size.

Every function returns plain dicts; the script prints them as tables and writes JSON. Tests never assert timings.
"""

import os
import resource
import time

import numpy as np
import torch

from .collator import NextItemCollator
from .configuration_attnrank import AttnRankConfig
from .modeling_attnrank import AttnRankForNextItemPrediction


def peak_rss_mb():
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _best_time(fn, repeats):
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def matmul_roofline(size=4096, repeats=3, dtype=torch.float32):
    """GFLOP/s of a (size x size) @ (size x size) matmul, best of `repeats`."""
    a, b = torch.randn(size, size).to(dtype), torch.randn(size, size).to(dtype)
    seconds = _best_time(lambda: a @ b, repeats)
    return 2 * size**3 / seconds / 1e9


def model_matmul_shapes(config, positions=25600, repeats=3, dtype=torch.float32):
    """GFLOP/s of the forward matmuls of one training step of `positions` tokens (rows x inner x columns)."""
    d, f, v = config.hidden_size, config.intermediate_size, config.num_items
    shapes = {"qkv projection": (positions, d, 3 * d), "attention output": (positions, d, d),
              "feed-forward up": (positions, d, f), "feed-forward down": (positions, f, d),
              "catalogue logits (chunk)": (min(positions, 1228), d, v)}
    results = {}
    for name, (m, k, n) in shapes.items():
        a, b = torch.randn(m, k).to(dtype), torch.randn(k, n).to(dtype)
        seconds = _best_time(lambda: a @ b, repeats)
        results[name] = {"shape": f"({m} x {k}) @ ({k} x {n})", "gflops": round(2 * m * k * n / seconds / 1e9, 1)}
    return results


def training_flops(config, lengths):
    """Useful FLOPs of one training pass (forward + backward) over sequences of the given lengths.

    Per non-padding position and block: QKV and output projections 8 d^2, feed-forward 4 d f, attention scores and
    weighted sum 4 d t (t = keys the position attends to: itself and every earlier item, or the window for local
    attention); plus the catalogue scores 2 d V for the loss. Backward counts twice the forward.
    """
    d, f, v, layers = config.hidden_size, config.intermediate_size, config.num_items, config.num_hidden_layers
    lengths = np.asarray(lengths, dtype=np.float64)
    positions = lengths.sum()
    if config.attention_type == "local":
        w = config.attention_window
        keys = sum(np.minimum(np.arange(1, n + 1), w).sum() for n in lengths.astype(int))
    else:
        keys = (lengths * (lengths + 1) / 2).sum()
    forward = positions * layers * (8 * d * d + 4 * d * f) + layers * 4 * d * keys + positions * 2 * d * v
    return 3 * forward


def time_training_epoch(model, train_dataset, batch_size=128, learning_rate=1e-3, bf16=False, max_seq_len=200,
                        output_dir="/tmp/attnrank-benchmark"):
    """One epoch of the real `Trainer` (length-grouped batches, AdamW, clipping); returns seconds and steps."""
    from transformers import Trainer, TrainingArguments

    args = TrainingArguments(
        output_dir=output_dir, num_train_epochs=1, per_device_train_batch_size=batch_size,
        learning_rate=learning_rate, eval_strategy="no", save_strategy="no", report_to="none", logging_steps=10**9,
        disable_tqdm=True, remove_unused_columns=False, train_sampling_strategy="group_by_length",
        dataloader_pin_memory=False, bf16=bf16, optim="adamw_torch_fused", use_cpu=not torch.cuda.is_available(), seed=0,
    )
    trainer = Trainer(model=model, args=args, train_dataset=train_dataset, data_collator=NextItemCollator(max_seq_len))
    start = time.perf_counter()
    result = trainer.train()
    return {"seconds": time.perf_counter() - start, "train_runtime": result.metrics["train_runtime"],
            "steps": result.global_step}


@torch.no_grad()
def time_inference(model, histories, k=10, batch_size=512, single_user_samples=300, device="cpu"):
    """Top-k over the whole catalogue for every history (batched), and single-user latency percentiles (ms)."""
    from .inference import recommend_many

    model.eval()
    start = time.perf_counter()
    recommend_many(model, histories, k=k, batch_size=batch_size, device=device)
    all_users = time.perf_counter() - start
    latencies = []
    rng = np.random.default_rng(0)
    for index in rng.choice(len(histories), size=min(single_user_samples, len(histories)), replace=False):
        ids = torch.tensor([histories[index]], device=device)
        begin = time.perf_counter()
        model.recommend(ids, k=k)
        latencies.append((time.perf_counter() - begin) * 1000)
    return {"users": len(histories), "all_users_s": all_users, "single_user_p50_ms": float(np.percentile(latencies, 50)),
            "single_user_p99_ms": float(np.percentile(latencies, 99))}


def catalogue_scaling_step(num_items, loss_type="sampled_softmax", num_negatives=256, hidden_size=64,
                           batch_size=128, seq_len=200, steps=3, k=10, inference_users=1024):
    """Median sampled-loss training step (forward, backward, AdamW) and a top-k pass over a catalogue of
    `num_items` generated items; run each size in its own process to read its peak memory."""
    torch.manual_seed(0)
    config = AttnRankConfig(num_items=num_items, hidden_size=hidden_size, num_hidden_layers=2,
                            num_attention_heads=1, intermediate_size=4 * hidden_size, max_seq_len=seq_len,
                            loss_type=loss_type, num_negatives=num_negatives, attention_dropout_prob=0.0)
    model = AttnRankForNextItemPrediction(config).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=True)  # as Trainer's adamw_torch_fused
    inputs = torch.randint(1, num_items + 1, (batch_size, seq_len))
    labels = torch.randint(1, num_items + 1, (batch_size, seq_len))
    times = []
    for _ in range(steps + 1):
        start = time.perf_counter()
        loss = model(inputs, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - start)
    train_peak = peak_rss_mb()
    model.eval()
    histories = torch.randint(1, num_items + 1, (inference_users, 50))
    start = time.perf_counter()
    for begin in range(0, inference_users, 256):
        model.recommend(histories[begin : begin + 256], k=k)
    topk_seconds = time.perf_counter() - start
    parameters = sum(p.numel() for p in model.parameters())
    return {"num_items": num_items, "loss_type": loss_type, "num_negatives": num_negatives,
            "step_s": float(np.median(times[1:])), "train_peak_rss_mb": train_peak,
            "topk_users": inference_users, "topk_s": topk_seconds, "peak_rss_mb": peak_rss_mb(),
            "parameters_m": parameters / 1e6, "item_table_mb": (num_items + 1) * hidden_size * 4 / 2**20}


def machine_description():
    import platform

    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu": cpu, "threads": torch.get_num_threads(), "cores": os.cpu_count(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(), "torch": torch.__version__,
            "python": platform.python_version(), "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


__all__ = ["matmul_roofline", "model_matmul_shapes", "training_flops", "time_training_epoch", "time_inference",
           "catalogue_scaling_step", "machine_description", "peak_rss_mb"]
