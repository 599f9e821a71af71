"""Stage `sft`: LoRA SFT on messages rows (critique_revise's sft.jsonl by default), assistant tokens only."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from ..core.config import StrictModel
from ..core.io import replace_tree
from ..models.lora import LoraSettings
from ..training.checkpoint_selection import CheckpointSelection, publish, selection_prompts, trainer_overrides
from ..training.policy_inputs import BUNDLED_CHAT_TEMPLATE, chat_template_path, load_rows, repeat_rows, starting_model


class SFTStageConfig(StrictModel):
    model: str = "policy"  # the `models:` entry to fine-tune
    data: list[str] = ["stage:critique_revise/sft.jsonl"]  # stage:NAME/FILE or paths; concatenated
    max_rows: int | None = None
    # prompt set -> copies of its rows, e.g. {benign_train: 2}: weighs a set more in the loss. In the full
    # recipe the benign look-alikes twice cut needless refusals on held-out prompts (see RESULTS.md)
    repeat: dict[str, int] = Field(default_factory=dict)
    lora: LoraSettings = LoraSettings()
    # A template with {% generation %} markers: assistant-only loss needs them (SmolLM2's lacks them).
    chat_template: str | None = BUNDLED_CHAT_TEMPLATE
    merge: bool = False  # also write merged/ (base + adapter folded) for generators and later stages
    trl: dict[str, Any] = Field(default_factory=dict)  # passed straight to trl.SFTConfig
    select: CheckpointSelection | None = None  # keep the checkpoint a validation split prefers (not the last)


def train(base: str, rows: list[dict[str, Any]], out: Path, cfg: SFTStageConfig, seed: int = 0,
          inverted: bool = False) -> dict[str, Any]:
    """Core: train, copy the adapter (or the checkpoint cfg.select keeps) to out/adapter, optionally merge;
    returns the counts."""
    from ..training.trl_adapter import train_sft

    result = train_sft(base, rows, out / "trainer", cfg.lora, trainer_overrides(cfg.select, cfg.trl, "sft"),
                       chat_template_path(cfg.chat_template))
    selected = publish(result.adapter_dir, out / "adapter", cfg.select, base, base, seed, inverted)
    if cfg.merge:
        from ..models.lora import merge_adapter

        if cfg.lora.enabled:
            merge_adapter(base, out / "adapter", out / "merged")
        else:
            replace_tree(out / "adapter", out / "merged")
    return {"rows": len(rows), "steps": result.steps, "seconds_per_step": round(result.seconds_per_step, 3),
            "final_loss": result.last_logged("loss"), "resumed_from": result.resumed_from, **selected}


def run(ctx) -> Any:
    from ..core.runstore import run_stage

    cfg: SFTStageConfig = ctx.section("sft")
    rows, inputs = load_rows(ctx, cfg.data, required=["messages"], max_rows=cfg.max_rows)
    rows = repeat_rows(rows, cfg.repeat, key="sft.repeat")

    def body(stage) -> dict[str, Any]:
        from ..data.hygiene import record_training_prompts

        base, _ = starting_model(ctx, cfg.model, "base", stage.path)
        record_training_prompts(stage.path, rows + selection_prompts(cfg.select))
        stage.counts.update(train(base, rows, stage.path, cfg, ctx.seed, ctx.config.constitution.invert))
        return {"base_model": base}

    return run_stage(ctx.run, ctx.index("sft"), "sft", ctx.fingerprint_inputs("sft"), inputs=inputs,
                     body=body, seed=ctx.seed, force=ctx.force)
