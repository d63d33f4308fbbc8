"""AttnRank: a Hugging Face-native sequential self-attention recommender.

Importing the package registers AttnRank with the transformers Auto classes, and marks the config, model and
tokenizer for remote code, so that every `save_pretrained` folder carries its code files and `auto_map` and loads
with `AutoModel.from_pretrained(folder, trust_remote_code=True)` where this package is not installed.
"""

from transformers import AutoConfig, AutoModel, AutoTokenizer

from .configuration_attnrank import AttnRankConfig
from .modeling_attnrank import AttnRankForNextItemPrediction, AttnRankModel, AttnRankPreTrainedModel
from .tokenization_attnrank import AttnRankTokenizer


AutoConfig.register(AttnRankConfig.model_type, AttnRankConfig, exist_ok=True)
AutoModel.register(AttnRankConfig, AttnRankForNextItemPrediction, exist_ok=True)
AutoTokenizer.register(AttnRankConfig, slow_tokenizer_class=AttnRankTokenizer, exist_ok=True)

AttnRankConfig.register_for_auto_class()
AttnRankForNextItemPrediction.register_for_auto_class("AutoModel")
AttnRankTokenizer.register_for_auto_class("AutoTokenizer")

__version__ = "0.1.0"

__all__ = [
    "AttnRankConfig",
    "AttnRankForNextItemPrediction",
    "AttnRankModel",
    "AttnRankPreTrainedModel",
    "AttnRankTokenizer",
]
