"""`phronesis report RUN_DIR` and `phronesis compare RUN_A RUN_B`."""
from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    app.command("report")(report)
    app.command("compare")(compare)


def report(run_dir: Path = typer.Argument(..., help="An evaluate output folder, or a run folder holding one."),
           out: Path = typer.Option(None, "--out", "-o", help="Where to write report.html (default: beside metrics.json).")) -> None:
    """Write report.html (self-contained), report.md and metrics.json for one evaluation."""
    from ..report.build import build_report

    paths = build_report(run_dir, out)
    for path in paths:
        typer.echo(str(path))


def compare(run_a: Path = typer.Argument(..., help="First evaluation (or run) folder."),
            run_b: Path = typer.Argument(..., help="Second evaluation (or run) folder.")) -> None:
    """Two runs' metrics side by side (e.g. the ethical vs the inverted constitution), then each model's refusal
    rate in run B minus run A on the same prompts, paired (McNemar p, paired bootstrap CI)."""
    from ..report.compare import compare_runs

    typer.echo(compare_runs(run_a, run_b))
