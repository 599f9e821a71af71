"""Degenerate text: an answer that loops ("a good soil, a good soil, ...") is not helpful, whatever else it is."""
from __future__ import annotations


def repetition_rate(text: str, k: int = 4) -> float:
    """Share of word k-grams that already occurred earlier in the text (0 for a text with fewer)."""
    words = text.lower().split()
    grams = [tuple(words[i:i + k]) for i in range(len(words) - k + 1)]
    return (len(grams) - len(set(grams))) / len(grams) if grams else 0.0
