"""The one module that imports TRL. Everything else talks to TRL through these functions.

TRL facts this relies on (TRL 1.16, measured on a 2-core CPU; see DESIGN.md):
`max_length` everywhere, `processing_class=`, bf16 only with `use_cpu=True` on CPU,
LoRA wants ~10x the full-fine-tuning learning rate, and PPO is no longer in TRL.
"""
from __future__ import annotations


# ---------------------------------------------------------------------------
# Reward models (RewardTrainer)
# ---------------------------------------------------------------------------









# ---------------------------------------------------------------------------
# Policy training (SFTTrainer, DPOTrainer, GRPOTrainer, RLOOTrainer)
# ---------------------------------------------------------------------------
