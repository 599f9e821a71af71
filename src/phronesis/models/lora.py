"""LoRA settings shared by every policy trainer (TRL's and our PPO), reading an adapter's base, merging one."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal, Union

from pydantic import Field

from ..core.config import StrictModel


class LoraSettings(StrictModel):
    """LoRA for policies (CAUSAL_LM) and, through RewardLoraSettings, reward models (SEQ_CLS).
    All linear layers by default: q,v only learned nothing in our RM probes (DESIGN.md)."""

    enabled: bool = True
    r: int = Field(16, ge=1)
    alpha: int = Field(32, ge=1)
    dropout: float = Field(0.05, ge=0.0, lt=1.0)
    target_modules: Union[str, list[str]] = "all-linear"

    def peft_config(self, task_type: str = "CAUSAL_LM") -> Any:
        if not self.enabled:
            return None
        from peft import LoraConfig

        # a reward model's `score` head is new, so it is trained and saved with each adapter
        extra = {"modules_to_save": ["score"]} if task_type == "SEQ_CLS" else {}
        return LoraConfig(r=self.r, lora_alpha=self.alpha, lora_dropout=self.dropout,
                          target_modules=self.target_modules, task_type=task_type, **extra)


class RewardLoraSettings(LoraSettings):
    """Reward-model defaults follow the virtue-ethics pipeline (r=8, alpha=32, dropout 0.1); always on."""

    enabled: Literal[True] = Field(True, exclude=True)  # left out of dumps, so RM fingerprints stay as before
    r: int = Field(8, ge=1)
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    target_modules: Union[Literal["all-linear"], list[str]] = "all-linear"
    quantize_4bit: bool = False  # QLoRA via bitsandbytes; needs CUDA

    def peft_config(self, task_type: str = "SEQ_CLS") -> Any:
        return super().peft_config(task_type)


def lora_state(model: Any) -> dict[str, Any]:
    """A detached copy of every LoRA tensor, to check that training moved them."""
    return {name: p.detach().float().clone() for name, p in model.named_parameters() if "lora_" in name}


def load_adapter_tensors(adapter_dir: str | Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    return load_file(str(Path(adapter_dir) / "adapter_model.safetensors"))


def adapter_base(folder: str | Path) -> str:
    """The base model a PEFT adapter folder was trained on (`base_model_name_or_path` in adapter_config.json)."""
    from ..core.errors import ModelRefError

    config = Path(folder) / "adapter_config.json"
    try:
        base = json.loads(config.read_text(encoding="utf-8")).get("base_model_name_or_path")
    except FileNotFoundError:
        raise ModelRefError(f"{folder}: no adapter_config.json (not a LoRA adapter folder)") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelRefError(f"{config}: unreadable ({exc})") from None
    if not isinstance(base, str) or not base:
        raise ModelRefError(f"{config}: no base_model_name_or_path")
    return base


def merge_adapter(base_path: str | Path, adapter_dir: str | Path, out_dir: str | Path) -> Path:
    """Fold a LoRA adapter into its base model and save a plain model folder (plus tokenizer)."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = AutoModelForCausalLM.from_pretrained(str(base_path), dtype=torch.float32)
    merged = PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
    out = Path(out_dir)
    merged.save_pretrained(out, safe_serialization=True)
    AutoTokenizer.from_pretrained(str(adapter_dir) if (Path(adapter_dir) / "tokenizer_config.json").exists()
                                  else str(base_path)).save_pretrained(out)
    return out
