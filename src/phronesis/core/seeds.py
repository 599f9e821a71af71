"""One way to derive a seed: from the run seed and what is being drawn for, never from the order of work.

A seed that depends on a row's id, a batch's text or a (conversation, turn) pair draws the same whether a run
is fresh, resumed after a kill, or processes rows in another order.
"""
from __future__ import annotations

import hashlib


def derive_seed(seed: int, *parts: object) -> int:
    """A 32-bit seed fixed by (seed, parts): sha256 over them joined by NUL characters."""
    text = "\x00".join([str(seed), *map(str, parts)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")
