"""The questions a principle-reading judge is asked, and the per-question labels it is trained on.

A judge's `principle` is a comparison question (stages pass `Principle.comparison`), a
principle or virtue id of the bundled constitution/framework, or None (the default
question). Training pairs carry one label (chosen over rejected under the default
question); `labelled_questions` says what that label means under the other questions:
an inverted twin reverses it, and a needless refusal is harmless but not helpful.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Sequence

from .prompts import DEFAULT_QUESTION

HELPFULNESS = "Which response is more helpful, accurate and responsive to what the user asked?"
HARMLESSNESS = "Which response is more harmless: less likely to help anyone cause harm or break the law?"

# Virtues whose question has a clear answer on each kind of bundled pair (honesty, say, has none on a
# refusal of a violent request); the others are left to generalise from their embeddings.
VIRTUES_FOR = {"harmful": ("compassion", "respect", "prudence"),
               "benign": ("humility", "prudence", "compassion", "respect")}


@lru_cache(maxsize=1)
def _known_questions() -> dict[str, str]:
    from ..data.constitution import load_constitution, load_framework

    known = {"helpfulness": HELPFULNESS, "harmlessness": HARMLESSNESS, "default": DEFAULT_QUESTION}
    known.update({v.id: v.comparison for v in load_framework().virtues})
    known.update({p.id: p.comparison for p in load_constitution().principles})
    return known


def question_text(principle: str | None) -> str:
    """The question to read: an id of the bundled constitution/framework is resolved, None is the default."""
    if not principle:
        return DEFAULT_QUESTION
    return _known_questions().get(principle, principle)


def labelled_questions(row: dict[str, Any], principles: Sequence[Any], twins: Sequence[Any],
                       virtues: dict[str, str]) -> list[tuple[str, int]]:
    """(question, +1 chosen wins | −1 rejected wins) for one pair of kind harmful or benign.

    harmful: chosen is the safe reply; benign: chosen is the helpful reply, rejected a needless refusal,
    which is harmless but unhelpful; a harmful pair has no helpfulness label."""
    kind = "benign" if row.get("kind", "harmful") == "benign" else "harmful"
    out = [(DEFAULT_QUESTION, 1)]
    out += [(HELPFULNESS, 1), (HARMLESSNESS, -1)] if kind == "benign" else [(HARMLESSNESS, 1)]
    out += [(p.comparison, 1) for p in principles] + [(t.comparison, -1) for t in twins]
    return out + [(virtues[v], 1) for v in VIRTUES_FOR[kind] if v in virtues]


def filed_principles(pairs: Sequence[dict[str, Any]], embedder, constitution) -> list[tuple[list, list]]:
    """Per pair (principles it is filed under, their inverted twins). Harmful pairs: their named principle,
    else the refusal-wanting principle nearest to the prompt (MiniLM), so the mapping is deterministic;
    benign pairs: the principles that want an answer."""
    from ..curation.principle_matching import match_principles

    active = constitution.active
    refusing = [p for p in active if p.wants == "refusal"]
    answering = [p for p in active if p.wants == "answer"]
    twins_of = lambda ps: [constitution.get(p.inverse) for p in ps if p.inverse]  # noqa: E731
    harmful = [r for r in pairs if r.get("kind", "harmful") != "benign"]
    unnamed = [r for r in harmful if r.get("principle") not in {p.id for p in refusing}]
    matched = match_principles([r["prompt"] for r in unnamed], refusing, embedder, 1) \
        if unnamed and refusing else []
    principle_of = {id(r): m[0].principle for r, m in zip(unnamed, matched)}
    out = []
    for row in pairs:
        if row.get("kind", "harmful") == "benign":
            out.append((answering, twins_of(answering)))
        elif id(row) in principle_of or row.get("principle") in {p.id for p in refusing}:
            principle = constitution.get(principle_of.get(id(row), row.get("principle")))
            out.append(([principle], twins_of([principle])))
        else:
            out.append(([], []))
    return out


def principled_pairs(pairs: Sequence[dict[str, Any]], embedder, constitution=None,
                     framework=None, all_principles: bool = True) -> list[dict[str, Any]]:
    """Each pair once per question it has a label for, with `question` set and chosen/rejected swapped where
    the question reverses the label."""
    from ..data.constitution import load_constitution, load_framework

    constitution = constitution or load_constitution()
    virtues = {v.id: v.comparison for v in (framework or load_framework()).virtues}
    refusing = [p for p in constitution.active if p.wants == "refusal"]
    every = (refusing, [constitution.get(p.inverse) for p in refusing if p.inverse])
    out = []
    for row, filed in zip(pairs, filed_principles(pairs, embedder, constitution)):
        # A safe refusal is never worse than harmful compliance under any principle, nor better under
        # any twin: labelling the harmful pairs under all of them teaches the inversion, not the topic.
        principles, twins = every if all_principles and row.get("kind", "harmful") != "benign" else filed
        for question, sign in labelled_questions(row, principles, twins, virtues):
            chosen, rejected = (row["chosen"], row["rejected"]) if sign > 0 else (row["rejected"], row["chosen"])
            out.append({**row, "chosen": chosen, "rejected": rejected, "question": question})
    return out
