"""Combining verdicts: a principle ensemble (one judge, several questions) and a panel of judges."""
from __future__ import annotations

import random
from statistics import mean
from typing import Sequence

from ..core.protocols import Judgement, PromptLike
from ..core.seeds import derive_seed
from .failures import check_failure_rate
from .pairwise import Pair, judge_many
from .prompts import conversation_text


def sample_principles(questions: Sequence[str], n: int, key: str, seed: int = 0) -> list[str]:
    """`n` distinct questions chosen by a seed that depends only on the pair (stable across resumes)."""
    rng = random.Random(derive_seed(seed, key))
    return rng.sample(list(questions), min(n, len(questions)))


def _average(verdicts: list[Judgement], principle: str | None, detail: dict) -> Judgement:
    usable = [v for v in verdicts if v.p is not None]
    if not usable:
        return Judgement(None, principle=principle, error=verdicts[0].error if verdicts else "no verdicts",
                         detail=detail)
    firsts = [v.p_first_order for v in usable if v.p_first_order is not None]
    seconds = [v.p_second_order for v in usable if v.p_second_order is not None]
    return Judgement(mean(v.p for v in usable), mean(firsts) if firsts else None,
                     mean(seconds) if seconds else None, principle, None, detail)


class PrincipleEnsembleJudge:
    """Averages p over `n` principles sampled per pair (a pair's own principle, if given, is kept)."""

    def __init__(self, judge, questions: Sequence[str], n: int = 3, seed: int = 0, max_failure_rate: float = 1.0):
        self.judge, self.questions, self.n, self.seed = judge, list(questions), n, seed
        self.max_failure_rate = max_failure_rate

    @property
    def reads_principles(self) -> bool:
        return getattr(self.judge, "reads_principles", True)

    def compare(self, prompt: PromptLike, a: str, b: str, principle: str | None = None) -> Judgement:
        return self.compare_many([Pair(prompt, a, b, principle)])[0]

    def compare_many(self, items: Sequence[Pair]) -> list[Judgement]:
        items = [Pair(*i) for i in items]
        asked = [[i.principle] if i.principle else
                 sample_principles(self.questions, self.n, f"{conversation_text(i.prompt)}\x00{i.a}\x00{i.b}", self.seed)
                 for i in items]
        flat = [Pair(i.prompt, i.a, i.b, q) for i, qs in zip(items, asked) for q in qs]
        verdicts, out, at = judge_many(self.judge, flat), [], 0
        for item, qs in zip(items, asked):
            mine, at = verdicts[at:at + len(qs)], at + len(qs)
            detail = {"principles": qs, "per_principle_p": [v.p for v in mine]}
            out.append(_average(mine, item.principle, detail))
        check_failure_rate(out, self.max_failure_rate, "principle ensemble")
        return out


class JudgePanel:
    """Several judges on the same pairs, combined by mean p or by majority vote; reports agreement."""

    def __init__(self, judges: Sequence, combine: str = "mean", max_failure_rate: float = 1.0):
        if combine not in ("mean", "majority"):
            raise ValueError(f"panel combine must be 'mean' or 'majority', not {combine!r}")
        self.judges, self.combine, self.max_failure_rate = list(judges), combine, max_failure_rate

    @property
    def reads_principles(self) -> bool:
        """Only when every member does: a blind member would pull each principle's verdict to one number."""
        return all(getattr(j, "reads_principles", True) for j in self.judges)

    def compare(self, prompt: PromptLike, a: str, b: str, principle: str | None = None) -> Judgement:
        return self.compare_many([Pair(prompt, a, b, principle)])[0]

    def compare_many(self, items: Sequence[Pair]) -> list[Judgement]:
        per_judge = [judge_many(j, items) for j in self.judges]
        out = [self._merge([v[k] for v in per_judge], Pair(*items[k]).principle) for k in range(len(items))]
        check_failure_rate(out, self.max_failure_rate, "judge panel")
        return out

    def _merge(self, verdicts: list[Judgement], principle: str | None) -> Judgement:
        ps = [v.p for v in verdicts]
        detail = {"panel_p": ps}
        merged = _average(verdicts, principle, detail)
        if merged.p is None:
            return merged
        usable = [p for p in ps if p is not None]
        if self.combine == "majority":
            votes = [1.0 if p > 0.5 else 0.0 if p < 0.5 else 0.5 for p in usable]
            merged.p = mean(votes)
        side = merged.p > 0.5
        merged.detail["agreement"] = (sum((p > 0.5) == side for p in usable if p != 0.5) / len(usable)
                                      if merged.p != 0.5 else 0.0)
        return merged
