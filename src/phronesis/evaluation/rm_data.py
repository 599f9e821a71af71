"""Loaders for reward-model evaluation: preference pairs and labelled single texts.

Pairs: preference-row JSONL (prompt/chosen/rejected as messages or strings) or Anthropic
hh-rlhf transcripts ({"chosen": "\\n\\nHuman: ...\\n\\nAssistant: ...", "rejected": ...}).
Binary: ETHICS-format CSV (label + scenario/input), Scruples-format JSONL
(text + binarized_label RIGHT/WRONG) and Anthropic persona statements
(statement + answer_matching_behavior " Yes"/" No").
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import DataError
from ..io import iter_jsonl, read_csv
from ..hh_rlhf import ASSISTANT, HUMAN, parse_transcript, split_pair
from ..records import preference_row

Row = dict[str, Any]


def read_rows(path: str | Path) -> list[Row]:
    """JSONL (optionally .gz) or CSV rows, with `file: line N` errors."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    if path.name.removesuffix(".gz").endswith(".csv"):
        rows = read_csv(path)[1]
    else:
        rows = [row for _, row in iter_jsonl(path)]
    if not rows:
        raise DataError(f"{path}: no rows")
    return rows


# One hh-rlhf parser for the project (phronesis.hh_rlhf); the old name stays for callers.
parse_hh_transcript = parse_transcript


def hh_rlhf_pair(row_id: str, chosen: str, rejected: str) -> Row | None:
    """A preference row from two hh-rlhf transcripts that share all but the last assistant turn;
    None when they do not (a different dialogue, or more turns after the replies differ)."""
    try:
        prefix, chosen_reply, rejected_reply = split_pair(chosen, rejected)
        prompt = parse_transcript(prefix)
    except ValueError:
        return None
    if not prompt or prompt[-1]["role"] != "user" or any(HUMAN in reply or ASSISTANT in reply
                                                          for reply in (chosen_reply, rejected_reply)):
        return None
    return preference_row(row_id, prompt, [{"role": "assistant", "content": chosen_reply}],
                          [{"role": "assistant", "content": rejected_reply}])


def load_pairs(path: str | Path) -> tuple[list[Row], int]:
    """Preference rows from any supported pair file, plus how many rows could not be parsed."""
    rows, skipped = [], 0
    for number, raw in enumerate(read_rows(path), start=1):
        if not {"chosen", "rejected"} <= raw.keys():
            raise DataError(f"{path}: line {number}: needs 'chosen' and 'rejected' (has: {', '.join(raw)})")
        row_id = str(raw.get("id", number))
        if "prompt" in raw:
            rows.append(preference_row(row_id, raw["prompt"], raw["chosen"], raw["rejected"]))
            continue
        pair = hh_rlhf_pair(row_id, raw["chosen"], raw["rejected"])
        if pair is None:
            skipped += 1
        else:
            rows.append(pair)
    return rows, skipped


KNOWN_BINARY = (  # (fields that identify the format, text field, label field, positive label)
    ({"statement", "answer_matching_behavior"}, "statement", "answer_matching_behavior", "Yes"),
    ({"binarized_label"}, "text", "binarized_label", "RIGHT"),
    ({"label", "scenario"}, "scenario", "label", "1"),
    ({"label", "input"}, "input", "label", "1"),
)


def load_binary(path: str | Path, text_field: str | None = None, label_field: str | None = None,
                positive: str | None = None) -> list[Row]:
    """[{"text", "label": 0/1}] from a labelled file; fields default by recognised format."""
    rows = read_rows(path)
    guess = next((g for g in KNOWN_BINARY if g[0] <= rows[0].keys()), None)
    text_field = text_field or (guess[1] if guess else None)
    label_field = label_field or (guess[2] if guess else None)
    positive = positive if positive is not None else (guess[3] if guess else "1")
    if not text_field or not label_field:
        raise DataError(f"{path}: unknown format; pass --text-field and --label-field (has: {', '.join(rows[0])})")
    out = []
    for number, row in enumerate(rows, start=1):
        if text_field not in row or label_field not in row:
            raise DataError(f"{path}: row {number}: missing {text_field!r} or {label_field!r}")
        out.append({"text": str(row[text_field]),
                    "label": int(str(row[label_field]).strip() == positive.strip())})
    return out
