"""Failure accounting: a judge that cannot decide records None; too many Nones abort the run."""
from __future__ import annotations

import math
from typing import Sequence

from ..core.errors import StageError
from ..core.protocols import Judgement


def two_way_probability(logps: dict[str, float | None], first: str, second: str) -> tuple[float | None, str | None]:
    """p(first label) renormalised over the two labels, or (None, reason)."""
    la, lb = logps.get(first), logps.get(second)
    if la is None or lb is None:
        return None, f"no log-prob for option {first if la is None else second!r}"
    if not (math.isfinite(la) and math.isfinite(lb)):
        if math.isinf(la) and math.isinf(lb):
            return None, "both option log-probs are -inf"
        if not (math.isnan(la) or math.isnan(lb)):
            return (1.0 if la > lb else 0.0), None
        return None, "option log-prob is NaN"
    if la == lb:  # bit-identical: the tokenizer maps both labels to one first token, nothing was measured
        return None, f"options {first!r} and {second!r} read the same log-prob (one token for both?)"
    top = max(la, lb)
    ea, eb = math.exp(la - top), math.exp(lb - top)
    return ea / (ea + eb), None


def failure_rate(judgements: Sequence[Judgement]) -> float:
    return sum(j.p is None for j in judgements) / len(judgements) if judgements else 0.0


def check_failure_rate(judgements: Sequence[Judgement], max_failure_rate: float, who: str = "judge") -> None:
    """One-line StageError when more than `max_failure_rate` of the verdicts are None."""
    rate = failure_rate(judgements)
    if judgements and rate > max_failure_rate:
        failed = sum(j.p is None for j in judgements)
        first = next(j.error for j in judgements if j.p is None)
        raise StageError(f"{who}: {failed}/{len(judgements)} pairs ({rate:.0%}) had no usable probabilities, "
                         f"above judge.max_failure_rate={max_failure_rate} (first reason: {first})")
