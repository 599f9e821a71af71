"""Stage `generate`: answers from one model for the configured prompt sets."""
from __future__ import annotations

from typing import Any, Sequence

from pydantic import Field

from ..core.config import GENERATION_DEFAULT, StrictModel, generation_with
from ..core.io import atomic_write_jsonl
from ..core.protocols import GenerationParams
from ..core.resumable import generate_answers
from ..data.records import Row


class GenerateConfig(StrictModel):
    prompt_sets: list[str] = ["harmful_test", "benign_test"]  # names from the `prompts:` section
    model: str = "policy"  # which entry of the `models:` section answers
    generation: generation_with(max_new_tokens=256) = GENERATION_DEFAULT
    n: int = Field(1, ge=1)
    system_prompt: str | None = None
    chunk_size: int = Field(32, ge=1)  # rows per generate call and checkpoint write

    def params(self, seed: int) -> GenerationParams:
        return self.generation.params(seed, n=self.n, system_prompt=self.system_prompt)


def truncation_rate(rows: Sequence[Row]) -> float:
    reasons = [reason for row in rows for reason in row["finish_reasons"]]
    return sum(r == "length" for r in reasons) / len(reasons) if reasons else 0.0


def write_answers(path, rows: Sequence[Row]) -> int:
    return atomic_write_jsonl(path, rows)


def run(ctx) -> Any:
    """Wrapper: read prompt sets, generate with checkpointing, write `answers.jsonl`."""
    from ..core.runstore import run_stage

    cfg: GenerateConfig = ctx.section("generate")
    rows = ctx.prompt_rows(cfg.prompt_sets)

    def body(stage) -> dict[str, Any]:
        generator = ctx.generator(cfg.model)
        out = generate_answers(generator, rows, cfg.params(ctx.seed), stage.checkpoint("answers"),
                               cfg.chunk_size, description="generate")
        write_answers(stage.file("answers.jsonl"), out)
        stage.counts.update(rows=len(out), completions=sum(len(r["completions"]) for r in out),
                            truncation_rate=round(truncation_rate(out), 4))
        stage.samples = [{"id": r["id"], "prompt": r["prompt"], "answer": r["completions"][0]}
                         for r in out[:: max(1, len(out) // 5)][:5]]
        return {}

    return run_stage(ctx.run, ctx.index("generate"), "generate", ctx.fingerprint_inputs("generate"),
                     inputs={}, body=body, seed=ctx.seed, force=ctx.force)
