"""The `label_preferences` wrapper: upstream files in, judge gate, labelled files out."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import StageError
from ..io import atomic_write_jsonl, read_jsonl
from .label_preferences import (STAGE, LabelPreferencesConfig, cai_rows_from_answers, confidence_filter,
                                label_cai, label_virtue, virtue_sets)


def _inputs(ctx, cfg: LabelPreferencesConfig) -> dict[str, Path]:
    inputs = {}
    if cfg.source != "none":
        upstream = "critique_revise" if cfg.source == "critique" else "generate"
        inputs[upstream] = ctx.run.find_stage(upstream)
    if cfg.virtue:
        inputs["virtue_dialogues"] = ctx.run.find_stage("virtue_dialogues")
    if not inputs:
        raise StageError("label_preferences: nothing to label (source: none and virtue: false)")
    return inputs


def _gated_judge(ctx):
    from ..judges import build_judge
    from ..judges.gate import HELD_OUT_GATE_PAIRS, run_gate

    jcfg = ctx.config.judge
    judge = build_judge(jcfg, ctx)
    trained = getattr(judge, "record", {}).get("trained_on", {}).get("sources", [])
    pairs = jcfg.gate_pairs
    if pairs in trained:  # a judge trained on the gate pairs would pass in-sample; gate it on pairs it never saw
        pairs = HELD_OUT_GATE_PAIRS
    gate = run_gate(judge, pairs, jcfg.skip_gate, jcfg.gate_limit, trained_on_gate_pairs=pairs in trained)
    return judge, gate


def _require_principled_where_asked(judge, cfg, inverted: bool) -> None:
    from ..judges import require_principled

    if cfg.virtue:
        require_principled(judge, "label_preferences.virtue (per-virtue votes)")
    if inverted:
        require_principled(judge, "label_preferences with constitution.invert")
    if cfg.source != "none" and cfg.principles_per_pair > 1:
        require_principled(judge, "label_preferences.principles_per_pair > 1")


def _label_cai_files(ctx, cfg, judge, inputs, stage) -> None:
    if "critique_revise" in inputs:
        rows = read_jsonl(inputs["critique_revise"] / "preferences.jsonl", required=("id", "prompt", "chosen", "rejected"))
    else:
        rows = cai_rows_from_answers(read_jsonl(inputs["generate"] / "answers.jsonl", required=("id", "completions")))
        if not rows:
            raise StageError(f"{inputs['generate']}/answers.jsonl: needs generate.n >= 2 to make pairs")
    labelled = label_cai(judge, rows, ctx.config.constitution.load(), cfg, ctx.seed, stage.checkpoint("cai"))
    kept, counts = confidence_filter(labelled, cfg.confidence_threshold)
    atomic_write_jsonl(stage.file("preferences.jsonl"), kept)
    stage.counts["preferences"] = counts
    stage.samples = [{"prompt": r["prompt"], "chosen": r["chosen"], "rejected": r["rejected"],
                      "p_chosen": round(r["p_chosen"], 3)} for r in kept[:3]]


def _label_virtue_files(ctx, cfg, judge, inputs, stage) -> None:
    framework = ctx.config.constitution.load_framework()
    dialogues = read_jsonl(inputs["virtue_dialogues"] / "dialogues.jsonl", required=("id", "conversations"))
    decisions = label_virtue(judge, dialogues, framework, cfg, stage.checkpoint("virtue"))
    sets, counts = virtue_sets(dialogues, decisions, framework)
    for dimension, rows in sets.items():
        kept, filtered = confidence_filter(rows, cfg.confidence_threshold)
        atomic_write_jsonl(stage.file(f"virtue_{dimension}.jsonl"), kept)
        stage.counts[f"virtue_{dimension}"] = {**counts[dimension], **filtered}


def run_label_preferences(ctx) -> Any:
    from ..judges import judge_fingerprint
    from ..runstore import run_stage

    cfg: LabelPreferencesConfig = ctx.section(STAGE)
    inputs = _inputs(ctx, cfg)
    config = {**ctx.fingerprint_inputs(STAGE), "judge": judge_fingerprint(ctx.config.judge),
              "judge_models": {k: v.model_dump(mode="json") for k, v in ctx.config.models.items()
                               if k in (ctx.config.judge.model, ctx.config.judge.embedder)},
              "constitution": ctx.config.constitution.model_dump(mode="json")}

    def body(stage) -> dict[str, Any]:
        judge, gate = _gated_judge(ctx)
        _require_principled_where_asked(judge, cfg, ctx.config.constitution.invert)
        if cfg.source != "none":
            _label_cai_files(ctx, cfg, judge, inputs, stage)
        if cfg.virtue:
            _label_virtue_files(ctx, cfg, judge, inputs, stage)
        return {"judge_gate": gate}

    return run_stage(ctx.run, ctx.index(STAGE), STAGE, config, inputs=inputs, body=body, seed=ctx.seed,
                     force=ctx.force)
