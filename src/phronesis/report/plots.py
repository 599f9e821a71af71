"""Matplotlib figures as inline base64 PNG: the forest plot of differences, training curves, position bias, SaGE."""
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


FOREST_CAPTION = "differences vs base"
VERDICT_COLOURS = {"✓": "#2a9d4b", "✗": "#c0392b", "–": "#777777"}


def forest_rows(metrics: dict[str, Any]) -> list[tuple[str, float, float, float, str]]:
    """(label, difference, lo, hi, verdict) for every metric and model with a paired difference vs base."""
    from .tables import verdict

    many = len(metrics["models"]) > 2
    rows = []
    for name, metric in metrics["metrics"].items():
        for model, diff in metric.get("vs_base", {}).items():
            if any(not isinstance(diff.get(k), (int, float)) or diff[k] != diff[k] for k in ("diff", "lo", "hi")):
                continue  # no interval, nothing to draw
            against = " − 0.5" if metric.get("kind") == "win_rate" else ""
            label = f"{name}{against}" + (f" ({model})" if many else "")
            rows.append((label, diff["diff"], diff["lo"], diff["hi"], verdict(metric, model)))
    return rows


def difference_forest(rows: Sequence[tuple[str, float, float, float, str]], base: str) -> str:
    """One forest plot: each difference vs base with its paired 95% CI, coloured ✓ better / ✗ worse / – neither."""
    fig, ax = _figure(6.2, 0.9 + 0.32 * len(rows))
    for y, (label, diff, lo, hi, mark) in enumerate(reversed(rows)):
        colour = VERDICT_COLOURS.get(mark, "#777777")
        ax.plot([lo, hi], [y, y], color=colour, linewidth=2)
        ax.plot([diff], [y], "o", color=colour)
    ax.axvline(0.0, color="black", linewidth=1)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([f"{r[4]} {r[0]}" for r in reversed(rows)], fontsize=8)
    ax.set_xlabel(f"difference vs {base} (paired 95% CI)")
    ax.set_title("differences vs base: green better, red worse, grey no evidence", fontsize=10)
    return _png(fig)


def line_panel(title: str, ylabel: str, lines: dict[str, Sequence[tuple[float, float]]]) -> str:
    """Training curves against step, one line per series."""
    fig, ax = _figure()
    for label, points in lines.items():
        ax.plot([p[0] for p in points], [p[1] for p in points], label=label,
                linewidth=2 if label.endswith("aggregate") else 1)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=10)
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
