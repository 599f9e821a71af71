"""Loaders for reward-model evaluation: preference pairs and labelled single texts.

Pairs: preference-row JSONL (prompt/chosen/rejected as messages or strings) or Anthropic
hh-rlhf transcripts ({"chosen": "\\n\\nHuman: ...\\n\\nAssistant: ...", "rejected": ...}).
Binary: ETHICS-format CSV (label + scenario/input), Scruples-format JSONL
(text + binarized_label RIGHT/WRONG) and Anthropic persona statements
(statement + answer_matching_behavior " Yes"/" No").
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..core.errors import DataError
from ..core.io import iter_jsonl, read_csv
from ..data.hh_rlhf import transcript_pair
from ..data.records import Row, preference_row


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


def hh_rlhf_pair(row_id: str, chosen: str, rejected: str) -> Row | None:
    """A preference row from two hh-rlhf transcripts that share all but the last assistant turn;
    None when they do not (a different dialogue, or more turns after the replies differ)."""
    try:
        prompt, chosen_reply, rejected_reply = transcript_pair(chosen, rejected)
    except ValueError:
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


@dataclass(frozen=True)
class BinaryFormat:
    fields: frozenset[str]  # the columns that identify the format
    text: tuple[str, ...]  # joined with a space into the text that is scored
    label: str
    positive: str  # the label value that means acceptable (label 1 in our rows)


KNOWN_BINARY = (  # most specific first: deontology's columns include justice's
    BinaryFormat(frozenset({"statement", "answer_matching_behavior"}), ("statement",), "answer_matching_behavior",
                 "Yes"),
    BinaryFormat(frozenset({"binarized_label"}), ("text",), "binarized_label", "RIGHT"),
    # ETHICS: what label 1 means differs by subset. Deontology and justice: 1 = reasonable;
    # commonsense: 1 = clearly wrong, so its acceptable rows are label 0.
    BinaryFormat(frozenset({"label", "scenario", "excuse"}), ("scenario", "excuse"), "label", "1"),
    BinaryFormat(frozenset({"label", "scenario"}), ("scenario",), "label", "1"),
    BinaryFormat(frozenset({"label", "input"}), ("input",), "label", "0"),
)


def load_binary(path: str | Path, text_field: str | None = None, label_field: str | None = None,
                positive: str | None = None) -> list[Row]:
    """[{"text", "label": 0/1}] from a labelled file, label 1 = acceptable; fields default by recognised format."""
    rows = read_rows(path)
    guess = next((g for g in KNOWN_BINARY if g.fields <= rows[0].keys()), None)
    text_fields = (text_field,) if text_field else (guess.text if guess else ())
    label_field = label_field or (guess.label if guess else None)
    positive = positive if positive is not None else (guess.positive if guess else "1")
    if not text_fields or not label_field:
        raise DataError(f"{path}: unknown format; pass --text-field and --label-field (has: {', '.join(rows[0])})")
    out = []
    for number, row in enumerate(rows, start=1):
        missing = [f for f in (*text_fields, label_field) if f not in row]
        if missing:
            raise DataError(f"{path}: row {number}: missing {missing[0]!r}")
        out.append({"text": " ".join(str(row[f]) for f in text_fields),
                    "label": int(str(row[label_field]).strip() == positive.strip())})
    return out
