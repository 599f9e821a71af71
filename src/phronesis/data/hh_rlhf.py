"""Anthropic hh-rlhf transcripts (`\\n\\nHuman: … \\n\\nAssistant: …`) as prompts or preference pairs.

Each source row holds two full transcripts, `chosen` and `rejected`, that share a
dialogue and differ in the final assistant reply. We split them at the last
`\\n\\nAssistant:` inside their common prefix, so the prompt is exactly what both
transcripts share. (A handful of upstream rows have a stray `Human:` without the
blank line before it; splitting on the shared prefix keeps those usable.)
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from ..core.errors import DataError
from ..core.io import iter_jsonl
from ..core.protocols import Conversation
from .records import preference_row

HUMAN, ASSISTANT = "\n\nHuman:", "\n\nAssistant:"
_TURN = re.compile(r"\n\n(Human|Assistant):")
_ROLES = {"Human": "user", "Assistant": "assistant"}


def parse_transcript(text: str) -> Conversation:
    """`\\n\\nHuman: a\\n\\nAssistant: b` -> [{"role": "user", "content": "a"}, {"role": "assistant", ...}]."""
    parts = _TURN.split(text)
    if parts[0].strip():
        raise ValueError("transcript does not start with a Human: or Assistant: turn")
    return [{"role": _ROLES[speaker], "content": body.strip()}
            for speaker, body in zip(parts[1::2], parts[2::2])]


def read_transcript_rows(path: str | Path) -> list[dict[str, Any]]:
    """Raw `{"chosen", "rejected"}` rows from .jsonl or .jsonl.gz, failing on the first bad line."""
    rows = []
    for number, row in iter_jsonl(path):
        if not isinstance(row.get("chosen"), str):
            raise DataError(f"{path}: line {number}: expected an object with a 'chosen' transcript")
        rows.append({**row, "_line": number})
    if not rows:
        raise DataError(f"{path}: no rows (empty file)")
    return rows


def split_pair(chosen: str, rejected: str) -> tuple[str, str, str]:
    """(shared prefix ending in a Human turn, chosen reply, rejected reply)."""
    common = 0
    limit = min(len(chosen), len(rejected))
    while common < limit and chosen[common] == rejected[common]:
        common += 1
    cut = chosen.rfind(ASSISTANT, 0, common)  # the marker must lie wholly in the shared part
    if cut < 0:
        raise ValueError("no Assistant: turn in the shared part of chosen and rejected")
    start = cut + len(ASSISTANT)
    return chosen[:cut], chosen[start:].strip(), rejected[start:].strip()


def transcript_pair(chosen: str, rejected: str) -> tuple[Conversation, str, str]:
    """(dialogue ending in a Human turn, chosen reply, rejected reply) of two transcripts that differ only in
    their last assistant reply. The one policy for every hh-rlhf loader: transcripts that part earlier give
    "replies" holding later turns (5 of the 2,312 harmless-base test rows), so they raise ValueError and
    loaders skip and count them."""
    prefix, chosen_reply, rejected_reply = split_pair(chosen, rejected)
    prompt = parse_transcript(prefix)
    if not prompt or prompt[-1]["role"] != "user":
        raise ValueError("the shared dialogue does not end with a Human turn")
    if any(HUMAN in reply or ASSISTANT in reply for reply in (chosen_reply, rejected_reply)):
        raise ValueError("the transcripts part before their last assistant turn")
    return prompt, chosen_reply, rejected_reply


def _row_id(row: dict[str, Any]) -> str:
    return str(row.get("id") or f"hh-{row['_line']:05d}")


def hh_prompt_rows(path: str | Path, mode: Literal["first_turn", "dialogue"] = "first_turn") -> list[dict[str, Any]]:
    """Prompt rows: `first_turn` -> the first human turn (text); `dialogue` -> every turn before
    the final assistant reply, as a list of messages ending in a user turn."""
    out = []
    for row in read_transcript_rows(path):
        where = f"{path}: line {row['_line']}"
        try:
            prefix, _, _ = split_pair(row["chosen"], row.get("rejected", row["chosen"]))
            turns = parse_transcript(prefix)
        except ValueError as exc:
            raise DataError(f"{where}: {exc}") from None
        if not turns or turns[0]["role"] != "user":
            raise DataError(f"{where}: transcript does not start with a Human turn")
        prompt: Any = turns[0]["content"] if mode == "first_turn" else turns
        out.append({"id": _row_id(row), "prompt": prompt})
    return out


def load_hh_rlhf_pairs(path: str | Path, limit: int | None = None) -> tuple[list[dict[str, Any]], int]:
    """(pairs as records.preference_row, rows skipped): prompt = shared dialogue (messages),
    chosen/rejected = the final assistant reply of each transcript (see `transcript_pair`)."""
    pairs, skipped = [], 0
    for row in read_transcript_rows(path)[:limit]:
        if not isinstance(row.get("rejected"), str):
            raise DataError(f"{path}: line {row['_line']}: missing 'rejected' transcript")
        try:
            prompt, chosen, rejected = transcript_pair(row["chosen"], row["rejected"])
        except ValueError:
            skipped += 1
            continue
        pairs.append(preference_row(_row_id(row), prompt, chosen, rejected, source="hh-rlhf"))
    return pairs, skipped
