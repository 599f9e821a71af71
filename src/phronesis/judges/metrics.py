"""judge-eval metrics on labelled pairs; each verdict is p(chosen better). Pure functions of the verdicts."""
from __future__ import annotations

from statistics import mean
from typing import Any, Sequence

from ..stats import bootstrap_ci
from ..protocols import Judgement


def correctness(p: float | None) -> float:
    """1 if the chosen response wins, 0 if it loses; an exact tie counts as a coin flip."""
    if p is None or p == 0.5:
        return 0.5
    return 1.0 if p > 0.5 else 0.0


def expected_calibration_error(ps: Sequence[float], bins: int = 10) -> float:
    """ECE of p(chosen better): confidence max(p, 1−p) against being right, in equal-width bins."""
    buckets: dict[int, list[tuple[float, float]]] = {}
    for p in ps:
        confidence = max(p, 1 - p)
        right = 1.0 if p > 0.5 else 0.0 if p < 0.5 else 0.5
        buckets.setdefault(min(bins - 1, int((confidence - 0.5) * 2 * bins)), []).append((confidence, right))
    total = len(ps)
    return sum(len(b) / total * abs(mean(c for c, _ in b) - mean(r for _, r in b)) for b in buckets.values()) \
        if total else float("nan")


def length_baseline(pairs: Sequence[dict[str, Any]]) -> float:
    """Accuracy of 'the longer reply wins' (ties count half)."""
    scores = [1.0 if len(r["chosen"]) > len(r["rejected"]) else 0.0 if len(r["chosen"]) < len(r["rejected"])
              else 0.5 for r in pairs]
    return mean(scores) if scores else float("nan")


def judge_metrics(pairs: Sequence[dict[str, Any]], verdicts: Sequence[Judgement], seconds: float) -> dict[str, Any]:
    usable = [v for v in verdicts if v.p is not None]
    right = [correctness(v.p) for v in usable]  # undecided pairs are left out (failure_rate counts them)
    first = [correctness(v.p_first_order) for v in usable if v.p_first_order is not None]
    second = [correctness(v.p_second_order) for v in usable if v.p_second_order is not None]
    bias = [v.position_bias for v in usable if v.position_bias is not None]
    ci = bootstrap_ci(right)
    return {"n": len(verdicts), "accuracy": mean(right) if right else float("nan"),
            "accuracy_ci95": [ci["lo"], ci["hi"]],
            "accuracy_first_order": mean(first) if first else None,
            "accuracy_second_order": mean(second) if second else None,
            "position_bias": mean(bias) if bias else None,
            "failure_rate": 1 - len(usable) / len(verdicts) if verdicts else 0.0,
            "ece": expected_calibration_error([v.p for v in usable]),
            "length_baseline_accuracy": length_baseline(pairs),
            "pairs_per_second": len(verdicts) / seconds if seconds > 0 else None}
