#!/usr/bin/env python
"""Evaluate a trained AttnRank folder beside the baselines, under both protocols.

    python scripts/evaluate.py configs/ml-1m.yaml --model_dir runs/ml-1m [--split_name test] [--output_file m.json]

The data options (a training config file works as is) re-create the split the model was trained on; the saved
tokenizer maps items. Prints one table per protocol and writes them all as JSON. Same as `attnrank evaluate`; see
`modeling_attnrank/evaluation.py` (`evaluate_saved_model`).
"""

import sys

from modeling_attnrank.cli import main


if __name__ == "__main__":
    sys.exit(main(["evaluate", *sys.argv[1:]]))
