"""Typed settings shared by reward-model training and loading (no heavy imports)."""
from __future__ import annotations

from typing import Literal

# auto: bf16 autocast where the hardware has native bf16 (hardware.native_bf16), fp32 elsewhere
Precision = Literal["auto", "fp32", "bf16-autocast"]
