"""One rule for reading an option (" A", "Yes") off next-token log-probs, shared by every backend.

A judge's answer " A", "A" and "A\n" is the same answer: an option's log-prob is the best
token that equals it once surrounding whitespace is stripped. The transformers backend sees
every such token; an HTTP server shows its top 20, where the likeliest spelling is.
"""
from __future__ import annotations

from typing import Any, Sequence


def match_options(top: Sequence[tuple[str, float]], options: Sequence[str]) -> dict[str, float | None]:
    """Each option's log-prob: the best token in `top` equal to it with whitespace stripped; None if none is."""
    result: dict[str, float | None] = {}
    for option in options:
        found = [lp for token, lp in top if token.strip() == option.strip()]
        result[option] = max(found) if found else None
    return result


def spelling_token_ids(tokenizer: Any, options: Sequence[str]) -> list[int]:
    """First token ids of each option spelled as given, bare and with a leading space; `match_options`
    keeps only those whose text is the option."""
    ids = set()
    for option in options:
        for text in {option, option.strip(), " " + option.strip()}:
            encoded = tokenizer.encode(text, add_special_tokens=False)
            if encoded:
                ids.add(encoded[0])
    return sorted(ids)
