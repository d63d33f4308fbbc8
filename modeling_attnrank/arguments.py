"""Command-line / config-file arguments of the scripts, transformers-examples style.

`ModelArguments` and `DataArguments` are dataclasses read by `HfArgumentParser` together with `TrainingArguments`.
A YAML or JSON file given first sets defaults; `--key value` options on the command line override them.
"""

import json
import os
import sys
from dataclasses import dataclass, field, fields
from typing import Optional

import yaml
from transformers import HfArgumentParser, TrainingArguments


@dataclass
class ModelArguments:
    """Model configuration; `None` keeps the `AttnRankConfig` default."""

    model_name_or_path: Optional[str] = field(
        default=None, metadata={"help": "Start from this trained folder / Hub id instead of a fresh model."}
    )
    hidden_size: Optional[int] = field(default=None, metadata={"help": "Embedding and hidden size (default 64)."})
    num_hidden_layers: Optional[int] = field(default=None, metadata={"help": "Self-attention blocks (default 2)."})
    num_attention_heads: Optional[int] = field(default=None, metadata={"help": "Heads per block (default 2)."})
    intermediate_size: Optional[int] = field(default=None, metadata={"help": "Feed-forward width (default 256)."})
    hidden_act: Optional[str] = field(default=None, metadata={"help": "gelu, relu or silu (default gelu)."})
    max_seq_len: Optional[int] = field(default=None, metadata={"help": "Most recent items read (default 200)."})
    hidden_dropout_prob: Optional[float] = field(default=None, metadata={"help": "Hidden dropout (default 0.2)."})
    attention_dropout_prob: Optional[float] = field(default=None, metadata={"help": "Attention dropout (0.2)."})
    initializer_range: Optional[float] = field(default=None, metadata={"help": "Init std (default 0.02)."})
    tie_item_embeddings: Optional[bool] = field(default=None, metadata={"help": "Tie input/output items (True)."})
    pre_norm: Optional[bool] = field(default=None, metadata={"help": "Pre-LN blocks (default True)."})
    scale_embeddings: Optional[bool] = field(default=None, metadata={"help": "Scale items by sqrt(d) (False)."})
    loss_type: Optional[str] = field(default=None, metadata={"help": "ce, bce, sampled_softmax or gbce (ce)."})
    num_negatives: Optional[int] = field(default=None, metadata={"help": "Negatives of sampled losses (256)."})
    gbce_t: Optional[float] = field(default=None, metadata={"help": "gBCE calibration t (default 0.75)."})
    attention_type: Optional[str] = field(default=None, metadata={"help": "global or local (default global)."})
    attention_window: Optional[int] = field(default=None, metadata={"help": "Window of local attention (50)."})
    position_embedding_type: Optional[str] = field(
        default=None, metadata={"help": "learned, sinusoidal, rotary or none (default learned)."}
    )
    time_interval_buckets: Optional[int] = field(
        default=None, metadata={"help": "Time-interval attention bias with this many log2 buckets (0 = off, default)."}
    )

    def config_overrides(self):
        return {f.name: getattr(self, f.name) for f in fields(self)
                if f.name != "model_name_or_path" and getattr(self, f.name) is not None}


@dataclass
class DataArguments:
    data_file: Optional[str] = field(
        default=None,
        metadata={"help": "Interaction file (or dataset directory / Hub id). Omit to use the built-in synthetic data."},
    )
    data_format: str = field(
        default="auto",
        metadata={"help": "auto, interactions, csv, tsv, parquet, jsonl, pairs, seq, ml-100k, ml-1m, ml-20m, hub."},
    )
    user_column: str = field(default="user_id", metadata={"help": "User column of csv/tsv/parquet/jsonl tables."})
    item_column: str = field(default="item_id", metadata={"help": "Item column of csv/tsv/parquet/jsonl tables."})
    timestamp_column: Optional[str] = field(default=None, metadata={"help": "Timestamp column, if any."})
    rating_column: Optional[str] = field(default=None, metadata={"help": "Rating column, if any."})
    min_rating: Optional[float] = field(default=None, metadata={"help": "Keep behaviours with rating >= this."})
    min_user_interactions: Optional[int] = field(default=None, metadata={"help": "k-core: users with >= k events."})
    min_item_interactions: Optional[int] = field(default=None, metadata={"help": "k-core: items with >= k events."})
    split: str = field(default="leave-one-out", metadata={"help": "leave-one-out or temporal."})
    validation_cutoff: Optional[float] = field(
        default=None, metadata={"help": "Temporal split: timestamp, or a quantile of all timestamps if <= 1."}
    )
    test_cutoff: Optional[float] = field(
        default=None, metadata={"help": "Temporal split: timestamp, or a quantile of all timestamps if <= 1."}
    )
    train_windows: str = field(
        default="last",
        metadata={"help": "last: train on each history's most recent max_seq_len items (SASRec); all: cut longer "
                          "histories into windows so every next-item pair is trained on."},
    )
    dataset_name: Optional[str] = field(default=None, metadata={"help": "Name used in the model card and logs."})
    synthetic_users: int = field(default=2000, metadata={"help": "Built-in data: number of users."})
    synthetic_items: int = field(default=500, metadata={"help": "Built-in data: number of items."})
    synthetic_seed: int = field(default=0, metadata={"help": "Built-in data: generator seed."})
    eval_ks: list[int] = field(default_factory=lambda: [5, 10, 20], metadata={"help": "Cut-offs K of the metrics."})
    sampled_test: bool = field(
        default=True, metadata={"help": "Also report the sampled (100 negatives) protocol at test time."}
    )
    early_stopping_patience: Optional[int] = field(
        default=None, metadata={"help": "Stop after this many evaluations without a better validation NDCG@10."}
    )
    baselines: list[str] = field(
        default_factory=lambda: ["most-popular", "item-knn"], metadata={"help": "Baselines scored beside the model."}
    )


PRECISIONS = ("auto", "fp32", "bf16", "fp16")


@dataclass
class AttnRankTrainingArguments(TrainingArguments):
    """`TrainingArguments` plus the choice of numeric precision, resolved for the device before the accelerator is
    set up.

    `precision="auto"`: bf16 autocast on a GPU that supports it natively (Ampere or newer), with TF32 matmuls for
    what stays in fp32; plain fp32 on the CPU (bf16 autocast is slower there on most CPUs). Weights and optimizer
    states stay fp32 and evaluation always runs in fp32 (ranks of near-tied scores must not depend on the
    precision). An explicit `--bf16` / `--fp16` or an accelerate config's `mixed_precision` is kept as given.

    Also: a run started by a distributed launcher (`WORLD_SIZE` > 1) on a machine without a GPU uses the CPU with
    the gloo backend. (Without this, accelerate's `MULTI_GPU` launcher starts the processes but each one trains
    alone on all the data, unaware of the others.)
    """

    precision: str = field(
        default="auto",
        metadata={"help": "auto (bf16 autocast + TF32 on a GPU that supports them, fp32 on CPU), fp32, bf16 or fp16."},
    )
    max_train_minutes: Optional[float] = field(
        default=None,
        metadata={"help": "Stop training after this many minutes of wall-clock time (after a last evaluation)."},
    )

    def __post_init__(self):
        import torch

        if self.precision not in PRECISIONS:
            raise ValueError(f"--precision must be one of {PRECISIONS}, got {self.precision!r}.")
        has_accelerator = torch.accelerator.is_available() if hasattr(torch, "accelerator") else torch.cuda.is_available()
        if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not has_accelerator and not self.use_cpu:
            self.use_cpu = True
        has_gpu = torch.cuda.is_available()
        on_gpu = has_gpu and not self.use_cpu and os.environ.get("ACCELERATE_USE_CPU", "false").lower() != "true"
        # Ampere (compute capability 8) or newer: native bf16 and TF32 (older GPUs only emulate bf16, slowly).
        ampere = on_gpu and torch.cuda.get_device_capability()[0] >= 8
        launcher_precision = os.environ.get("ACCELERATE_MIXED_PRECISION", "no")
        explicit = self.bf16 or self.fp16 or launcher_precision != "no"
        if self.precision == "bf16":
            self.bf16, self.fp16 = True, False
        elif self.precision == "fp16":
            self.fp16, self.bf16 = True, False
        elif self.precision == "fp32":
            self.bf16 = self.fp16 = False
            if self.tf32 is None and on_gpu:
                self.tf32 = False
        elif not explicit and ampere:
            self.bf16 = True
        if self.precision == "auto" and self.tf32 is None and ampere:
            self.tf32 = True
        if self.bf16 and not has_accelerator:
            self.use_cpu = True  # TrainingArguments accepts bf16 (CPU autocast) without a GPU only with use_cpu
        super().__post_init__()
        if self.precision == "fp32":
            self.mixed_precision = "no"  # also over an accelerate config's mixed_precision


TRAINING_DEFAULTS = {
    "output_dir": "runs/attnrank",
    "eval_strategy": "epoch",
    "save_strategy": "epoch",
    "load_best_model_at_end": True,
    "metric_for_best_model": "ndcg@10",
    "greater_is_better": True,
    "save_total_limit": 2,
    "learning_rate": 1e-3,
    "optim": "adamw_torch_fused",  # one pass over each parameter: 10x faster on a 1M-item table than the default
    "weight_decay": 0.0,
    "warmup_steps": 0.05,
    "lr_scheduler_type": "cosine",
    "max_grad_norm": 1.0,
    "num_train_epochs": 20,
    "per_device_train_batch_size": 128,
    "per_device_eval_batch_size": 256,
    "logging_steps": 20,
    "report_to": "none",
    "remove_unused_columns": False,
    "train_sampling_strategy": "group_by_length",
    "disable_tqdm": True,
    "dataloader_pin_memory": False,
    "seed": 42,
    # Every parameter receives a gradient at every step, so DDP need not search the graph for unused ones.
    "ddp_find_unused_parameters": False,
}



def parse_arguments(argv=None, dataclass_types=(ModelArguments, DataArguments, AttnRankTrainingArguments),
                    defaults=None, ignore_unknown_file_keys=False):
    """`[CONFIG.yaml|CONFIG.json] [--key value ...]`: the file sets defaults, the command line overrides them.

    `ignore_unknown_file_keys` lets a script that reads only some dataclasses (e.g. evaluation) reuse a training
    config file; otherwise an unknown key in the file is an error naming it.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = HfArgumentParser(dataclass_types)
    known = {action.dest for action in parser._actions}
    merged = dict(TRAINING_DEFAULTS if defaults is None else defaults)
    if argv and argv[0].endswith((".yaml", ".yml", ".json")):
        path = argv.pop(0)
        with open(path, encoding="utf-8") as handle:
            from_file = (json.load(handle) if path.endswith(".json") else yaml.safe_load(handle)) or {}
        unknown = sorted(set(from_file) - known)
        if unknown and not ignore_unknown_file_keys:
            raise ValueError(f"{path}: unknown option(s) {unknown}; see `python scripts/train.py --help`.")
        merged.update({key: value for key, value in from_file.items() if key in known})
    parser.set_defaults(**{key: value for key, value in merged.items() if key in known})
    return parser.parse_args_into_dataclasses(args=argv)


__all__ = ["ModelArguments", "DataArguments", "AttnRankTrainingArguments", "TRAINING_DEFAULTS", "parse_arguments"]
