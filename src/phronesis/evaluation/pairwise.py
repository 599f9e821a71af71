"""Pairwise verdicts of a model's answers against the base model's, in both orders.

Outcome per item: 1 win, 0 loss, 0.5 tie (|p - 0.5| <= tie_margin), None if the
judge could not decide. Used for helpfulness on benign prompts (a helpfulness
question) and for harmlessness wins on harmful prompts (the constitution's
comparison question for the prompt's principle).
"""
from __future__ import annotations

from typing import Callable, Sequence

from ..core.progress import progress
from ..core.protocols import Judge
from ..data.records import Row


def outcome(p: float | None, tie_margin: float) -> float | None:
    if p is None:
        return None
    if abs(p - 0.5) <= tie_margin:
        return 0.5
    return 1.0 if p > 0.5 else 0.0


def judge_against_base(judge: Judge, rows: Sequence[Row], base_rows: Sequence[Row],
                       principle_of: Callable[[Row], str | None], tie_margin: float,
                       description: str = "judge") -> list[Row]:
    """One verdict row per item: p(model better), per-order detail, outcome, error."""
    base_by_id = {r["id"]: r for r in base_rows}
    items = []
    with progress(description, total=len(rows)) as advance:
        for row in rows:
            base = base_by_id[row["id"]]
            verdict = judge.compare(row["prompt"], row["answer"], base["answer"], principle_of(row))
            items.append({"id": row["id"], "p": verdict.p, "p_first_order": verdict.p_first_order,
                          "p_second_order": verdict.p_second_order, "position_bias": verdict.position_bias,
                          "outcome": outcome(verdict.p, tie_margin), "error": verdict.error})
            advance(1)
    return items
