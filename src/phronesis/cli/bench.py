"""`phronesis bench`: our fast paths against the naive way, each pair measured in one process run."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)


def parse_only(only: Optional[str]) -> list[str]:
    """`--only generation,judging` -> those benchmarks, in the order given; None -> all of them."""
    from ..bench import BENCHMARKS
    from ..core.errors import did_you_mean

    names = [n.strip() for n in only.split(",") if n.strip()] if only else list(BENCHMARKS)
    for name in names:
        if name not in BENCHMARKS:
            raise typer.BadParameter(f"unknown benchmark {name!r}"
                                     + did_you_mean(name, BENCHMARKS, f" (have: {', '.join(BENCHMARKS)})"))
    return names


def _cell(side: dict, unit: str) -> str:
    extra = f", {side['peak_rss_mb']:.0f} MB" if "peak_rss_mb" in side else ""
    return f"{side['seconds']:.1f} s ({side['per_s']} {unit}/s{extra})"


def _ratio(figures: dict) -> str:
    if "rss_vs_one_rm" in figures:
        return f"time {figures['time_vs_sum']}x the sum; RSS {figures['rss_vs_one_rm']}x one RM"
    return f"{figures['ratio']}x"


def bench(model: str = typer.Option("catalog:smollm2-135m-instruct", "--model",
                                    help="Model ref for generation, best-of-N, judging and the reward models' base."),
          embedder: str = typer.Option("catalog:minilm-l6-v2", "--embedder", help="Embedder ref for SaGE."),
          only: Optional[str] = typer.Option(None, "--only", metavar="NAMES",
                                             help="Comma-separated benchmarks to run: generation, best_of_n, "
                                                  "judging, reward, sage. Default: all."),
          quick: bool = typer.Option(False, "--quick", help="Tiny sizes and one repeat: checks that every "
                                                             "benchmark runs, in seconds; its figures mean nothing."),
          batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1,
                                                   help="Prompts per batch for ours (default 64; --quick 8)."),
          repeats: Optional[int] = typer.Option(None, "--repeats", min=1,
                                                help="Runs of each side; the median is reported (default 3; "
                                                     "--quick 1)."),
          json_out: Optional[Path] = typer.Option(None, "--json", help="Also write every figure, the machine and "
                                                                       "the sizes here.")) -> None:
    """Each fast path against the naive way, in the same process run, on the same builtin inputs.

    \b
    generation  64 prompts x 128 new tokens, greedy. naive: one fp32 model.generate per prompt.
                ours: TransformersGenerator with the stages' default ModelSpec (only batch_size set).
    best_of_n   32 prompts x N=8 x 64 tokens, sampled. naive: N generate calls per prompt. ours: one call.
    judging     64 pairs x 2 orders. naive: generate 5 tokens and parse A/B.
                ours: PairwiseLogProbJudge reading the option log-probs in one forward pass.
    reward      K=4 LoRA reward adapters (random but real) scoring 256 pairs. naive: 4 separately loaded
                LoraRewardModels. ours: MultiAdapterRewardModel (one base). Each runs in its own
                subprocess, so peak RSS is its own; a third subprocess loads one RM for scale.
    sage        30 groups x 5 answers. naive: embed one answer at a time. ours: consistency.sage_per_group.

    Prints one table (naive, ours, ratio, the issue's target and whether it was met) and, with --json,
    writes everything. Figures hold for the machine they ran on, which is recorded with them; commit a
    run's JSON under benchmarks/results/ to keep it. Progress goes to stderr. Example:

        phronesis bench --only generation,judging --repeats 1 --json bench.json
    """
    from dataclasses import replace

    from rich.console import Console
    from rich.table import Table

    from ..bench import QUICK, Sizes, run_benchmarks
    from ..core.io import atomic_write_json

    names = parse_only(only)
    sizes = QUICK if quick else Sizes()
    sizes = replace(sizes, **{k: v for k, v in (("batch_size", batch_size), ("repeats", repeats)) if v})
    result = run_benchmarks(model, embedder, sizes, names)
    m = result["machine"]
    table = Table("benchmark", "naive", "ours", "ratio", "target", "met?",
                  title=f"{model} on {m['cpu']} ({m['cores']} cores, {m['torch_threads']} torch threads)")
    for name, figures in result["benchmarks"].items():
        table.add_row(name, _cell(figures["naive"], figures["unit"]), _cell(figures["ours"], figures["unit"]),
                      _ratio(figures), figures["target"], "yes" if figures["met"] else "NO")
    Console().print(table)
    if json_out:
        atomic_write_json(json_out, result)
