#!/usr/bin/env python
"""Draw the pictures of a trained AttnRank folder as PNG files (needs matplotlib: pip install "attnrank[plot]").

    python scripts/plot.py --model_dir runs/quickstart                          # training_curves.png
    python scripts/plot.py --model_dir runs/quickstart --history 1193 661 914   # + attention_heatmap.png

Training curves (loss, validation NDCG@10) come from the run's trainer_state.json (or its newest checkpoint's); the
heatmap shows, for the given history (raw item IDs, oldest first), the attention of the most recent position over
the history in every layer and head, and their rollout. `--output_dir` (default: the model folder) receives the
files. Same as `attnrank plot`; see `modeling_attnrank/plotting.py`.
"""

import sys

from modeling_attnrank.cli import main


if __name__ == "__main__":
    sys.exit(main(["plot", *sys.argv[1:]]))
