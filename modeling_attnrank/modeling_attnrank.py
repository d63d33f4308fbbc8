"""PyTorch AttnRank: a SASRec-family causal self-attention next-item recommender.

Kang & McAuley, "Self-Attentive Sequential Recommendation", ICDM 2018: a user's history of items, left-padded with
0, is embedded (item + position), passed through causal self-attention blocks, and the hidden state at position t
scores every item of the catalogue as the item at t + 1. Attention is softmax(QK^T / sqrt(d_k)) V, either over the
whole history (`attention_type="global"`) or over a window of the last w items (`"local"`).

This file imports only torch, transformers and its sibling files: it travels to the Hub as remote code.
"""

import math
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers.utils import ModelOutput

from .configuration_attnrank import AttnRankConfig
from .loss_attnrank import next_item_loss


ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU, "silu": nn.SiLU}


@dataclass
class AttnRankModelOutput(ModelOutput):
    """
    Args:
        last_hidden_state (`torch.FloatTensor` of shape `(batch_size, seq_len, hidden_size)`):
            Hidden state of every position after the last block (and final LayerNorm).
        hidden_states (`tuple(torch.FloatTensor)`, *optional*):
            Input embeddings and the output of every block, each `(batch_size, seq_len, hidden_size)`.
        attentions (`tuple(torch.FloatTensor)`, *optional*):
            Attention weights of every block, each `(batch_size, num_heads, seq_len, seq_len)`; row t is how much
            position t attends to each earlier behaviour and sums to 1.
    """

    last_hidden_state: Optional[torch.FloatTensor] = None
    hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None
    attentions: Optional[tuple[torch.FloatTensor, ...]] = None


@dataclass
class NextItemPredictionOutput(ModelOutput):
    """
    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*, returned when `labels` are given):
            Training loss (`config.loss_type`) averaged over non-padding positions.
        logits (`torch.FloatTensor` of shape `(batch_size, kept_positions, num_items + 1)`, *optional*):
            Next-item scores over the whole catalogue; column 0 (padding) holds the dtype's minimum. Not computed
            when `labels` are given in training mode (the loss never needs the full tensor).
        hidden_states (`tuple(torch.FloatTensor)`, *optional*):
            As in [`AttnRankModelOutput`].
        attentions (`tuple(torch.FloatTensor)`, *optional*):
            As in [`AttnRankModelOutput`].
    """

    loss: Optional[torch.FloatTensor] = None
    logits: Optional[torch.FloatTensor] = None
    hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None
    attentions: Optional[tuple[torch.FloatTensor, ...]] = None


@dataclass
class RecommendationOutput(ModelOutput):
    """
    Args:
        item_ids (`torch.LongTensor` of shape `(batch_size, k)`):
            Recommended item indices, best first (never padding, never excluded items).
        scores (`torch.FloatTensor` of shape `(batch_size, k)`):
            Their scores.
    """

    item_ids: Optional[torch.LongTensor] = None
    scores: Optional[torch.FloatTensor] = None


def build_attention_mask(attention_mask, attention_type="global", attention_window=None):
    """Boolean mask (batch, 1, T, T) of what each query position may attend to; True = attend.

    Causal (key <= query), within the last `attention_window` positions for local attention, and never a padding
    key. Every position may always attend to itself, so padding queries (whose outputs are ignored) still have one
    key and never produce NaN.
    """
    batch_size, seq_len = attention_mask.shape
    device = attention_mask.device
    query = torch.arange(seq_len, device=device)[:, None]
    key = torch.arange(seq_len, device=device)[None, :]
    allowed = key <= query  # (T, T) causal
    if attention_type == "local":
        allowed = allowed & (query - key < attention_window)
    allowed = allowed[None, None] & attention_mask.bool()[:, None, None, :]  # (B, 1, T, T)
    return allowed | (key == query)[None, None]


def sinusoidal_table(num_positions, dim):
    """The fixed sine/cosine position table of Vaswani et al. (2017), (num_positions, dim)."""
    position = torch.arange(num_positions, dtype=torch.float32)[:, None]
    frequency = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(num_positions, dim)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency)[:, : dim // 2]
    return table


def rotary_cos_sin(position_ids, head_dim, base=10000.0):
    """cos / sin of rotary position embeddings (RoPE) for `position_ids` (B, T): each (B, 1, T, head_dim)."""
    inverse_frequency = base ** (-torch.arange(0, head_dim, 2, device=position_ids.device, dtype=torch.float32) / head_dim)
    angles = position_ids.float()[..., None] * inverse_frequency  # (B, T, head_dim / 2)
    angles = torch.cat((angles, angles), dim=-1)[:, None]  # (B, 1, T, head_dim)
    return angles.cos(), angles.sin()


def apply_rotary(x, cos, sin):
    """Rotate pairs (x_i, x_{i + d/2}) of `x` (B, nh, T, d) by their position's angle."""
    first, second = x.chunk(2, dim=-1)
    return x * cos.to(x.dtype) + torch.cat((-second, first), dim=-1) * sin.to(x.dtype)


def time_interval_buckets(timestamps, num_buckets):
    """Log2 bucket of the time interval between every two behaviours: (B, T) timestamps -> (B, T, T) int64 in
    [0, num_buckets), `min(floor(log2(1 + |t_i - t_j|)), num_buckets - 1)`."""
    timestamps = timestamps.to(torch.float64)  # exact for integer timestamps up to 2^53
    intervals = (timestamps[:, :, None] - timestamps[:, None, :]).abs()
    return torch.log2(intervals + 1).floor().clamp(max=num_buckets - 1).long()


class AttnRankSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.dropout = config.attention_dropout_prob
        self.qkv = nn.Linear(config.hidden_size, 3 * config.hidden_size)
        self.out_proj = nn.Linear(config.hidden_size, config.hidden_size)
        # Time-interval features: a learned bias per (log2 interval bucket, head) on every attention score.
        self.time_interval_bias = (nn.Embedding(config.time_interval_buckets, config.num_attention_heads)
                                   if config.time_interval_buckets else None)

    def forward(self, hidden, mask, output_attentions=False, last_query_only=False, rotary=None, intervals=None):
        batch_size, seq_len, channels = hidden.shape  # (B, T, C)
        q, k, v = (x.view(batch_size, seq_len, self.num_heads, self.head_dim).transpose(1, 2)
                   for x in self.qkv(hidden).split(channels, dim=-1))  # each (B, nh, T, hd)
        if rotary is not None:  # rotary positions: rotate queries and keys by their position
            q, k = apply_rotary(q, *rotary), apply_rotary(k, *rotary)
        if last_query_only:  # only the most recent position's output is needed (recommendation)
            q = q[:, :, -1:]
            mask = mask[:, :, -1:] if mask is not None else None
            intervals = intervals[:, -1:] if intervals is not None else None
        if intervals is not None:  # additive time-interval bias; `mask` is always given with intervals
            bias = self.time_interval_bias(intervals).permute(0, 3, 1, 2).to(q.dtype)  # (B, nh, T_q, T)
            mask = bias.masked_fill(~mask, float("-inf"))
        dropout = self.dropout if self.training else 0.0
        weights = None
        if output_attentions:
            # Explicit softmax(QK^T / sqrt(d_k)) so the per-behaviour weights can be returned.
            scores = (q @ k.transpose(-2, -1)) / math.sqrt(self.head_dim)  # (B, nh, T, T)
            if mask is not None and mask.dtype == torch.bool:
                scores = scores.masked_fill(~mask, float("-inf"))
            elif mask is not None:
                scores = scores + mask
            weights = scores.softmax(dim=-1)
            out = F.dropout(weights, dropout, self.training) @ v
        else:
            # The last query may see every key, so it needs no causal mask.
            out = F.scaled_dot_product_attention(
                q, k, v, attn_mask=mask, dropout_p=dropout, is_causal=mask is None and not last_query_only
            )  # (B, nh, T, hd)
        out = out.transpose(1, 2).reshape(batch_size, q.shape[2], channels)
        return self.out_proj(out), weights


class AttnRankFeedForward(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.up = nn.Linear(config.hidden_size, config.intermediate_size)
        self.act = ACTIVATIONS[config.hidden_act]()
        self.down = nn.Linear(config.intermediate_size, config.hidden_size)

    def forward(self, hidden):
        return self.down(self.act(self.up(hidden)))


class AttnRankBlock(nn.Module):
    """One transformer block: self-attention then feed-forward, each residual, LayerNorm pre or post."""

    def __init__(self, config):
        super().__init__()
        self.pre_norm = config.pre_norm
        self.attention_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.attention = AttnRankSelfAttention(config)
        self.feed_forward_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.feed_forward = AttnRankFeedForward(config)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden, mask, output_attentions=False, last_query_only=False, rotary=None, intervals=None):
        residual = hidden[:, -1:] if last_query_only else hidden
        if self.pre_norm:
            attended, weights = self.attention(self.attention_norm(hidden), mask, output_attentions, last_query_only,
                                               rotary, intervals)
            hidden = residual + self.dropout(attended)
            hidden = hidden + self.dropout(self.feed_forward(self.feed_forward_norm(hidden)))
        else:
            attended, weights = self.attention(hidden, mask, output_attentions, last_query_only, rotary, intervals)
            hidden = self.attention_norm(residual + self.dropout(attended))
            hidden = self.feed_forward_norm(hidden + self.dropout(self.feed_forward(hidden)))
        return hidden, weights


class AttnRankPreTrainedModel(PreTrainedModel):
    config_class = AttnRankConfig
    base_model_prefix = "model"
    main_input_name = "input_ids"
    supports_gradient_checkpointing = False
    _supports_sdpa = True
    _no_split_modules = ["AttnRankBlock"]
    # The loss is a mean over this batch's positions; it takes no `num_items_in_batch` from Trainer, so Trainer
    # must not rescale it (this also keeps the logged loss identical under DDP).
    accepts_loss_kwargs = False

    def _init_weights(self, module):
        std = self.config.initializer_range
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.padding_idx is not None:
                with torch.no_grad():
                    module.weight[module.padding_idx].zero_()
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


class AttnRankModel(AttnRankPreTrainedModel):
    """The encoder: item + position embeddings and `num_hidden_layers` causal self-attention blocks."""

    def __init__(self, config):
        super().__init__(config)
        self.item_embeddings = nn.Embedding(config.num_items + 1, config.hidden_size, padding_idx=0)
        if config.position_embedding_type == "learned":
            self.position_embeddings = nn.Embedding(config.max_seq_len, config.hidden_size)
        elif config.position_embedding_type == "sinusoidal":
            self.register_buffer(
                "position_table", sinusoidal_table(config.max_seq_len, config.hidden_size), persistent=False
            )
        self.embedding_dropout = nn.Dropout(config.hidden_dropout_prob)
        self.blocks = nn.ModuleList(AttnRankBlock(config) for _ in range(config.num_hidden_layers))
        self.final_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps) if config.pre_norm else None
        self.post_init()

    def get_input_embeddings(self):
        return self.item_embeddings

    def set_input_embeddings(self, value):
        self.item_embeddings = value

    def forward(self, input_ids, attention_mask=None, timestamps=None, output_attentions=False,
                output_hidden_states=False, return_dict=None, last_position_only=False):
        r"""
        timestamps (`torch.LongTensor` of shape `(batch_size, seq_len)`, *optional*):
            Time of each behaviour, aligned with `input_ids` (any value at padding); required when
            `config.time_interval_buckets > 0`, ignored otherwise.
        last_position_only (`bool`, *optional*, defaults to `False`):
            Compute the last block for the most recent position only (`last_hidden_state` is then `(B, 1, C)`):
            all a recommendation needs, ~1/num_hidden_layers of the encoder's work saved.
        """
        config = self.config
        if input_ids.shape[1] > config.max_seq_len:
            raise ValueError(
                f"Histories of length {input_ids.shape[1]} exceed max_seq_len={config.max_seq_len}; keep the most "
                "recent items (the tokenizer and `recommend` truncate on the left for you)."
            )
        if attention_mask is None:
            attention_mask = input_ids != config.pad_token_id
        attention_mask = attention_mask.bool()

        hidden = self.item_embeddings(input_ids)  # (B, T, C)
        if config.scale_embeddings:
            hidden = hidden * math.sqrt(config.hidden_size)
        rotary = None
        if config.position_embedding_type != "none":
            # Count positions from the first real item so left padding never shifts them.
            position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)  # (B, T)
            if config.position_embedding_type == "learned":
                hidden = hidden + self.position_embeddings(position_ids)
            elif config.position_embedding_type == "sinusoidal":
                hidden = hidden + self.position_table[position_ids]
            else:
                rotary = rotary_cos_sin(position_ids, config.hidden_size // config.num_attention_heads)
        hidden = self.embedding_dropout(hidden) * attention_mask[..., None]

        intervals = None
        if config.time_interval_buckets:
            if timestamps is None or timestamps.shape != input_ids.shape:
                raise ValueError(
                    "This model uses time-interval features (config.time_interval_buckets > 0): pass `timestamps`, "
                    f"one per item of `input_ids` {tuple(input_ids.shape)}."
                )
            intervals = time_interval_buckets(timestamps, config.time_interval_buckets)

        if (config.attention_type == "global" and intervals is None and bool(attention_mask.all())
                and not output_attentions):
            mask = None  # no padding: SDPA's fused causal path
        else:
            mask = build_attention_mask(attention_mask, config.attention_type, config.attention_window)

        all_hidden = (hidden,) if output_hidden_states else None
        all_attentions = () if output_attentions else None
        for index, block in enumerate(self.blocks):
            last_only = last_position_only and index == len(self.blocks) - 1
            hidden, weights = block(hidden, mask, output_attentions, last_only, rotary, intervals)
            if output_hidden_states:
                all_hidden += (hidden,)
            if output_attentions:
                all_attentions += (weights,)
        if self.final_norm is not None:
            hidden = self.final_norm(hidden)
        return AttnRankModelOutput(last_hidden_state=hidden, hidden_states=all_hidden, attentions=all_attentions)


class AttnRankForNextItemPrediction(AttnRankPreTrainedModel):
    """AttnRank with its ranking head: the hidden state at position t scores every item as the item at t + 1."""

    def __init__(self, config):
        super().__init__(config)
        self.model = AttnRankModel(config)
        if not config.tie_item_embeddings:
            self.output_embeddings = nn.Embedding(config.num_items + 1, config.hidden_size, padding_idx=0)
        self.post_init()

    def get_input_embeddings(self):
        return self.model.item_embeddings

    def set_input_embeddings(self, value):
        self.model.item_embeddings = value

    @property
    def item_weight(self):
        """The (num_items + 1, hidden_size) table items are scored against; row 0 is padding."""
        if self.config.tie_item_embeddings:
            return self.model.item_embeddings.weight
        return self.output_embeddings.weight

    def score_items(self, hidden):
        """Scores (..., num_items + 1) of every item for hidden states (..., hidden_size); padding gets the minimum."""
        scores = hidden @ self.item_weight.T
        scores[..., 0] = torch.finfo(scores.dtype).min
        return scores

    def forward(self, input_ids, attention_mask=None, labels=None, timestamps=None, logits_to_keep=0,
                output_attentions=False, output_hidden_states=False, return_dict=None):
        r"""
        input_ids (`torch.LongTensor` of shape `(batch_size, seq_len)`):
            Item indices of each history, oldest first, left-padded with 0.
        attention_mask (`torch.Tensor` of shape `(batch_size, seq_len)`, *optional*):
            1 for real items, 0 for padding; derived from `input_ids != 0` when omitted.
        labels (`torch.LongTensor` of shape `(batch_size, seq_len)`, *optional*):
            The next item of every position (already shifted: `labels[:, t]` is the item after `input_ids[:, t]`);
            -100 or 0 where no loss is taken. The loss is computed on the labelled positions only.
        timestamps (`torch.LongTensor` of shape `(batch_size, seq_len)`, *optional*):
            Time of each behaviour; needed only when `config.time_interval_buckets > 0`.
        logits_to_keep (`int`, *optional*, defaults to 0):
            Compute logits for the last `logits_to_keep` positions only (0 = all); 1 gives next-item scores.
        """
        outputs = self.model(
            input_ids,
            attention_mask=attention_mask,
            timestamps=timestamps,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
        )
        hidden = outputs.last_hidden_state  # (B, T, C)

        loss = None
        if labels is not None:
            loss = next_item_loss(self.config, hidden, self.item_weight, labels)

        logits = None
        if labels is None or not self.training:
            kept = hidden if logits_to_keep == 0 else hidden[:, -logits_to_keep:]
            logits = self.score_items(kept)
        return NextItemPredictionOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )

    def _last_window(self, input_ids, attention_mask=None, timestamps=None):
        """The last `max_seq_len` positions of left-padded histories, with a boolean mask (derived from padding if
        not given) and their timestamps (if given); raises if a non-empty history does not end at the last position
        (i.e. is not left-padded)."""
        input_ids = input_ids[:, -self.config.max_seq_len :]
        if timestamps is not None:
            timestamps = timestamps[:, -self.config.max_seq_len :]
        if attention_mask is None:
            attention_mask = input_ids != self.config.pad_token_id
        attention_mask = attention_mask[:, -self.config.max_seq_len :].bool()
        if bool((attention_mask.any(-1) & ~attention_mask[:, -1]).any()):
            raise ValueError("Histories must be left-padded: the last position of a non-empty history is padding.")
        return input_ids, attention_mask, timestamps

    def user_representation(self, input_ids, attention_mask=None, timestamps=None):
        """Hidden state (batch, hidden_size) after each history's most recent item; histories must be left-padded
        and are truncated to their last `max_seq_len` items (`timestamps`, aligned with `input_ids`, are needed
        only with time-interval features)."""
        input_ids, attention_mask, timestamps = self._last_window(input_ids, attention_mask, timestamps)
        outputs = self.model(input_ids, attention_mask=attention_mask, timestamps=timestamps, last_position_only=True)
        return outputs.last_hidden_state[:, -1]

    @torch.no_grad()
    def recommend(self, input_ids, attention_mask=None, k=10, exclude_seen=True, exclude_ids=None,
                  chunk_size=65536, timestamps=None):
        """Top-`k` items for each history, best first.

        Args:
            input_ids (`torch.LongTensor` of shape `(batch_size, seq_len)`): left-padded histories; histories longer
                than `max_seq_len` are read from their last `max_seq_len` items but all their items are excluded.
            attention_mask (`torch.Tensor`, *optional*): 1 for real items; derived from `input_ids != 0` if omitted.
            k (`int`): how many items to return (at most the catalogue size).
            exclude_seen (`bool`): never recommend an item already in the history.
            exclude_ids (`torch.LongTensor` of shape `(batch_size, n)`, *optional*): more items to exclude per row
                (0 entries are ignored), e.g. a full history longer than `input_ids`.
            chunk_size (`int`): items scored at a time; bounds memory to batch x chunk_size scores.
            timestamps (`torch.LongTensor` of shape `(batch_size, seq_len)`, *optional*): time of each behaviour,
                aligned with `input_ids`; needed only with time-interval features.

        Returns:
            [`RecommendationOutput`] with `item_ids` and `scores` of shape `(batch_size, k)`.
        """
        if attention_mask is None:
            attention_mask = input_ids != self.config.pad_token_id
        num_items = self.config.num_items
        k = min(k, num_items)
        user = self.user_representation(input_ids, attention_mask, timestamps)  # (B, C)
        excluded = None
        if exclude_seen:
            excluded = input_ids.masked_fill(~attention_mask.bool(), 0)
        if exclude_ids is not None:
            excluded = exclude_ids if excluded is None else torch.cat([excluded, exclude_ids], dim=1)

        weight = self.item_weight
        best_scores = user.new_full((user.shape[0], 0), float("-inf"))
        best_ids = input_ids.new_zeros((user.shape[0], 0))
        for start in range(1, num_items + 1, chunk_size):
            end = min(start + chunk_size, num_items + 1)
            scores = (user @ weight[start:end].T).float()  # (B, chunk)
            if excluded is not None:
                in_chunk = (excluded >= start) & (excluded < end)
                rows = torch.arange(user.shape[0], device=user.device)[:, None].expand_as(excluded)
                scores[rows[in_chunk], excluded[in_chunk] - start] = float("-inf")
            top_scores, top_ids = scores.topk(min(k, end - start), dim=-1)
            best_scores = torch.cat([best_scores, top_scores], dim=-1)
            best_ids = torch.cat([best_ids, top_ids + start], dim=-1)
            best_scores, order = best_scores.topk(min(k, best_scores.shape[1]), dim=-1)
            best_ids = best_ids.gather(-1, order)
        # Excluded items can only surface when fewer than k items remain; their score is -inf: mark them 0.
        best_ids = best_ids.masked_fill(torch.isinf(best_scores) & (best_scores < 0), 0)
        return RecommendationOutput(item_ids=best_ids, scores=best_scores)

    @torch.no_grad()
    def rank_candidates(self, input_ids, candidate_ids, attention_mask=None, timestamps=None):
        """Personalised re-ranking: each history's own candidate items (search results, a retrieval stage's output, a
        feed) ordered by the model's score, best first.

        Args:
            input_ids (`torch.LongTensor` of shape `(batch_size, seq_len)`): left-padded histories, as in `recommend`.
            candidate_ids (`torch.LongTensor` of shape `(batch_size, num_candidates)`): item indices to rank per row;
                0 marks "no candidate" (rows of different lengths) and is ranked last with score -inf. Candidates
                already in the history are ranked like the others: the caller chose them.
            attention_mask (`torch.Tensor`, *optional*): 1 for real items; derived from `input_ids != 0` if omitted.
            timestamps (`torch.LongTensor`, *optional*): as in `recommend`.

        Returns:
            [`RecommendationOutput`] with `item_ids` and `scores` of shape `(batch_size, num_candidates)`, sorted by
            score; equal scores keep the given order. A candidate's score equals its column of `recommend`'s scores.
        """
        if bool(((candidate_ids < 0) | (candidate_ids > self.config.num_items)).any()):
            raise ValueError(
                f"Candidate indices must lie in 0..{self.config.num_items} (0 = no candidate); map raw item IDs with "
                "the model's tokenizer (`convert_tokens_to_ids`) first."
            )
        user = self.user_representation(input_ids, attention_mask, timestamps)  # (B, C)
        scores = (self.item_weight[candidate_ids] @ user[:, :, None]).squeeze(-1).float()  # (B, n)
        scores = scores.masked_fill(candidate_ids == self.config.pad_token_id, float("-inf"))
        scores, order = scores.sort(dim=-1, descending=True, stable=True)
        return RecommendationOutput(item_ids=candidate_ids.gather(-1, order), scores=scores)

    @torch.no_grad()
    def explain(self, input_ids, attention_mask=None, timestamps=None):
        """Which past behaviours each history's recommendations attend to.

        Recommendations are scored from the hidden state at the most recent position, so that position's attention
        row in every block is the model's own account of which behaviours it read. Returned per layer and head, and
        aggregated by attention rollout (Abnar & Zuidema, "Quantifying Attention Flow in Transformers", ACL 2020):
        each block's head-averaged weights are mixed with its residual connection (0.5 A + 0.5 I, rows renormalised)
        and multiplied through the blocks. The explanation is the same for every item recommended from (or candidate
        ranked for) a history: the attention does not depend on the item being scored.

        Args:
            input_ids (`torch.LongTensor` of shape `(batch_size, seq_len)`): left-padded histories; longer ones are
                read from their last `max_seq_len` items, as in `recommend`.
            attention_mask (`torch.Tensor`, *optional*): 1 for real items; derived from `input_ids != 0` if omitted.
            timestamps (`torch.LongTensor`, *optional*): as in `recommend`.

        Returns:
            [`AttentionExplanationOutput`] over the last `min(seq_len, max_seq_len)` positions: 0 on padding, each
            head's row and the rollout sum to 1 over the history (all zeros for an empty history).
        """
        input_ids, attention_mask, timestamps = self._last_window(input_ids, attention_mask, timestamps)
        outputs = self.model(input_ids, attention_mask=attention_mask, timestamps=timestamps, output_attentions=True)
        real = attention_mask[:, None, None, :].float()  # (B, 1, 1, T)
        # Row -1 is the most recent item's query; padding keys already get 0 there (a real query never sees them).
        attentions = torch.stack([weights[:, :, -1, :] for weights in outputs.attentions], dim=1).float()
        attentions = attentions * real  # (B, layers, heads, T); only an empty history had weight on padding
        seq_len = input_ids.shape[1]
        identity = torch.eye(seq_len, device=input_ids.device)
        rollout = identity.expand(input_ids.shape[0], seq_len, seq_len)  # (B, T, T)
        for weights in outputs.attentions:
            mixed = 0.5 * weights.float().mean(dim=1) + 0.5 * identity  # (B, T, T): attention + residual
            rollout = (mixed / mixed.sum(dim=-1, keepdim=True)) @ rollout
        rollout = rollout[:, -1] * real[:, 0, 0]  # (B, T)
        return AttentionExplanationOutput(attentions=attentions, rollout=rollout)


@dataclass
class AttentionExplanationOutput(ModelOutput):
    """
    Args:
        attentions (`torch.FloatTensor` of shape `(batch_size, num_hidden_layers, num_attention_heads, seq_len)`):
            Attention of the most recent position over the history, per block and head; 0 on padding, sums to 1.
        rollout (`torch.FloatTensor` of shape `(batch_size, seq_len)`):
            Attention rollout over all blocks and heads (residual included): the aggregated weight of each behaviour
            in the user representation; 0 on padding, sums to 1.
    """

    attentions: Optional[torch.FloatTensor] = None
    rollout: Optional[torch.FloatTensor] = None


__all__ = [
    "AttnRankPreTrainedModel",
    "AttnRankModel",
    "AttnRankForNextItemPrediction",
    "AttnRankModelOutput",
    "NextItemPredictionOutput",
    "RecommendationOutput",
    "AttentionExplanationOutput",
    "build_attention_mask",
]
