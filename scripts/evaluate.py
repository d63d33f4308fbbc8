#!/usr/bin/env python
"""Evaluate a trained AttnRank folder beside the baselines, under both protocols.

    python scripts/evaluate.py configs/ml-1m.yaml --model_dir runs/ml-1m [--split_name test] [--output_file m.json]

The data options (a training config file works as is) re-create the split the model was trained on; the saved
tokenizer maps items. Prints one table per protocol and writes them all as JSON.
"""

import json
from dataclasses import dataclass, field
from typing import Optional

from modeling_attnrank.arguments import DataArguments, parse_arguments
from modeling_attnrank.evaluation import PROTOCOLS, evaluate_saved_model, format_results_table


@dataclass
class EvaluateArguments:
    model_dir: str = field(metadata={"help": "Folder written by scripts/train.py (or any save_pretrained folder)."})
    split_name: str = field(default="test", metadata={"help": "test or validation."})
    protocols: list[str] = field(default_factory=lambda: list(PROTOCOLS), metadata={"help": "full and/or sampled."})
    output_file: Optional[str] = field(default=None, metadata={"help": "JSON output (default MODEL_DIR/evaluation.json)."})
    batch_size: int = field(default=256, metadata={"help": "Users scored at once."})
    seed: int = field(default=42, metadata={"help": "Seed of the sampled protocol's negatives."})


def main():
    evaluate_args, data_args = parse_arguments(
        dataclass_types=(EvaluateArguments, DataArguments), defaults={}, ignore_unknown_file_keys=True
    )
    result = evaluate_saved_model(evaluate_args.model_dir, data_args, evaluate_args.split_name,
                                  evaluate_args.protocols, evaluate_args.batch_size, seed=evaluate_args.seed)
    for protocol, section in result["protocols"].items():
        title = (f"\n{result['dataset']} {result['split']} ({result['num_users']} users, {result['num_items']} items)"
                 f" -- {section['description']}")
        print(format_results_table(title, section["systems"], data_args.eval_ks))
    output_file = evaluate_args.output_file or f"{evaluate_args.model_dir}/evaluation.json"
    with open(output_file, "w", encoding="utf-8") as handle:
        json.dump(result, handle, indent=2)
    print(f"\nWrote {output_file}")


if __name__ == "__main__":
    main()
