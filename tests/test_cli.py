"""The `attnrank` command: recommend for 1,000 users from JSON lines, stdin, evaluate, push, and delegation."""

import io
import json
import random
import sys
from importlib.metadata import entry_points

import pytest

from modeling_attnrank import AttnRankForNextItemPrediction, AttnRankTokenizer
from modeling_attnrank.cli import main

from fake_hub import FakeHub
from tiny_run import tiny_run


def test_console_script_is_declared():
    scripts = {entry.name: entry.value for entry in entry_points(group="console_scripts")}
    assert scripts.get("attnrank") == "modeling_attnrank.cli:main"


def test_recommend_answers_1000_users_from_json_lines(tmp_path):
    folder = tiny_run().folder
    items = json.loads((folder / "items.json").read_text())
    generator = random.Random(0)
    users = []
    with open(tmp_path / "users.jsonl", "w") as handle:
        for number in range(1000):
            user = {"user_id": f"u{number}", "history": generator.sample(items, generator.randint(1, 30))}
            if number % 250 == 3:
                user["candidates"] = generator.sample(items, 4) + ["not-in-catalogue"]
            users.append(user)
            handle.write(json.dumps(user) + "\n")
            if number == 500:
                handle.write("\n")  # blank lines are skipped, line numbers still count them
    assert main(["recommend", "--model_dir", str(folder), "--input", str(tmp_path / "users.jsonl"), "--output",
                 str(tmp_path / "out.jsonl"), "--top_k", "5", "--batch_size", "128"]) == 0
    answers = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert len(answers) == 1000
    assert [a["user_id"] for a in answers] == [u["user_id"] for u in users]  # input order
    assert answers[501]["line"] == 503
    model = AttnRankForNextItemPrediction.from_pretrained(folder).eval()
    tokenizer = AttnRankTokenizer.from_pretrained(folder)
    for user, answer in zip(users, answers):
        recommended = [r["item_id"] for r in answer["recommendations"]]
        if "candidates" in user:
            assert sorted(recommended) == sorted(user["candidates"])
            assert answer["recommendations"][-1] == {"item_id": "not-in-catalogue", "score": None}
            continue
        assert len(recommended) == 5 and not set(recommended) & set(user["history"])
    for user, answer in list(zip(users, answers))[:: 97]:  # a sample recomputed with the model directly
        if "candidates" in user:
            continue
        top = model.recommend(**tokenizer([user["history"]], truncation=False, return_tensors="pt"), k=5)
        assert [r["item_id"] for r in answer["recommendations"]] == tokenizer.decode_items(top.item_ids[0])
        assert [r["score"] for r in answer["recommendations"]] == pytest.approx(top.scores[0].tolist(), abs=1e-5)


def test_recommend_reads_plain_lines_from_stdin(monkeypatch, capsys):
    folder = tiny_run().folder
    items = json.loads((folder / "items.json").read_text())
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{items[0]} {items[1]} {items[2]}\n{items[3]}\n"))
    assert main(["recommend", "--model_dir", str(folder), "--top_k", "3", "--explain"]) == 0
    printed = capsys.readouterr()
    answers = [json.loads(line) for line in printed.out.splitlines()]
    assert [a["line"] for a in answers] == [1, 2] and "user_id" not in answers[0]
    assert answers[0]["explanation"]["history"] == items[:3]
    assert len(answers[1]["recommendations"]) == 3
    assert "Answered 2 histories" in printed.err


def test_recommend_names_the_bad_line(tmp_path):
    folder = tiny_run().folder
    (tmp_path / "bad.jsonl").write_text('{"user_id": "a", "history": ["x"]}\n{"user_id": "b", "hist": []}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl, line 2: needs a \"history\""):
        main(["recommend", "--model_dir", str(folder), "--input", str(tmp_path / "bad.jsonl"), "--output",
              str(tmp_path / "out.jsonl")])


def test_evaluate_recomputes_the_test_results(tmp_path, capsys):
    run = tiny_run()
    output = tmp_path / "evaluation.json"
    main(["evaluate", "--model_dir", str(run.folder), "--synthetic_users", "300", "--synthetic_items", "80",
          "--protocols", "full", "--baselines", "most-popular", "--output_file", str(output)])
    result = json.loads(output.read_text())
    assert result["protocols"]["full"]["systems"]["AttnRank"]["ndcg@10"] == pytest.approx(
        run.test_metrics["test_ndcg@10"], abs=1e-6)
    assert "most-popular" in capsys.readouterr().out


def test_push_and_train_delegate(tmp_path, capsys, monkeypatch):
    folder = tiny_run().folder
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
    hub = FakeHub().start()
    try:
        main(["push", "--model_dir", str(folder), "--repo_id", "me/tiny", "--token", "hf_x", "--endpoint", hub.url])
    finally:
        hub.stop()
    printed = capsys.readouterr().out
    assert "model.safetensors" in printed and "revision=" in printed
    assert "pipeline_attnrank.py" in hub.files("me/tiny")
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--help"])
    assert exit_info.value.code == 0
    assert "--push_to_hub" in capsys.readouterr().out
    assert main([]) == 2 and main(["nonsense"]) == 2
