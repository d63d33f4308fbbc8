"""Share a trained AttnRank folder on the Hugging Face Hub.

`push_to_hub(folder, repo_id)` creates the repository if needed and uploads, in one commit through
`huggingface_hub.HfApi.upload_folder`, the files that training / `save_pretrained` wrote at the top of the folder:
`config.json` (with `auto_map` and `custom_pipelines`), the safetensors weights, the tokenizer (`items.json`,
`tokenizer_config.json`), the code files those name, the model card `README.md` and its picture, and the result
JSON files. What is not part of the model stays local: `checkpoint-*/` and every other sub-folder (optimizer states,
logs), `training_args.bin` (a pickle of local settings) and hidden files.

Before anything is sent, the folder is checked to load on the other side: weights present, and every module named by
`auto_map` / `custom_pipelines` present as a file (otherwise `trust_remote_code` loading fails for every user).

The tests (tests/test_hub.py) run the real `HfApi` client against a stand-in of the Hub's HTTP API on 127.0.0.1
(`endpoint=`); nothing here needs the internet until you point it at the Hub.
"""

import glob
import json
import logging
import os

from huggingface_hub import HfApi


logger = logging.getLogger(__name__)

LOCAL_ONLY_FILES = ("training_args.bin",)
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")


def _code_modules(config_values):
    """Module names (without `.py`) that `auto_map` and `custom_pipelines` of a config point to."""
    references = []
    for value in (config_values.get("auto_map") or {}).values():
        references.extend(value if isinstance(value, (list, tuple)) else [value])
    for task in (config_values.get("custom_pipelines") or {}).values():
        references.append(task.get("impl"))
    # "module.Class"; "repo--module.Class" is code that lives in another repository, not in this folder.
    return {reference.split(".")[0] for reference in references if reference and "--" not in reference}


def files_to_push(folder):
    """The top-level files of `folder` that make up the shareable model, sorted; raises if it would not load."""
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{folder} is not a folder: give the output_dir of a training run or a save_pretrained folder.")
    names = sorted(
        entry.name for entry in os.scandir(folder)
        if entry.is_file() and not entry.name.startswith(".") and entry.name not in LOCAL_ONLY_FILES
    )
    if "config.json" not in names:
        raise FileNotFoundError(f"{folder} has no config.json: save the model with `save_pretrained` first.")
    if not any(name in names for name in WEIGHT_FILES):
        raise FileNotFoundError(f"{folder} has no {' or '.join(WEIGHT_FILES)}: save the model with `save_pretrained`.")
    modules = set()
    for name in ("config.json", "tokenizer_config.json"):
        if name in names:
            with open(os.path.join(folder, name), encoding="utf-8") as handle:
                modules |= _code_modules(json.load(handle))
    missing = sorted(f"{module}.py" for module in modules if f"{module}.py" not in names)
    if missing:
        raise FileNotFoundError(
            f"{folder}: config.json / tokenizer_config.json name code files that are missing: {missing}. Without them "
            "`trust_remote_code` loading fails; save the folder again with the AttnRank package imported."
        )
    if "README.md" not in names:
        logger.warning(f"{folder} has no model card (README.md); the Hub page will be empty.")
    return names


def push_to_hub(folder, repo_id, *, token=None, private=None, revision=None, commit_message=None, create_pr=False,
                endpoint=None):
    """Upload the model files of `folder` (see `files_to_push`) to the model repository `repo_id`.

    Args:
        folder (`str`): output_dir of a training run, or any `save_pretrained` folder.
        repo_id (`str`): `"user/name"`, or `"name"` for the token owner's namespace.
        token (`str`, *optional*): a write token; defaults to the saved login / `HF_TOKEN`.
        private (`bool`, *optional*): visibility when the repository is created (an existing one is left as is).
        revision (`str`, *optional*): branch to commit to, created from the default branch if missing.
        commit_message (`str`, *optional*), create_pr (`bool`): as in `HfApi.upload_folder`.
        endpoint (`str`, *optional*): Hub URL; defaults to `HF_ENDPOINT` / huggingface.co.

    Returns:
        `huggingface_hub.CommitInfo` of the upload (`.commit_url`, `.oid`: the revision to pin).
    """
    names = files_to_push(folder)
    api = HfApi(endpoint=endpoint, token=token)
    repo_url = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
    repo_id = repo_url.repo_id or repo_id
    if revision not in (None, "main") and not create_pr:
        api.create_branch(repo_id, branch=revision, exist_ok=True)
    logger.info(f"Uploading {len(names)} files of {folder} to {repo_id}: {', '.join(names)}")
    return api.upload_folder(
        repo_id=repo_id,
        folder_path=folder,
        allow_patterns=[glob.escape(name) for name in names],  # exactly these top-level files
        revision=revision,
        commit_message=commit_message or f"Upload AttnRank model from {os.path.basename(os.path.abspath(folder))}",
        create_pr=create_pr,
    )


__all__ = ["files_to_push", "push_to_hub"]
