"""AttnRank model configuration.

AttnRank is a SASRec-family next-item recommender (Kang & McAuley, "Self-Attentive Sequential Recommendation",
ICDM 2018): item (+ position) embeddings, a stack of causal self-attention blocks, and a score for every item of
the catalogue computed against the (optionally tied) item embedding table.

This file imports only `transformers`: it travels to the Hub as remote code.
"""

from transformers import PretrainedConfig


LOSS_TYPES = ("ce", "bce", "sampled_softmax", "gbce")
ATTENTION_TYPES = ("global", "local")
POSITION_EMBEDDING_TYPES = ("learned", "sinusoidal", "rotary", "none")
HIDDEN_ACTIVATIONS = ("gelu", "relu", "silu")


class AttnRankConfig(PretrainedConfig):
    r"""
    Configuration of an AttnRank model. Sizes come from here, never from a dataset object.

    Args:
        num_items (`int`, *optional*, defaults to 1):
            Size of the item catalogue, padding not included. Item indices run from 1 to `num_items`; index 0 is
            padding and is never recommended.
        hidden_size (`int`, *optional*, defaults to 64):
            Dimension of the item embeddings and of the hidden states.
        num_hidden_layers (`int`, *optional*, defaults to 2):
            Number of self-attention blocks.
        num_attention_heads (`int`, *optional*, defaults to 2):
            Attention heads per block; must divide `hidden_size`.
        intermediate_size (`int`, *optional*, defaults to 256):
            Width of the position-wise feed-forward layer.
        hidden_act (`str`, *optional*, defaults to `"gelu"`):
            Feed-forward activation: `"gelu"`, `"relu"` (the original SASRec) or `"silu"`.
        max_seq_len (`int`, *optional*, defaults to 200):
            Longest history the model reads; longer histories keep their most recent `max_seq_len` items.
        hidden_dropout_prob (`float`, *optional*, defaults to 0.2):
            Dropout on embeddings, attention output and feed-forward output.
        attention_dropout_prob (`float`, *optional*, defaults to 0.2):
            Dropout on the attention weights.
        layer_norm_eps (`float`, *optional*, defaults to 1e-6):
            Epsilon of every LayerNorm.
        initializer_range (`float`, *optional*, defaults to 0.02):
            Standard deviation of the normal initialisation of embeddings and linear layers.
        pad_token_id (`int`, *optional*, defaults to 0):
            Index of padding. Must be 0: histories are left-padded with 0.
        tie_item_embeddings (`bool`, *optional*, defaults to `True`):
            Score items against the input item embedding table (as SASRec does) instead of a separate output table.
        pre_norm (`bool`, *optional*, defaults to `True`):
            LayerNorm before each sub-layer (pre-LN, plus a final LayerNorm) instead of after it (post-LN).
        scale_embeddings (`bool`, *optional*, defaults to `False`):
            Multiply item embeddings by sqrt(hidden_size) before adding positions, as the original SASRec does.
        loss_type (`str`, *optional*, defaults to `"ce"`):
            Training loss: `"ce"` full softmax cross-entropy over the whole catalogue; `"bce"` binary cross-entropy
            with `num_negatives` uniformly sampled negatives per position (the original SASRec); `"sampled_softmax"`
            softmax over the target and `num_negatives` negatives shared by the batch, with logQ correction;
            `"gbce"` generalised BCE of gSASRec (Petrov & Macdonald, RecSys 2023), negatives drawn per sequence.
        num_negatives (`int`, *optional*, defaults to 256):
            Negatives per step for the sampled losses (`"bce"` draws this many per position; the original SASRec
            used 1).
        gbce_t (`float`, *optional*, defaults to 0.75):
            Calibration parameter t of gBCE, in [0, 1]; 0 is plain BCE, 1 is fully calibrated.
        loss_chunk_size (`int`, *optional*, defaults to 0):
            Positions scored at once by the full cross-entropy; 0 picks a chunk of about 4M logits (at least 64
            positions). Bounds the loss memory independently of batch x positions x catalogue.
        attention_type (`str`, *optional*, defaults to `"global"`):
            `"global"`: full causal self-attention over the history (SASRec). `"local"`: each position attends only
            to the last `attention_window` items up to itself.
        attention_window (`int`, *optional*, defaults to 50):
            Window size w of `"local"` attention (the position itself included).
        position_embedding_type (`str`, *optional*, defaults to `"learned"`):
            `"learned"` absolute positions, `"sinusoidal"` fixed positions added to the embeddings, `"rotary"`
            (RoPE, Su et al. 2021: queries and keys rotated by their position, so attention sees relative
            distances; needs an even head size), or `"none"`. Positions count from the first real item of the
            history, so left padding never changes them.
        time_interval_buckets (`int`, *optional*, defaults to 0):
            Time-interval features (TiSASRec-style, Li et al., WSDM 2020), used when > 0: the model then takes the
            `timestamps` of the history, and every attention score between two behaviours gets a learned per-block,
            per-head bias for the log2 bucket of their time interval, `min(floor(log2(1 + |t_i - t_j|)),
            time_interval_buckets - 1)` (in the timestamps' unit; 32 buckets cover 2^31 seconds). 0 disables them.
    """

    model_type = "attnrank"

    def __init__(
        self,
        num_items=1,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=256,
        hidden_act="gelu",
        max_seq_len=200,
        hidden_dropout_prob=0.2,
        attention_dropout_prob=0.2,
        layer_norm_eps=1e-6,
        initializer_range=0.02,
        pad_token_id=0,
        tie_item_embeddings=True,
        pre_norm=True,
        scale_embeddings=False,
        loss_type="ce",
        num_negatives=256,
        gbce_t=0.75,
        loss_chunk_size=0,
        attention_type="global",
        attention_window=50,
        position_embedding_type="learned",
        time_interval_buckets=0,
        **kwargs,
    ):
        self.num_items = num_items
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.hidden_act = hidden_act
        self.max_seq_len = max_seq_len
        self.hidden_dropout_prob = hidden_dropout_prob
        self.attention_dropout_prob = attention_dropout_prob
        self.layer_norm_eps = layer_norm_eps
        self.initializer_range = initializer_range
        self.tie_item_embeddings = tie_item_embeddings
        self.pre_norm = pre_norm
        self.scale_embeddings = scale_embeddings
        self.loss_type = loss_type
        self.num_negatives = num_negatives
        self.gbce_t = gbce_t
        self.loss_chunk_size = loss_chunk_size
        self.attention_type = attention_type
        self.attention_window = attention_window
        self.position_embedding_type = position_embedding_type
        self.time_interval_buckets = time_interval_buckets
        # Tying is done by the model itself (the head reads the input table), not by transformers' tying machinery.
        kwargs["tie_word_embeddings"] = False
        super().__init__(pad_token_id=pad_token_id, **kwargs)
        self._check()

    def _check(self):
        def positive_int(name):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")

        for name in ("num_items", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                     "max_seq_len", "num_negatives", "attention_window"):
            positive_int(name)
        if self.hidden_size % self.num_attention_heads != 0:
            raise ValueError(
                f"`hidden_size` ({self.hidden_size}) must be divisible by `num_attention_heads` "
                f"({self.num_attention_heads})."
            )
        for name in ("hidden_dropout_prob", "attention_dropout_prob"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"`{name}` must be in [0, 1), got {value!r}.")
        if not self.layer_norm_eps > 0:
            raise ValueError(f"`layer_norm_eps` must be positive, got {self.layer_norm_eps!r}.")
        if not self.initializer_range > 0:
            raise ValueError(f"`initializer_range` must be positive, got {self.initializer_range!r}.")
        if self.pad_token_id != 0:
            raise ValueError(f"`pad_token_id` must be 0 (histories are left-padded with 0), got {self.pad_token_id!r}.")
        if not 0.0 <= self.gbce_t <= 1.0:
            raise ValueError(f"`gbce_t` must be in [0, 1], got {self.gbce_t!r}.")
        if not isinstance(self.time_interval_buckets, int) or self.time_interval_buckets < 0:
            raise ValueError(
                f"`time_interval_buckets` must be a non-negative integer (0 = off), got {self.time_interval_buckets!r}."
            )
        if not isinstance(self.loss_chunk_size, int) or self.loss_chunk_size < 0:
            raise ValueError(f"`loss_chunk_size` must be a non-negative integer, got {self.loss_chunk_size!r}.")
        for name, allowed in (
            ("loss_type", LOSS_TYPES),
            ("attention_type", ATTENTION_TYPES),
            ("position_embedding_type", POSITION_EMBEDDING_TYPES),
            ("hidden_act", HIDDEN_ACTIVATIONS),
        ):
            value = getattr(self, name)
            if value not in allowed:
                raise ValueError(f"`{name}` must be one of {allowed}, got {value!r}.")
        if self.position_embedding_type == "rotary" and (self.hidden_size // self.num_attention_heads) % 2:
            raise ValueError(
                f"Rotary positions need an even head size; hidden_size / num_attention_heads = "
                f"{self.hidden_size // self.num_attention_heads}."
            )


__all__ = ["AttnRankConfig"]
