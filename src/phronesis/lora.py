"""LoRA settings shared by every policy trainer (TRL's and our PPO), plus merging an adapter."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Union

from .config import StrictModel


class LoraSettings(StrictModel):
    """LoRA on all linear layers by default: q,v only learned nothing in our RM probes (DESIGN.md)."""

    enabled: bool = True
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: Union[str, list[str]] = "all-linear"

    def peft_config(self, task_type: str = "CAUSAL_LM") -> Any:
        if not self.enabled:
            return None
        from peft import LoraConfig

        return LoraConfig(r=self.r, lora_alpha=self.alpha, lora_dropout=self.dropout,
                          target_modules=self.target_modules, task_type=task_type)


def lora_state(model: Any) -> dict[str, Any]:
    """A detached copy of every LoRA tensor, to check that training moved them."""
    return {name: p.detach().float().clone() for name, p in model.named_parameters() if "lora_" in name}


def load_adapter_tensors(adapter_dir: str | Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    return load_file(str(Path(adapter_dir) / "adapter_model.safetensors"))


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
