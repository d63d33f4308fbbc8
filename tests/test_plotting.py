"""Pictures: training curves from the log history, the attention heatmap of one history, the plot script."""

import json
import runpy
import sys
from pathlib import Path

import pytest

from modeling_attnrank.plotting import find_trainer_state, load_log_history, plot_attention_heatmap, plot_training_curves

from tiny_run import tiny_run


pytest.importorskip("matplotlib")
SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "plot.py"


def png_size(path):
    """(width, height) of a PNG file, from its header; fails on anything that is not a PNG."""
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_training_writes_the_curves_the_card_embeds():
    folder = tiny_run().folder
    width, height = png_size(folder / "training_curves.png")
    assert width > 500 and height > 200
    history = load_log_history(folder)  # trainer_state.json written at the end of training
    assert any("loss" in entry for entry in history) and any("eval_ndcg@10" in entry for entry in history)


def test_plot_script_draws_curves_and_heatmap(tmp_path, monkeypatch, capsys):
    folder = tiny_run().folder
    items = json.loads((folder / "items.json").read_text())
    monkeypatch.setattr(sys, "argv", ["plot.py", "--model_dir", str(folder), "--output_dir", str(tmp_path),
                                      "--history", *items[:6]])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(str(SCRIPT), run_name="__main__")
    assert exit_info.value.code == 0
    assert png_size(tmp_path / "training_curves.png")[0] > 500
    assert png_size(tmp_path / "attention_heatmap.png")[1] > 200
    assert "attention_heatmap.png" in capsys.readouterr().out


def test_log_history_from_the_newest_checkpoint(tmp_path):
    for step, loss in ((5, 2.0), (10, 1.5)):
        (tmp_path / f"checkpoint-{step}").mkdir()
        history = [{"step": s, "loss": 3.0 - 0.1 * s} for s in range(1, step + 1)]
        history.append({"step": step, "eval_ndcg@10": 0.1 + 0.01 * step})
        (tmp_path / f"checkpoint-{step}" / "trainer_state.json").write_text(json.dumps({"log_history": history}))
    assert find_trainer_state(tmp_path).endswith("checkpoint-10/trainer_state.json")
    assert len(load_log_history(tmp_path)) == 11
    assert png_size(plot_training_curves(tmp_path, tmp_path / "curves.png"))[0] > 500
    with pytest.raises(ValueError, match="logging_steps"):
        plot_training_curves([{"step": 1, "learning_rate": 0.1}], tmp_path / "empty.png")
    with pytest.raises(FileNotFoundError, match="trainer_state.json"):
        load_log_history(tmp_path / "checkpoint-5" / "missing")


def test_heatmap_of_an_explanation(tmp_path):
    explanation = {"history": ["a", "b", "c"], "rollout": [0.2, 0.3, 0.5],
                   "attentions": [[[0.1, 0.2, 0.7], [0.3, 0.3, 0.4]], [[0.5, 0.25, 0.25], [0.0, 0.0, 1.0]]]}
    assert png_size(plot_attention_heatmap(explanation, tmp_path / "heat.png"))[1] > 100
    with pytest.raises(ValueError, match="empty history"):
        plot_attention_heatmap({"history": [], "attentions": [], "rollout": []}, tmp_path / "none.png")


def test_missing_matplotlib_says_how_to_install(tmp_path, monkeypatch):
    for name in [name for name in sys.modules if name == "matplotlib" or name.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed
    with pytest.raises(ImportError, match=r"attnrank\[plot\]"):
        plot_training_curves([{"step": 1, "loss": 1.0}], tmp_path / "x.png")
