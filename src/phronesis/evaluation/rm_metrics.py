"""Reward-model metrics, pure numpy: pairwise accuracy with a bootstrap CI, the length
baseline, MCC and ROC-AUC for an RM read as a binary classifier."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ..core import stats
from ..core.stats import pair_wins


def bootstrap_ci(values: Sequence[float], n_resamples: int = 2000, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float]:
    """(low, high) of stats.bootstrap_ci: the same seeded resampling, as a pair."""
    ci = stats.bootstrap_ci(values, n_boot=n_resamples, seed=seed, level=level)
    return ci["lo"], ci["hi"]


def pairwise_metrics(chosen: Sequence[float], rejected: Sequence[float], seed: int = 0) -> dict[str, float]:
    wins = pair_wins(chosen, rejected)
    margins = np.asarray(chosen, dtype=np.float64) - np.asarray(rejected, dtype=np.float64)
    low, high = bootstrap_ci(wins, seed=seed)
    return {"pairs": int(wins.size), "accuracy": float(wins.mean()) if wins.size else math.nan,
            "accuracy_ci95": [low, high], "mean_margin": float(margins.mean()) if margins.size else math.nan}


def mcc(labels: Sequence[int], predictions: Sequence[int]) -> float:
    """Matthews correlation coefficient; 0 when a row or column of the confusion matrix is empty."""
    y, p = np.asarray(labels, dtype=bool), np.asarray(predictions, dtype=bool)
    tp, tn = float(np.sum(y & p)), float(np.sum(~y & ~p))
    fp, fn = float(np.sum(~y & p)), float(np.sum(y & ~p))
    denom = math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return (tp * tn - fp * fn) / denom if denom else 0.0


def roc_auc(labels: Sequence[int], scores: Sequence[float]) -> float:
    """P(score of a random positive > score of a random negative), ties counting half."""
    y = np.asarray(labels, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    pos, neg = s[y], s[~y]
    if pos.size == 0 or neg.size == 0:
        return math.nan
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (pos.size * neg.size))


def best_threshold(labels: Sequence[int], scores: Sequence[float]) -> float:
    """The cutoff (midpoint between sorted scores) that maximises MCC on a calibration set."""
    s = np.sort(np.unique(np.asarray(scores, dtype=np.float64)))
    candidates = np.concatenate([[s[0] - 1.0], (s[:-1] + s[1:]) / 2.0, [s[-1] + 1.0]])
    best = max(candidates, key=lambda t: mcc(labels, np.asarray(scores) > t))
    return float(best)


def binary_metrics(labels: Sequence[int], scores: Sequence[float], threshold: float) -> dict[str, float]:
    y = np.asarray(labels, dtype=bool)
    predicted = np.asarray(scores, dtype=np.float64) > threshold
    return {"rows": int(y.size), "positives": int(y.sum()), "threshold": float(threshold),
            "mcc": mcc(y, predicted), "accuracy": float((predicted == y).mean()),
            "roc_auc": roc_auc(y, scores)}
