#!/usr/bin/env python
"""Upload a trained AttnRank folder to the Hugging Face Hub.

    python scripts/push_to_hub.py --model_dir runs/quickstart --repo_id me/attnrank-quickstart [--private]

Uploads, in one commit, what training / `save_pretrained` wrote at the top of the folder: config.json (with `auto_map`
and `custom_pipelines`), model.safetensors, the tokenizer, the code files, the model card README.md and its picture,
and the result files; `checkpoint-*` folders and `training_args.bin` stay local. Prints the commit to pin as
`revision`. Same as `attnrank push`; see `modeling_attnrank/hub.py`.
"""

import sys

from modeling_attnrank.cli import main


if __name__ == "__main__":
    sys.exit(main(["push", *sys.argv[1:]]))
