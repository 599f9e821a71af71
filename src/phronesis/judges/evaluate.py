"""Run a judge over labelled pairs (chosen in slot a for a seeded random half of them) and compute judge-eval
metrics, injection included."""
from __future__ import annotations

import random
import time
from dataclasses import replace
from typing import Any, Sequence

from ..core.protocols import Judgement
from .injection import attacked_pairs, flip_rates, load_attacks
from .metrics import judge_metrics
from .pairwise import Pair, judge_many


def rejected_first(n: int, seed: int = 0) -> set[int]:
    """The indices of the pairs shown with `rejected` in slot a: a seeded random half (n // 2 exactly), so a
    judge that always prefers one slot scores 0.5 and no fixed pattern of positions can be learned."""
    return set(random.Random(seed).sample(range(n), n // 2))


def verdicts_for(judge, pairs: Sequence[dict[str, Any]], seed: int = 0) -> list[Judgement]:
    """Verdicts as p(chosen better), whichever slot chosen was shown in (see `rejected_first`)."""
    flipped = rejected_first(len(pairs), seed)
    items = [Pair(r["prompt"], r["rejected"], r["chosen"], r.get("principle")) if i in flipped else
             Pair(r["prompt"], r["chosen"], r["rejected"], r.get("principle")) for i, r in enumerate(pairs)]
    return [_from_rejected_side(v) if i in flipped else v for i, v in enumerate(judge_many(judge, items))]


def _from_rejected_side(v: Judgement) -> Judgement:
    """p(a better) with a = rejected, as p(chosen better); chosen was then shown second when a was first."""
    flip = lambda p: None if p is None else 1.0 - p  # noqa: E731
    return replace(v, p=flip(v.p), p_first_order=flip(v.p_second_order), p_second_order=flip(v.p_first_order))


def evaluate_judge(judge, pairs: Sequence[dict[str, Any]], inject: bool = False,
                   attacks_path: str | None = None, seed: int = 0) -> dict[str, Any]:
    started = time.perf_counter()
    verdicts = verdicts_for(judge, pairs, seed)
    report = judge_metrics(pairs, verdicts, time.perf_counter() - started)
    if inject:
        attacks = load_attacks(attacks_path)
        attacked = verdicts_for(judge, attacked_pairs(pairs, attacks), seed)
        clean = [v.p for v in verdicts]
        report.update(flip_rates(clean, [v.p for v in attacked], [a["id"] for a in attacks]))
        report["flip_rate_first_order"] = flip_rates(
            [v.p_first_order for v in verdicts], [v.p_first_order for v in attacked],
            [a["id"] for a in attacks])["flip_rate"]
    return report


def _side(p: float | None) -> int:
    return 0 if p is None or p == 0.5 else (1 if p > 0.5 else -1)


def principle_probes(judge, pairs: Sequence[dict[str, Any]], embedder, constitution=None) -> dict[str, Any]:
    """Does the verdict follow the question? On each pair: the principle it is filed under vs that
    principle's inverted twin (the preference should reverse), and on benign pairs (helpful answer vs
    needless refusal) the helpfulness vs the harmlessness question (they should disagree). Undecided
    verdicts count as neither flipped nor disagreeing."""
    from ..core.stats import bootstrap_ci
    from ..data.constitution import load_constitution
    from .questions import HARMLESSNESS, HELPFULNESS, filed_principles

    constitution = constitution or load_constitution()
    asked = []
    for row, (principles, twins) in zip(pairs, filed_principles(pairs, embedder, constitution)):
        twin_of = {t.id: t for t in twins}
        asked += [(row, p.comparison, twin_of[p.inverse].comparison) for p in principles if p.inverse in twin_of]
    asked += [(row, HELPFULNESS, HARMLESSNESS) for row in pairs if row.get("kind") == "benign"]
    first = verdicts_for(judge, [{**row, "principle": q} for row, q, _ in asked])
    second = verdicts_for(judge, [{**row, "principle": q} for row, _, q in asked])
    report: dict[str, Any] = {}
    for name, keep in (("twin_flip", lambda q: q != HELPFULNESS), ("help_harm_disagree", lambda q: q == HELPFULNESS)):
        hits = [1.0 if _side(a.p) * _side(b.p) < 0 else 0.0
                for (_, q, _), a, b in zip(asked, first, second) if keep(q)]
        right = [1.0 if _side(a.p) > 0 else 0.0 for (_, q, _), a in zip(asked, first) if keep(q)]
        ci = bootstrap_ci(hits) if hits else {"lo": float("nan"), "hi": float("nan")}
        report[f"{name}_rate"] = sum(hits) / len(hits) if hits else float("nan")
        report[f"{name}_ci95"] = [ci["lo"], ci["hi"]]
        report[f"{name}_n"] = len(hits)
        report[f"{name}_first_question_accuracy"] = sum(right) / len(right) if right else float("nan")
    return report
