"""The `attnrank` command: every sub-command parses its arguments and calls the package.

    attnrank train [CONFIG.yaml] [--key value ...]          train, test, save (= scripts/train.py; --help lists all)
    attnrank evaluate [CONFIG.yaml] --model_dir DIR [...]   model vs baselines, both protocols (= scripts/evaluate.py)
    attnrank recommend --model_dir DIR [--input FILE] [--output FILE] [--top_k 10] [--explain]
    attnrank push --model_dir DIR --repo_id USER/NAME       upload the folder to the Hub (= scripts/push_to_hub.py)
    attnrank plot --model_dir DIR [--history ID ...]        training curves / attention heatmap PNGs (= scripts/plot.py)

`recommend` reads one history per line, from a file or stdin: JSON lines `{"user_id": "u1", "history": ["1193",
"661"]}` (optionally `"candidates": [...]` to re-rank those instead of the whole catalogue) or plain lines of
whitespace-separated item IDs, oldest first. It writes one JSON line per history, in input order: `{"line": 1,
"user_id": "u1", "recommendations": [{"item_id": "2355", "score": 7.1}, ...]}` (plus `"explanation"` with
`--explain`), scored in batches by the `next-item-recommendation` pipeline.
"""

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from typing import Optional

from .evaluation import PROTOCOLS


COMMANDS = ("train", "evaluate", "recommend", "push", "plot")


# ----- evaluate ------------------------------------------------------------------------------------------------------


@dataclass
class EvaluateArguments:
    model_dir: str = field(metadata={"help": "Folder written by `attnrank train` (or any save_pretrained folder)."})
    split_name: str = field(default="test", metadata={"help": "test or validation."})
    protocols: list[str] = field(default_factory=lambda: list(PROTOCOLS), metadata={"help": "full and/or sampled."})
    output_file: Optional[str] = field(default=None, metadata={"help": "JSON output (default MODEL_DIR/evaluation.json)."})
    batch_size: int = field(default=256, metadata={"help": "Users scored at once."})
    seed: int = field(default=42, metadata={"help": "Seed of the sampled protocol's negatives."})


def evaluate_main(argv=None):
    """Re-create the split from the data options (a training config file works as is), score the saved model and
    the baselines under each protocol, print the tables and write them as JSON."""
    from .arguments import DataArguments, parse_arguments
    from .evaluation import evaluate_saved_model, format_results_table

    evaluate_args, data_args = parse_arguments(argv, dataclass_types=(EvaluateArguments, DataArguments), defaults={},
                                               ignore_unknown_file_keys=True)
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
    return result


# ----- recommend -----------------------------------------------------------------------------------------------------


def read_histories(lines, source="<stdin>"):
    """Yield `{"line", "user_id"?, "history", "candidates"?}` for each non-blank line of JSON-lines or plain input."""
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text:
            continue
        if not text.startswith("{"):
            yield {"line": number, "history": text.split()}
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"{source}, line {number}: not valid JSON ({error.msg}); expected "
                             '{"user_id": ..., "history": [item IDs]} or item IDs separated by spaces.') from None
        history = record.get("history")
        if isinstance(history, str):
            history = history.split()
        if not isinstance(history, list):
            raise ValueError(f"{source}, line {number}: needs a \"history\" list of item IDs, got keys {sorted(record)}.")
        candidates = record.get("candidates")
        if candidates is not None and not isinstance(candidates, list):
            raise ValueError(f"{source}, line {number}: \"candidates\" must be a list of item IDs.")
        parsed = {"line": number, "history": history, "candidates": candidates}
        if "user_id" in record:
            parsed["user_id"] = record["user_id"]
        yield parsed


def _chunks(iterable, size):
    chunk = []
    for value in iterable:
        chunk.append(value)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def recommend_to_file(model_dir, input_handle, output_handle, top_k=10, batch_size=256, exclude_seen=True,
                      explain=False, device=None, source="<stdin>"):
    """Recommendations for every history of `input_handle` (see `read_histories`) as JSON lines on `output_handle`.
    Returns the number of histories answered."""
    from transformers import pipeline

    from .pipeline_attnrank import PIPELINE_TASK, NextItemRecommendationPipeline

    pipe = pipeline(PIPELINE_TASK, model=model_dir, pipeline_class=NextItemRecommendationPipeline, device=device)
    answered = 0
    # Read and answer a slice at a time: memory stays bounded for any number of users.
    for records in _chunks(read_histories(input_handle, source), 16 * batch_size):
        inputs = [{"history": record["history"], "candidates": record.get("candidates")} for record in records]
        results = pipe(inputs, top_k=top_k, exclude_seen=exclude_seen, explain=explain, batch_size=batch_size)
        for record, result in zip(records, results):
            answer = {"line": record["line"]}
            if "user_id" in record:
                answer["user_id"] = record["user_id"]
            answer.update(result if explain else {"recommendations": result})
            output_handle.write(json.dumps(answer, ensure_ascii=False) + "\n")
        answered += len(records)
    output_handle.flush()
    return answered


def recommend_main(argv=None):
    parser = argparse.ArgumentParser(prog="attnrank recommend", description=__doc__.split("\n\n")[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_dir", required=True, help="Trained folder (or any save_pretrained folder / Hub id).")
    parser.add_argument("--input", default="-", help="Histories, one per line: JSON lines or plain (default: stdin).")
    parser.add_argument("--output", default="-", help="JSON lines out (default: stdout).")
    parser.add_argument("--top_k", type=int, default=10, help="Items recommended per history (default 10).")
    parser.add_argument("--batch_size", type=int, default=256, help="Histories scored at once (default 256).")
    parser.add_argument("--include_seen", action="store_true", help="Allow items of the history to be recommended.")
    parser.add_argument("--explain", action="store_true", help="Add the attention over each history.")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ... (default: the first GPU, else CPU).")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    input_handle = sys.stdin if args.input == "-" else open(args.input, encoding="utf-8")
    output_handle = sys.stdout if args.output == "-" else open(args.output, "w", encoding="utf-8")
    try:
        answered = recommend_to_file(args.model_dir, input_handle, output_handle, top_k=args.top_k,
                                     batch_size=args.batch_size, exclude_seen=not args.include_seen,
                                     explain=args.explain, device=args.device,
                                     source="<stdin>" if args.input == "-" else args.input)
    finally:
        for handle, name in ((input_handle, args.input), (output_handle, args.output)):
            if name != "-":
                handle.close()
    print(f"Answered {answered} histories in {time.perf_counter() - start:.1f} s.", file=sys.stderr)
    return answered


# ----- push, plot ----------------------------------------------------------------------------------------------------


def push_main(argv=None):
    parser = argparse.ArgumentParser(
        prog="attnrank push",
        description="Upload a trained folder to the Hugging Face Hub: config, weights, tokenizer, code files, model "
                    "card and results (checkpoints and training_args.bin stay local).",
    )
    parser.add_argument("--model_dir", required=True, help="Output folder of a training run, or a save_pretrained folder.")
    parser.add_argument("--repo_id", required=True, help="user/name (or name, for the token's own namespace).")
    parser.add_argument("--token", default=None, help="Write token (default: saved login / HF_TOKEN).")
    parser.add_argument("--private", action="store_true", help="Create the repository private.")
    parser.add_argument("--revision", default=None, help="Branch to commit to (created if missing; default main).")
    parser.add_argument("--commit_message", default=None)
    parser.add_argument("--create_pr", action="store_true", help="Open a pull request instead of committing.")
    parser.add_argument("--endpoint", default=None, help="Hub URL (default: HF_ENDPOINT or huggingface.co).")
    args = parser.parse_args(argv)

    from .hub import files_to_push, push_to_hub

    names = files_to_push(args.model_dir)
    commit = push_to_hub(args.model_dir, args.repo_id, token=args.token, private=args.private or None,
                         revision=args.revision, commit_message=args.commit_message, create_pr=args.create_pr,
                         endpoint=args.endpoint)
    print(f"Uploaded {len(names)} files: {', '.join(names)}")
    print(f"Commit: {commit.commit_url}")
    if commit.pr_url:
        print(f"Pull request: {commit.pr_url}")
    print(f'Load it pinned: pipeline("next-item-recommendation", model="{args.repo_id}", trust_remote_code=True, '
          f'revision="{commit.oid}")')
    return commit


def plot_main(argv=None):
    parser = argparse.ArgumentParser(
        prog="attnrank plot",
        description="Draw training_curves.png (loss, validation NDCG@10) and, for --history, attention_heatmap.png.",
    )
    parser.add_argument("--model_dir", required=True, help="Output folder of a training run.")
    parser.add_argument("--output_dir", default=None, help="Where to write the PNG files (default: --model_dir).")
    parser.add_argument("--history", nargs="*", default=None, help="Raw item IDs of one history, oldest first.")
    parser.add_argument("--top_k", type=int, default=5, help="Recommendations named in the heatmap's title.")
    args = parser.parse_args(argv)

    from .plotting import plot_run

    written = plot_run(args.model_dir, args.output_dir, args.history, args.top_k)
    if not written:
        parser.error(f"nothing to draw: no trainer_state.json in {args.model_dir} (or its checkpoints) and no --history.")
    for path in written:
        print(f"Wrote {path}")
    return written


# ----- dispatch ------------------------------------------------------------------------------------------------------


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        print(__doc__.split("\n\n")[0].strip("\n") + "\n")
        print("\n".join(line for line in __doc__.splitlines() if line.startswith("    attnrank")))
        if argv and argv[0] not in ("-h", "--help"):
            print(f"\nattnrank: unknown command {argv[0]!r}; choose one of {', '.join(COMMANDS)}.", file=sys.stderr)
            return 2
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "train":
        from .training import main as train_main

        train_main(rest)
    elif command == "evaluate":
        evaluate_main(rest)
    elif command == "recommend":
        recommend_main(rest)
    elif command == "push":
        push_main(rest)
    else:
        plot_main(rest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
