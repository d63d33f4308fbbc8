"""Data-parallel training with two real processes on the CPU (gloo), started as users start them:

    accelerate launch --config_file configs/accelerate/cpu-2proc.yaml scripts/train.py ...

and compared with one process at the same global batch (64 = 2 x 32), the same seed and data; plus a 2-process
run killed mid-epoch and resumed. Also gradient accumulation and bf16 autocast in one process. Tiny settings: 301
users (odd, so the two evaluation shards differ in size), 80 items, 5 optimizer steps per epoch.
"""

import json
import math
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from modeling_attnrank.arguments import parse_arguments
from modeling_attnrank.evaluation import evaluate_saved_model
from modeling_attnrank.training import run


REPO = Path(__file__).resolve().parents[1]
NUM_USERS, NUM_ITEMS = 301, 80
TINY = ["--synthetic_users", str(NUM_USERS), "--synthetic_items", str(NUM_ITEMS), "--hidden_size", "16",
        "--intermediate_size", "32", "--max_seq_len", "20", "--num_train_epochs", "4", "--learning_rate", "0.01",
        "--seed", "1", "--logging_steps", "1", "--sampled_test", "false", "--baselines", "most-popular"]
STEPS = 4 * math.ceil(NUM_USERS / 64)  # 4 epochs at a global batch of 64


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models train fastest on one thread; on a busy 2-core machine two threads wait on each other (10x slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# scripts/train.py, except that every process SIGKILLs itself at the end of step KILL_AT_STEP.
KILLING_TRAIN_SCRIPT = """
import os, signal, sys
from transformers import TrainerCallback
from modeling_attnrank.arguments import parse_arguments
from modeling_attnrank.training import run

class KillAtStep(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == int(os.environ["KILL_AT_STEP"]):
            os.kill(os.getpid(), signal.SIGKILL)

run(*parse_arguments(sys.argv[1:]), callbacks=[KillAtStep()])
"""


def launch(args, script=REPO / "scripts" / "train.py", env=None, expect_success=True, timeout=300):
    """`accelerate launch` with the repository's 2-process CPU config; the whole process group is killed on timeout
    (a distributed hang must fail the test, not the CI job)."""
    command = [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
               str(REPO / "configs" / "accelerate" / "cpu-2proc.yaml"), "--main_process_port", str(free_port()),
               str(script), *args]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True, env={**os.environ, **(env or {})})
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        pytest.fail(f"2-process run did not finish within {timeout}s:\n{output[-3000:]}")
    assert (process.returncode == 0) == expect_success, output[-5000:]
    return output


def results(folder, split):
    return json.loads((Path(folder) / f"{split}_results.json").read_text())


def log_history(folder):
    """Trainer's log of the whole run, from the last checkpoint (written by the main process)."""
    last = max(Path(folder).glob("checkpoint-*"), key=lambda path: int(path.name.split("-")[1]))
    return json.loads((last / "trainer_state.json").read_text())["log_history"]


def losses(folder):
    return [entry["loss"] for entry in log_history(folder) if "loss" in entry]


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory):
    out = tmp_path_factory.mktemp("two") / "run"
    output = launch(TINY + ["--per_device_train_batch_size", "32", "--output_dir", str(out)])
    return out, output


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    out = tmp_path_factory.mktemp("one") / "run"
    run(*parse_arguments(TINY + ["--per_device_train_batch_size", "64", "--output_dir", str(out)]))
    return out


def test_the_config_starts_two_gloo_processes_sharing_one_global_batch(two_processes):
    out, output = two_processes
    assert output.count("World size: 2 process(es); device: cpu") == 2  # logged by each rank
    # 2 x 32 rows per step: the same number of steps as one process at 64 (each process alone would take twice as many)
    assert len(losses(out)) == STEPS


def test_logged_loss_is_the_single_process_quantity(two_processes, one_process):
    two, one = losses(two_processes[0]), losses(one_process)
    # At initialisation the full-softmax loss is about log(num_items) whatever the batch: x2 would be obvious.
    assert two[0] == pytest.approx(math.log(NUM_ITEMS), abs=0.05)
    assert two[0] == pytest.approx(one[0], abs=0.02)
    assert results(two_processes[0], "train")["train_loss"] == pytest.approx(results(one_process, "train")["train_loss"],
                                                                            abs=0.05)


def test_distributed_evaluation_scores_every_user_once_and_matches_one_process(two_processes, one_process):
    out = two_processes[0]
    validation, test = results(out, "eval"), results(out, "test")
    assert validation["eval_num_users"] == NUM_USERS and test["test_num_users"] == NUM_USERS  # none twice, none lost
    # The same saved model scored by one process: identical numbers.
    data_args = parse_arguments(TINY + ["--output_dir", str(out)])[1]
    for split, prefix, distributed in (("validation", "eval_", validation), ("test", "test_", test)):
        single = evaluate_saved_model(str(out), data_args, split, protocols=("full",))["protocols"]["full"]["systems"]
        for name, value in single["AttnRank"].items():
            assert distributed[prefix + name] == pytest.approx(value, abs=1e-12), (split, name)
    # A scorer that does not depend on training (most-popular) gives the same numbers in both runs.
    baseline = "test_baseline_most_popular_ndcg@10"
    assert test[baseline] == pytest.approx(results(one_process, "test")[baseline], abs=1e-12)


def test_two_processes_reach_the_quality_of_one(two_processes, one_process):
    two, one = results(two_processes[0], "test"), results(one_process, "test")
    assert two["test_ndcg@10"] > 0.15 and one["test_ndcg@10"] > 0.15  # random ranking: about 0.06
    assert two["test_ndcg@10"] == pytest.approx(one["test_ndcg@10"], abs=0.05)
    assert two["test_hr@10"] == pytest.approx(one["test_hr@10"], abs=0.08)


def test_gradient_accumulation_keeps_the_loss_a_mean(one_process, tmp_path):
    out = tmp_path / "run"
    run(*parse_arguments(TINY + ["--per_device_train_batch_size", "32", "--gradient_accumulation_steps", "2",
                                 "--output_dir", str(out)]))
    accumulated, plain = losses(out), losses(one_process)
    assert len(accumulated) == len(plain) == STEPS  # one optimizer step per 2 x 32 rows, as per 64 rows
    assert accumulated[0] == pytest.approx(math.log(NUM_ITEMS), abs=0.05)  # not halved, not doubled
    assert results(out, "train")["train_loss"] == pytest.approx(results(one_process, "train")["train_loss"], abs=0.05)
    assert results(out, "test")["test_ndcg@10"] == pytest.approx(results(one_process, "test")["test_ndcg@10"], abs=0.05)


def test_bf16_autocast_on_cpu_trains(one_process, tmp_path, caplog):
    out = tmp_path / "run"
    with caplog.at_level("INFO"):
        run(*parse_arguments(TINY + ["--per_device_train_batch_size", "64", "--precision", "bf16",
                                     "--output_dir", str(out)]))
    assert "mixed precision bf16" in caplog.text
    assert all(math.isfinite(loss) for loss in losses(out))
    # Weights stay fp32 (autocast), evaluation runs in fp32: quality close to the fp32 run.
    assert results(out, "test")["test_ndcg@10"] == pytest.approx(results(one_process, "test")["test_ndcg@10"], abs=0.05)


def test_two_processes_killed_mid_epoch_resume_to_the_same_metrics(two_processes, tmp_path):
    out = tmp_path / "run"
    script = tmp_path / "train_and_die.py"
    script.write_text(KILLING_TRAIN_SCRIPT)
    args = TINY + ["--per_device_train_batch_size", "32", "--output_dir", str(out)]
    launch(args, script=script, env={"KILL_AT_STEP": "13"}, expect_success=False)  # mid-epoch 3
    assert sorted(path.name for path in out.glob("checkpoint-*")) == ["checkpoint-10", "checkpoint-5"]
    assert {path.name for path in (out / "checkpoint-10").glob("rng_state_*.pth")} == {"rng_state_0.pth",
                                                                                       "rng_state_1.pth"}
    output = launch(args + ["--resume_from_checkpoint", "latest"])
    assert output.count(f"Resuming from {out / 'checkpoint-10'}") == 2  # both processes
    resumed, reference = results(out, "test"), results(two_processes[0], "test")
    for name in ("test_ndcg@10", "test_hr@10", "test_mrr@10"):
        assert resumed[name] == pytest.approx(reference[name], abs=1e-9), name
