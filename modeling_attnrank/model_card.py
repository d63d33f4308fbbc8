"""Render the model card (`README.md` of a trained folder) from the template `model_card.md`.

The YAML front matter (library, tags, datasets, metrics and a `model-index` of the real test results with their
protocol) is written by `huggingface_hub.ModelCardData`, so the card parses with `huggingface_hub.ModelCard`. Given the
training log history and matplotlib (the `plot` extra), the card embeds the training curves (`training_curves.png`).
"""

import logging
import os
from pathlib import Path
from string import Template

from huggingface_hub import EvalResult, ModelCard, ModelCardData


logger = logging.getLogger(__name__)

TRAINING_CURVES_FILE = "training_curves.png"
MODEL_INDEX_METRICS = ("ndcg", "hr", "mrr", "coverage")  # the model's full-catalogue test metrics, per K
TEMPLATE_PATH = Path(__file__).with_name("model_card_template.md")  # symlink to the repository's model_card.md


def _metric_rows(test_metrics, ks):
    systems = [("AttnRank", "test_")]
    for key in test_metrics:
        if key.startswith("test_baseline_") and key.endswith(f"_hr@{ks[0]}"):
            name = key[len("test_baseline_"): -len(f"_hr@{ks[0]}")]
            systems.append((name.replace("_", "-"), f"test_baseline_{name}_"))
    columns = [f"{metric}@{k}" for k in ks for metric in ("hr", "ndcg")] + [f"coverage@{ks[-1]}"]
    lines = ["| system | " + " | ".join(c.upper() for c in columns) + " |",
             "|---" * (len(columns) + 1) + "|"]
    for label, prefix in systems:
        values = [test_metrics.get(prefix + c) for c in columns]
        lines.append(f"| {label} | " + " | ".join("-" if v is None else f"{v:.4f}" for v in values) + " |")
    return "\n".join(lines)


def write_model_card(output_dir, model, dataset_name, data_description, test_metrics, validation_metrics=None,
                     train_metrics=None, training_args=None, data_args=None, repo_id=None, tokenizer=None,
                     log_history=None):
    """Write `output_dir/README.md` (and `training_curves.png` from `log_history` if matplotlib is installed);
    returns the `ModelCard`."""
    ks = list(getattr(data_args, "eval_ks", [10]))
    protocol = test_metrics.get("test_protocol", "")
    eval_results = [
        EvalResult(task_type="sequential-recommendation", task_name="Next-item recommendation",
                   dataset_type=dataset_name, dataset_name=dataset_name, dataset_split="test",
                   metric_type=name, metric_name=f"{name.upper()} ({protocol})", metric_value=round(value, 6))
        for name, value in ((f"{m}@{k}", test_metrics.get(f"test_{m}@{k}")) for k in ks for m in MODEL_INDEX_METRICS)
        if value is not None
    ]
    card_data = ModelCardData(
        library_name="transformers", pipeline_tag=None, license="apache-2.0", model_name=f"attnrank-{dataset_name}",
        tags=["recommendation", "sequential-recommendation", "attnrank", "sasrec", "custom_code"],
        metrics=[f"{m}@{k}" for k in ks for m in MODEL_INDEX_METRICS], eval_results=eval_results or None,
    )
    config = model.config
    sampled_section = ""
    if "test_sampled_protocol" in test_metrics:
        sampled = ", ".join(f"{m.upper()}@{k} {test_metrics[f'test_sampled_{m}@{k}']:.4f}"
                            for k in ks for m in ("hr", "ndcg") if f"test_sampled_{m}@{k}" in test_metrics)
        sampled_section = (f"\nFor comparison with papers that sample negatives only "
                           f"({test_metrics['test_sampled_protocol']}): {sampled}.\n")
    training_setup = (
        f"{config.num_hidden_layers} blocks, hidden size {config.hidden_size}, {config.num_attention_heads} attention "
        f"head(s), feed-forward {config.intermediate_size}, max length {config.max_seq_len}, {config.attention_type} "
        f"attention, {config.position_embedding_type} positions"
        + (f", time-interval bias ({config.time_interval_buckets} buckets)" if config.time_interval_buckets else "")
        + f", dropout {config.hidden_dropout_prob}, loss `{config.loss_type}`."
    )
    if data_args is not None and getattr(data_args, "train_windows", "last") == "all":
        training_setup += f" Trained on every {config.max_seq_len}-item window of longer histories."
    if training_args is not None:
        training_setup += (
            f" AdamW, learning rate {training_args.learning_rate}, batch {training_args.per_device_train_batch_size}"
            f" x {training_args.world_size} process(es), {training_args.num_train_epochs} epochs max, precision "
            f"{getattr(training_args, 'precision', 'fp32')}, seed {training_args.seed}."
        )
    if train_metrics and "train_runtime" in train_metrics:
        training_setup += f" Training time: {train_metrics['train_runtime']:.0f} s."
    if validation_metrics and "eval_ndcg@10" in validation_metrics:
        training_setup += f" Best validation NDCG@10: {validation_metrics['eval_ndcg@10']:.4f}."
    training_curves = ""
    if log_history:
        try:
            from .plotting import plot_training_curves

            plot_training_curves(log_history, os.path.join(output_dir, TRAINING_CURVES_FILE))
            training_curves = f"\n![Training loss and validation NDCG@10]({TRAINING_CURVES_FILE})\n"
        except ImportError as error:
            logger.info(f"No training curves in the model card: {error}")
    vocab_items = getattr(tokenizer, "index_to_item", None) or ["<item id>", "<item id>", "<item id>"]
    values = {
        "metadata": "---\n" + card_data.to_yaml() + "\n---",
        "model_name": f"AttnRank on {dataset_name}",
        "dataset_name": dataset_name,
        "num_items": config.num_items,
        "data_description": data_description,
        "split": getattr(data_args, "split", "leave-one-out"),
        "protocol": protocol,
        "results_table": _metric_rows(test_metrics, ks),
        "sampled_section": sampled_section,
        "training_setup": training_setup,
        "training_curves": training_curves,
        "repo_id": repo_id or "<user>/<model>",
        "example_item_1": vocab_items[1],
        "example_item_2": vocab_items[2] if len(vocab_items) > 2 else vocab_items[1],
        "max_seq_len": config.max_seq_len,
    }
    text = Template(TEMPLATE_PATH.read_text(encoding="utf-8")).substitute(values)
    card = ModelCard(text)
    os.makedirs(output_dir, exist_ok=True)
    card.save(os.path.join(output_dir, "README.md"))
    return card


__all__ = ["write_model_card"]
