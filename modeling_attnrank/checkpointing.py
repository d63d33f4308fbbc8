"""Checkpoints that survive faults: atomic writes, validation before use, resume from the newest good checkpoint.

`Trainer` writes `checkpoint-<step>/` file by file (weights, config, tokenizer, optimizer, scheduler, RNG states,
trainer state). A process killed, or a disk filling up, part-way through leaves a folder that looks like a
checkpoint and may even load as a model. Here:

- **Atomic writes.** A checkpoint is written into a hidden staging folder `.tmp-checkpoint-<step>/` and renamed to
  `checkpoint-<step>/` only once every process has written its part and a `manifest.json` (size and SHA-256 of
  every file) has been added. A rename within one filesystem is atomic, so a folder named `checkpoint-<step>` is
  always complete; `Trainer`'s own `get_last_checkpoint` and checkpoint rotation never look at `.tmp-*` folders, and
  they are deleted (with a warning) when the next run starts. The final model folder is published file by file
  with the weights removed first and moved in last, so at every moment it either loads the complete new model or
  has no weights at all.
- **Validation.** `validate_checkpoint` checks that `config.json` parses, that the weights are safetensors (never
  a pickle), readable and not truncated, that their names and shapes are exactly those the config implies (a
  config that does not match its weights is refused; `from_pretrained` would re-initialise missing weights with a
  warning only), and, when a manifest is present, every file's size and checksum. Errors name the file and the
  mismatch.
- **Resume.** `resolve_resume_checkpoint` turns `--resume_from_checkpoint latest|PATH` into a validated checkpoint:
  an invalid one is reported with a logged error and the previous good checkpoint of the same run is used.

Multi-node runs must write `output_dir` to a filesystem shared by all machines (as `Trainer` itself assumes for
resuming: every process writes its RNG state into the checkpoint).

Pickles: `Trainer` writes `training_args.bin` (a pickled `TrainingArguments`); we replace it with
`training_args.json` and never unpickle anything a user hands us. Optimizer, scheduler and RNG states are written
by `Trainer` with `torch.save` and read back on resume with `torch.load(weights_only=True)` (tensors and plain
containers only), from checkpoints this run wrote, after their checksums matched.
"""

import hashlib
import json
import logging
import os
import re
import shutil

import torch
from safetensors import SafetensorError, safe_open


logger = logging.getLogger(__name__)

CHECKPOINT_PATTERN = re.compile(r"^checkpoint-(\d+)$")  # the names Trainer writes and `get_last_checkpoint` reads
STAGING_PREFIX = ".tmp-"
MANIFEST_NAME = "manifest.json"
CONFIG_NAME = "config.json"
SAFE_WEIGHTS_NAME = "model.safetensors"
SAFE_WEIGHTS_INDEX_NAME = "model.safetensors.index.json"
PICKLED_WEIGHTS_NAMES = ("pytorch_model.bin", "pytorch_model.bin.index.json", "model.ckpt", "tf_model.h5")
TRAINER_STATE_NAME = "trainer_state.json"
TRAINING_ARGS_PICKLE_NAME = "training_args.bin"
TRAINING_ARGS_JSON_NAME = "training_args.json"
LATEST = ("latest", "last", "true")


class CheckpointError(ValueError):
    """A checkpoint or model folder that must not be used; the message names the file and the problem."""


# ---- writing ----------------------------------------------------------------------------------------------------


def staging_path(parent, name):
    """Hidden folder in `parent` where `name` is assembled before it is renamed into place."""
    return os.path.join(parent, f"{STAGING_PREFIX}{name}")


def remove_interrupted_saves(output_dir):
    """Delete the `.tmp-*` staging folders an interrupted save left in `output_dir`; returns their names."""
    removed = []
    if not os.path.isdir(output_dir):
        return removed
    for name in sorted(os.listdir(output_dir)):
        path = os.path.join(output_dir, name)
        if name.startswith(STAGING_PREFIX) and os.path.isdir(path):
            logger.warning(f"Removing {path}: an interrupted save (process killed or disk full); it was never used.")
            shutil.rmtree(path, ignore_errors=True)
            removed.append(name)
    return removed


def _fsync(path):
    """Flush a file, or a folder's entries, to disk (a rename is durable only once its folder is synced)."""
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:  # some filesystems do not fsync folders
        pass
    finally:
        os.close(descriptor)


def _sha256(path, block_size=1 << 20):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(block_size), b""):
            digest.update(block)
    return digest.hexdigest()


def _files(folder):
    """Relative paths of every file under `folder`, sorted."""
    found = []
    for root, _, names in os.walk(folder):
        for name in names:
            found.append(os.path.relpath(os.path.join(root, name), folder))
    return sorted(found)


def write_manifest(folder):
    """Write `manifest.json`: size and SHA-256 of every file of `folder` (each file flushed to disk first)."""
    files = {}
    for relative in _files(folder):
        if relative == MANIFEST_NAME:
            continue
        path = os.path.join(folder, relative)
        _fsync(path)
        files[relative] = {"size": os.path.getsize(path), "sha256": _sha256(path)}
    manifest_path = os.path.join(folder, MANIFEST_NAME)
    with open(manifest_path, "w", encoding="utf-8") as handle:
        json.dump({"format": 1, "files": files}, handle, indent=1, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    return manifest_path


def replace_pickled_training_args(folder, training_args):
    """`Trainer` saves `training_args.bin` (a pickle); keep a readable, safe `training_args.json` instead."""
    pickle_path = os.path.join(folder, TRAINING_ARGS_PICKLE_NAME)
    if os.path.exists(pickle_path):
        os.remove(pickle_path)
    with open(os.path.join(folder, TRAINING_ARGS_JSON_NAME), "w", encoding="utf-8") as handle:
        handle.write(training_args.to_json_string())


def publish_checkpoint(staging_folder, final_folder):
    """Rename a complete staging folder to its final name (atomic on one filesystem).

    A folder already at `final_folder` (a resumed run saving the same step again) is moved aside first and deleted
    after: between the two renames the name is briefly absent, never partial.
    """
    write_manifest(staging_folder)
    _fsync(staging_folder)
    old = None
    if os.path.exists(final_folder):
        old = staging_path(os.path.dirname(final_folder), os.path.basename(final_folder) + ".old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final_folder, old)
    os.replace(staging_folder, final_folder)
    _fsync(os.path.dirname(final_folder) or ".")
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def publish_model_folder(staging_folder, output_dir):
    """Move the files of a complete `save_pretrained` staging folder into `output_dir`, which may hold other things
    (checkpoints, results) and so cannot be renamed as a whole.

    Order makes it safe: the old weights are removed first and the new weights moved in last, so an interruption
    leaves either a folder without weights (which does not load) or the complete new model.
    """
    weight_files = [name for name in os.listdir(staging_folder)
                    if name.startswith("model") and (name.endswith(".safetensors") or name == SAFE_WEIGHTS_INDEX_NAME)]
    for name in os.listdir(output_dir):
        if name.startswith("model") and (name.endswith(".safetensors") or name == SAFE_WEIGHTS_INDEX_NAME):
            os.remove(os.path.join(output_dir, name))
    _fsync(output_dir)
    for name in sorted(os.listdir(staging_folder)):
        if name in weight_files:
            continue
        target = os.path.join(output_dir, name)
        if os.path.isdir(target):
            shutil.rmtree(target)
        os.replace(os.path.join(staging_folder, name), target)
    _fsync(output_dir)
    # The index (if sharded) last of all: it names the shards, which must all be there when it appears.
    for name in sorted(weight_files, key=lambda name: name == SAFE_WEIGHTS_INDEX_NAME):
        source = os.path.join(staging_folder, name)
        _fsync(source)
        os.replace(source, os.path.join(output_dir, name))
    _fsync(output_dir)
    shutil.rmtree(staging_folder, ignore_errors=True)


# ---- validation -------------------------------------------------------------------------------------------------


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{path}: not valid JSON ({error}); the file is truncated or corrupted.") from None


def _check_manifest(folder):
    manifest_path = os.path.join(folder, MANIFEST_NAME)
    if not os.path.exists(manifest_path):
        return False
    manifest = _read_json(manifest_path)
    for relative, expected in sorted(manifest.get("files", {}).items()):
        path = os.path.join(folder, relative)
        if not os.path.exists(path):
            raise CheckpointError(f"{path}: missing (listed in {manifest_path}).")
        size = os.path.getsize(path)
        if size != expected["size"]:
            raise CheckpointError(
                f"{path}: {size} bytes, but {expected['size']} were written (see {manifest_path}); the file is "
                "truncated or was changed after the save."
            )
        if _sha256(path) != expected["sha256"]:
            raise CheckpointError(
                f"{path}: checksum differs from the one recorded at save time ({manifest_path}); the file is corrupted."
            )
    return True


def _weight_shapes(folder):
    """{name: shape} of the safetensors weights of `folder` (single file or sharded with an index)."""
    index_path = os.path.join(folder, SAFE_WEIGHTS_INDEX_NAME)
    if os.path.exists(index_path):
        shard_names = sorted(set(_read_json(index_path).get("weight_map", {}).values()))
    elif os.path.exists(os.path.join(folder, SAFE_WEIGHTS_NAME)):
        shard_names = [SAFE_WEIGHTS_NAME]
    else:
        pickled = [name for name in PICKLED_WEIGHTS_NAMES if os.path.exists(os.path.join(folder, name))]
        if pickled:
            raise CheckpointError(
                f"{os.path.join(folder, pickled[0])}: weights stored as a pickle are refused (loading a pickle can run "
                "arbitrary code); AttnRank reads safetensors only. Convert trusted weights with `save_pretrained`."
            )
        raise CheckpointError(f"{os.path.join(folder, SAFE_WEIGHTS_NAME)}: missing; {folder} holds no model weights.")
    shapes = {}
    for shard_name in shard_names:
        path = os.path.join(folder, shard_name)
        if not os.path.exists(path):
            raise CheckpointError(f"{path}: missing.")
        try:
            with safe_open(path, framework="pt") as handle:
                for name in handle.keys():
                    shapes[name] = tuple(handle.get_slice(name).get_shape())
        except (SafetensorError, OSError) as error:
            raise CheckpointError(f"{path}: unreadable safetensors file ({error}); it is truncated or corrupted.") from None
    return shapes


def expected_weight_shapes(config):
    """{name: shape} of the weights an AttnRank model built from `config` saves (built on the meta device: no memory)."""
    from .modeling_attnrank import AttnRankForNextItemPrediction

    with torch.device("meta"):
        model = AttnRankForNextItemPrediction(config)
    return {name: tuple(tensor.shape) for name, tensor in model.state_dict().items()}


def check_config_matches_weights(folder, config_dict=None, weight_shapes=None):
    """Refuse a folder whose `config.json` does not describe its weights: every weight the config implies is present
    with the implied shape, and nothing else is."""
    from .configuration_attnrank import AttnRankConfig

    config_path = os.path.join(folder, CONFIG_NAME)
    config_dict = _read_json(config_path) if config_dict is None else config_dict
    weights_path = os.path.join(folder, SAFE_WEIGHTS_NAME)
    weight_shapes = _weight_shapes(folder) if weight_shapes is None else weight_shapes
    if config_dict.get("model_type") != AttnRankConfig.model_type:
        raise CheckpointError(
            f"{config_path}: model_type is {config_dict.get('model_type')!r}, not {AttnRankConfig.model_type!r}."
        )
    try:
        config = AttnRankConfig.from_dict({key: value for key, value in config_dict.items() if key != "auto_map"})
    except (ValueError, TypeError) as error:
        raise CheckpointError(f"{config_path}: invalid configuration ({error}).") from None
    expected = expected_weight_shapes(config)
    problems = []
    for name in sorted(expected):
        if name not in weight_shapes:
            problems.append(f"`{name}` {expected[name]} is missing")
        elif weight_shapes[name] != expected[name]:
            problems.append(f"`{name}` has shape {weight_shapes[name]} but the config implies {expected[name]}")
    problems += [f"`{name}` {weight_shapes[name]} is not part of this config's model"
                 for name in sorted(set(weight_shapes) - set(expected))]
    if problems:
        summary = ", ".join(f"{key}={getattr(config, key)}" for key in
                            ("num_items", "hidden_size", "num_hidden_layers", "intermediate_size", "max_seq_len",
                             "tie_item_embeddings", "position_embedding_type"))
        raise CheckpointError(
            f"{weights_path} does not match {config_path} ({summary}): " + "; ".join(problems[:5])
            + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
            + ". Refusing to load it: the config and weights come from different models."
        )


def validate_checkpoint(folder, require_trainer_state=False):
    """Raise `CheckpointError` (naming the file and the problem) unless `folder` is a complete, intact AttnRank model
    folder: manifest checksums (when present), safetensors weights readable, config matching the weights, and, for
    resuming, a readable `trainer_state.json`."""
    if not os.path.isdir(folder):
        raise CheckpointError(f"{folder}: no such folder.")
    if any(part.startswith(STAGING_PREFIX) for part in os.path.normpath(os.path.abspath(folder)).split(os.sep)):
        raise CheckpointError(f"{folder}: a staging folder of a save that did not finish (process killed or disk full);"
                              " it is deleted when the next run starts. Use a checkpoint-<step> folder.")
    _check_manifest(folder)
    config_dict = _read_json(os.path.join(folder, CONFIG_NAME))
    check_config_matches_weights(folder, config_dict, _weight_shapes(folder))
    if require_trainer_state:
        state = _read_json(os.path.join(folder, TRAINER_STATE_NAME))
        if "global_step" not in state:
            raise CheckpointError(f"{os.path.join(folder, TRAINER_STATE_NAME)}: no `global_step`; not a Trainer state.")


# ---- resuming ---------------------------------------------------------------------------------------------------


def list_checkpoints(folder):
    """`checkpoint-<step>` folders of `folder`, newest (highest step) first."""
    if not os.path.isdir(folder):
        return []
    found = [(int(match.group(1)), os.path.join(folder, name)) for name in os.listdir(folder)
             if (match := CHECKPOINT_PATTERN.match(name)) and os.path.isdir(os.path.join(folder, name))]
    return [path for _, path in sorted(found, reverse=True)]


def _step(path):
    match = CHECKPOINT_PATTERN.match(os.path.basename(os.path.normpath(path)))
    return int(match.group(1)) if match else None


def resolve_resume_checkpoint(requested, output_dir):
    """The checkpoint to resume from, validated.

    `requested`: None (start fresh), `"latest"` (the newest good checkpoint in `output_dir`; none at all means a
    fresh start, so a restart loop can always pass it), or a checkpoint folder. A checkpoint that fails validation
    is reported with a logged error and the previous (lower-step) good checkpoint of the same folder is used;
    `CheckpointError` when there is none.
    """
    if requested is None or requested is False or (isinstance(requested, str) and not requested.strip()):
        return None
    if requested is True or str(requested).lower() in LATEST:
        candidates = list_checkpoints(output_dir)
        if not candidates:
            logger.info(f"--resume_from_checkpoint {requested}: no checkpoint in {output_dir} yet; starting fresh.")
            return None
        what = f"the newest checkpoint in {output_dir}"
    else:
        requested = os.path.normpath(str(requested))
        step = _step(requested)
        older = [path for path in list_checkpoints(os.path.dirname(requested))
                 if step is not None and _step(path) < step]
        candidates = [requested] + older
        what = requested
    errors = []
    for candidate in candidates:
        try:
            validate_checkpoint(candidate, require_trainer_state=True)
        except CheckpointError as error:
            logger.error(f"Cannot resume from {candidate}: {error}")
            errors.append(str(error))
            continue
        if errors:
            logger.error(f"Resuming from {candidate} instead, the previous good checkpoint; later progress is redone.")
        else:
            logger.info(f"Resuming from {candidate}.")
        return candidate
    raise CheckpointError(f"No usable checkpoint to resume from ({what}): " + " | ".join(errors))


__all__ = ["CheckpointError", "validate_checkpoint", "check_config_matches_weights", "expected_weight_shapes",
           "resolve_resume_checkpoint", "list_checkpoints", "remove_interrupted_saves", "publish_checkpoint",
           "publish_model_folder", "write_manifest", "replace_pickled_training_args", "staging_path"]
