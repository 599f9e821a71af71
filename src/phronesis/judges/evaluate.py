"""Run a judge over labelled pairs (chosen as `a`) and compute judge-eval metrics, injection included."""
from __future__ import annotations

import time
from typing import Any, Sequence

from .injection import attacked_pairs, flip_rates, load_attacks
from .metrics import judge_metrics
from .pairwise import Pair, judge_many


def verdicts_for(judge, pairs: Sequence[dict[str, Any]]):
    return judge_many(judge, [Pair(r["prompt"], r["chosen"], r["rejected"], r.get("principle")) for r in pairs])


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
