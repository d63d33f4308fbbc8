"""One tiny training run per test process, pushed to a stand-in Hub on 127.0.0.1, shared by the pipeline, Hub, CLI
and plotting tests (about 10 s on 2 cores): `tiny_run()` trains on the first call and returns the same run after."""

import atexit
import functools
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from modeling_attnrank.training import main

from fake_hub import FakeHub


HUB_REPO_ID = "attnrank-test/tiny"
TINY_TRAINING = ["--synthetic_users", "300", "--synthetic_items", "80", "--hidden_size", "16",
                 "--intermediate_size", "32", "--max_seq_len", "20", "--per_device_train_batch_size", "64",
                 "--num_train_epochs", "2", "--logging_steps", "1", "--seed", "1"]


@dataclass
class TinyRun:
    folder: Path  # the training output_dir
    test_metrics: dict
    hub: FakeHub  # what the run pushed (`--push_to_hub --hub_model_id HUB_REPO_ID`)


@functools.lru_cache(maxsize=None)
def tiny_run():
    root = Path(tempfile.mkdtemp(prefix="attnrank-tiny-run-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    hub = FakeHub().start()
    try:
        with hub.as_default_endpoint():
            test_metrics = main(TINY_TRAINING + ["--output_dir", str(root / "run"), "--push_to_hub",
                                                 "--hub_model_id", HUB_REPO_ID, "--hub_token", "hf_test_token"])
    finally:
        hub.stop()
    return TinyRun(root / "run", test_metrics, hub)
