"""PairwiseLogProbJudge: reads option-label log-probs in both orders; never parses free text."""
from __future__ import annotations

from typing import Sequence

from ..core.progress import progress
from ..core.protocols import Conversation, GenerationParams, Generator, Judgement, OptionScorer, Pair, PromptLike
from .failures import check_failure_rate, two_way_probability
from .prompts import ASSISTANT_PREFIX, OPTIONS, render_pair

COT_FOLLOW_UP = "Based on that reasoning, which response is better? Reply with one letter, A or B."
COT_CLAMP = (0.4, 0.6)  # as in the CAI paper: reasoning makes a small judge overconfident


def judge_many(judge, items: Sequence[Pair]) -> list[Judgement]:
    """Batched when the judge supports it, one `compare` at a time otherwise."""
    if hasattr(judge, "compare_many"):
        return judge.compare_many(list(items))
    return [judge.compare(*item) for item in items]


class PairwiseLogProbJudge:
    """p(a better) = mean of p(A) with a shown first and p(B) with a shown second.

    `chain_of_thought` takes a Generator: it writes its reasoning first, then the
    label log-probs are read and each order's probability clamped to [0.4, 0.6].
    """

    def __init__(self, scorer: OptionScorer, fmt: str = "hardened", shots: list[Conversation] | None = None,
                 chain_of_thought: Generator | None = None, cot_max_new_tokens: int = 96,
                 max_failure_rate: float = 1.0, chunk_size: int = 32):
        self.scorer, self.fmt, self.shots = scorer, fmt, shots or []
        self.reasoner, self.cot_max_new_tokens = chain_of_thought, cot_max_new_tokens
        self.max_failure_rate, self.chunk_size = max_failure_rate, chunk_size

    def compare(self, prompt: PromptLike, a: str, b: str, principle: str | None = None) -> Judgement:
        return self.compare_many([Pair(prompt, a, b, principle)])[0]

    def compare_many(self, items: Sequence[Pair]) -> list[Judgement]:
        items = [Pair(*item) for item in items]
        out: list[Judgement] = []
        with progress("judge pairs", total=len(items), unit="pairs") as advance:
            for start in range(0, len(items), self.chunk_size):
                chunk = items[start:start + self.chunk_size]
                out.extend(self._judge_chunk(chunk))
                advance(len(chunk))
        check_failure_rate(out, self.max_failure_rate)
        return out

    def _judge_chunk(self, items: list[Pair]) -> list[Judgement]:
        first = [render_pair(self.fmt, i.prompt, i.a, i.b, i.principle, self.shots) for i in items]
        second = [render_pair(self.fmt, i.prompt, i.b, i.a, i.principle, self.shots) for i in items]
        if self.reasoner is not None:
            first, second = self._with_reasoning(first), self._with_reasoning(second)
        prefix = "" if self.reasoner is not None else ASSISTANT_PREFIX
        lp_first = self.scorer.option_logprobs(first, list(OPTIONS), prefix)
        lp_second = self.scorer.option_logprobs(second, list(OPTIONS), prefix)
        return [self._combine(item, l1, l2) for item, l1, l2 in zip(items, lp_first, lp_second)]

    def _with_reasoning(self, conversations: list[Conversation]) -> list[Conversation]:
        params = GenerationParams(max_new_tokens=self.cot_max_new_tokens, temperature=0.0)
        asks = [c[:-1] + [{**c[-1], "content": c[-1]["content"] + "\nFirst explain your reasoning briefly."}]
                for c in conversations]
        reasons = self.reasoner.generate(asks, params)
        return [ask + [{"role": "assistant", "content": str(r[0])}, {"role": "user", "content": COT_FOLLOW_UP}]
                for ask, r in zip(asks, reasons)]

    def _combine(self, item: Pair, lp_first: dict, lp_second: dict) -> Judgement:
        p1, err1 = two_way_probability(lp_first, *OPTIONS)  # p(A) = p(a better), a shown first
        pb, err2 = two_way_probability(lp_second, OPTIONS[1], OPTIONS[0])  # p(B) = p(a better), a second
        detail = {"logprobs_first_order": lp_first, "logprobs_second_order": lp_second}
        if p1 is None or pb is None:
            which = "first" if p1 is None else "second"
            return Judgement(None, p1, pb, item.principle, f"{which} order: {err1 or err2}", detail)
        if self.reasoner is not None:
            p1, pb = (min(max(p, COT_CLAMP[0]), COT_CLAMP[1]) for p in (p1, pb))
        return Judgement((p1 + pb) / 2, p1, pb, item.principle, None, detail)
