"""AttnRank: a Hugging Face-native sequential self-attention recommender.

Importing the package registers AttnRank with the transformers Auto classes, and marks the config, model and
tokenizer for remote code, so that every `save_pretrained` folder carries its code files and `auto_map` and loads
with `AutoModel.from_pretrained(folder, trust_remote_code=True)` where this package is not installed. It also
registers the `next-item-recommendation` pipeline; folders written by training declare it in `config.json`
(`custom_pipelines`) and carry its code, so `pipeline(task, model=folder, trust_remote_code=True)` works anywhere.
"""

from transformers import AutoConfig, AutoModel, AutoTokenizer
from transformers.pipelines import PIPELINE_REGISTRY

from .configuration_attnrank import AttnRankConfig
from .modeling_attnrank import AttnRankForNextItemPrediction, AttnRankModel, AttnRankPreTrainedModel
from .pipeline_attnrank import PIPELINE_TASK, NextItemRecommendationPipeline, add_pipeline_to_folder
from .tokenization_attnrank import AttnRankTokenizer


AutoConfig.register(AttnRankConfig.model_type, AttnRankConfig, exist_ok=True)
AutoModel.register(AttnRankConfig, AttnRankForNextItemPrediction, exist_ok=True)
AutoTokenizer.register(AttnRankConfig, slow_tokenizer_class=AttnRankTokenizer, exist_ok=True)

AttnRankConfig.register_for_auto_class()
AttnRankForNextItemPrediction.register_for_auto_class("AutoModel")
AttnRankTokenizer.register_for_auto_class("AutoTokenizer")

# `pt_model` is saved by name in config.json and looked up in `transformers`: the Auto class, which follows auto_map.
PIPELINE_REGISTRY.register_pipeline(PIPELINE_TASK, pipeline_class=NextItemRecommendationPipeline, pt_model=AutoModel)

__version__ = "0.1.0"

__all__ = [
    "AttnRankConfig",
    "AttnRankForNextItemPrediction",
    "AttnRankModel",
    "AttnRankPreTrainedModel",
    "AttnRankTokenizer",
    "NextItemRecommendationPipeline",
    "PIPELINE_TASK",
    "add_pipeline_to_folder",
]
