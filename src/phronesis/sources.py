"""Prompt sources: bundled sets, user files and (when online) the hub, as uniform rows.

Every loader returns rows `{"id": str, "prompt": str, ...other columns}` with
unique ids, so stages can checkpoint and resume by id.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Callable, Literal

from pydantic import model_validator

from .config import StrictModel
from .errors import DataError
from .io import read_jsonl

Row = dict[str, Any]
Format = Literal["auto", "jsonl", "csv", "parquet", "hh-rlhf", "hf-disk", "hf"]


class PromptSetSpec(StrictModel):
    """Where prompts come from. A plain string in YAML means `{source: STRING}`."""

    source: str  # builtin:NAME | path/to/file | hf:ORG/NAME
    format: Format = "auto"
    column: str = "prompt"
    id_column: str | None = "id"
    split: str = "train"  # for hub datasets
    hh_mode: Literal["first_turn", "dialogue"] = "first_turn"  # for the hh-rlhf transcript format
    limit: int | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value):
        return {"source": value} if isinstance(value, str) else value


def builtin_path(relative: str) -> Path:
    """A file shipped inside the package's data folder."""
    return Path(str(resources.files("phronesis") / "data" / relative))


def builtin_prompt_sets() -> list[str]:
    folder = builtin_path("prompts")
    return sorted(p.stem for p in folder.glob("*.jsonl")) if folder.exists() else []


def resolve_source(spec: PromptSetSpec) -> tuple[str, Path | str]:
    """(format, location) with `auto` resolved from the file name."""
    if spec.source.startswith("builtin:"):
        name = spec.source[len("builtin:"):]
        path = builtin_path(f"prompts/{name}.jsonl")
        if not path.exists():
            raise DataError(f"{spec.source}: no such bundled prompt set (have: {', '.join(builtin_prompt_sets())})")
        return "jsonl", path
    if spec.source.startswith("hf:"):
        return "hf", spec.source[3:]
    path = Path(spec.source).expanduser()
    if spec.format != "auto":
        return spec.format, path
    if path.is_dir():
        return "hf-disk", path
    suffixes = "".join(path.suffixes[-2:])
    for ending, fmt in ((".jsonl.gz", "jsonl"), (".jsonl", "jsonl"), (".json", "jsonl"),
                        (".csv", "csv"), (".parquet", "parquet")):
        if suffixes.endswith(ending):
            return fmt, path
    raise DataError(f"{path}: cannot tell the format from the name; set format: jsonl|csv|parquet|hh-rlhf|hf-disk")


def load_jsonl_prompts(location: Path | str, spec: PromptSetSpec) -> list[Row]:
    return read_jsonl(location, required=[spec.column])


LOADERS: dict[str, Callable[[Path | str, PromptSetSpec], list[Row]]] = {"jsonl": load_jsonl_prompts}


def load_prompts(spec: PromptSetSpec | str) -> list[Row]:
    spec = PromptSetSpec.model_validate(spec)
    fmt, location = resolve_source(spec)
    if fmt not in LOADERS:
        raise DataError(f"{spec.source}: format {fmt!r} has no loader")
    if isinstance(location, Path) and not location.exists():
        raise DataError(f"{location}: file not found")
    rows = LOADERS[fmt](location, spec)
    rows = normalise_rows(rows, spec, str(location))
    return rows[: spec.limit] if spec.limit is not None else rows


def normalise_rows(rows: list[Row], spec: PromptSetSpec, where: str) -> list[Row]:
    """Rename the prompt column to `prompt`, check it is text, and give every row a unique id."""
    out: list[Row] = []
    seen: set[str] = set()
    for number, row in enumerate(rows, start=1):
        prompt = row.get(spec.column)
        if not isinstance(prompt, str) or not prompt.strip():
            raise DataError(f"{where}: row {number}: column {spec.column!r} is empty or not text")
        row_id = str(row[spec.id_column]) if spec.id_column and row.get(spec.id_column) is not None else f"row-{number:05d}"
        if row_id in seen:
            raise DataError(f"{where}: row {number}: duplicate id {row_id!r}")
        seen.add(row_id)
        out.append({**row, "id": row_id, "prompt": prompt})
    if not out:
        raise DataError(f"{where}: no prompts")
    return out
