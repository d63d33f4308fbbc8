"""Training entry point: arguments, the Trainer with ranking evaluation, and the end-to-end run.

raw data -> per-user sequences -> split -> tokenizer (training items only) -> encoded datasets -> Trainer
(validation NDCG@10 selects the checkpoint) -> test metrics for the model and the baselines under one protocol ->
save_pretrained folder with tokenizer, code files, test_results.json and a model card.
"""

import json
import logging
import os
import sys
import time
from dataclasses import dataclass, field, fields
from typing import Optional

import yaml
from transformers import HfArgumentParser, Trainer, TrainingArguments, set_seed
from transformers.utils import logging as transformers_logging

from .baselines import ItemKNN, MostPopular, training_sequences
from .collator import NextItemCollator
from .configuration_attnrank import AttnRankConfig
from .evaluation import describe_protocol, evaluate_ranking, model_scorer
from .modeling_attnrank import AttnRankForNextItemPrediction
from .splits import build_tokenizer, encode_splits, leave_one_out_split, temporal_split
from .synthetic import generate_synthetic_sequences


logger = logging.getLogger(__name__)


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
        default=None, metadata={"help": "learned, sinusoidal or none (default learned)."}
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
    dataset_name: Optional[str] = field(default=None, metadata={"help": "Name used in the model card and logs."})
    synthetic_users: int = field(default=2000, metadata={"help": "Built-in data: number of users."})
    synthetic_items: int = field(default=500, metadata={"help": "Built-in data: number of items."})
    synthetic_seed: int = field(default=0, metadata={"help": "Built-in data: generator seed."})
    eval_ks: list[int] = field(default_factory=lambda: [5, 10, 20], metadata={"help": "Cut-offs K of the metrics."})
    sampled_test: bool = field(
        default=True, metadata={"help": "Also report the sampled (100 negatives) protocol at test time."}
    )
    baselines: list[str] = field(
        default_factory=lambda: ["most-popular", "item-knn"], metadata={"help": "Baselines scored beside the model."}
    )


TRAINING_DEFAULTS = {
    "output_dir": "runs/attnrank",
    "eval_strategy": "epoch",
    "save_strategy": "epoch",
    "load_best_model_at_end": True,
    "metric_for_best_model": "ndcg@10",
    "greater_is_better": True,
    "save_total_limit": 2,
    "learning_rate": 1e-3,
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
}


class AttnRankTrainer(Trainer):
    """`Trainer` whose evaluation is full-catalogue ranking of held-out targets (see `evaluation.py`).

    Only `evaluate` is overridden; checkpoint selection, logging, callbacks and saving are Trainer's own.
    """

    def __init__(self, *args, eval_ks=(10,), **kwargs):
        super().__init__(*args, **kwargs)
        self.eval_ks = tuple(eval_ks)

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix="eval", protocol="full"):
        dataset = eval_dataset if eval_dataset is not None else self.eval_dataset
        model = self.accelerator.unwrap_model(self.model)
        was_training = model.training
        model.eval()
        start = time.time()
        results = evaluate_ranking(
            model_scorer(model), dataset, model.config.num_items, ks=self.eval_ks, protocol=protocol,
            batch_size=self.args.per_device_eval_batch_size, device=self.args.device, seed=self.args.seed,
        )
        model.train(was_training)
        metrics = {f"{metric_key_prefix}_{name}": value for name, value in results.items()}
        metrics[f"{metric_key_prefix}_runtime"] = round(time.time() - start, 4)
        if self.state.epoch is not None:
            metrics["epoch"] = self.state.epoch
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics


def parse_arguments(argv=None):
    """`[CONFIG.yaml|CONFIG.json] [--key value ...]`: the file sets defaults, the command line overrides them."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = HfArgumentParser((ModelArguments, DataArguments, TrainingArguments))
    defaults = dict(TRAINING_DEFAULTS)
    if argv and argv[0].endswith((".yaml", ".yml", ".json")):
        path = argv.pop(0)
        with open(path, encoding="utf-8") as handle:
            from_file = (json.load(handle) if path.endswith(".json") else yaml.safe_load(handle)) or {}
        known = {action.dest for action in parser._actions}
        unknown = sorted(set(from_file) - known)
        if unknown:
            raise ValueError(f"{path}: unknown option(s) {unknown}; see `python scripts/train.py --help`.")
        defaults.update(from_file)
    parser.set_defaults(**defaults)
    model_args, data_args, training_args = parser.parse_args_into_dataclasses(args=argv)
    return model_args, data_args, training_args


def load_sequences(data_args):
    """Per-user sequences and a short description of where they came from."""
    if data_args.data_file is None:
        sequences = generate_synthetic_sequences(
            num_users=data_args.synthetic_users, num_items=data_args.synthetic_items, seed=data_args.synthetic_seed
        )
        name = data_args.dataset_name or "built-in synthetic"
        description = (f"{name}: {len(sequences)} users, {data_args.synthetic_items} items, generated in code "
                       f"(seed {data_args.synthetic_seed}) with item-to-item transitions and popularity skew")
        return sequences, name, description, {}
    from .data import load_user_sequences  # the raw-data readers

    sequences, stats = load_user_sequences(
        data_args.data_file, data_args.data_format, user_column=data_args.user_column,
        item_column=data_args.item_column, timestamp_column=data_args.timestamp_column,
        rating_column=data_args.rating_column, min_rating=data_args.min_rating,
        min_user_interactions=data_args.min_user_interactions, min_item_interactions=data_args.min_item_interactions,
    )
    name = data_args.dataset_name or os.path.basename(str(data_args.data_file).rstrip("/"))
    description = f"{name}: {len(sequences)} users, {stats.get('rows_out', '?')} behaviours, from {data_args.data_file}"
    return sequences, name, description, stats


def split_sequences(sequences, data_args):
    if data_args.split == "leave-one-out":
        return leave_one_out_split(sequences)
    if data_args.split == "temporal":
        if data_args.validation_cutoff is None or data_args.test_cutoff is None:
            raise ValueError("--split temporal needs --validation_cutoff and --test_cutoff.")
        cutoffs = []
        for cutoff in (data_args.validation_cutoff, data_args.test_cutoff):
            if cutoff <= 1:
                import numpy as np

                all_times = np.concatenate([np.asarray(t) for t in sequences["timestamps"]])
                cutoff = float(np.quantile(all_times, cutoff))
            cutoffs.append(cutoff)
        return temporal_split(sequences, *cutoffs)
    raise ValueError(f"--split must be 'leave-one-out' or 'temporal', got {data_args.split!r}.")


def format_table(title, rows, ks):
    """A plain-text table: one row per system, HR/NDCG/MRR at each K."""
    columns = [f"{name}@{k}" for k in ks for name in ("hr", "ndcg", "mrr")]
    header = f"{'system':<16}" + "".join(f"{c.upper():>11}" for c in columns)
    lines = [title, header, "-" * len(header)]
    for system, metrics in rows:
        lines.append(f"{system:<16}" + "".join(f"{metrics[c]:>11.4f}" for c in columns))
    return "\n".join(lines)


def run(model_args, data_args, training_args):
    """Train, select on validation, test, save. Returns the test metrics dict (as written to test_results.json)."""
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    transformers_logging.disable_progress_bar()
    set_seed(training_args.seed)
    logger.info(f"World size: {training_args.world_size} process(es); device: {training_args.device}")

    with training_args.main_process_first(desc="data preparation"):
        sequences, dataset_name, data_description, data_stats = load_sequences(data_args)
        splits, split_stats = split_sequences(sequences, data_args)
    max_seq_len = model_args.max_seq_len or AttnRankConfig().max_seq_len
    if model_args.model_name_or_path:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(model_args.model_name_or_path)
        model = AttnRankForNextItemPrediction.from_pretrained(model_args.model_name_or_path)
        max_seq_len = model.config.max_seq_len
    else:
        tokenizer = build_tokenizer(splits["train"], max_seq_len)
        config = AttnRankConfig(num_items=tokenizer.num_items, **model_args.config_overrides())
        model = AttnRankForNextItemPrediction(config)
    encoded, encode_stats = encode_splits(splits, tokenizer, max_seq_len)
    num_items = model.config.num_items
    logger.info(f"Data: {data_description}; {num_items} items in the training vocabulary; split stats {split_stats}; "
                f"encoding stats {encode_stats}")

    trainer = AttnRankTrainer(
        model=model,
        args=training_args,
        train_dataset=encoded["train"],
        eval_dataset=encoded["validation"],
        data_collator=NextItemCollator(max_seq_len),
        processing_class=tokenizer,
        eval_ks=data_args.eval_ks,
    )
    train_result = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    trainer.save_model()  # the best checkpoint (load_best_model_at_end), with tokenizer and code files
    trainer.log_metrics("train", train_result.metrics)
    trainer.save_metrics("train", train_result.metrics)

    validation_metrics = trainer.evaluate(encoded["validation"], metric_key_prefix="eval")
    test_metrics = trainer.evaluate(encoded["test"], metric_key_prefix="test")
    protocol = describe_protocol("full", True, num_items, split=data_args.split)
    test_metrics["test_protocol"] = protocol
    rows = [("AttnRank", {k[len("test_"):]: v for k, v in test_metrics.items() if k.startswith("test_")})]

    # Baselines: same test rows, same protocol; under DDP every rank scores its shard and sums are all-reduced.
    sequences_for_baselines = training_sequences(splits["train"], tokenizer)
    builders = {"most-popular": MostPopular, "item-knn": ItemKNN}
    for name in data_args.baselines:
        if name not in builders:
            raise ValueError(f"Unknown baseline {name!r}; choose from {sorted(builders)}.")
        scorer = builders[name](sequences_for_baselines, num_items)
        results = evaluate_ranking(scorer, encoded["test"], num_items, ks=data_args.eval_ks,
                                   batch_size=training_args.per_device_eval_batch_size)
        rows.append((name, results))
        test_metrics.update({f"test_baseline_{name.replace('-', '_')}_{k}": v for k, v in results.items()})

    sampled_rows = []
    if data_args.sampled_test:
        sampled_protocol = describe_protocol("sampled", split=data_args.split)
        sampled = trainer.evaluate(encoded["test"], metric_key_prefix="test_sampled", protocol="sampled")
        sampled.pop("epoch", None)
        test_metrics.update(sampled)
        test_metrics["test_sampled_protocol"] = sampled_protocol
        sampled_rows.append(("AttnRank", {k[len("test_sampled_"):]: v for k, v in sampled.items()}))

    trainer.save_metrics("eval", validation_metrics)
    trainer.save_metrics("test", test_metrics)
    if trainer.is_world_process_zero():
        print(format_table(f"\nTest ({len(encoded['test'])} users) -- {protocol}", rows, data_args.eval_ks))
        if sampled_rows:
            print(format_table(f"\nTest -- {sampled_protocol} (NOT comparable with the table above)", sampled_rows,
                               data_args.eval_ks))
        from .model_card import write_model_card

        write_model_card(
            training_args.output_dir, model=trainer.model, dataset_name=dataset_name,
            data_description=data_description, test_metrics=test_metrics, validation_metrics=validation_metrics,
            train_metrics=train_result.metrics, training_args=training_args, data_args=data_args,
            tokenizer=tokenizer,
        )
    return test_metrics


def main(argv=None):
    model_args, data_args, training_args = parse_arguments(argv)
    return run(model_args, data_args, training_args)


__all__ = ["ModelArguments", "DataArguments", "AttnRankTrainer", "parse_arguments", "run", "main"]
