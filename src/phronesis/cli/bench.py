"""`phronesis bench`: how fast our sampling is against the naive way, measured in one process run."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)


def bench(model: str = typer.Option("catalog:smollm2-135m-instruct", "--model", help="Model ref to sample from."),
          prompts: int = typer.Option(16, "--prompts", min=1, help="Held-out benign prompts to answer."),
          new_tokens: int = typer.Option(64, "--new-tokens", min=1, help="max_new_tokens per answer."),
          n: int = typer.Option(4, "--n", min=1, help="Samples per prompt in the best-of-N benchmark."),
          batch_size: int = typer.Option(8, "--batch-size", min=1, help="Prompts per batch for ours."),
          repeats: int = typer.Option(3, "--repeats", min=1, help="Runs of each; the median is reported."),
          json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the figures here.")) -> None:
    """Generation and best-of-N sampling: one generate call per prompt (the naive way) vs ours, same inputs.

    Prints median seconds, tokens/s and the speed-up, with the machine they came from. Commit a run's JSON
    under benchmarks/ to record it; the figures are not asserted anywhere.
    """
    from rich.console import Console
    from rich.table import Table

    from ..bench import run_benchmarks
    from ..io import atomic_write_json
    from ..sources import load_prompts

    rows = load_prompts({"source": "builtin:benign_test", "limit": prompts})
    result = run_benchmarks(model, [r["prompt"] for r in rows], new_tokens, n, batch_size, repeats)
    table = Table("benchmark", "naive s", "naive tok/s", "ours s", "ours tok/s", "speed-up",
                  title=f"{model} on {result['machine']['cpu']} ({result['machine']['torch_threads']} threads)")
    for name in ("generation", "best_of_n"):
        r = result[name]
        table.add_row(name, str(r["naive"]["seconds"]), str(r["naive"]["tokens_per_s"]), str(r["ours"]["seconds"]),
                      str(r["ours"]["tokens_per_s"]), f"{r['speedup']}x")
    Console().print(table)
    if json_out:
        atomic_write_json(json_out, result)
