"""Intervals and tests for every reported figure (evaluation, judges, reward models): nothing without its uncertainty.

Everything is seeded and vectorised with numpy:
- `bootstrap_ci`: BCa bootstrap 95% CI of a mean (rates use `wilson_ci`);
- `paired_bootstrap_ci`: CI of mean(a - b) when a and b were measured on the same items;
- `paired_permutation_p`: two-sided sign-flip test of mean(a - b) = 0 (exact for n <= 16);
- `mcnemar_exact_p`: exact McNemar test for two paired binary rates;
- `bootstrap_statistic`: CI of any statistic of per-item rows (e.g. mean - 0.5 std of an ensemble);
- `pair_wins`, `length_baseline_accuracy`: pairwise wins, and the "longer answer wins" baseline every
  judge and reward model is compared with.
"""
from __future__ import annotations

import itertools
import math
from typing import Any, Callable, Sequence

import numpy as np

LEVEL = 0.95
N_BOOT = 2000
N_PERM = 10000
EXACT_PERMUTATION_MAX_N = 16


def _clean(values: Sequence[float]) -> np.ndarray:
    return np.asarray([float(v) for v in values], dtype=float)


def _percentiles(samples: np.ndarray, level: float) -> tuple[float, float]:
    tail = (1.0 - level) / 2 * 100
    lo, hi = np.percentile(samples, [tail, 100 - tail])
    return float(lo), float(hi)


def jackknife_acceleration(x: np.ndarray) -> float:
    """BCa's acceleration of the mean: skewness of the leave-one-out means (Efron 1987, eq. 6.6)."""
    loo = (x.sum() - x) / (x.size - 1)
    d = loo.mean() - loo
    denom = 6.0 * float((d ** 2).sum()) ** 1.5
    return float((d ** 3).sum()) / denom if denom > 0 else 0.0


def bootstrap_ci(values: Sequence[float], n_boot: int = N_BOOT, seed: int = 0,
                 level: float = LEVEL) -> dict[str, Any]:
    """{"mean", "lo", "hi", "n", "method"}: bias-corrected and accelerated (BCa) bootstrap CI of the mean.

    The plain percentile interval under-covers for skewed data at small n; BCa moves the percentiles by
    the bootstrap's median bias (z0) and the jackknife skewness (a). Where z0 is undefined (every
    resample on one side, e.g. constant input) it falls back to the percentile interval.
    """
    x = _clean(values)
    if x.size == 0:
        return {"mean": math.nan, "lo": math.nan, "hi": math.nan, "n": 0, "method": "bca"}
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(n_boot, x.size))].mean(axis=1)
    mean = float(x.mean())
    below = float((means < mean).mean() + 0.5 * (means == mean).mean())
    if x.size < 3 or not 0.0 < below < 1.0:
        lo, hi = _percentiles(means, level)
        return {"mean": mean, "lo": lo, "hi": hi, "n": int(x.size), "method": "percentile"}
    from statistics import NormalDist

    normal = NormalDist()
    z0, a = normal.inv_cdf(below), jackknife_acceleration(x)
    tails = []
    for q in ((1.0 - level) / 2, (1.0 + level) / 2):
        z = z0 + normal.inv_cdf(q)
        tails.append(100 * normal.cdf(z0 + z / (1 - a * z)))
    lo, hi = np.percentile(means, tails)
    return {"mean": mean, "lo": float(lo), "hi": float(hi), "n": int(x.size), "method": "bca"}


def wilson_ci(values: Sequence[float], level: float = LEVEL) -> dict[str, Any]:
    """{"mean", "lo", "hi", "n", "method"}: Wilson score interval of a rate (a mean of 0/1 values).

    Unlike the percentile bootstrap it is never zero-width: 0/6 gives [0, 0.39], not [0, 0].
    """
    x = _clean(values)
    n = int(x.size)
    if n == 0:
        return {"mean": math.nan, "lo": math.nan, "hi": math.nan, "n": 0, "method": "wilson"}
    from statistics import NormalDist

    z = NormalDist().inv_cdf(0.5 + level / 2)
    p = float(x.mean())
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return {"mean": p, "lo": max(0.0, centre - half), "hi": min(1.0, centre + half), "n": n, "method": "wilson"}


def paired_bootstrap_ci(a: Sequence[float], b: Sequence[float], n_boot: int = N_BOOT, seed: int = 0,
                        level: float = LEVEL) -> dict[str, Any]:
    """CI of mean(a) - mean(b) resampling the *pairs*, so per-item difficulty cancels."""
    x, y = _clean(a), _clean(b)
    if x.shape != y.shape:
        raise ValueError(f"paired samples differ in length: {x.size} vs {y.size}")
    out = bootstrap_ci(x - y, n_boot=n_boot, seed=seed, level=level)
    return {"diff": out["mean"], "lo": out["lo"], "hi": out["hi"], "n": out["n"]}


def paired_permutation_p(a: Sequence[float], b: Sequence[float], n_perm: int = N_PERM, seed: int = 0) -> float:
    """Two-sided sign-flip permutation p-value for mean(a - b) = 0.

    Under the null each pair's difference is equally likely to have either sign. For
    n <= 16 all 2^n sign patterns are enumerated (exact); above that `n_perm` random
    patterns are drawn and the observed one is counted in (p is never 0).
    """
    d = _clean(a) - _clean(b)
    if d.size == 0:
        return math.nan
    observed = abs(d.mean())
    tolerance = 1e-12 * max(1.0, observed)
    if d.size <= EXACT_PERMUTATION_MAX_N:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=d.size)))
        stats = np.abs((signs * d).mean(axis=1))
        return float((stats >= observed - tolerance).mean())
    rng = np.random.default_rng(seed)
    signs = rng.choice((-1.0, 1.0), size=(n_perm, d.size))
    stats = np.abs((signs * d).mean(axis=1))
    return float((1 + (stats >= observed - tolerance).sum()) / (n_perm + 1))


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values (family-wise error control across the metrics a report tests).

    Sorted ascending, the k-th smallest (k from 0) becomes max over j <= k of (m - j) * p_(j), capped at 1;
    NaN p-values are left out of the family and stay NaN.
    """
    finite = sorted((p, i) for i, p in enumerate(pvalues) if not math.isnan(p))
    m = len(finite)
    adjusted = [math.nan] * len(pvalues)
    running = 0.0
    for rank, (p, i) in enumerate(finite):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted


def mcnemar_exact_p(a: Sequence[bool], b: Sequence[bool]) -> float:
    """Exact two-sided McNemar p-value: a binomial(n01 + n10, 1/2) test on the discordant pairs."""
    x = np.asarray(a, dtype=bool)
    y = np.asarray(b, dtype=bool)
    if x.shape != y.shape:
        raise ValueError(f"paired samples differ in length: {x.size} vs {y.size}")
    only_a = int((x & ~y).sum())
    only_b = int((~x & y).sum())
    n = only_a + only_b
    if n == 0:
        return 1.0
    k = min(only_a, only_b)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n
    return float(min(1.0, 2 * tail))


def compare_paired(a: Sequence[float], b: Sequence[float], binary: bool, n_boot: int = N_BOOT,
                   n_perm: int = N_PERM, seed: int = 0) -> dict[str, Any]:
    """Difference a - b with its paired bootstrap CI and a p-value (McNemar for 0/1, else permutation)."""
    out = paired_bootstrap_ci(a, b, n_boot=n_boot, seed=seed)
    if binary:
        out.update(p=mcnemar_exact_p([bool(v) for v in a], [bool(v) for v in b]), test="mcnemar-exact")
    else:
        out.update(p=paired_permutation_p(a, b, n_perm=n_perm, seed=seed), test="paired-permutation")
    return out


def bootstrap_statistic(rows: np.ndarray, statistic: Callable[[np.ndarray], np.ndarray],
                        n_boot: int = N_BOOT, seed: int = 0, level: float = LEVEL) -> dict[str, Any]:
    """CI of `statistic` over items: `rows` is (n_items, ...), flattened per item; `statistic` maps (B, n, k) -> (B,)."""
    rows = np.asarray(rows, dtype=float)
    rows = rows.reshape(rows.shape[0], -1)  # items x (all their scores)
    if rows.shape[0] == 0:
        return {"mean": math.nan, "lo": math.nan, "hi": math.nan, "n": 0}
    point = float(statistic(rows[None])[0])
    rng = np.random.default_rng(seed)
    stats = statistic(rows[rng.integers(0, rows.shape[0], size=(n_boot, rows.shape[0]))])
    lo, hi = _percentiles(stats, level)
    return {"mean": point, "lo": lo, "hi": hi, "n": int(rows.shape[0])}


def paired_bootstrap_statistic(rows_a: np.ndarray, rows_b: np.ndarray,
                               statistic: Callable[[np.ndarray], np.ndarray], n_boot: int = N_BOOT,
                               n_perm: int = N_PERM, seed: int = 0, level: float = LEVEL) -> dict[str, Any]:
    """statistic(a) - statistic(b) on the same items: paired bootstrap CI and a swap-permutation p."""
    a, b = np.asarray(rows_a, dtype=float), np.asarray(rows_b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired item matrices differ in shape: {a.shape} vs {b.shape}")
    a, b = a.reshape(a.shape[0], -1), b.reshape(b.shape[0], -1)  # items x (all their scores)
    n = a.shape[0]
    diff = float(statistic(a[None])[0] - statistic(b[None])[0])
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    lo, hi = _percentiles(statistic(a[idx]) - statistic(b[idx]), level)
    swap = rng.random((n_perm, n)) < 0.5  # under the null, a and b are exchangeable per item
    perm_a = np.where(swap[..., None], b[None], a[None])
    perm_b = np.where(swap[..., None], a[None], b[None])
    null = np.abs(statistic(perm_a) - statistic(perm_b))
    p = float((1 + (null >= abs(diff) - 1e-12).sum()) / (n_perm + 1))
    return {"diff": diff, "lo": lo, "hi": hi, "n": n, "p": p, "test": "paired-permutation"}


def pair_wins(chosen: Sequence[float], rejected: Sequence[float]) -> np.ndarray:
    """1 where chosen scored higher, 0 where lower, 0.5 for a tie."""
    c, r = np.asarray(chosen, dtype=np.float64), np.asarray(rejected, dtype=np.float64)
    if c.shape != r.shape:
        raise ValueError(f"{c.size} chosen scores but {r.size} rejected scores")
    return np.where(c > r, 1.0, np.where(c < r, 0.0, 0.5))


def length_baseline_accuracy(chosen_texts: Sequence[str], rejected_texts: Sequence[str]) -> float:
    """Accuracy of "the longer answer wins": what an RM that only learned length would score."""
    return float(pair_wins([len(t) for t in chosen_texts], [len(t) for t in rejected_texts]).mean())
