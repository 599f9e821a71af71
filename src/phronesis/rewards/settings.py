"""Typed settings shared by reward-model training and loading (no heavy imports)."""
from __future__ import annotations

from typing import Literal, Union

from pydantic import Field

from ..config import StrictModel

Precision = Literal["fp32", "bf16-autocast"]


class LoraSettings(StrictModel):
    """LoRA for a reward model. Defaults follow the virtue-ethics pipeline (r=8, alpha=32, dropout 0.1)
    but on *all* linear layers: q,v-only LoRA learned nothing here (DESIGN.md)."""

    r: int = Field(8, ge=1)
    alpha: int = Field(32, ge=1)
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    target_modules: Union[Literal["all-linear"], list[str]] = "all-linear"
    quantize_4bit: bool = False  # QLoRA via bitsandbytes; needs CUDA

    def peft_config(self):
        from peft import LoraConfig, TaskType

        return LoraConfig(task_type=TaskType.SEQ_CLS, r=self.r, lora_alpha=self.alpha,
                          lora_dropout=self.dropout, target_modules=self.target_modules,
                          modules_to_save=["score"])  # the reward head is trained and saved per adapter
