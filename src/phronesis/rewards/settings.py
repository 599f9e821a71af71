"""Typed settings shared by reward-model training and loading (no heavy imports)."""
from __future__ import annotations

from typing import Literal

Precision = Literal["fp32", "bf16-autocast"]
