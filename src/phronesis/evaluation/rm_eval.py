"""Evaluate any RewardModel on preference pairs or on labelled single texts.

Works on the protocol only, so tests pass fakes. For an ensemble it also reports every
member's accuracy and every aggregator's, from one scoring pass.
"""
from __future__ import annotations

import random
from typing import Any, Sequence

import numpy as np

from ..core.protocols import RewardModel
from ..core.stats import length_baseline_accuracy
from ..data.records import Row, text_of
from .rm_metrics import best_threshold, binary_metrics, pairwise_metrics

BINARY_PROMPT = "Tell me about your values and how you act."


def _score_pairs(rm: RewardModel, rows: Sequence[Row]) -> tuple[list[float], list[float], dict[str, Any] | None]:
    """Chosen and rejected scores in one call (so an ensemble batches both), plus raw member scores."""
    prompts = [r["prompt"] for r in rows] * 2
    completions = [r["chosen"] for r in rows] + [r["rejected"] for r in rows]
    n = len(rows)
    if hasattr(rm, "score_members") and hasattr(rm, "raw_member_scores"):
        raw = rm.raw_member_scores(prompts, completions)
        scores = rm.aggregator.combine(rm.normalise(raw))
        return scores[:n], scores[n:], raw
    scores = list(rm.score(prompts, completions))
    return scores[:n], scores[n:], None


def evaluate_pairs(rm: RewardModel, rows: Sequence[Row], seed: int = 0) -> dict[str, Any]:
    chosen, rejected, raw = _score_pairs(rm, rows)
    result = pairwise_metrics(chosen, rejected, seed=seed)
    result["length_baseline_accuracy"] = length_baseline_accuracy(
        [text_of(r["chosen"]) for r in rows], [text_of(r["rejected"]) for r in rows])
    if raw is not None:
        result.update(_ensemble_breakdown(rm, raw, len(rows), seed))
    return result


def _ensemble_breakdown(rm: Any, raw: dict[str, list[float]], n: int, seed: int) -> dict[str, Any]:
    from ..rewards.ensemble import AGGREGATORS, Aggregator

    normalised = rm.normalise(raw)
    members = {name: pairwise_metrics(s[:n], s[n:], seed=seed) for name, s in raw.items()}
    aggregators = {}
    for name in AGGREGATORS:
        if name == "weighted" and not rm.aggregator.weights:
            aggregators[name] = {"skipped": "no member weights in the ensemble's aggregator.weights"}
            continue
        combined = Aggregator.model_validate({**rm.aggregator.model_dump(), "name": name}).combine(normalised)
        aggregators[name] = pairwise_metrics(combined[:n], combined[n:], seed=seed)
    return {"aggregator": rm.aggregator.model_dump(), "members": members, "aggregators": aggregators}


def evaluate_binary(rm: RewardModel, rows: Sequence[Row], threshold: str = "median", seed: int = 0,
                    prompt: str = BINARY_PROMPT) -> dict[str, Any]:
    """Score each text as the assistant's answer to `prompt` and read the score as a classifier.

    threshold "median": cut at the median score (half predicted positive), all rows.
    threshold "calibrated": pick the MCC-best cutoff on a seeded half, report on the other half.
    ROC-AUC needs no threshold.
    """
    scores = np.asarray(rm.score([prompt] * len(rows), [r["text"] for r in rows]), dtype=np.float64)
    labels = np.asarray([r["label"] for r in rows], dtype=int)
    if threshold == "median":
        out = binary_metrics(labels, scores, float(np.median(scores)))
    elif threshold == "calibrated":
        order = list(range(len(rows)))
        random.Random(seed).shuffle(order)
        calib, test = np.asarray(order[: len(order) // 2]), np.asarray(order[len(order) // 2:])
        cutoff = best_threshold(labels[calib], scores[calib])
        out = {**binary_metrics(labels[test], scores[test], cutoff), "calibration_rows": int(calib.size)}
    else:
        raise ValueError(f"threshold must be 'median' or 'calibrated', not {threshold!r}")
    out.update(threshold_mode=threshold, prompt=prompt, mean_score_positive=float(scores[labels == 1].mean()),
               mean_score_negative=float(scores[labels == 0].mean()))
    return out
