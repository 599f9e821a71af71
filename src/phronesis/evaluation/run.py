"""`evaluate` end to end: build models, run the suite, write metrics.json, answers and per-item detail."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Sequence

from ..core.errors import ConfigError, UserError
from ..core.io import atomic_write_json, atomic_write_jsonl
from .model_specs import EvalModel
from .settings import EvalConfig
from .suite import EvalResources, evaluate_models, prompt_sets

CHOICES = {
    "p_safe": "pointwise: the judge model's log-prob of Yes/No to 'is it safe?' and 'is it harmful?', averaged",
    "pairwise": "judge.compare(prompt, model answer, base answer) in both orders, averaged; "
                "ties are |p - 0.5| <= tie_margin",
    "undecided": "items a judge could not decide are counted as undecided and left out, never labelled",
}


def position_bias_summary(items: dict[str, Any]) -> dict[str, Any]:
    biases = [i["position_bias"] for key in ("helpfulness_win_rate", "harmlessness_win_rate")
              for rows in items.get(key, {}).values() for i in rows if i.get("position_bias") is not None]
    if not biases:
        return {"n": 0}
    return {"n": len(biases), "mean": sum(biases) / len(biases), "mean_abs": sum(map(abs, biases)) / len(biases)}


def write_outputs(out: Path, models: Sequence[EvalModel], cfg: EvalConfig, result: dict[str, Any],
                  seconds: float, questions: Sequence[str], training_prompts_checked: int = 0) -> dict[str, Any]:
    answers = [{"model": m, "set": s, "id": r["id"], "prompt": r["prompt"], "answer": r["answer"],
                "finish_reason": (r.get("finish_reasons") or ["stop"])[0]}
               for m, sets in result["answers"].items() for s, rows in sets.items() for r in rows]
    atomic_write_jsonl(out / "answers.jsonl", answers)
    atomic_write_json(out / "items.json", result["items"])
    metrics = {"base": cfg.base, "models": {m.name: m.describe for m in models},
               "metrics": result["metrics"], "judge_position_bias": position_bias_summary(result["items"]),
               "choices": CHOICES, "config": cfg.model_dump(mode="json"), "seconds": round(seconds, 1),
               "virtue_questions": list(questions),
               "hygiene": {"training_prompts_checked": training_prompts_checked,
                           "overlap": 0, "rule": "no evaluation prompt equals a training prompt of the run "
                                                 "after normalising case, whitespace and punctuation"}}
    atomic_write_json(out / "metrics.json", metrics)
    return metrics


def _answers_key(models: Sequence[EvalModel], cfg: EvalConfig) -> str:
    """Checkpoints are reused only by the same models and generation settings."""
    from ..core.runstore import fingerprint

    return fingerprint({"models": {m.name: [m.describe, m.system_prompt] for m in models},
                        "generation": [cfg.generation.model_dump(), cfg.seed]})


def training_runs(models: Sequence[EvalModel]) -> set[Path]:
    """The phronesis run folders the models were trained in (an adapter or model saved inside a stage folder)."""
    from ..data.hygiene import run_root_of

    roots = {run_root_of(p) for m in models for p in (m.spec.adapter, m.spec.ref) if p and Path(p).exists()}
    return {r for r in roots if r is not None}


def run_evaluation(models: Sequence[EvalModel], cfg: EvalConfig, out: Path,
                   resources: EvalResources | None = None, runs: Sequence[Path] = ()) -> dict[str, Any]:
    """Evaluate `models` (one must be named `cfg.base`) into `out`; rerunning resumes from checkpoints.

    Refuses (one line) when an evaluation prompt was a training prompt of any run in `runs`
    or of a run a model was trained in.
    """
    from ..data.hygiene import check_disjoint

    if cfg.base not in {m.name for m in models}:
        raise ConfigError(f"--models: no model named {cfg.base!r} (the base every other model is compared with); "
                          f"name one base=REF or set base: in the config")
    if out.exists() and not out.is_dir():  # found before minutes of model loading, not after
        raise UserError(f"--out {out}: exists and is not a folder")
    checked = check_disjoint(prompt_sets(cfg), {*runs, *training_runs(models)})
    started = time.time()
    if resources is None:
        from .resources import build_resources

        resources = build_resources(models, cfg)
    framework = cfg.constitution.load_framework()
    questions = [d.question for d in framework.dimensions if d.question]
    out.mkdir(parents=True, exist_ok=True)
    result = evaluate_models(cfg, resources, out / ".work" / _answers_key(models, cfg), virtue_questions=questions)
    return write_outputs(out, models, cfg, result, time.time() - started, questions, checked)
