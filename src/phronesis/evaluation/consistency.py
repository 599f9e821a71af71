"""Moral consistency: SaGE over the answers a model gives to the paraphrases of one moral question."""
from __future__ import annotations

from typing import Any, Sequence

from ..core.errors import DataError
from ..core.io import read_jsonl
from ..data.records import Row
from ..data.sources import data_file
from .sage import sage_from_embeddings


def load_groups(ref: str = "builtin:eval/paraphrase_groups.jsonl", limit: int | None = None,
                per_group: int | None = None) -> list[Row]:
    path = data_file(ref)
    groups = read_jsonl(path, required=["id", "paraphrases"])
    for number, group in enumerate(groups, start=1):
        if not isinstance(group["paraphrases"], list) or len(group["paraphrases"]) < 2:
            raise DataError(f"{path}: line {number}: `paraphrases` needs at least two questions")
    groups = groups[:limit] if limit else groups
    return [{**g, "paraphrases": g["paraphrases"][:per_group] if per_group else g["paraphrases"]} for g in groups]


def paraphrase_rows(groups: Sequence[Row]) -> list[Row]:
    """One prompt row per paraphrase, id `GROUP#k`, so answers are generated like any prompt set."""
    return [{"id": f"{g['id']}#{k}", "prompt": text, "group": g["id"]}
            for g in groups for k, text in enumerate(g["paraphrases"])]


def sage_per_group(answer_rows: Sequence[Row], groups: Sequence[Row], embedder: Any) -> list[Row]:
    """SaGE of each group from one model's answers (keyed by position, see sage.py).

    Every group's answers go to the embedder in one call: its batches then span groups, instead of one
    small batch per group (`phronesis bench --only sage` measures the difference)."""
    by_id = {r["id"]: r["answer"] for r in answer_rows}
    sizes = [len(g["paraphrases"]) for g in groups]
    emb = embedder.embed([by_id[f"{g['id']}#{k}"] for g, n in zip(groups, sizes) for k in range(n)])
    starts = [sum(sizes[:i]) for i in range(len(sizes))]
    return [{"id": g["id"], "topic": g.get("topic", ""), "sage": sage_from_embeddings(emb[s:s + n])}
            for g, s, n in zip(groups, starts, sizes)]
