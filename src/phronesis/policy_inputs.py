"""Where policy stages get their data and starting model: upstream stage files or plain paths.

A data entry "critique_revise/sft.jsonl" means file sft.jsonl in this run's finished
`critique_revise` stage folder; anything else is a path to a JSONL file.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from .errors import DataError, StageError
from .io import read_jsonl
from .runstore import CHECKPOINT_DIR
from .sources import builtin_path

BUNDLED_CHAT_TEMPLATE = "chat_templates/smollm2_assistant_mask.jinja"


def resolve_data_file(run: Any, entry: str) -> tuple[Path, str | None]:
    """(file path, upstream stage name or None) for one `data:` entry."""
    stage, sep, name = entry.partition("/")
    if sep and "/" not in name and not Path(entry).exists() and not stage.startswith("."):
        return run.find_stage(stage) / name, stage
    path = Path(entry).expanduser()
    if not path.is_file():
        raise DataError(f"{entry}: no such data file (use STAGE/FILE for an upstream stage, or a path)")
    return path, None


def load_rows(run: Any, entries: list[str], required: list[str], max_rows: int | None = None
              ) -> tuple[list[dict[str, Any]], dict[str, Path]]:
    """Concatenate the rows of every entry; returns rows and the upstream stage folders they came from."""
    rows: list[dict[str, Any]] = []
    inputs: dict[str, Path] = {}
    for entry in entries:
        path, stage = resolve_data_file(run, entry)
        if stage is not None:
            inputs[stage] = path.parent
        rows += read_jsonl(path, required=required)
    if not rows:
        raise DataError(f"{', '.join(entries)}: no training rows")
    return (rows[:max_rows] if max_rows else rows), inputs


def repeat_rows(rows: list[dict[str, Any]], repeat: dict[str, int], key: str = "repeat") -> list[dict[str, Any]]:
    """Each row of prompt set S (id "S/...") `repeat[S]` times, the copies right after it; a set matching
    no row is refused, since a misspelt name would otherwise weight nothing and say nothing."""
    sets = {str(r.get("id", "")).partition("/")[0] for r in rows}
    for name, times in repeat.items():
        if name not in sets:
            raise DataError(f"{key}: {name!r} names no row's prompt set (row ids start with one of: "
                            f"{', '.join(sorted(sets))})")
        if times < 1:
            raise DataError(f"{key}: {name}: {times} copies; use 1 or more")
    out: list[dict[str, Any]] = []
    for row in rows:
        times = repeat.get(str(row.get("id", "")).partition("/")[0], 1)
        out += [row] + [{**row, "id": f"{row['id']}#{k}"} for k in range(2, times + 1)]
    return out


def chat_template_path(value: str | None) -> str | None:
    """A template file path; a bare bundled name resolves inside phronesis/data."""
    if value is None:
        return None
    if Path(value).expanduser().is_file():
        return str(Path(value).expanduser())
    return str(builtin_path(value))


def starting_model(ctx: Any, model_name: str, init: str, stage_dir: Path) -> tuple[str, dict[str, Path]]:
    """The model a stage trains from: the base, or the SFT stage's result (merged if it is an adapter).

    With LoRA on top, "adapter disabled" then means exactly this starting model,
    so DPO/RL's reference is the SFT model (or the base when init is "base").
    A merged SFT model is published as stage_dir/start_model, not kept in scratch: the stage's adapter names
    it as its base, so the adapter must stay loadable when scratch folders are cleaned.
    """
    from .modelref import resolve_local_path

    base = resolve_local_path(ctx.model_spec(model_name).ref)
    inputs = init_inputs(ctx, init)
    if not inputs:
        return base, {}
    sft_dir = inputs["sft"]
    if (sft_dir / "merged").is_dir():
        return str(sft_dir / "merged"), inputs
    if not (sft_dir / "adapter").is_dir():
        raise StageError(f"{sft_dir}: has neither merged/ nor adapter/; rerun the sft stage")
    merged = (stage_dir / "start_model").resolve()  # absolute: the adapter records it as its base
    if not (merged / "config.json").exists():
        from .lora import merge_adapter

        partial = stage_dir / CHECKPOINT_DIR / "start_model"  # renamed into place whole: a kill leaves no half model
        merge_adapter(base, sft_dir / "adapter", partial)
        shutil.rmtree(merged, ignore_errors=True)
        partial.rename(merged)
    return str(merged), inputs


def init_inputs(ctx: Any, init: str) -> dict[str, Path]:
    """The upstream folders `starting_model` will read, known before the stage runs (for its fingerprint)."""
    # auto: this config's own sft stage, never an sft folder another config happened to leave on disk
    if init == "sft" or (init == "auto" and "sft" in ctx.config.stages):
        return {"sft": ctx.run.find_stage("sft")}
    return {}


def resolve_stage_ref(run: Any, ref: str) -> tuple[str, dict[str, Path]]:
    """`stage:NAME` -> that finished stage folder of this run (and it as an input); anything else as is."""
    if not ref.startswith("stage:"):
        return ref, {}
    name = ref[len("stage:"):]
    folder = run.find_stage(name)
    return str(folder), {name: folder}


