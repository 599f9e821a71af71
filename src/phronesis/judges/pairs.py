"""Labelled pair files for judge evaluation: JSONL prompt/chosen/rejected, or hh-rlhf transcripts."""
from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from ..errors import DataError
from ..protocols import Conversation
from ..sources import builtin_path

Row = dict[str, Any]


def split_transcript(text: str) -> Conversation:
    """'\\n\\nHuman: ...\\n\\nAssistant: ...' into messages."""
    messages: Conversation = []
    for chunk in text.split("\n\nHuman:")[1:]:
        human, *assistants = chunk.split("\n\nAssistant:")
        messages.append({"role": "user", "content": human.strip()})
        messages.extend({"role": "assistant", "content": a.strip()} for a in assistants)
    return messages


def _from_transcripts(chosen: str, rejected: str, where: str) -> Row:
    c, r = split_transcript(chosen), split_transcript(rejected)
    if not c or not r or c[-1]["role"] != "assistant" or r[-1]["role"] != "assistant":
        raise DataError(f"{where}: hh-rlhf transcript does not end with an Assistant turn")
    return {"prompt": c[:-1], "chosen": c[-1]["content"], "rejected": r[-1]["content"]}


def _last_text(value: Any, where: str, key: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value and isinstance(value[-1], dict) and "content" in value[-1]:
        return value[-1]["content"]
    raise DataError(f"{where}: `{key}` must be a string or a non-empty message list")


def normalise_pair(raw: Row, where: str) -> Row:
    """{id, prompt (str or messages), chosen (str), rejected (str), kind?}."""
    if "chosen" not in raw or "rejected" not in raw:
        raise DataError(f"{where}: needs `chosen` and `rejected`")
    if "prompt" not in raw and isinstance(raw["chosen"], str) and "\n\nAssistant:" in raw["chosen"]:
        row = _from_transcripts(raw["chosen"], raw["rejected"], where)
    elif "prompt" in raw:
        row = {"prompt": raw["prompt"], "chosen": _last_text(raw["chosen"], where, "chosen"),
               "rejected": _last_text(raw["rejected"], where, "rejected")}
    else:
        raise DataError(f"{where}: needs `prompt` (or hh-rlhf transcripts in chosen/rejected)")
    return {"id": str(raw.get("id", where.rsplit(":", 1)[-1])), **row,
            **({"kind": raw["kind"]} if "kind" in raw else {})}


def resolve_pairs_path(ref: str | Path) -> Path:
    ref = str(ref)
    path = builtin_path(ref[len("builtin:"):]) if ref.startswith("builtin:") else Path(ref).expanduser()
    if not path.is_file():
        raise DataError(f"{ref}: pairs file not found")
    return path


def load_pairs(ref: str | Path, limit: int | None = None) -> list[Row]:
    """Read a pairs file (.jsonl or .jsonl.gz); `limit` keeps the first N rows."""
    path = resolve_pairs_path(ref)
    opener = gzip.open if path.suffix == ".gz" else open
    rows: list[Row] = []
    with opener(path, "rt", encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if limit is not None and len(rows) >= limit:
                break
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{number}: not JSON ({exc.msg})") from None
            rows.append(normalise_pair(raw, f"{path}:{number}"))
    if not rows:
        raise DataError(f"{path}: no pairs")
    return rows
