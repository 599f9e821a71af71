"""Decaying-threshold selection of teacher rows (the SaGE recipe: `t = max(t_min, t * decay)`).

Early rows must clear a high bar; the bar relaxes row by row down to a floor, so a
pass keeps the best examples first but never starves the data set.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence
from ..data.records import Row


@dataclass
class Selection:
    kept: list[Row]
    thresholds: list[float]  # the threshold each row was compared with, in row order
    scores: list[float]

    @property
    def kept_fraction(self) -> float:
        return len(self.kept) / len(self.thresholds) if self.thresholds else 0.0


def select_by_decaying_threshold(rows: Sequence[Row], score: Callable[[Row], float], initial: float,
                                 minimum: float, decay: float) -> Selection:
    """Keep a row when `score(row) >= threshold`; after every row, threshold = max(minimum, threshold * decay)."""
    if not 0 < decay <= 1:
        raise ValueError(f"decay must be in (0, 1], got {decay}")
    if minimum > initial:
        raise ValueError(f"minimum {minimum} is above the initial threshold {initial}")
    threshold = initial
    kept, trace, scores = [], [], []
    for row in rows:
        value = float(score(row))
        trace.append(threshold)
        scores.append(value)
        if value >= threshold:
            kept.append(row)
        threshold = max(minimum, threshold * decay)
    return Selection(kept=kept, thresholds=trace, scores=scores)
