"""Item tokenizer of AttnRank: raw item IDs (strings, exactly as in the user's data) <-> model indices.

Index 0 is padding (`[PAD]`); items take indices 1..num_items in the order of the vocabulary file `items.json`,
which is built from training data only. Histories are left-padded and, when too long, truncated on the left, so
the most recent behaviours are always kept.

Unknown items (not in the vocabulary): `convert_tokens_to_ids` maps them to 0, the padding index, which the model
ignores. Calling the tokenizer on histories applies `unknown_item_policy`: `"skip"` (default) drops them and logs
how many were dropped; `"error"` raises a `KeyError` naming the first unknown ID.

This file imports only transformers and the standard library: it travels to the Hub as remote code.
"""

import json
import os
from transformers import BatchEncoding, PreTrainedTokenizer
from transformers.utils import logging


logger = logging.get_logger(__name__)

VOCAB_FILES_NAMES = {"vocab_file": "items.json"}
PAD_TOKEN = "[PAD]"
UNKNOWN_ITEM_POLICIES = ("skip", "error")


class AttnRankTokenizer(PreTrainedTokenizer):
    """
    Args:
        vocab_file (`str`, *optional*):
            JSON list of raw item IDs; the item at list position i gets index i + 1.
        items (`list[str]`, *optional*):
            The raw item IDs directly, instead of `vocab_file`.
        unknown_item_policy (`str`, *optional*, defaults to `"skip"`):
            What calling the tokenizer does with an item not in the vocabulary: `"skip"` or `"error"`.
        model_max_length (`int`, *optional*, defaults to 200):
            Histories are truncated to their last `model_max_length` items (set it to the model's `max_seq_len`).
    """

    vocab_files_names = VOCAB_FILES_NAMES
    model_input_names = ["input_ids", "attention_mask"]

    def __init__(self, vocab_file=None, items=None, unknown_item_policy="skip", model_max_length=200, **kwargs):
        if (vocab_file is None) == (items is None):
            raise ValueError("Give exactly one of `vocab_file` (a JSON list of item IDs) or `items`.")
        if vocab_file is not None:
            with open(vocab_file, encoding="utf-8") as handle:
                items = json.load(handle)
        items = [str(item) for item in items]
        if unknown_item_policy not in UNKNOWN_ITEM_POLICIES:
            raise ValueError(f"`unknown_item_policy` must be one of {UNKNOWN_ITEM_POLICIES}, got {unknown_item_policy!r}.")
        self.item_to_index = {item: index for index, item in enumerate(items, start=1)}
        if len(self.item_to_index) != len(items):
            raise ValueError("The item vocabulary has duplicate IDs.")
        if PAD_TOKEN in self.item_to_index:
            raise ValueError(f"{PAD_TOKEN!r} is reserved for padding and cannot be an item ID.")
        self.index_to_item = [PAD_TOKEN] + items
        self.unknown_item_policy = unknown_item_policy
        kwargs.setdefault("padding_side", "left")
        kwargs.setdefault("truncation_side", "left")
        kwargs["pad_token"] = kwargs["unk_token"] = PAD_TOKEN
        super().__init__(unknown_item_policy=unknown_item_policy, model_max_length=model_max_length, **kwargs)

    # ----- vocabulary -----
    @property
    def vocab_size(self):
        return len(self.index_to_item)

    @property
    def num_items(self):
        """Catalogue size, padding not included (the model's `config.num_items`)."""
        return len(self.index_to_item) - 1

    def get_vocab(self):
        vocab = {PAD_TOKEN: 0}
        vocab.update(self.item_to_index)
        return vocab

    def _tokenize(self, text, **kwargs):
        return text.split()

    def _convert_token_to_id(self, token):
        return self.item_to_index.get(str(token), 0)

    def _convert_id_to_token(self, index):
        return self.index_to_item[index]

    def convert_tokens_to_string(self, tokens):
        return " ".join(tokens)

    def save_vocabulary(self, save_directory, filename_prefix=None):
        name = (filename_prefix + "-" if filename_prefix else "") + VOCAB_FILES_NAMES["vocab_file"]
        path = os.path.join(save_directory, name)
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(self.index_to_item[1:], handle, ensure_ascii=False)
        return (path,)

    # ----- histories -----
    def encode_history(self, history):
        """Raw item IDs -> indices, applying `unknown_item_policy`. Returns (indices, number of unknown items)."""
        if isinstance(history, str):
            history = history.split()
        lookup = self.item_to_index
        indices = []
        unknown = 0
        for item in history:
            index = lookup.get(str(item))
            if index is None:
                if self.unknown_item_policy == "error":
                    raise KeyError(
                        f"Item {item!r} is not in the vocabulary of {self.num_items} items; remove it or create the "
                        "tokenizer with unknown_item_policy='skip'."
                    )
                unknown += 1
                continue
            indices.append(index)
        return indices, unknown

    def __call__(self, histories, max_length=None, truncation=True, padding=True, return_tensors=None, **kwargs):
        """Encode one history (a list of raw item IDs, or a whitespace-separated string) or a batch (list of lists).

        Returns a `BatchEncoding` with left-padded `input_ids` and `attention_mask`, each history truncated to its
        most recent `max_length` items (default `model_max_length`) when `truncation` is True.
        """
        # A string or a flat list of IDs is one history; a list of lists is a batch.
        single = isinstance(histories, str) or not all(isinstance(h, (list, tuple)) for h in histories)
        batch = [histories] if single else list(histories)
        max_length = max_length or self.model_max_length
        encoded = []
        unknown_total = 0
        for history in batch:
            indices, unknown = self.encode_history(history)
            unknown_total += unknown
            if truncation and len(indices) > max_length:
                indices = indices[-max_length:]
            encoded.append(indices)
        if unknown_total:
            logger.warning(f"Skipped {unknown_total} item(s) not in the vocabulary (unknown_item_policy='skip').")
        width = max((len(indices) for indices in encoded), default=0) if padding else None
        input_ids, attention_mask = [], []
        for indices in encoded:
            pad = (width - len(indices)) if padding else 0
            input_ids.append([0] * pad + indices)
            attention_mask.append([0] * pad + [1] * len(indices))
        if single and return_tensors is None:  # tensors are always batched, as in transformers
            input_ids, attention_mask = input_ids[0], attention_mask[0]
        return BatchEncoding({"input_ids": input_ids, "attention_mask": attention_mask}, tensor_type=return_tensors)

    def decode_items(self, indices):
        """Indices -> raw item IDs, dropping padding."""
        if hasattr(indices, "tolist"):
            indices = indices.tolist()
        return [self.index_to_item[int(index)] for index in indices if int(index) != 0]


__all__ = ["AttnRankTokenizer"]
