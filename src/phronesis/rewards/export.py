"""Export a LoRA reward model as one standalone sequence-classification folder."""
from __future__ import annotations

from pathlib import Path

from ..core.errors import ModelRefError


def export_merged(adapter_dir: str | Path, out_dir: str | Path) -> Path:
    """merge_and_unload the adapter (LoRA + its score head) into the base and save safetensors + tokenizer."""
    from .lora_rm import LoraRewardModel, load_tokenizer

    adapter_dir, out_dir = Path(adapter_dir), Path(out_dir)
    if not (adapter_dir / "adapter_config.json").exists():
        raise ModelRefError(f"{adapter_dir}: not a LoRA reward model (no adapter_config.json)")
    merged = LoraRewardModel(adapter_dir).model.merge_and_unload()
    merged.save_pretrained(str(out_dir), safe_serialization=True)
    load_tokenizer(str(adapter_dir)).save_pretrained(str(out_dir))
    return out_dir
