"""Quality checks on generated critiques and revisions; every rejection has a named reason."""
from __future__ import annotations

import re

_LABEL = re.compile(r"^\s*(?:\*\*)?\s*(critique|revision|revised response)\s*(?:\*\*)?\s*:\s*(?:\*\*)?\s*",
                    re.IGNORECASE)
_WORD = re.compile(r"\w+")

DROP_REASONS = ("empty", "truncated", "repeats_critique", "describes_response")
# A small model asked to revise often writes a second critique instead ("The response encourages ...").
_META_OPENING = re.compile(r"^\W*(the|this|your|my)\s+(original\s+|assistant's\s+|previous\s+|last\s+)?"
                           r"(response|answer|reply)\b", re.IGNORECASE)


def strip_label(text: str) -> str:
    """Remove a leading 'Critique:' / 'Revision:' label (the few-shot examples teach the model to write one)."""
    return _LABEL.sub("", str(text), count=1).strip()


def _ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    words = _WORD.findall(text.lower())
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def critique_overlap(revision: str, critique: str) -> float:
    """Share of the revision's word bigrams that also occur in the critique (0 = none, 1 = all)."""
    n = 2 if len(_WORD.findall(revision)) >= 2 else 1
    mine = _ngrams(revision, n)
    return len(mine & _ngrams(critique, n)) / len(mine) if mine else 0.0


def revision_problem(revision: str, critique: str, finish_reason: str, *, drop_truncated: bool = True,
                     max_critique_overlap: float = 0.6, drop_descriptions: bool = True) -> str | None:
    """Why a revision must be dropped (one of DROP_REASONS), or None if it is usable."""
    if not revision.strip():
        return "empty"
    if drop_truncated and finish_reason == "length":
        return "truncated"
    if critique.strip() and critique_overlap(revision, critique) >= max_critique_overlap:
        return "repeats_critique"
    if drop_descriptions and _META_OPENING.match(revision):
        return "describes_response"
    return None
