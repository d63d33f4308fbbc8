"""The main job end to end with tiny settings, and the saved folder's numbers recomputed independently."""

import json
from pathlib import Path

import pytest
import torch
from transformers import AutoModel, AutoTokenizer

from modeling_attnrank.collator import NextItemCollator
from modeling_attnrank.evaluation import evaluate_ranking, model_scorer
from modeling_attnrank.splits import encode_splits, leave_one_out_split
from modeling_attnrank.synthetic import generate_synthetic_sequences
from modeling_attnrank.arguments import parse_arguments
from modeling_attnrank.training import main

from conftest import tiny_model


TINY = ["--synthetic_users", "300", "--synthetic_items", "80", "--hidden_size", "16", "--intermediate_size", "32",
        "--max_seq_len", "20", "--per_device_train_batch_size", "64", "--seed", "1"]


def test_short_training_lowers_the_loss():
    data = generate_synthetic_sequences(num_users=200, num_items=80, seed=0)
    splits, _ = leave_one_out_split(data)
    from modeling_attnrank.splits import build_tokenizer

    tokenizer = build_tokenizer(splits["train"], 20)
    encoded, _ = encode_splits(splits, tokenizer, 20)
    model = tiny_model(num_items=tokenizer.num_items, max_seq_len=20).train()
    batch = NextItemCollator(20)([encoded["train"][i] for i in range(64)])
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        loss = model(**batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]


def test_config_file_and_overrides(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("hidden_size: 32\nnum_train_epochs: 3\nlearning_rate: 0.01\n")
    model_args, data_args, training_args = parse_arguments([str(config), "--learning_rate", "0.002",
                                                            "--output_dir", str(tmp_path / "o")])
    assert model_args.hidden_size == 32 and training_args.num_train_epochs == 3
    assert training_args.learning_rate == 0.002  # the command line wins
    assert training_args.metric_for_best_model == "ndcg@10" and training_args.load_best_model_at_end
    bad = tmp_path / "bad.yaml"
    bad.write_text("hiden_size: 32\n")
    with pytest.raises(ValueError, match="hiden_size"):
        parse_arguments([str(bad)])


def test_main_job_end_to_end(tmp_path, capsys):
    out = tmp_path / "run"
    test_metrics = main(TINY + ["--num_train_epochs", "2", "--output_dir", str(out)])
    printed = capsys.readouterr().out
    assert "most-popular" in printed and "full catalogue" in printed

    for name in ("model.safetensors", "config.json", "items.json", "tokenizer_config.json", "README.md",
                 "test_results.json", "train_results.json", "modeling_attnrank.py"):
        assert (out / name).exists(), name
    saved = json.loads((out / "test_results.json").read_text())
    assert saved["test_ndcg@10"] == pytest.approx(test_metrics["test_ndcg@10"])
    assert "full catalogue" in saved["test_protocol"] and "test_baseline_most_popular_ndcg@10" in saved
    assert "train_runtime" in json.loads((out / "train_results.json").read_text())

    # Independent recomputation from the saved folder: same data, same split, the saved tokenizer.
    model = AutoModel.from_pretrained(out).eval()
    tokenizer = AutoTokenizer.from_pretrained(out)
    data = generate_synthetic_sequences(num_users=300, num_items=80, seed=0)
    splits, _ = leave_one_out_split(data)
    encoded, _ = encode_splits(splits, tokenizer, model.config.max_seq_len)
    again = evaluate_ranking(model_scorer(model), encoded["test"], model.config.num_items, ks=(10,))
    assert again["ndcg@10"] == pytest.approx(saved["test_ndcg@10"], abs=1e-6)
    assert again["hr@10"] == pytest.approx(saved["test_hr@10"], abs=1e-6)

    from huggingface_hub import ModelCard

    card = ModelCard.load(out / "README.md")
    assert card.data.library_name == "transformers"
    assert "sequential-recommendation" in card.data.tags
    results = {r.metric_type: r.metric_value for r in card.data.eval_results}
    assert results["ndcg@10"] == pytest.approx(saved["test_ndcg@10"], abs=1e-6)


def test_time_budget_stops_training_after_a_last_evaluation(tmp_path):
    out = tmp_path / "budget"
    main(TINY + ["--num_train_epochs", "50", "--max_train_minutes", "0.0001", "--sampled_test", "false",
                 "--output_dir", str(out)])
    train_results = json.loads((out / "train_results.json").read_text())
    assert train_results["epoch"] < 1  # stopped within the first epoch, not after 50
    assert (out / "model.safetensors").exists() and (out / "test_results.json").exists()


def test_own_file_trains_and_a_malformed_line_names_file_line_and_value(tmp_path):
    from modeling_attnrank.data import DataFormatError

    good = tmp_path / "log.csv"
    rows = [f"u{u},i{(u * 7 + t) % 40},{1000 + t}" for u in range(60) for t in range(8)]
    good.write_text("user,item,timestamp\n" + "\n".join(rows) + "\n")
    result = main(["--data_file", str(good), "--data_format", "interactions", "--hidden_size", "16", "--intermediate_size", "32", "--max_seq_len", "10",
                   "--num_train_epochs", "1", "--sampled_test", "false", "--output_dir", str(tmp_path / "own")])
    assert result["test_num_users"] == 60

    bad = tmp_path / "bad.txt"
    bad.write_text("u1 i1 100\nu1 i2 200\nu1 i3 yesterday\n")
    with pytest.raises(DataFormatError) as error:
        main(["--data_file", str(bad), "--output_dir", str(tmp_path / "bad")])
    message = str(error.value)
    assert "bad.txt" in message and "line 3" in message and "yesterday" in message


@pytest.mark.parametrize("recipe", sorted((Path(__file__).parents[1] / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_recipes_parse_and_build_a_valid_config(recipe, tmp_path):
    from modeling_attnrank import AttnRankConfig

    model_args, data_args, training_args = parse_arguments([str(recipe), "--output_dir", str(tmp_path)])
    AttnRankConfig(num_items=10, **model_args.config_overrides())  # every model value passes validation
    assert data_args.data_file and training_args.metric_for_best_model == "ndcg@10"
