"""The `next-item-recommendation` pipeline of AttnRank: histories of raw item IDs in, raw item IDs out.

    pipe = pipeline("next-item-recommendation", model="runs/quickstart", trust_remote_code=True)
    pipe(["1193", "661"], top_k=3)        # one history -> [{"item_id": "2355", "score": 7.1}, ...], best first
    pipe([["1193", "661"], ["914"]])      # a list of histories -> one such list per history (batched)
    pipe(histories, candidates=[["3408", "2355"], ["1"]])   # re-rank each history's own candidates
    pipe(["1193", "661"], explain=True)   # {"recommendations": [...], "explanation": {...}}

Whole catalogue (default): the `top_k` best items, items of the history excluded (`exclude_seen=True`), scores
from `AttnRankForNextItemPrediction.recommend`. Re-ranking (`candidates`): every given candidate comes back, known
ones ordered by the model's score (`rank_candidates`), then the candidates the model's vocabulary does not know, in
the given order, with `"score": None` -- reported, never dropped. `top_k` and `exclude_seen` apply to the catalogue
only. `explain=True` adds, per history, the attention of the most recent position over the history items (raw
IDs) for every layer and head, and its attention rollout over layers and heads (`explain`); each sums to 1 over the
history and holds for every item recommended from that history.

Histories are read from their most recent `max_seq_len` items, but every item of the history is excluded. Unknown
history items follow the tokenizer's `unknown_item_policy` (skipped, or an error).

This file imports only torch and transformers: it travels to the Hub as remote code. A saved folder declares it in
`config.json` under `custom_pipelines` (see `add_pipeline_to_folder`, or `pipe.save_pretrained`), which is what lets
`pipeline(task, model=folder_or_hub_id, trust_remote_code=True)` build it where the AttnRank package is not installed.
"""

import json
import os

import torch
from transformers import Pipeline
from transformers.dynamic_module_utils import custom_object_save
from transformers.utils import logging


logger = logging.get_logger(__name__)

PIPELINE_TASK = "next-item-recommendation"
DEFAULT_TOP_K = 10
DEFAULT_BATCH_SIZE = 64


def _is_item_id(value):
    return isinstance(value, (str, int)) and not isinstance(value, bool)


def _is_single_history(inputs):
    """A string, a dict input or a flat list of item IDs is one history; a list of those is a batch."""
    if isinstance(inputs, (str, dict)):
        return True
    if not isinstance(inputs, (list, tuple)) or len(inputs) == 0:
        return False
    scalars = [_is_item_id(value) for value in inputs]
    if all(scalars):
        return True
    if any(scalars):
        raise ValueError(
            "Give either one history (a list of item IDs) or a list of histories (a list of lists), not a mix: "
            f"got {inputs[:5]!r}..."
        )
    return False


class NextItemRecommendationPipeline(Pipeline):
    """Recommend from, re-rank for and explain histories of raw item IDs with an AttnRank model and its tokenizer.

    Call parameters (also accepted when the pipeline is built): `top_k` (`int`, defaults to 10) items from the whole
    catalogue; `exclude_seen` (`bool`, defaults to True) never recommends an item of the history; `explain` (`bool`,
    defaults to False) adds the attention explanation; `batch_size` (defaults to 64) histories scored at once.
    `candidates` (call only): one list of raw item IDs per history, to re-rank instead of the whole catalogue.
    Inputs may also be dicts `{"history": [...], "candidates": [...]}` (candidates optional), e.g. from a dataset;
    a model with time-interval features needs dicts with `"timestamps"`, one per history item.
    """

    _load_tokenizer = True
    _load_processor = False
    _load_image_processor = False
    _load_video_processor = False
    _load_feature_extractor = False

    def __init__(self, *args, **kwargs):
        # Scoring a batch of histories costs about as much as scoring one: batch unless told otherwise.
        kwargs.setdefault("batch_size", DEFAULT_BATCH_SIZE)
        super().__init__(*args, **kwargs)

    def _sanitize_parameters(self, top_k=None, exclude_seen=None, explain=None, candidates=None):
        if candidates is not None:
            raise ValueError("Pass `candidates` when calling the pipeline, one list per history, not when building it.")
        forward_params, postprocess_params = {}, {}
        if top_k is not None:
            if int(top_k) < 1:
                raise ValueError(f"`top_k` must be a positive number of items, got {top_k!r}.")
            forward_params["top_k"] = int(top_k)
        if exclude_seen is not None:
            forward_params["exclude_seen"] = bool(exclude_seen)
        if explain is not None:
            forward_params["explain"] = postprocess_params["explain"] = bool(explain)
        return {}, forward_params, postprocess_params

    def __call__(self, inputs, candidates=None, **kwargs):
        """
        Args:
            inputs: one history (a list of raw item IDs, oldest first, or a whitespace-separated string), a list of
                histories, dicts `{"history": [...], "candidates": [...]}`, or a dataset / generator of those.
            candidates (`list`, *optional*): the items to re-rank, one list of raw item IDs per history (a flat list
                for a single history).

        Returns:
            Per history, a list of `{"item_id": str, "score": float}` best first (one list for one history), or with
            `explain=True` a dict `{"recommendations": [...], "explanation": {"history": [...], "attentions":
            [[[...]]], "rollout": [...]}}`; `attentions` is indexed [layer][head][history position].
        """
        if not isinstance(inputs, (str, dict, list, tuple)):  # a dataset or a generator: streamed by Pipeline
            if candidates is not None:
                raise ValueError("With a dataset or generator, give each input as {'history': ..., 'candidates': ...}.")
            return super().__call__(inputs, **kwargs)
        single = _is_single_history(inputs)
        histories = [inputs] if single else list(inputs)
        if candidates is not None:
            candidates = list(candidates)
            if single and all(_is_item_id(value) for value in candidates):
                candidates = [candidates]
            if len(candidates) != len(histories):
                raise ValueError(
                    f"Got {len(histories)} histories but {len(candidates)} candidate lists: give one list per history."
                )
            histories = [{"history": history, "candidates": list(items)} for history, items in zip(histories, candidates)]
        if not histories:
            return []
        outputs = super().__call__(histories, **kwargs)
        return outputs[0] if single else outputs

    def preprocess(self, inputs):
        candidates = timestamps = None
        if isinstance(inputs, dict):
            if "history" not in inputs:
                raise ValueError(f"A dict input needs a 'history' key (and optionally 'candidates'); got {sorted(inputs)}.")
            history, candidates, timestamps = inputs["history"], inputs.get("candidates"), inputs.get("timestamps")
        else:
            history = inputs
        if isinstance(history, str):
            history = history.split()
        history = list(history)
        uses_time = bool(getattr(self.model.config, "time_interval_buckets", 0))
        if uses_time and (timestamps is None or len(timestamps) != len(history)):
            raise ValueError(
                "This model uses time-interval features: give each input as {'history': [...], 'timestamps': [...]} "
                f"with one timestamp per item (got {len(history)} items and "
                f"{'no' if timestamps is None else len(timestamps)} timestamps)."
            )
        # No truncation: the model reads the last max_seq_len items but excludes every item of the history.
        encoded = self.tokenizer([history], truncation=False, return_tensors="pt")
        input_ids, attention_mask = encoded["input_ids"], encoded["attention_mask"]
        if uses_time:  # the tokenizer skips unknown items: keep the timestamps of the known ones
            lookup = self.tokenizer.item_to_index
            timestamps = [int(t) for item, t in zip(history, timestamps) if str(item) in lookup]
        if input_ids.shape[1] == 0:
            logger.warning("A history has no item known to the model; its recommendations are not personalised.")
            input_ids = torch.zeros((1, 1), dtype=torch.long)
            attention_mask = torch.zeros((1, 1), dtype=torch.long)
            timestamps = [0]
        known, unknown = [], []
        for item in candidates or []:
            index = self.tokenizer.item_to_index.get(str(item))
            if index is None:
                unknown.append(str(item))
            else:
                known.append(index)
        model_inputs = {
            "input_ids": input_ids,  # (1, T)
            "attention_mask": attention_mask,  # (1, T)
            "candidate_ids": torch.tensor([known], dtype=torch.long).reshape(1, len(known)),  # (1, n)
            "has_candidates": torch.tensor([candidates is not None]),  # (1,)
            "unknown_candidates": unknown,
        }
        if uses_time:
            model_inputs["timestamps"] = torch.tensor([timestamps], dtype=torch.long)  # (1, T), padded like input_ids
        return model_inputs

    def _forward(self, model_inputs, top_k=DEFAULT_TOP_K, exclude_seen=True, explain=False):
        input_ids, attention_mask = model_inputs["input_ids"], model_inputs["attention_mask"]
        timestamps = model_inputs.get("timestamps")
        has_candidates = model_inputs["has_candidates"]
        batch_size = input_ids.shape[0]
        empty_ids = input_ids.new_zeros((batch_size, 0))
        empty_scores = torch.zeros((batch_size, 0), device=input_ids.device)
        # The first key carries the batch size, which Pipeline reads to split batched outputs per history.
        outputs = {"has_candidates": has_candidates}
        outputs["item_ids"], outputs["scores"] = empty_ids, empty_scores
        if not bool(has_candidates.all()):
            top = self.model.recommend(input_ids, attention_mask=attention_mask, k=top_k, exclude_seen=exclude_seen,
                                       timestamps=timestamps)
            outputs["item_ids"], outputs["scores"] = top.item_ids, top.scores
        outputs["candidate_ids"], outputs["candidate_scores"] = empty_ids, empty_scores
        if bool(has_candidates.any()):
            ranked = self.model.rank_candidates(input_ids, model_inputs["candidate_ids"], attention_mask=attention_mask,
                                                timestamps=timestamps)
            outputs["candidate_ids"], outputs["candidate_scores"] = ranked.item_ids, ranked.scores
        outputs["unknown_candidates"] = model_inputs["unknown_candidates"]
        if explain:
            explanation = self.model.explain(input_ids, attention_mask=attention_mask, timestamps=timestamps)
            window = explanation.rollout.shape[1]  # the last min(T, max_seq_len) positions
            outputs["explained_ids"] = input_ids[:, -window:].masked_fill(~attention_mask[:, -window:].bool(), 0)
            outputs["attention_weights"] = explanation.attentions  # (B, layers, heads, window)
            outputs["rollout"] = explanation.rollout  # (B, window)
        return outputs

    def postprocess(self, model_outputs, explain=False):
        index_to_item = self.tokenizer.index_to_item
        reranked = bool(model_outputs["has_candidates"][0])
        ids_key, scores_key = ("candidate_ids", "candidate_scores") if reranked else ("item_ids", "scores")
        recommendations = [
            {"item_id": index_to_item[index], "score": float(score)}
            for index, score in zip(model_outputs[ids_key][0].tolist(), model_outputs[scores_key][0].tolist())
            if index != 0  # "no candidate" padding, or fewer than top_k items left to recommend
        ]
        if reranked:
            recommendations += [{"item_id": item, "score": None} for item in model_outputs["unknown_candidates"]]
        if not explain:
            return recommendations
        explained_ids = model_outputs["explained_ids"][0]
        real = explained_ids != 0
        explanation = {
            "history": [index_to_item[index] for index in explained_ids[real].tolist()],
            "attentions": model_outputs["attention_weights"][0][..., real].tolist(),  # [layer][head][position]
            "rollout": model_outputs["rollout"][0][real].tolist(),
        }
        return {"recommendations": recommendations, "explanation": explanation}


def custom_pipelines_entry():
    """The `custom_pipelines` value of config.json, as `Pipeline.save_pretrained` writes it for this pipeline."""
    module = NextItemRecommendationPipeline.__module__.split(".")[-1]
    return {PIPELINE_TASK: {"impl": f"{module}.{NextItemRecommendationPipeline.__name__}", "pt": ["AutoModel"]}}


def add_pipeline_to_folder(save_directory, config=None):
    """Make a `save_pretrained` folder load with `pipeline("next-item-recommendation", model=folder,
    trust_remote_code=True)`: declare the pipeline in its `config.json` and copy this file beside the model's code.

    `pipe.save_pretrained(folder)` does the same for a folder written through the pipeline; this is for folders
    written by `model.save_pretrained` / `Trainer.save_model`. `config`, if given, is updated too, so later saves keep
    the declaration. Returns the paths written.
    """
    entry = custom_pipelines_entry()
    config_file = os.path.join(save_directory, "config.json")
    if not os.path.isfile(config_file):
        raise FileNotFoundError(f"{config_file} not found: save the model with `save_pretrained` first.")
    with open(config_file, encoding="utf-8") as handle:
        values = json.load(handle)
    values["custom_pipelines"] = {**values.get("custom_pipelines", {}), **entry}
    with open(config_file, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(values, indent=2, sort_keys=True) + "\n")
    if config is not None:
        config.custom_pipelines = {**(getattr(config, "custom_pipelines", None) or {}), **entry}
    return [config_file] + [str(path) for path in custom_object_save(NextItemRecommendationPipeline, save_directory)]


__all__ = ["PIPELINE_TASK", "NextItemRecommendationPipeline", "add_pipeline_to_folder", "custom_pipelines_entry"]
