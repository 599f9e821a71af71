"""`phronesis evaluate`: compare models on held-out prompts, every metric with a 95% CI."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from ..core.progress import set_quiet

MODELS_HELP = ("NAME=REF, repeatable or space-separated: REF is catalog:NAME, hf:ORG/NAME, a local model or LoRA "
               "adapter folder, or openai:URL#MODEL; add @system:constitution for the prompted baseline or "
               "@system:FILE; a keyed openai: server takes @key_env:VAR (the variable's name, never the key). "
               "One model must be named base.")


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate)


def evaluate(models: List[str] = typer.Option(..., "--models", "-m", help=MODELS_HELP),
             extra: Optional[List[str]] = typer.Argument(None, help="More NAME=REF models after --models."),
             config: Optional[Path] = typer.Option(None, "--config", "-c", help="Evaluation YAML (EvalConfig)."),
             overrides: Optional[List[str]] = typer.Option(None, "--set", "-s", metavar="KEY=VALUE",
                                                           help="Override a config field, e.g. --set generation.max_new_tokens=32."),
             out: Path = typer.Option(..., "--out", "-o", help="Output folder (rerun the same command to resume)."),
             quiet: bool = typer.Option(False, "--quiet", "-q")) -> None:
    """Answer held-out harmful, benign, jailbreak and paraphrase prompts with each model; write metrics.json."""
    from ..core.config import load_config
    from ..evaluation.model_specs import parse_models
    from ..evaluation.run import run_evaluation
    from ..evaluation.settings import EvalConfig
    from ..report.tables import print_metrics_table

    set_quiet(quiet)
    cfg = load_config(EvalConfig, config, overrides or [], base=EvalConfig().model_dump(mode="json"))  # --set merges over defaults
    parsed = parse_models(list(models) + list(extra or []), cfg.constitution.load())
    metrics = run_evaluation(parsed, cfg, out)
    print_metrics_table(metrics)
    typer.echo(str(out / "metrics.json"))
