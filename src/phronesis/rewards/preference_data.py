"""Preparing preference rows for reward training: margins from soft labels, prompts cut to fit.

Pure functions: token counting is passed in, so tests need no tokenizer.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence
from ..data.records import Row

CountTokens = Callable[[list[dict[str, str]]], int]


def margin_from_soft_label(p_chosen: float, scale: float = 1.0, clip: float = 0.95) -> float:
    """Bradley-Terry margin: the log-odds the judge gave `chosen`, clipped so p=1 stays finite.

    p=0.5 gives 0 (plain BT loss); p below 0.5 gives 0 too, since a row whose soft label
    disagrees with its hard one should not push the reward the other way.
    """
    p = min(max(float(p_chosen), 0.5), clip)
    return scale * math.log(p / (1.0 - p))


@dataclass
class FitReport:
    kept: int = 0
    prompt_turns_cut: int = 0  # rows whose earliest prompt turns were dropped to fit
    dropped_too_long: int = 0  # rows still over max_length with only the last user turn left
    dropped_ids: list[str] = field(default_factory=list)


def fit_to_length(rows: Sequence[Row], max_length: int | None, count_tokens: CountTokens) -> tuple[list[Row], FitReport]:
    """Drop the earliest prompt turns (keeping the last one) until prompt+chosen and
    prompt+rejected fit in `max_length` tokens; drop and count rows that never fit.

    TRL's RewardTrainer silently filters over-long pairs; doing it here makes the loss visible.
    """
    report = FitReport()
    if max_length is None:
        report.kept = len(rows)
        return list(rows), report
    out = []
    for row in rows:
        prompt = list(row["prompt"])
        cut = False
        while _longest(prompt, row, count_tokens) > max_length and len(prompt) > 1:
            prompt = drop_first_turn(prompt)
            cut = True
        if _longest(prompt, row, count_tokens) > max_length:
            report.dropped_too_long += 1
            report.dropped_ids.append(str(row.get("id")))
            continue
        report.prompt_turns_cut += cut
        out.append({**row, "prompt": prompt})
    report.kept = len(out)
    return out, report


def _longest(prompt: list, row: Row, count_tokens: CountTokens) -> int:
    return max(count_tokens(prompt + list(row["chosen"])), count_tokens(prompt + list(row["rejected"])))


def drop_first_turn(prompt: list) -> list:
    """Remove the first message (keeping a leading system message), then any leading assistant turns
    so the prompt still starts with a user turn."""
    system = [m for m in prompt[:1] if m["role"] == "system"]
    rest = prompt[len(system):][1:]
    while len(rest) > 1 and rest[0]["role"] != "user":
        rest = rest[1:]
    return system + rest if rest else prompt[-1:]


def trl_columns(rows: Sequence[Row], margin_field: str | None = None, margin_scale: float = 1.0) -> list[Row]:
    """Keep only the columns RewardTrainer reads, with a `margin` when a soft-label field is named."""
    out = []
    for row in rows:
        item = {"prompt": list(row["prompt"]), "chosen": list(row["chosen"]), "rejected": list(row["rejected"])}
        if margin_field:
            value = row.get(margin_field)
            item["margin"] = 0.0 if value is None else margin_from_soft_label(value, margin_scale)
        out.append(item)
    return out
