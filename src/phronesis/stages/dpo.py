"""Stage `dpo`: LoRA DPO on preference rows; the reference is the starting model (SFT or base).

Set beta and loss_type in the `trl:` block. Several preference files are concatenated.
"""
from __future__ import annotations

from typing import Any

from pydantic import Field

from ..core.config import StrictModel
from ..models.lora import LoraSettings
from ..training.checkpoint_selection import CheckpointSelection, publish, selection_prompts, trainer_overrides
from ..training.policy_inputs import Init, init_inputs, load_rows, repeat_rows, starting_model


class DPOStageConfig(StrictModel):
    model: str = "policy"
    init: Init = "auto"  # auto: the sft stage's model when this config has an sft stage (policy_inputs.Init)
    data: list[str] = ["stage:label_preferences/preferences.jsonl"]  # stage:NAME/FILE or paths; concatenated
    max_rows: int | None = None
    repeat: dict[str, int] = Field(default_factory=dict)  # prompt set -> copies of its pairs, as sft.repeat
    lora: LoraSettings = LoraSettings()
    trl: dict[str, Any] = Field(default_factory=dict)  # e.g. {beta: 0.1, loss_type: sigmoid, max_steps: 25}
    select: CheckpointSelection | None = None  # keep the checkpoint a validation split prefers (not the last)


def run(ctx) -> Any:
    from ..core.runstore import run_stage
    from ..training.trl_adapter import train_dpo

    cfg: DPOStageConfig = ctx.section("dpo")
    rows, inputs = load_rows(ctx, cfg.data, required=["prompt", "chosen", "rejected"], max_rows=cfg.max_rows)
    rows = repeat_rows(rows, cfg.repeat, key="dpo.repeat")
    inputs.update(init_inputs(ctx, cfg.init))

    def body(stage) -> dict[str, Any]:
        from ..data.hygiene import record_training_prompts
        from ..data.modelref import resolve_local_path

        record_training_prompts(stage.path, rows + selection_prompts(cfg.select))
        base, _ = starting_model(ctx, cfg.model, cfg.init, stage.path)
        result = train_dpo(base, rows, stage.path / "trainer", cfg.lora,
                           trainer_overrides(cfg.select, cfg.trl, "dpo"))
        stage.counts.update(rows=len(rows), steps=result.steps, seconds_per_step=round(result.seconds_per_step, 3),
                            final_loss=result.last_logged("loss"),
                            final_margin=result.last_logged("rewards/margins"))
        stage.counts.update(publish(result.adapter_dir, stage.path / "adapter", cfg.select,
                                    resolve_local_path(ctx.model_spec(cfg.model).ref), base, ctx.seed,
                                    inverted=ctx.config.constitution.invert))
        return {"base_model": base}

    return run_stage(ctx.run, ctx.index("dpo"), "dpo", ctx.fingerprint_inputs("dpo"), inputs=inputs,
                     body=body, seed=ctx.seed, force=ctx.force)
