"""Stage `report`: the run's answer in one place, the last stage of a pipeline.

It reads the evaluate stage's metrics, answers and items, and every earlier stage's manifest and training
logs (which stage made each model, on what data, its loss/reward/KL curves), and writes a self-contained
`report.html`, `report.md` and a copy of `metrics.json` into its own folder. `phronesis report` builds the
same page for an evaluation made outside a pipeline.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from ..core.config import StrictModel

STAGE = "report"


class ReportConfig(StrictModel):
    evaluation: str = Field("stage:evaluate", pattern=r"^stage:")  # the evaluate stage whose results to report


def run(ctx) -> Any:
    from ..core.runstore import run_stage

    cfg: ReportConfig = ctx.section(STAGE)
    evaluation, inputs = ctx.locate(cfg.evaluation)
    for earlier in ctx.config.stages[:ctx.config.stages.index(STAGE)]:  # their labels and curves are reported
        inputs.update(ctx.locate(f"stage:{earlier}")[1])

    def body(stage) -> dict[str, Any]:
        from ..report.build import build_report

        paths = build_report(Path(evaluation), stage.path)
        stage.counts["wrote"] = ", ".join(p.name for p in paths)
        return {}

    return run_stage(ctx.run, ctx.index(STAGE), STAGE, ctx.fingerprint_inputs(STAGE), inputs=inputs, body=body,
                     seed=ctx.seed, force=ctx.force)
