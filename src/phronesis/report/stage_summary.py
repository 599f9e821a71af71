"""One line per finished stage, read off its manifest: `02-sft  112 rows, 24 steps, 5.8 s/step, final loss 1.76  141 s`.

Generic over stages: every stage reports its `counts`, and this turns any counts into words, so a new
stage gets a summary line without code here.
"""
from __future__ import annotations

from typing import Any

SKIP = {"resumed_from", "chosen_by"}  # provenance, not a result: the manifest keeps them
UNITS = {"seconds_per_step": "{:.1f} s/step"}


def format_count(key: str, value: Any) -> str:
    """A count reads `112 rows`; a measurement reads `final loss 1.76`; a nested set reads `name (…)`."""
    if isinstance(value, dict):
        return f"{key} ({format_counts(value)})"
    if key in UNITS:
        return UNITS[key].format(value)
    label = key.replace("_", " ")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"{label} {value}"
    if isinstance(value, int):
        return f"{value} {label}"
    return f"{label} {value:.3g}"


def format_counts(counts: dict[str, Any]) -> str:
    return ", ".join(format_count(k, v) for k, v in counts.items() if k not in SKIP and v is not None)


def format_seconds(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 600 else f"{seconds / 60:.1f} min"


def stage_summary(folder: str, manifest: dict[str, Any], skipped: bool = False) -> str:
    """The stage's line for the console; a skipped stage says so and shows the counts it had."""
    counts = format_counts(manifest.get("counts", {})) or "done"
    if skipped:
        return f"{folder}  up to date: {counts}"
    return f"{folder}  {counts}  {format_seconds(manifest.get('timings', {}).get('seconds', 0))}"
