"""Pictures of a trained model: its training curves, and which past behaviours a user's recommendations attend to.

- `plot_training_curves`: training loss and validation NDCG@10 against the optimisation step, from the Trainer's log
  history (`trainer_state.json` in the output folder or its newest `checkpoint-*`).
- `plot_attention_heatmap`: for one history, the attention of the most recent position over the history items in
  every layer and head, and their attention rollout (Abnar & Zuidema, ACL 2020), as returned by
  `pipeline(..., explain=True)` / `AttnRankForNextItemPrediction.explain`.

PNG files through matplotlib's Agg canvas, without pyplot: no display is needed and the caller's matplotlib backend is
left alone. matplotlib is optional (`pip install "attnrank[plot]"`) and imported only when drawing.
"""

import glob
import json
import os
import re


VALIDATION_METRIC = "eval_ndcg@10"


def _figure(width, height):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError('Drawing needs matplotlib: pip install "attnrank[plot]" (or pip install matplotlib).') from error
    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure, output_file):
    os.makedirs(os.path.dirname(os.path.abspath(output_file)), exist_ok=True)
    figure.savefig(output_file, format="png")
    return output_file


def find_trainer_state(folder):
    """`folder/trainer_state.json`, else that of the newest `folder/checkpoint-*`; None if there is none."""
    path = os.path.join(folder, "trainer_state.json")
    if os.path.isfile(path):
        return path
    checkpoints = glob.glob(os.path.join(folder, "checkpoint-*", "trainer_state.json"))
    step = lambda path: int(re.search(r"checkpoint-(\d+)", path).group(1))  # noqa: E731
    return max(checkpoints, key=step) if checkpoints else None


def load_log_history(source):
    """The Trainer's log history (a list of dicts) from a list, a trainer state dict, a `trainer_state.json` file or
    a training output folder."""
    if isinstance(source, list):
        return source
    if isinstance(source, dict):
        return source["log_history"]
    path = find_trainer_state(source) if os.path.isdir(source) else source
    if path is None or not os.path.isfile(path):
        raise FileNotFoundError(
            f"No trainer_state.json in {source} or its checkpoint-* folders: give the output_dir of a training run "
            "(it keeps the log history) or the path of a trainer_state.json."
        )
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)["log_history"]


def plot_training_curves(log_history, output_file, metric=VALIDATION_METRIC):
    """Two panels, training loss and validation `metric`, against the step; the best validation point is marked.

    Args:
        log_history: anything `load_log_history` reads.
        output_file (`str`): the PNG to write.
        metric (`str`): logged validation metric (default `eval_ndcg@10`, the checkpoint selection metric).

    Returns:
        `output_file`.
    """
    history = load_log_history(log_history)
    losses = [(entry["step"], entry["loss"]) for entry in history if "loss" in entry and "step" in entry]
    validation = [(entry["step"], entry[metric]) for entry in history if metric in entry and "step" in entry]
    if not losses and not validation:
        raise ValueError(
            f"The log history has neither 'loss' nor {metric!r} entries: train with --logging_steps N and "
            "--eval_strategy epoch (or steps)."
        )
    figure = _figure(10, 3.8)
    loss_axes, metric_axes = figure.subplots(1, 2)
    if losses:
        loss_axes.plot(*zip(*losses), marker="." if len(losses) < 50 else None, color="tab:blue")
    else:
        loss_axes.text(0.5, 0.5, "no training loss logged\n(--logging_steps)", ha="center", va="center",
                       transform=loss_axes.transAxes)
    loss_axes.set(title="Training loss", xlabel="step", ylabel="loss")
    label = metric.removeprefix("eval_").upper()
    if validation:
        metric_axes.plot(*zip(*validation), marker="o", color="tab:orange")
        best_step, best_value = max(validation, key=lambda point: point[1])
        metric_axes.scatter([best_step], [best_value], s=120, facecolors="none", edgecolors="black", zorder=3,
                            label=f"best {best_value:.4f} (step {best_step})")
        metric_axes.legend(loc="lower right")
    else:
        metric_axes.text(0.5, 0.5, f"no {metric} logged\n(--eval_strategy)", ha="center", va="center",
                         transform=metric_axes.transAxes)
    metric_axes.set(title=f"Validation {label}", xlabel="step", ylabel=label)
    for axes in (loss_axes, metric_axes):
        axes.grid(alpha=0.3)
    return _save(figure, output_file)


def plot_attention_heatmap(explanation, output_file, title=None, max_items=50):
    """Heatmap of one history's explanation: a row per layer and head and one for the rollout, a column per
    history item (raw IDs, oldest first; the most recent `max_items` when longer).

    Args:
        explanation (`dict`): `{"history": [ids], "attentions": [layer][head][position], "rollout": [position]}`,
            the `"explanation"` of `pipeline(..., explain=True)`.
        output_file (`str`): the PNG to write.
        title (`str`, *optional*): figure title, e.g. the recommended items.

    Returns:
        `output_file`.
    """
    import numpy as np

    history = list(explanation["history"])
    if not history:
        raise ValueError("The explanation has an empty history: nothing to draw.")
    rows, labels = [], []
    for layer, heads in enumerate(explanation["attentions"], start=1):
        for head, weights in enumerate(heads, start=1):
            rows.append(weights)
            labels.append(f"layer {layer} head {head}")
    rows.append(explanation["rollout"])
    labels.append("rollout (all)")
    weights = np.asarray(rows, dtype=float)[:, -max_items:]
    history = history[-max_items:]

    figure = _figure(max(6.0, 0.32 * len(history) + 3.0), 1.2 + 0.42 * len(labels))
    axes = figure.subplots()
    image = axes.imshow(weights, aspect="auto", cmap="viridis", vmin=0.0, vmax=max(float(weights.max()), 1e-9))
    axes.set_xticks(range(len(history)), labels=history, rotation=90, fontsize=8)
    axes.set_yticks(range(len(labels)), labels=labels, fontsize=8)
    axes.axhline(len(labels) - 1.5, color="white", linewidth=2)  # per-head rows above, the aggregate below
    if len(history) <= 20:  # few enough cells to print their values
        for row, column in np.ndindex(weights.shape):
            value = weights[row, column]
            axes.text(column, row, f"{value:.2f}", ha="center", va="center", fontsize=7,
                      color="black" if value > 0.6 * weights.max() else "white")
    axes.set_xlabel("history item, oldest to most recent")
    axes.set_title(title or "Attention of the most recent position over the history")
    figure.colorbar(image, ax=axes, label="attention weight")
    return _save(figure, output_file)


def plot_run(model_dir, output_dir=None, history=None, top_k=5):
    """The pictures of a trained folder: `training_curves.png` if its log history is there, and
    `attention_heatmap.png` for `history` (raw item IDs) if given. Returns the paths written."""
    output_dir = output_dir or model_dir
    written = []
    if find_trainer_state(model_dir) is not None:
        written.append(plot_training_curves(model_dir, os.path.join(output_dir, "training_curves.png")))
    if history:
        from transformers import pipeline

        from .pipeline_attnrank import PIPELINE_TASK, NextItemRecommendationPipeline

        pipe = pipeline(PIPELINE_TASK, model=model_dir, pipeline_class=NextItemRecommendationPipeline)
        result = pipe(list(history), top_k=top_k, explain=True)
        recommended = ", ".join(item["item_id"] for item in result["recommendations"])
        written.append(plot_attention_heatmap(result["explanation"], os.path.join(output_dir, "attention_heatmap.png"),
                                              title=f"Attention over the history; recommended: {recommended}"))
    return written


__all__ = ["find_trainer_state", "load_log_history", "plot_training_curves", "plot_attention_heatmap", "plot_run"]
