"""Training entry point: arguments, the Trainer with ranking evaluation, and the end-to-end run.

raw data -> per-user sequences -> split -> tokenizer (training items only) -> encoded datasets -> Trainer
(validation NDCG@10 selects the checkpoint) -> test metrics for the model and the baselines under one protocol ->
save_pretrained folder with tokenizer, code files, test_results.json and a model card.
"""

import logging
import time

from transformers import AutoTokenizer, EarlyStoppingCallback, Trainer, set_seed
from transformers.utils import logging as transformers_logging

from .arguments import parse_arguments
from .baselines import build_baselines
from .collator import NextItemCollator
from .configuration_attnrank import AttnRankConfig
from .evaluation import compare_systems, evaluate_ranking, format_results_table, model_scorer
from .model_card import write_model_card
from .modeling_attnrank import AttnRankForNextItemPrediction
from .prepare import prepare_datasets


logger = logging.getLogger(__name__)


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


def run(model_args, data_args, training_args):
    """Train, select on validation, test, save. Returns the test metrics dict (as written to test_results.json)."""
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    transformers_logging.disable_progress_bar()
    set_seed(training_args.seed)
    logger.info(f"World size: {training_args.world_size} process(es); device: {training_args.device}")

    tokenizer = model = None
    max_seq_len = model_args.max_seq_len or AttnRankConfig().max_seq_len
    if model_args.model_name_or_path:
        tokenizer = AutoTokenizer.from_pretrained(model_args.model_name_or_path)
        model = AttnRankForNextItemPrediction.from_pretrained(model_args.model_name_or_path)
        max_seq_len = model.config.max_seq_len
    with training_args.main_process_first(desc="data preparation"):
        data = prepare_datasets(data_args, max_seq_len, tokenizer)
    tokenizer, encoded = data["tokenizer"], data["encoded"]
    if model is None:
        config = AttnRankConfig(num_items=tokenizer.num_items, **model_args.config_overrides())
        model = AttnRankForNextItemPrediction(config)
    num_items = model.config.num_items
    logger.info(f"Data: {data['description']}; {num_items} items in the training vocabulary; {data['stats']}")

    trainer = AttnRankTrainer(
        model=model,
        args=training_args,
        train_dataset=encoded["train"],
        eval_dataset=encoded["validation"],
        data_collator=NextItemCollator(max_seq_len),
        processing_class=tokenizer,
        eval_ks=data_args.eval_ks,
        callbacks=[EarlyStoppingCallback(data_args.early_stopping_patience)] if data_args.early_stopping_patience else None,
    )
    train_result = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    trainer.save_model()  # the best checkpoint (load_best_model_at_end), with tokenizer and code files
    trainer.log_metrics("train", train_result.metrics)
    trainer.save_metrics("train", train_result.metrics)
    validation_metrics = trainer.evaluate(encoded["validation"], metric_key_prefix="eval")
    trainer.save_metrics("eval", validation_metrics)

    # Test, once, with the selected checkpoint; baselines on the same users under the same protocol(s).
    model = trainer.accelerator.unwrap_model(trainer.model).eval()
    scorers = {"AttnRank": model_scorer(model)}
    scorers.update(build_baselines(data_args.baselines, data["splits"]["train"], tokenizer, num_items))
    protocols = ("full", "sampled") if data_args.sampled_test else ("full",)
    report = compare_systems(scorers, encoded["test"], num_items, ks=data_args.eval_ks, protocols=protocols,
                             split=data_args.split, batch_size=training_args.per_device_eval_batch_size,
                             device=training_args.device, seed=training_args.seed)
    test_metrics = flatten_test_report(report)
    trainer.save_metrics("test", test_metrics)
    if trainer.is_world_process_zero():
        for protocol, section in report.items():
            title = f"\nTest ({len(encoded['test'])} users) -- {section['description']}"
            if protocol == "sampled":
                title += " (NOT comparable with the full-catalogue table)"
            print(format_results_table(title, section["systems"], data_args.eval_ks))
        write_model_card(
            training_args.output_dir, model=model, dataset_name=data["dataset_name"],
            data_description=data["description"], test_metrics=test_metrics, validation_metrics=validation_metrics,
            train_metrics=train_result.metrics, training_args=training_args, data_args=data_args,
            tokenizer=tokenizer,
        )
    return test_metrics


def flatten_test_report(report):
    """Flat `test_*` keys as in test_results.json: the model's full-catalogue metrics as `test_<metric>`, the
    sampled protocol as `test_sampled_<metric>`, baselines as `test_baseline_<name>_<metric>`, and each protocol's
    description as `test_protocol` / `test_sampled_protocol`."""
    metrics = {}
    for protocol, section in report.items():
        prefix = "test_" if protocol == "full" else f"test_{protocol}_"
        metrics[f"{prefix}protocol"] = section["description"]
        for system, results in section["systems"].items():
            system_prefix = prefix if system == "AttnRank" else f"{prefix}baseline_{system.replace('-', '_')}_"
            metrics.update({f"{system_prefix}{name}": value for name, value in results.items()})
    return metrics


def main(argv=None):
    model_args, data_args, training_args = parse_arguments(argv)
    return run(model_args, data_args, training_args)


__all__ = ["AttnRankTrainer", "run", "flatten_test_report", "main"]
