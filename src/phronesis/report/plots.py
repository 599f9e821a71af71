"""Matplotlib figures as inline base64 PNG: metric bars with CIs, reward curves, position bias, SaGE."""
from __future__ import annotations

import base64
import io
from typing import Any, Sequence


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure(width: float = 7.0, height: float = 3.2):
    import matplotlib

    matplotlib.use("Agg")  # headless: never opens a window
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height))


def metric_bars(name: str, metric: dict[str, Any]) -> str:
    """One bar per model with its 95% CI as error bars."""
    fig, ax = _figure(5.0, 2.8)
    models = list(metric["per_model"])
    means = [metric["per_model"][m]["mean"] for m in models]
    lows = [max(0.0, m - metric["per_model"][k]["lo"]) for k, m in zip(models, means)]
    highs = [max(0.0, metric["per_model"][k]["hi"] - m) for k, m in zip(models, means)]
    ax.bar(models, means, yerr=[lows, highs], capsize=6, color="#4c72b0")
    ax.set_title(f"{name} ({'higher' if metric.get('higher_is_better') else 'lower'} is better)", fontsize=10)
    ax.set_ylabel("mean with 95% CI")
    if metric.get("kind") in ("rate", "win_rate"):
        ax.set_ylim(0, 1.05)  # rates share one scale, so a flat bar at 0 is still visible as 0
    return _png(fig)


def reward_curves(curves: dict[str, Sequence[tuple[float, float]]]) -> str:
    fig, ax = _figure()
    for label, points in curves.items():
        ax.plot([p[0] for p in points], [p[1] for p in points], label=label)
    ax.set_xlabel("step")
    ax.set_ylabel("reward")
    ax.legend(fontsize=8)
    ax.set_title("training rewards", fontsize=10)
    return _png(fig)


def position_bias_histogram(biases: Sequence[float]) -> str:
    fig, ax = _figure(5.0, 2.8)
    ax.hist(list(biases), bins=20, range=(-1, 1), color="#dd8452")
    ax.axvline(0.0, color="black", linewidth=1)
    ax.set_xlabel("p(first shown wins) − p(second shown wins)")
    ax.set_ylabel("judgements")
    ax.set_title("judge position bias", fontsize=10)
    return _png(fig)


def sage_per_group(per_model: dict[str, Sequence[dict[str, Any]]]) -> str:
    import numpy as np

    fig, ax = _figure()
    models = list(per_model)
    groups = [g["id"] for g in per_model[models[0]]]
    width = 0.8 / max(1, len(models))
    for k, model in enumerate(models):
        xs = np.arange(len(groups)) + k * width
        ax.bar(xs, [g["sage"] for g in per_model[model]], width=width, label=model)
    ax.set_xticks(np.arange(len(groups)) + width * (len(models) - 1) / 2)
    ax.set_xticklabels(groups, rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("SaGE")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8)
    ax.set_title("moral consistency per paraphrase group", fontsize=10)
    return _png(fig)
