"""Where policy stages get their data and starting model: upstream stage files or plain paths.

A data entry "stage:critique_revise/sft.jsonl" means file sft.jsonl in this run's finished
`critique_revise` stage folder (see pipeline.STAGE_REF); anything else is a path to a JSONL file.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field

from ..core.errors import DataError, StageError
from ..core.io import read_jsonl
from ..core.runstore import CHECKPOINT_DIR
from ..data.sources import builtin_path

BUNDLED_CHAT_TEMPLATE = "chat_templates/smollm2_assistant_mask.jinja"
# Where DPO and RL start: `auto` (this config's sft stage if it has one, else the base), `base`, or the model
# an earlier stage saved (`stage:sft`: its merged/ folder, or its adapter/ merged onto the base it records).
Init = Annotated[str, Field(pattern=r"^(auto|base|stage:[a-z_]+)$")]


def resolve_data_file(ctx: Any, entry: str) -> tuple[Path, dict[str, Path]]:
    """(file path, {upstream stage: its folder} or {}) for one `data:` entry."""
    located, inputs = ctx.locate(entry)
    path = Path(located).expanduser()
    if not path.is_file():
        stage = entry.partition("/")[0]
        hint = f"; an upstream stage's file is written stage:{entry}" if stage in ctx.config.stages else ""
        raise DataError(f"{entry}: no such data file{hint}")
    return path, inputs


def load_rows(ctx: Any, entries: list[str], required: list[str], max_rows: int | None = None
              ) -> tuple[list[dict[str, Any]], dict[str, Path]]:
    """Concatenate the rows of every entry; returns rows and the upstream stage folders they came from."""
    rows: list[dict[str, Any]] = []
    inputs: dict[str, Path] = {}
    for entry in entries:
        path, found = resolve_data_file(ctx, entry)
        inputs.update(found)
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
    """A template file path; a bare bundled name resolves inside phronesis/builtin."""
    if value is None:
        return None
    if Path(value).expanduser().is_file():
        return str(Path(value).expanduser())
    return str(builtin_path(value))


def starting_model(ctx: Any, model_name: str, init: str, stage_dir: Path) -> tuple[str, dict[str, Path]]:
    """The model a stage trains from: the base, or an earlier stage's model, usually SFT's (merged if an adapter).

    With LoRA on top, "adapter disabled" then means exactly this starting model,
    so DPO/RL's reference is the SFT model (or the base when init is "base").
    A merged SFT model is published as stage_dir/start_model, not kept in scratch: the stage's adapter names
    it as its base, so the adapter must stay loadable when scratch folders are cleaned.
    """
    inputs = init_inputs(ctx, init)
    if not inputs:
        from ..data.modelref import resolve_local_path

        return resolve_local_path(ctx.model_spec(model_name).ref), {}
    ((name, folder),) = inputs.items()
    if (folder / "merged").is_dir():
        return str(folder / "merged"), inputs
    if not (folder / "adapter").is_dir():
        raise StageError(f"{folder}: has neither merged/ nor adapter/ (init names stage {name!r}, which saved no model)")
    merged = (stage_dir / "start_model").resolve()  # absolute: the adapter records it as its base
    if not (merged / "config.json").exists():
        from ..models.lora import adapter_base, merge_adapter

        partial = stage_dir / CHECKPOINT_DIR / "start_model"  # renamed into place whole: a kill leaves no half model
        # onto the base that adapter was trained on (the policy's for sft, sft's merged model for a dpo adapter)
        merge_adapter(adapter_base(folder / "adapter"), folder / "adapter", partial)
        shutil.rmtree(merged, ignore_errors=True)
        partial.rename(merged)
    return str(merged), inputs


def init_inputs(ctx: Any, init: str) -> dict[str, Path]:
    """The upstream folder `starting_model` will read ({} for the base), known before the stage runs."""
    if init == "auto":  # this config's own sft stage, never an sft folder another config left on disk
        init = "stage:sft" if "sft" in ctx.config.stages else "base"
    return {} if init == "base" else ctx.locate(init)[1]


