#!/usr/bin/env python
"""Train AttnRank.

    python scripts/train.py [configs/ml-1m.yaml] [--key value ...]
    accelerate launch scripts/train.py configs/ml-1m.yaml --output_dir runs/ml-1m

With no data option it trains on the built-in synthetic data. The config file sets defaults; command-line options
override them. See `python scripts/train.py --help` for every option (model, data and TrainingArguments).
"""

from modeling_attnrank.training import main


if __name__ == "__main__":
    main()
