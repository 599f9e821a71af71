"""Run a judge over labelled pairs (chosen in slot a for every other pair) and compute judge-eval metrics,
injection included."""
from __future__ import annotations

import time
from dataclasses import replace
from typing import Any, Sequence

from ..protocols import Judgement
from .injection import attacked_pairs, flip_rates, load_attacks
from .metrics import judge_metrics
from .pairwise import Pair, judge_many


def verdicts_for(judge, pairs: Sequence[dict[str, Any]]) -> list[Judgement]:
    """Verdicts as p(chosen better). Every second pair shows `rejected` in slot a, so a judge that always
    prefers one slot scores 0.5, not 1.0; its answers are turned back to the chosen side."""
    items = [Pair(r["prompt"], r["rejected"], r["chosen"], r.get("principle")) if i % 2 else
             Pair(r["prompt"], r["chosen"], r["rejected"], r.get("principle")) for i, r in enumerate(pairs)]
    return [_from_rejected_side(v) if i % 2 else v for i, v in enumerate(judge_many(judge, items))]


def _from_rejected_side(v: Judgement) -> Judgement:
    """p(a better) with a = rejected, as p(chosen better); chosen was then shown second when a was first."""
    flip = lambda p: None if p is None else 1.0 - p  # noqa: E731
    return replace(v, p=flip(v.p), p_first_order=flip(v.p_second_order), p_second_order=flip(v.p_first_order))


def evaluate_judge(judge, pairs: Sequence[dict[str, Any]], inject: bool = False,
                   attacks_path: str | None = None) -> dict[str, Any]:
    started = time.perf_counter()
    verdicts = verdicts_for(judge, pairs)
    report = judge_metrics(pairs, verdicts, time.perf_counter() - started)
    if inject:
        attacks = load_attacks(attacks_path)
        attacked = verdicts_for(judge, attacked_pairs(pairs, attacks))
        clean = [v.p for v in verdicts]
        report.update(flip_rates(clean, [v.p for v in attacked], [a["id"] for a in attacks]))
        report["flip_rate_first_order"] = flip_rates(
            [v.p_first_order for v in verdicts], [v.p_first_order for v in attacked],
            [a["id"] for a in attacks])["flip_rate"]
    return report
