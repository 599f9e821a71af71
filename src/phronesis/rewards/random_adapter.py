"""Untrained-but-real LoRA reward adapters for `phronesis bench` and the tests (no training needed)."""
from __future__ import annotations

from pathlib import Path


def save_random_rm_adapter(base_path: str | Path, out: str | Path, seed: int, base_ref: str | None = None) -> Path:
    """A LoRA RM folder whose LoRA matrices and score head are random but non-zero,
    so different seeds give genuinely different reward models."""
    import torch
    from peft import get_peft_model

    from ..models.lora import RewardLoraSettings
    from .lora_rm import load_seqcls_base, load_tokenizer, write_rm_meta

    torch.manual_seed(seed)
    model = load_seqcls_base(str(base_path))
    config = RewardLoraSettings().peft_config()
    config.init_lora_weights = False  # random A and B, not the usual B=0
    model = get_peft_model(model, config)
    model.save_pretrained(str(out))
    load_tokenizer(str(base_path)).save_pretrained(str(out))
    write_rm_meta(out, base_ref or str(base_path), 256)
    return Path(out)
