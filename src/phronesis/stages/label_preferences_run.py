"""The `label_preferences` wrapper: upstream files in, judge gate, labelled files out."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..core.errors import StageError
from ..core.io import atomic_write_jsonl, iter_jsonl, read_jsonl
from .label_preferences import (STAGE, LabelPreferencesConfig, cai_rows_from_answers, confidence_filter,
                                label_cai, label_virtue, virtue_sets)


def _files(ctx, cfg: LabelPreferencesConfig) -> tuple[dict[str, Path], dict[str, Path]]:
    """({"pairs"/"dialogues": file}, the upstream stage folders they are in)."""
    located, inputs = ctx.locate_each({key: getattr(cfg, key) for key in ("pairs", "dialogues")
                                       if getattr(cfg, key) is not None})
    files = {key: Path(path).expanduser() for key, path in located.items()}
    if not files:
        raise StageError("label_preferences: nothing to label (pairs and dialogues are both null)")
    return files, inputs


def _cai_rows(path: Path) -> list:
    """Pairs as they are, or generate's answers (rows with `completions`) made into pairs."""
    first = next((row for _, row in iter_jsonl(path)), {})  # its shape says which of the two it is
    if "completions" in first and "chosen" not in first:
        pairs = cai_rows_from_answers(read_jsonl(path, required=("id", "prompt", "completions")))
        if not pairs:
            raise StageError(f"{path}: answers with one completion each; generate.n >= 2 makes pairs")
        return pairs
    return read_jsonl(path, required=("id", "prompt", "chosen", "rejected"))


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

    if cfg.dialogues is not None:
        require_principled(judge, "label_preferences.dialogues (per-virtue votes)")
    if inverted:
        require_principled(judge, "label_preferences with constitution.invert")
    if cfg.pairs is not None and cfg.principles_per_pair > 1:
        require_principled(judge, "label_preferences.principles_per_pair > 1")


def _label_cai_files(ctx, cfg, judge, path: Path, stage) -> None:
    rows = _cai_rows(path)
    labelled = label_cai(judge, rows, ctx.config.constitution.load(), cfg, ctx.seed, stage.checkpoint("cai"))
    kept, counts = confidence_filter(labelled, cfg.confidence_threshold)
    atomic_write_jsonl(stage.file("preferences.jsonl"), kept)
    stage.counts["preferences"] = counts
    stage.samples = [{"prompt": r["prompt"], "chosen": r["chosen"], "rejected": r["rejected"],
                      "p_chosen": round(r["p_chosen"], 3)} for r in kept[:3]]


def _label_virtue_files(ctx, cfg, judge, path: Path, stage) -> None:
    framework = ctx.config.constitution.load_framework()
    dialogues = read_jsonl(path, required=("id", "conversations"))
    decisions = label_virtue(judge, dialogues, framework, cfg, stage.checkpoint("virtue"))
    sets, counts = virtue_sets(dialogues, decisions, framework)
    for dimension, rows in sets.items():
        kept, filtered = confidence_filter(rows, cfg.confidence_threshold)
        atomic_write_jsonl(stage.file(f"virtue_{dimension}.jsonl"), kept)
        stage.counts[f"virtue_{dimension}"] = {**counts[dimension], **filtered}


def run_label_preferences(ctx) -> Any:
    from ..core.runstore import run_stage
    from ..judges import judge_fingerprint

    cfg: LabelPreferencesConfig = ctx.section(STAGE)
    files, inputs = _files(ctx, cfg)
    config = {**ctx.fingerprint_inputs(STAGE), "judge": judge_fingerprint(ctx.config.judge),
              "judge_models": {k: v.model_dump(mode="json") for k, v in ctx.config.models.items()
                               if k in (ctx.config.judge.model, ctx.config.judge.embedder)},
              "constitution": ctx.config.constitution.model_dump(mode="json")}

    def body(stage) -> dict[str, Any]:
        judge, gate = _gated_judge(ctx)
        _require_principled_where_asked(judge, cfg, ctx.config.constitution.invert)
        if "pairs" in files:
            _label_cai_files(ctx, cfg, judge, files["pairs"], stage)
        if "dialogues" in files:
            _label_virtue_files(ctx, cfg, judge, files["dialogues"], stage)
        return {"judge_gate": gate}

    return run_stage(ctx.run, ctx.index(STAGE), STAGE, config, inputs=inputs, body=body, seed=ctx.seed,
                     force=ctx.force)
