"""`phronesis judge-eval` (accuracy, CI, bias, calibration, injections) and `phronesis judge-train`."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from ..core.errors import ConfigError
from ..core.progress import set_quiet


def register(app: typer.Typer) -> None:
    app.command("judge-eval")(judge_eval)
    app.command("judge-train")(judge_train)


def _judge_from_options(judge_ref: Optional[str], config: Optional[Path], overrides: list[str],
                        weights: Optional[str] = None):
    from ..data.modelref import ModelSpec
    from ..judges import JudgeConfig, build_judge

    if sum(x is not None for x in (judge_ref, config, weights)) > 1:
        raise ConfigError("judge-eval: give one of --judge, --config, --weights")
    if weights:
        return build_judge(JudgeConfig(weights=weights, max_failure_rate=1.0),
                           {"embedder": ModelSpec(ref="catalog:minilm-l6-v2")})
    if config:
        from ..core.runstore import Run
        from ..pipeline import PipelineContext, load_pipeline_config

        cfg = load_pipeline_config(config, overrides)
        ctx = PipelineContext(config=cfg, run=Run(cfg.run.dir, cfg.run.name))
        return build_judge(cfg.judge, ctx)
    if judge_ref:  # a model ref: the hardened pairwise log-prob judge on that model
        return build_judge(JudgeConfig(kind="pairwise", max_failure_rate=1.0), {"judge": ModelSpec(ref=judge_ref)})
    return build_judge(JudgeConfig(max_failure_rate=1.0), {"embedder": ModelSpec(ref="catalog:minilm-l6-v2")})


def judge_eval(pairs: str = typer.Option(..., "--pairs", help="JSONL(.gz) of prompt/chosen/rejected, or hh-rlhf "
                                          "transcripts; builtin:judge/calibration.jsonl for the bundled set."),
               judge: Optional[str] = typer.Option(None, "--judge", help="Model ref for a pairwise log-prob judge."),
               config: Optional[Path] = typer.Option(None, "--config", help="Pipeline YAML whose `judge:` to use."),
               overrides: Optional[List[str]] = typer.Option(None, "--set", "-s", help="Config override."),
               json_out: Optional[Path] = typer.Option(None, "--json", help="Write the metrics here."),
               inject: bool = typer.Option(False, "--inject", help="Also append injection attacks to the "
                                           "rejected reply and report how often verdicts flip."),
               weights: Optional[str] = typer.Option(None, "--weights", help="Learned-judge weights JSON "
                                                      "(e.g. from judge-train) instead of the shipped ones."),
               principles: bool = typer.Option(False, "--principles", help="Also ask each pair under its "
                                               "principle and the inverted twin, and benign pairs under the "
                                               "helpfulness and harmlessness questions."),
               limit: Optional[int] = typer.Option(None, "--limit", help="Use the first N pairs."),
               quiet: bool = typer.Option(False, "--quiet", "-q")) -> None:
    """Measure a judge on labelled pairs: debiased accuracy with a bootstrap CI, per-order accuracy,
    position bias, failure rate, ECE, the 'longer wins' baseline and pairs per second.
    Without --judge/--config/--weights the default (learned) judge is measured. `trained_on` names the
    sets a learned judge was trained on, and `pairs_role` whether these pairs are among them."""
    from ..judges.evaluate import evaluate_judge, principle_probes
    from ..judges.pairs import load_pairs

    set_quiet(quiet)
    rows = load_pairs(pairs, limit)
    scorer = _judge_from_options(judge, config, overrides or [], weights)
    report = {"pairs": pairs, **_roles(scorer, pairs), **evaluate_judge(scorer, rows, inject)}
    if principles:
        from ..models.embeddings import TransformersEmbedder

        report.update(principle_probes(scorer, rows, getattr(scorer, "embedder", None) or TransformersEmbedder()))
    from ..report.tables import print_key_values

    print_key_values(report)
    if json_out:
        from ..core.io import atomic_write_json

        atomic_write_json(json_out, report)


def _roles(scorer, pairs: str) -> dict:
    """Which sets trained a learned judge, what chose its settings, which set gates it in a pipeline, and
    which of these the measured pairs are ("unseen" when none)."""
    from ..judges.gate import HELD_OUT_GATE_PAIRS

    record = getattr(scorer, "record", None)
    if not record:
        return {}
    trained = record.get("trained_on", {}).get("sources", [])
    selected = record.get("selected_by", {})
    role = ("training" if pairs in trained else "selection" if pairs in selected.get("sets", [])
            else "gate" if pairs == HELD_OUT_GATE_PAIRS else "unseen")
    return {"sets": {"training": trained, "selection": {k: v for k, v in selected.items() if k != "cv_accuracy"},
                     "gate": HELD_OUT_GATE_PAIRS}, "pairs_role": role}


def judge_train(pairs: List[str] = typer.Option(["builtin:judge/calibration.jsonl"], "--pairs",
                                                help="Preference files to train on (repeatable)."),
                out: Path = typer.Option(..., "--out", help="Weights JSON to write."),
                features: str = typer.Option("principled", help="principled (reads the question; shipped) | "
                                             "response | interaction | joint (principle-blind)"),
                l2: Optional[float] = typer.Option(None, help="L2 penalty of the logistic head. Default: chosen by "
                                                   "5-fold cross-validation on the training pairs (no held-out "
                                                   "or gate set spent on it)."),
                with_few_shot: bool = typer.Option(True, help="Add the bundled critique/revision examples."),
                embedder: str = typer.Option("catalog:minilm-l6-v2", help="Embedding model ref."),
                request_encoder: str = typer.Option(
                    "catalog:smollm2-135m-instruct", help="Chat model whose state at the start of its reply feeds "
                    "the principled head's harmful-request classifier (layer 21); 'embedder' uses the embedding "
                    "model instead."),
                quiet: bool = typer.Option(False, "--quiet", "-q")) -> None:
    """Train the learned judge offline (a logistic head on frozen MiniLM features; its harmful-request classifier
    reads SmolLM2's state at the start of its reply); writes JSON weights.
    Use critique_revise's preferences.jsonl (revision over initial) or wheel:pyrit_harm as extra --pairs.
    Pairs with `kind: benign` are helpful answers over needless refusals; others safe over harmful."""
    from ..judges.learned import REQUEST_ENCODER, save_weights, train_from_sources
    from ..models.embeddings import TransformersEmbedder

    set_quiet(quiet)
    encoder = None if request_encoder == "embedder" else {**REQUEST_ENCODER, "model": request_encoder}
    record = train_from_sources(TransformersEmbedder(embedder), pairs, features, l2, with_few_shot, encoder)
    save_weights(record, out)
    typer.echo(json.dumps({"out": str(out), **record["trained_on"]}))
