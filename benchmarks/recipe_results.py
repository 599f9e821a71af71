"""Markdown for benchmarks/RESULTS.md from finished runs: machine, wall time per stage, the headline table.

    .venv/bin/python benchmarks/recipe_results.py runs/demo runs/cai_smollm2 >> benchmarks/RESULTS.md

Nothing here is measured anew: it reads each stage's manifest.json and the evaluation's metrics.json.
"""
from __future__ import annotations

import platform
import sys
from pathlib import Path

from phronesis.core.io import read_json
from phronesis.report.tables import headline


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    import os

    import torch

    from phronesis.core.hardware import native_bf16

    precision = "bf16 where native (this CPU has it)" if native_bf16("cpu") else "fp32 (no native bf16)"
    return (f"{model}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads), "
            f"{precision}")


def stage_table(run: Path) -> list[str]:
    lines = ["| stage | seconds | counts |", "|---|---|---|"]
    total = 0.0
    for manifest in sorted(run.glob("[0-9][0-9]-*/manifest.json")):
        m = read_json(manifest)
        seconds = m["timings"]["seconds"]
        total += seconds
        counts = ", ".join(f"{k}={v}" for k, v in m.get("counts", {}).items() if not isinstance(v, (dict, list)))
        lines.append(f"| {m['stage']} | {seconds:.0f} | {counts} |")
    lines.append(f"| **all stages** | **{total:.0f}** ({total / 60:.1f} min) | |")
    return lines


def metric_table(run: Path) -> list[str]:
    evaluations = sorted(run.glob("[0-9][0-9]-evaluate/metrics.json"))
    if not evaluations:
        return ["(no evaluation in this run)"]
    header, rows, sentence = headline(read_json(evaluations[-1]))
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines + ["", sentence]


def main(runs: list[str]) -> None:
    print(f"Machine: {machine()}.\n")
    for run in map(Path, runs):
        print(f"### `{run}`\n")
        print("\n".join(stage_table(run)) + "\n")
        print("\n".join(metric_table(run)) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
