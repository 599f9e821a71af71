"""`phronesis judge-eval` (accuracy, CI, bias, calibration, injections) and `phronesis judge-train`."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from ..errors import ConfigError
from ..progress import set_quiet


def register(app: typer.Typer) -> None:
    app.command("judge-eval")(judge_eval)
    app.command("judge-train")(judge_train)


def _judge_from_options(judge_ref: Optional[str], config: Optional[Path], overrides: list[str]):
    from ..judges import JudgeConfig, build_judge
    from ..modelref import ModelSpec

    if judge_ref and config:
        raise ConfigError("judge-eval: give --judge or --config, not both")
    if config:
        from ..pipeline import PipelineContext, load_pipeline_config
        from ..runstore import Run

        cfg = load_pipeline_config(config, overrides)
        ctx = PipelineContext(config=cfg, run=Run(cfg.run.dir, cfg.run.name))
        return build_judge(cfg.judge, ctx)
    if judge_ref:  # a model ref: the hardened pairwise log-prob judge on that model
        return build_judge(JudgeConfig(kind="pairwise", max_failure_rate=1.0), {"judge": ModelSpec(ref=judge_ref)})
    return build_judge(JudgeConfig(max_failure_rate=1.0), {"embedder": ModelSpec(ref="catalog:minilm-l6-v2")})


def _print_table(report: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("metric", "value")
    for key, value in report.items():
        if isinstance(value, float):
            value = f"{value:.4f}"
        elif isinstance(value, list):
            value = " – ".join(f"{v:.4f}" for v in value)
        elif isinstance(value, dict):
            value = ", ".join(f"{k}={v:.3f}" for k, v in value.items())
        table.add_row(key, str(value))
    Console().print(table)


def judge_eval(pairs: str = typer.Option(..., "--pairs", help="JSONL(.gz) of prompt/chosen/rejected, or hh-rlhf "
                                          "transcripts; builtin:judge/calibration.jsonl for the bundled set."),
               judge: Optional[str] = typer.Option(None, "--judge", help="Model ref for a pairwise log-prob judge."),
               config: Optional[Path] = typer.Option(None, "--config", help="Pipeline YAML whose `judge:` to use."),
               overrides: Optional[List[str]] = typer.Option(None, "--set", "-s", help="Config override."),
               json_out: Optional[Path] = typer.Option(None, "--json", help="Write the metrics here."),
               inject: bool = typer.Option(False, "--inject", help="Also append injection attacks to the "
                                           "rejected reply and report how often verdicts flip."),
               limit: Optional[int] = typer.Option(None, "--limit", help="Use the first N pairs."),
               quiet: bool = typer.Option(False, "--quiet", "-q")) -> None:
    """Measure a judge on labelled pairs: debiased accuracy with a bootstrap CI, per-order accuracy,
    position bias, failure rate, ECE, the 'longer wins' baseline and pairs per second.
    Without --judge/--config the default (learned) judge is measured."""
    from ..judges.evaluate import evaluate_judge
    from ..judges.pairs import load_pairs

    set_quiet(quiet)
    rows = load_pairs(pairs, limit)
    report = {"pairs": pairs, **evaluate_judge(_judge_from_options(judge, config, overrides or []), rows, inject)}
    _print_table(report)
    if json_out:
        from ..io import atomic_write_json

        atomic_write_json(json_out, report)


def judge_train(pairs: List[str] = typer.Option(["builtin:judge/calibration.jsonl"], "--pairs",
                                                help="Preference files to train on (repeatable)."),
                out: Path = typer.Option(..., "--out", help="Weights JSON to write."),
                features: str = typer.Option("joint", help="response | interaction | joint (the shipped judge: joint)"),
                l2: float = typer.Option(0.1, help="L2 penalty of the logistic head (shipped: 0.1)."),
                with_few_shot: bool = typer.Option(True, help="Add the bundled critique/revision examples."),
                embedder: str = typer.Option("catalog:minilm-l6-v2", help="Embedding model ref."),
                quiet: bool = typer.Option(False, "--quiet", "-q")) -> None:
    """Train the learned judge (logistic head on frozen MiniLM features) offline; writes JSON weights.
    Use critique_revise's preferences.jsonl (revision over initial) as extra --pairs."""
    from ..embeddings import TransformersEmbedder
    from ..judges.learned import save_weights, train_learned_judge
    from ..judges.pairs import load_pairs
    from ..judges.prompts import bundled_shot_pairs

    set_quiet(quiet)
    rows = [r for ref in pairs for r in load_pairs(ref)]
    sources = list(pairs)
    if with_few_shot:
        rows, sources = rows + bundled_shot_pairs(), sources + ["builtin:few_shot/critique_revision.yaml"]
    record = train_learned_judge(TransformersEmbedder(embedder), rows, features, l2, sources)
    save_weights(record, out)
    typer.echo(json.dumps({"out": str(out), **record["trained_on"]}))
