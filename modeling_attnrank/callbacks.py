"""Trainer callbacks of AttnRank.

`StopOnNonFiniteLoss` ends training at the first optimizer step whose loss is NaN or infinite, before that step
touches the weights, with an error naming the step. By default `Trainer` hides such losses from its logs
(`logging_nan_inf_filter` replaces them with the running mean) and keeps stepping, so a diverged run would go on
saving NaN checkpoints.

`TimeBudget` stops training after a wall-clock budget (`--max_train_minutes`), after a last evaluation and save.
"""

import logging
import math
import time

import torch
from transformers import TrainerCallback


logger = logging.getLogger(__name__)


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN or infinite loss; the message names the step."""


class StopOnNonFiniteLoss(TrainerCallback):
    """Raise `NonFiniteLossError` at the first step whose loss (hence gradients) is NaN or infinite.

    The check reads the gradients just before the optimizer step: a non-finite loss makes them non-finite, they are
    what would corrupt the weights, and under DDP they are already averaged over the processes, so every process
    stops at the same step (a loss checked on one process only would leave the others waiting in the next
    all-reduce). The weights, the checkpoints saved so far and the RNG states are left as they were: resume from the
    last checkpoint with a lower learning rate or in fp32. With `fp16`, overflowing steps are expected and skipped by
    the loss scaler, so the check is off.
    """

    def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
        if args.fp16 or model is None:
            return
        gradients = [parameter.grad for parameter in model.parameters() if parameter.grad is not None]
        if not gradients:
            return
        norms = torch.stack([torch.linalg.vector_norm(gradient.detach(), dtype=torch.float32) for gradient in gradients])
        total = norms.sum().item()  # one sync per step; Trainer's own NaN filter already syncs on the loss each step
        if math.isfinite(total):
            return
        names = [name for name, parameter in model.named_parameters() if parameter.grad is not None]
        first = next((name for name, norm in zip(names, norms.tolist()) if not math.isfinite(norm)), "?")
        step = state.global_step + 1
        epoch = f"{state.epoch:.2f}" if state.epoch is not None else "?"
        message = (
            f"Training loss is not finite (NaN or inf) at step {step} of {state.max_steps} (epoch {epoch}): its gradients"
            f" are {total} (first non-finite: `{first}`). Stopped before this step changed the weights. Resume from"
            " the last checkpoint (`--resume_from_checkpoint latest`) with a lower --learning_rate, a --max_grad_norm,"
            " or --precision fp32, and check the data for corrupted rows."
        )
        logger.error(message)
        raise NonFiniteLossError(message)


class TimeBudget(TrainerCallback):
    """Stop training once `max_minutes` of wall-clock training time are spent, then evaluate and save as at the end
    of an epoch, so the best checkpoint is still chosen on validation. Makes "trained within N minutes" a guarantee
    of the recipe rather than a property of the machine it happens to run on."""

    def __init__(self, max_minutes):
        self.max_seconds = max_minutes * 60
        self.start = None

    def on_train_begin(self, args, state, control, **kwargs):
        self.start = time.monotonic()

    def on_step_end(self, args, state, control, **kwargs):
        if time.monotonic() - self.start > self.max_seconds and not control.should_training_stop:
            logger.warning(f"Time budget of {self.max_seconds / 60:g} minutes spent at step {state.global_step}: "
                           "stopping after a last evaluation.")
            control.should_training_stop = True
            control.should_evaluate = args.eval_strategy != "no"
            control.should_save = args.save_strategy != "no"


__all__ = ["NonFiniteLossError", "StopOnNonFiniteLoss", "TimeBudget"]
