"""Training that survives faults: SIGKILL mid-epoch and resume, corrupted and truncated checkpoints, interrupted and
disk-full saves, NaN loss, a config that does not match its weights, pickled weights.

The killed runs are real processes killed with SIGKILL (by themselves, at a chosen step, so the test is
deterministic); the runs that resume and the reference runs run in the test process (cheaper: no second import of
torch). Tiny settings: 300 users, 80 items, 5 steps per epoch.
"""

import errno
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import TrainerCallback
from transformers.trainer_utils import get_last_checkpoint

from modeling_attnrank import AttnRankForNextItemPrediction
from modeling_attnrank.arguments import parse_arguments
from modeling_attnrank.callbacks import NonFiniteLossError
from modeling_attnrank.checkpointing import (
    CheckpointError,
    resolve_resume_checkpoint,
    validate_checkpoint,
)
from modeling_attnrank.training import run


REPO = Path(__file__).resolve().parents[1]
TINY = ["--synthetic_users", "300", "--synthetic_items", "80", "--hidden_size", "16", "--intermediate_size", "32",
        "--max_seq_len", "20", "--per_device_train_batch_size", "64", "--learning_rate", "0.005", "--seed", "3",
        "--logging_steps", "5", "--sampled_test", "false", "--baselines", "most-popular"]
EPOCHS = ["--num_train_epochs", "3"]  # 5 optimizer steps per epoch: checkpoints at steps 5, 10, 15
METRICS = ("test_ndcg@10", "test_hr@10", "test_mrr@10", "test_ndcg@20")

# Runs the training job in a fresh process, optionally SIGKILLing itself at the end of a chosen step (mid-epoch)
# or in the middle of writing a chosen checkpoint (after the weights, before the optimizer state).
WORKER = """
import os, signal, sys
import transformers
from transformers import TrainerCallback
from modeling_attnrank.arguments import parse_arguments
from modeling_attnrank.training import run

kill_at_step = int(os.environ.get("KILL_AT_STEP", "0"))
kill_while_saving_step = int(os.environ.get("KILL_WHILE_SAVING_STEP", "0"))

class KillAtStep(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == kill_at_step:
            os.kill(os.getpid(), signal.SIGKILL)

if kill_while_saving_step:
    save_optimizer = transformers.Trainer._save_optimizer_and_scheduler
    def killing_save(self, output_dir):
        if self.state.global_step == kill_while_saving_step:
            os.kill(os.getpid(), signal.SIGKILL)
        return save_optimizer(self, output_dir)
    transformers.Trainer._save_optimizer_and_scheduler = killing_save

run(*parse_arguments(sys.argv[1:]), callbacks=[KillAtStep()])
"""


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models train fastest on one thread; on a busy 2-core machine two threads wait on each other (10x slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def train_in_subprocess(args, env=None, timeout=240):
    """Run the job in its own process (own session, so a timeout kills all of it); returns (returncode, output)."""
    process = subprocess.Popen([sys.executable, "-c", WORKER, *args], cwd=REPO, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True,
                               env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})})
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        pytest.fail(f"training did not finish within {timeout}s:\n{output[-3000:]}")
    return process.returncode, output


def read_test_results(folder):
    return json.loads((Path(folder) / "test_results.json").read_text())


def train(out, *extra):
    return run(*parse_arguments(TINY + EPOCHS + ["--output_dir", str(out), *extra]))


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The reference: the same job, same seed, never interrupted."""
    out = tmp_path_factory.mktemp("uninterrupted") / "run"
    train(out)
    return out


@pytest.fixture(scope="module")
def killed(tmp_path_factory):
    """The same job SIGKILLed at step 12, in the middle of epoch 3 (checkpoints 5 and 10 written)."""
    out = tmp_path_factory.mktemp("killed") / "run"
    code, output = train_in_subprocess(TINY + EPOCHS + ["--output_dir", str(out)], env={"KILL_AT_STEP": "12"})
    assert code == -signal.SIGKILL, output[-3000:]
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-10", "checkpoint-5"]
    assert not (out / "test_results.json").exists()
    return out


def test_killed_run_resumes_to_the_same_metrics(killed, uninterrupted, tmp_path, caplog):
    out = tmp_path / "run"
    shutil.copytree(killed, out)
    with caplog.at_level(logging.INFO):
        train(out, "--resume_from_checkpoint", "latest")
    assert f"Resuming from {out / 'checkpoint-10'}" in caplog.text
    resumed, reference = read_test_results(out), read_test_results(uninterrupted)
    for name in METRICS:
        assert resumed[name] == pytest.approx(reference[name], abs=1e-9), name
    validate_checkpoint(out)  # the final folder is a complete model


def test_truncated_latest_checkpoint_falls_back_to_the_previous_one(killed, uninterrupted, tmp_path, caplog):
    out = tmp_path / "run"
    shutil.copytree(killed, out)
    weights = out / "checkpoint-10" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])  # truncated, as by a full disk
    with caplog.at_level(logging.INFO):
        train(out, "--resume_from_checkpoint", str(out / "checkpoint-10"))
    assert f"Cannot resume from {out / 'checkpoint-10'}" in caplog.text and str(weights) in caplog.text
    assert "truncated" in caplog.text
    assert f"Resuming from {out / 'checkpoint-5'} instead" in caplog.text
    resumed, reference = read_test_results(out), read_test_results(uninterrupted)
    for name in METRICS:  # redoing steps 6-10 from the good checkpoint gives the same run
        assert resumed[name] == pytest.approx(reference[name], abs=1e-9), name


def test_corrupted_checkpoint_is_detected_by_its_checksums(killed, tmp_path, caplog):
    out = tmp_path / "run"
    shutil.copytree(killed, out)
    optimizer = out / "checkpoint-10" / "optimizer.pt"
    data = bytearray(optimizer.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte, same size: only a checksum sees it
    optimizer.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="optimizer.pt: checksum differs"):
        validate_checkpoint(out / "checkpoint-10")
    with caplog.at_level("ERROR"):
        assert resolve_resume_checkpoint("latest", str(out)) == str(out / "checkpoint-5")
    assert "optimizer.pt" in caplog.text and "corrupted" in caplog.text

    for name in ("checkpoint-5", "checkpoint-10"):
        (out / name / "trainer_state.json").write_text("{")
    with pytest.raises(CheckpointError, match="No usable checkpoint"):
        resolve_resume_checkpoint("latest", str(out))
    assert resolve_resume_checkpoint("latest", str(tmp_path / "empty")) is None  # nothing yet: fresh start


def test_interrupted_save_leaves_no_checkpoint(tmp_path, caplog):
    out = tmp_path / "run"
    code, output = train_in_subprocess(TINY + EPOCHS + ["--output_dir", str(out)], env={"KILL_WHILE_SAVING_STEP": "10"})
    assert code == -signal.SIGKILL, output[-3000:]
    staged = out / ".tmp-checkpoint-10" / "checkpoint-10"
    assert (staged / "model.safetensors").exists()  # killed mid-save: weights written, optimizer state not
    with pytest.raises(CheckpointError, match="did not finish"):
        validate_checkpoint(staged)  # refused even if asked for by name (e.g. --model_name_or_path)
    assert not (out / "checkpoint-10").exists()  # ... and no folder of that name
    assert get_last_checkpoint(out) == str(out / "checkpoint-5")  # Trainer's own lookup is not fooled either
    assert not (out / "model.safetensors").exists()
    assert resolve_resume_checkpoint("latest", str(out)) == str(out / "checkpoint-5")

    with caplog.at_level(logging.INFO):  # the next run (here: nothing left to train) cleans up
        run(*parse_arguments(TINY + ["--num_train_epochs", "1", "--output_dir", str(out),
                                     "--resume_from_checkpoint", "latest"]))
    assert "interrupted save" in caplog.text and not (out / ".tmp-checkpoint-10").exists()


def _tiny_arguments(out, *extra):
    return parse_arguments(TINY + ["--num_train_epochs", "2", "--output_dir", str(out), *extra])


def test_disk_full_during_a_checkpoint_leaves_nothing_half_written(tmp_path, monkeypatch):
    import transformers.modeling_utils

    def full_disk(tensors, filename, metadata=None):
        with open(filename, "wb") as handle:
            handle.write(b"\0" * 100)
        raise OSError(errno.ENOSPC, "No space left on device", filename)

    monkeypatch.setattr(transformers.modeling_utils, "safe_save_file", full_disk)
    out = tmp_path / "run"
    with pytest.raises(OSError, match="No space left"):
        run(*_tiny_arguments(out))
    assert not list(out.glob("checkpoint-*")) and not list(out.glob(".tmp-*"))
    assert not (out / "model.safetensors").exists()


def test_disk_full_during_the_final_save_keeps_the_previous_model(tmp_path, monkeypatch):
    import transformers.modeling_utils

    from modeling_attnrank.training import AttnRankTrainer

    from conftest import tiny_model

    model = tiny_model()
    out = tmp_path / "model"
    trainer = AttnRankTrainer(model=model, args=_tiny_arguments(out, "--save_strategy", "no", "--eval_strategy", "no",
                                                                "--load_best_model_at_end", "false")[2])
    trainer.save_model()
    saved = AttnRankForNextItemPrediction.from_pretrained(out).state_dict()
    assert (out / "training_args.json").exists() and not (out / "training_args.bin").exists()  # no pickle

    def full_disk(tensors, filename, metadata=None):
        raise OSError(errno.ENOSPC, "No space left on device", filename)

    monkeypatch.setattr(transformers.modeling_utils, "safe_save_file", full_disk)
    with torch.no_grad():
        model.model.item_embeddings.weight.add_(1.0)
    with pytest.raises(OSError, match="No space left"):
        trainer.save_model()
    assert not list(out.glob(".tmp-*"))
    reloaded = AttnRankForNextItemPrediction.from_pretrained(out).state_dict()
    assert all(torch.equal(reloaded[name], saved[name]) for name in saved)  # the previous model, intact


class PoisonWeightsAfterStep(TrainerCallback):
    """Makes the next loss NaN, as a diverging run would."""

    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.global_step == self.step:
            with torch.no_grad():
                model.model.item_embeddings.weight[1:] = float("nan")


def test_nan_loss_stops_with_a_message_naming_the_step(tmp_path, caplog):
    out = tmp_path / "run"
    with pytest.raises(NonFiniteLossError, match=r"not finite \(NaN or inf\) at step 7 of 10"):
        run(*_tiny_arguments(out), callbacks=[PoisonWeightsAfterStep(6)])
    assert "at step 7" in caplog.text  # also in the log
    assert [p.name for p in out.glob("checkpoint-*")] == ["checkpoint-5"]  # no NaN checkpoint was written
    validate_checkpoint(out / "checkpoint-5", require_trainer_state=True)


def test_checkpoint_whose_config_does_not_match_its_weights_is_refused(uninterrupted, tmp_path):
    folder = tmp_path / "mismatch"
    shutil.copytree(uninterrupted / "checkpoint-15", folder)
    (folder / "manifest.json").unlink()  # an edited config would otherwise fail its checksum first
    config = json.loads((folder / "config.json").read_text())

    (folder / "config.json").write_text(json.dumps({**config, "num_items": 100}))
    with pytest.raises(CheckpointError) as error:
        validate_checkpoint(folder)
    message = str(error.value)
    assert "model.safetensors does not match" in message and "config.json" in message and "num_items=100" in message
    assert "`model.item_embeddings.weight` has shape (81, 16) but the config implies (101, 16)" in message

    (folder / "config.json").write_text(json.dumps({**config, "tie_item_embeddings": False}))
    with pytest.raises(CheckpointError, match=r"`output_embeddings.weight` \(81, 16\) is missing"):
        validate_checkpoint(folder)
    with pytest.raises(CheckpointError, match="does not match"):  # the job refuses it too, before loading anything
        run(*parse_arguments(TINY + ["--output_dir", str(tmp_path / "o"), "--model_name_or_path", str(folder)]))

    (folder / "config.json").write_text(json.dumps(config))
    validate_checkpoint(folder)
    (folder / "model.safetensors").unlink()
    torch.save({}, folder / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="pytorch_model.bin: weights stored as a pickle are refused"):
        validate_checkpoint(folder)
