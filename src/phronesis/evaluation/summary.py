"""Turn per-item values into reported metrics: each model with a CI, each difference vs base with CI and p.

Values are lists aligned by item across models; None marks an item a judge could
not decide. Such items are left out of that model's rate (and counted as
`undecided`) and out of every paired comparison that involves it.
"""
from __future__ import annotations

from typing import Any, Sequence

from ..core import stats

Values = Sequence[float | None]


def _decided(values: Values) -> list[float]:
    return [float(v) for v in values if v is not None]


def _pairs(a: Values, b: Values) -> tuple[list[float], list[float]]:
    kept = [(x, y) for x, y in zip(a, b) if x is not None and y is not None]
    return [float(x) for x, _ in kept], [float(y) for _, y in kept]


def model_ci(values: Values, n_boot: int, seed: int, binary: bool = False) -> dict[str, Any]:
    """A rate gets a Wilson interval (never zero-width at small n); a mean gets the percentile bootstrap."""
    out = stats.wilson_ci(_decided(values)) if binary else stats.bootstrap_ci(_decided(values), n_boot=n_boot, seed=seed)
    out["undecided"] = sum(v is None for v in values)
    return out


def summarise_metric(values_by_model: dict[str, Values], base: str, binary: bool, description: str,
                     higher_is_better: bool, n_boot: int = stats.N_BOOT, n_perm: int = stats.N_PERM,
                     seed: int = 0) -> dict[str, Any]:
    """A metric measured on every model: per-model CI and, for each non-base model, the paired difference."""
    lengths = {len(v) for v in values_by_model.values()}
    if len(lengths) > 1:
        raise ValueError(f"metric {description!r}: models were measured on different item counts {lengths}")
    per_model = {m: model_ci(v, n_boot, seed, binary) for m, v in values_by_model.items()}
    vs_base: dict[str, Any] = {}
    if base in values_by_model:
        for model, values in values_by_model.items():
            if model == base:
                continue
            a, b = _pairs(values, values_by_model[base])
            vs_base[model] = stats.compare_paired(a, b, binary=binary, n_boot=n_boot, n_perm=n_perm, seed=seed)
    return {"description": description, "kind": "rate" if binary else "mean",
            "higher_is_better": higher_is_better, "per_model": per_model, "vs_base": vs_base}


def summarise_win_rate(outcomes_by_model: dict[str, Values], description: str, n_boot: int = stats.N_BOOT,
                       n_perm: int = stats.N_PERM, seed: int = 0) -> dict[str, Any]:
    """Pairwise outcomes vs base (1 win, 0.5 tie, 0 loss): the rate, and its distance from 0.5 (no difference).

    Under "no difference" the two answers are exchangeable, which flips the sign of
    (outcome - 0.5): exactly the sign-flip permutation test.
    """
    per_model, vs_base = {}, {}
    for model, outcomes in outcomes_by_model.items():
        per_model[model] = model_ci(outcomes, n_boot, seed)
        decided = _decided(outcomes)
        vs_base[model] = stats.compare_paired(decided, [0.5] * len(decided), binary=False, n_boot=n_boot,
                                              n_perm=n_perm, seed=seed)
        vs_base[model]["against"] = "0.5 (no preference)"
    return {"description": description, "kind": "win_rate", "higher_is_better": True,
            "per_model": per_model, "vs_base": vs_base}


def agreement(a: Values, b: Values) -> dict[str, Any]:
    """How often two binary labelings of the same items agree, with Cohen's kappa."""
    x, y = _pairs(a, b)
    n = len(x)
    if n == 0:
        return {"n": 0, "agreement": None, "kappa": None}
    agree = sum(u == v for u, v in zip(x, y)) / n
    px, py = sum(x) / n, sum(y) / n
    chance = px * py + (1 - px) * (1 - py)
    kappa = None if chance >= 1.0 else (agree - chance) / (1 - chance)
    return {"n": n, "agreement": agree, "kappa": kappa, "undecided": len(a) - n}


def add_holm(metrics: dict[str, Any]) -> None:
    """Give every difference vs base a `p_holm`: Holm-adjusted over all the metrics tested for that model."""
    per_model: dict[str, list[dict[str, Any]]] = {}
    for metric in metrics.values():
        for model, diff in metric.get("vs_base", {}).items():
            if diff.get("p") is not None:
                per_model.setdefault(model, []).append(diff)
    for diffs in per_model.values():
        for diff, adjusted in zip(diffs, stats.holm([float(d["p"]) for d in diffs])):
            diff["p_holm"] = adjusted
