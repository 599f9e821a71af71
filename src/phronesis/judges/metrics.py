"""judge-eval metrics on labelled pairs; each verdict is p(chosen better). Pure functions of the verdicts."""
from __future__ import annotations

from statistics import mean
from typing import Any, Sequence

from ..core.protocols import Judgement
from ..core.stats import bootstrap_ci, length_baseline_accuracy


def decided(p: float | None) -> bool:
    """A verdict picks a side: not a failure (None) and not an exact tie."""
    return p is not None and p != 0.5


def correctness(p: float) -> float:
    """1 if the chosen response wins, 0 if it loses (undecided verdicts are counted apart, never as 0.5)."""
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


def judge_metrics(pairs: Sequence[dict[str, Any]], verdicts: Sequence[Judgement], seconds: float) -> dict[str, Any]:
    """`accuracy` is over decided verdicts; `undecided_rate` says how many were left out (failures and exact
    ties), and `accuracy_of_all` counts them as wrong: the figure the gate reads, so abstaining cannot pass."""
    usable = [v for v in verdicts if v.p is not None]
    right = [correctness(v.p) for v in usable if decided(v.p)]
    of_all = right + [0.0] * (len(verdicts) - len(right))
    first = [correctness(v.p_first_order) for v in usable if decided(v.p_first_order)]
    second = [correctness(v.p_second_order) for v in usable if decided(v.p_second_order)]
    bias = [v.position_bias for v in usable if v.position_bias is not None]
    nan = float("nan")
    ci, ci_all = bootstrap_ci(right), bootstrap_ci(of_all)
    return {"n": len(verdicts), "accuracy": mean(right) if right else nan,
            "accuracy_ci95": [ci["lo"], ci["hi"]],
            "undecided_rate": 1 - len(right) / len(verdicts) if verdicts else 0.0,
            "accuracy_of_all": mean(of_all) if of_all else nan,
            "accuracy_of_all_ci95": [ci_all["lo"], ci_all["hi"]],
            "accuracy_first_order": mean(first) if first else None,
            "accuracy_second_order": mean(second) if second else None,
            "position_bias": mean(bias) if bias else None,
            "failure_rate": 1 - len(usable) / len(verdicts) if verdicts else 0.0,
            "ece": expected_calibration_error([v.p for v in usable]),
            "length_baseline_accuracy": length_baseline_accuracy([r["chosen"] for r in pairs],
                                                                 [r["rejected"] for r in pairs]),
            "pairs_per_second": len(verdicts) / seconds if seconds > 0 else None}
