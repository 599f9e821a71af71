"""Two evaluations side by side (e.g. ethical vs inverted constitution): same metric, same model name."""
from __future__ import annotations

from pathlib import Path

from .build import load_metrics
from .tables import format_ci, format_diff


def compare_runs(run_a: Path, run_b: Path) -> str:
    """A Markdown table: per metric and model, run A and run B with CIs (and each run's diff vs its base)."""
    a, b = load_metrics(run_a), load_metrics(run_b)
    lines = [f"| metric | model | {run_a} | {run_b} |", "|---|---|---|---|"]
    for name in [n for n in a["metrics"] if n in b["metrics"]]:
        ma, mb = a["metrics"][name], b["metrics"][name]
        for model in [m for m in ma["per_model"] if m in mb["per_model"]]:
            lines.append(f"| {name} | {model} | {format_ci(ma['per_model'][model])} | "
                         f"{format_ci(mb['per_model'][model])} |")
            if model in ma.get("vs_base", {}) and model in mb.get("vs_base", {}):
                lines.append(f"| {name} | {model} − base | {format_diff(ma['vs_base'][model])} | "
                             f"{format_diff(mb['vs_base'][model])} |")
    only = sorted(set(a["metrics"]) ^ set(b["metrics"]))
    if only:
        lines.append(f"\nMetrics in only one run: {', '.join(only)}")
    return "\n".join(lines)
