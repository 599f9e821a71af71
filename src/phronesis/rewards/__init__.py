"""Reward models: LoRA RMs, several adapters over one base, and ensembles of any RewardModels.

Heavy libraries load only when a model is loaded, so importing this package stays cheap.
"""
from ..models.lora import RewardLoraSettings
from .ensemble import AGGREGATORS, Aggregator, EnsembleRewardModel, Normaliser
from .loading import load_reward_model, save_ensemble

__all__ = ["AGGREGATORS", "Aggregator", "EnsembleRewardModel", "Normaliser", "RewardLoraSettings",
           "load_reward_model", "save_ensemble", "LoraRewardModel", "MultiAdapterRewardModel"]


def __getattr__(name: str):
    if name in ("LoraRewardModel", "MultiAdapterRewardModel", "SequenceClassifierRewardModel"):
        from . import lora_rm

        return getattr(lora_rm, name)
    raise AttributeError(name)
