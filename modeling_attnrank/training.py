"""Training entry point: arguments, the Trainer with ranking evaluation, and the end-to-end run.

raw data -> per-user sequences -> split -> tokenizer (training items only) -> encoded datasets -> Trainer
(validation NDCG@10 selects the checkpoint) -> test metrics for the model and the baselines under one protocol ->
save_pretrained folder with tokenizer, code files, test_results.json and a model card.
"""

import logging
import os
import shutil
import time

import torch.distributed as dist
from transformers import AutoTokenizer, EarlyStoppingCallback, Trainer, set_seed
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, rotate_checkpoints
from transformers.utils import logging as transformers_logging

from .arguments import parse_arguments
from .baselines import build_baselines
from .callbacks import StopOnNonFiniteLoss, TimeBudget
from .checkpointing import (
    TRAINER_STATE_NAME,
    publish_checkpoint,
    publish_model_folder,
    remove_interrupted_saves,
    replace_pickled_training_args,
    resolve_resume_checkpoint,
    staging_path,
    validate_checkpoint,
)
from .collator import NextItemCollator
from .configuration_attnrank import AttnRankConfig
from .evaluation import compare_systems, evaluate_ranking, format_results_table, model_scorer
from .hub import push_to_hub
from .model_card import write_model_card
from .modeling_attnrank import AttnRankForNextItemPrediction
from .pipeline_attnrank import add_pipeline_to_folder
from .prepare import prepare_datasets


logger = logging.getLogger(__name__)


class AttnRankTrainer(Trainer):
    """`Trainer` whose evaluation is full-catalogue ranking of held-out targets (see `evaluation.py`).

    `evaluate` is overridden; checkpoint selection, logging and callbacks are Trainer's own. Saving is Trainer's too,
    made atomic (see `checkpointing.py`): each checkpoint is written into a hidden staging folder and renamed into
    place once complete; the final model folder gets its weights last; `training_args.json` replaces the pickled
    `training_args.bin`.
    """

    _staging_dir = None  # set while a checkpoint is being written

    def _get_output_dir(self, trial):
        return self._staging_dir or super()._get_output_dir(trial)

    def _save_checkpoint(self, model, trial):
        run_dir = super()._get_output_dir(trial)
        name = f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
        staging_dir = self._staging_dir = staging_path(run_dir, name)
        try:
            super()._save_checkpoint(model, trial)  # everything lands in staging_dir/name
        except BaseException:
            if self.args.should_save:
                shutil.rmtree(staging_dir, ignore_errors=True)  # e.g. disk full: nothing half-written stays
            raise
        finally:
            self._staging_dir = None
        if self.state.best_global_step:  # Trainer recorded the best checkpoint under its staging path
            best = os.path.join(run_dir, f"{PREFIX_CHECKPOINT_DIR}-{self.state.best_global_step}")
            if self.state.best_global_step == self.state.global_step or os.path.isdir(best):
                self.state.best_model_checkpoint = best
        if self.args.should_save:
            self.state.save_to_json(os.path.join(staging_dir, name, TRAINER_STATE_NAME))
        self.accelerator.wait_for_everyone()  # every process has written its RNG state
        if self.args.should_save:
            publish_checkpoint(os.path.join(staging_dir, name), os.path.join(run_dir, name))
            shutil.rmtree(staging_dir, ignore_errors=True)
            rotate_checkpoints(output_dir=run_dir, save_total_limit=self.args.save_total_limit,
                               best_model_checkpoint=self.state.best_model_checkpoint, use_mtime=True)
        self.accelerator.wait_for_everyone()

    def save_model(self, output_dir=None, _internal_call=False):
        if _internal_call:  # a checkpoint, already redirected to its staging folder
            return super().save_model(output_dir, _internal_call=True)
        output_dir = output_dir if output_dir is not None else self.args.output_dir
        staging_dir = staging_path(output_dir, "model")
        try:
            super().save_model(staging_dir, _internal_call=True)
        except BaseException:
            if self.args.should_save:
                shutil.rmtree(staging_dir, ignore_errors=True)
            raise
        self.accelerator.wait_for_everyone()
        if self.args.should_save:
            publish_model_folder(staging_dir, output_dir)
        self.accelerator.wait_for_everyone()
        if self.args.push_to_hub:
            self.push_to_hub(commit_message="Model save", revision=self.args.hub_revision)

    def _save(self, output_dir=None, state_dict=None):
        super()._save(output_dir, state_dict)
        if self.args.should_save:
            replace_pickled_training_args(output_dir if output_dir is not None else self.args.output_dir, self.args)

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


def run(model_args, data_args, training_args, callbacks=None):
    """Train, select on validation, test, save. Returns the test metrics dict (as written to test_results.json).

    `callbacks`: more `TrainerCallback`s, after the built-in ones (non-finite loss stop, early stopping).
    """
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    transformers_logging.disable_progress_bar()
    set_seed(training_args.seed)
    logger.info(f"World size: {training_args.world_size} process(es); device: {training_args.device}; "
                f"precision: {getattr(training_args, 'precision', 'fp32')} (mixed precision "
                f"{training_args.mixed_precision}, tf32 {training_args.tf32})")
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() != training_args.world_size:
        raise RuntimeError(
            f"The launcher started {dist.get_world_size()} processes but the Trainer sees {training_args.world_size}:"
            " each process would train alone on all the data. On a machine without GPUs pass --use_cpu."
        )
    if training_args.should_save:
        remove_interrupted_saves(training_args.output_dir)
    resume_from_checkpoint = resolve_resume_checkpoint(training_args.resume_from_checkpoint, training_args.output_dir)

    tokenizer = model = None
    max_seq_len = model_args.max_seq_len or AttnRankConfig().max_seq_len
    with_timestamps = bool(model_args.time_interval_buckets)
    if model_args.model_name_or_path:
        if os.path.isdir(model_args.model_name_or_path):
            validate_checkpoint(model_args.model_name_or_path)  # weights are safetensors and match the config
        tokenizer = AutoTokenizer.from_pretrained(model_args.model_name_or_path)
        model = AttnRankForNextItemPrediction.from_pretrained(model_args.model_name_or_path)
        max_seq_len = model.config.max_seq_len
        with_timestamps = bool(model.config.time_interval_buckets)
    with training_args.main_process_first(desc="data preparation"):
        data = prepare_datasets(data_args, max_seq_len, tokenizer, with_timestamps)
    tokenizer, encoded = data["tokenizer"], data["encoded"]
    if model is None:
        config = AttnRankConfig(num_items=tokenizer.num_items, **model_args.config_overrides())
        model = AttnRankForNextItemPrediction(config)
    num_items = model.config.num_items
    logger.info(f"Data: {data['description']}; {num_items} items in the training vocabulary; {data['stats']}")

    # Trainer would push every checkpoint with a model card of its own: the finished folder (our card, results,
    # pipeline) is pushed once, at the end, instead (hub.py).
    push_to_hub_at_end, training_args.push_to_hub = training_args.push_to_hub, False
    trainer = AttnRankTrainer(
        model=model,
        args=training_args,
        train_dataset=encoded["train"],
        eval_dataset=encoded["validation"],
        data_collator=NextItemCollator(max_seq_len),
        processing_class=tokenizer,
        eval_ks=data_args.eval_ks,
        callbacks=[StopOnNonFiniteLoss()]
        + ([EarlyStoppingCallback(data_args.early_stopping_patience)] if data_args.early_stopping_patience else [])
        + ([TimeBudget(training_args.max_train_minutes)] if getattr(training_args, "max_train_minutes", None) else [])
        + list(callbacks or []),
    )
    train_result = trainer.train(resume_from_checkpoint=resume_from_checkpoint)
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
    trainer.save_state()  # trainer_state.json: the log history behind the training curves
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
            tokenizer=tokenizer, repo_id=training_args.hub_model_id, log_history=trainer.state.log_history,
        )
        add_pipeline_to_folder(training_args.output_dir, model.config)
        if push_to_hub_at_end:
            repo_id = training_args.hub_model_id or os.path.basename(os.path.abspath(training_args.output_dir))
            try:
                commit = push_to_hub(training_args.output_dir, repo_id, token=training_args.hub_token,
                                     private=training_args.hub_private_repo, revision=training_args.hub_revision)
            except Exception:
                logger.error(f"The upload failed; {training_args.output_dir} is complete: retry with `attnrank push "
                             f"--model_dir {training_args.output_dir} --repo_id {repo_id}`.")
                raise
            print(f"\nPushed {training_args.output_dir} to {commit.commit_url} (pin revision={commit.oid!r})")
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
