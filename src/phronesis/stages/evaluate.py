"""Stage `evaluate`: compare the configured models on held-out prompts (see phronesis.evaluation).

`evaluate.models` maps a name to a model ref (with optional @system:...), or to
`stage:NAME`, the model or LoRA adapter an earlier training stage of this run saved.
The pipeline's `constitution:` section is the one the prompted baseline is told.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..core.errors import StageError
from ..evaluation.settings import EvalConfig

PROMPTED = "catalog:smollm2-135m-instruct@system:constitution"


class EvaluateConfig(EvalConfig):
    models: dict[str, str] = {"base": "catalog:smollm2-135m-instruct", "base+constitution": PROMPTED}


def stage_model_folder(stage_dir: Path) -> Path:
    """The saved model inside a training stage folder: an adapter/ or model/ subfolder, or the folder itself."""
    for candidate in (stage_dir / "adapter", stage_dir / "model", stage_dir):
        if (candidate / "adapter_config.json").is_file() or (candidate / "config.json").is_file():
            return candidate
    raise StageError(f"{stage_dir}: no saved model (adapter_config.json or config.json) to evaluate")


def stage_models(cfg: EvaluateConfig, ctx) -> tuple[list[str], dict[str, Path]]:
    """`NAME=REF[@SYSTEM]` per model, a `stage:NAME` ref made the model that stage saved; and those stages."""
    args, inputs = [], {}
    for name, ref in cfg.models.items():
        ref, at, system = ref.partition("@") if ref.startswith("stage:") else (ref, "", "")
        folder, found = ctx.locate(ref)
        if found:
            folder = str(stage_model_folder(Path(folder)))
        args.append(f"{name}={folder}{at}{system}")
        inputs.update(found)
    return args, inputs


def run(ctx) -> Any:
    from ..core.runstore import run_stage
    from ..evaluation.model_specs import parse_models
    from ..evaluation.run import run_evaluation
    from ..judges import judge_fingerprint

    cfg: EvaluateConfig = ctx.section("evaluate").model_copy(update={"constitution": ctx.config.constitution})
    model_refs, inputs = stage_models(cfg, ctx)
    reward_paths, reward_inputs = ctx.locate_each(cfg.reward_models)  # stage:train_reward/NAME or paths
    inputs.update(reward_inputs)

    def body(stage) -> dict[str, Any]:
        models = parse_models(model_refs, cfg.constitution.load())
        eval_cfg = EvalConfig.model_validate({**cfg.model_dump(exclude={"models"}), "reward_models": reward_paths})
        metrics = run_evaluation(models, eval_cfg, stage.path, runs=[ctx.run.root])
        stage.counts.update(metrics=len(metrics["metrics"]), models=len(models))
        return {}

    fingerprint = {**cfg.model_dump(mode="json"), "judge": judge_fingerprint(cfg.judge)}  # with its weights' bytes
    return run_stage(ctx.run, ctx.index("evaluate"), "evaluate", fingerprint, inputs=inputs, body=body, seed=ctx.seed,
                     force=ctx.force)
