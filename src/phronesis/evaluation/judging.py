"""Which pairwise judge the evaluation uses, and a minimal fallback when none is installed.

The project's judges live in `phronesis.judges` (`build_judge(cfg, models)`); when that
package is present it is used. Until then `OptionPairJudge` reads the log-probability
of the labels "1"/"2" in both presentation orders and averages them, so the soft
verdict and its position bias are still honest. Any judge is injectable: the
suite only needs `compare(prompt, a, b, principle) -> Judgement`.
"""
from __future__ import annotations

import math
from typing import Any

from ..judges.questions import HELPFULNESS  # one wording for every judge asked about helpfulness
from ..protocols import Judge, Judgement, OptionScorer, PromptLike

LABELS = ("1", "2")
PREFIX = "The better response is Response "


def _prompt_text(prompt: PromptLike) -> str:
    return prompt if isinstance(prompt, str) else "\n".join(m["content"] for m in prompt if m["role"] == "user")


def _pair_question(prompt: PromptLike, first: str, second: str, principle: str) -> list[dict[str, str]]:
    text = (f"{principle}\n\nUser request: {_prompt_text(prompt)}\n\nResponse 1: {first}\n\n"
            f"Response 2: {second}\n\nReply with 1 or 2.")
    return [{"role": "user", "content": text}]


def _p_label_one(logprobs: dict[str, float | None]) -> float | None:
    one, two = logprobs.get(LABELS[0]), logprobs.get(LABELS[1])
    if one is None or two is None or not (math.isfinite(one) and math.isfinite(two)):
        return None
    top = max(one, two)
    return math.exp(one - top) / (math.exp(one - top) + math.exp(two - top))


class OptionPairJudge:
    """Pairwise judge over an OptionScorer: p(a better), averaged over both orders."""

    def __init__(self, scorer: OptionScorer):
        self.scorer = scorer

    def compare(self, prompt: PromptLike, a: str, b: str, principle: str | None = None) -> Judgement:
        question = principle or HELPFULNESS
        convs = [_pair_question(prompt, a, b, question), _pair_question(prompt, b, a, question)]
        first, second = self.scorer.option_logprobs(convs, list(LABELS), assistant_prefix=PREFIX)
        p_first = _p_label_one(first)
        p_b_first = _p_label_one(second)
        p_second = None if p_b_first is None else 1.0 - p_b_first
        if p_first is None or p_second is None:
            return Judgement(None, p_first, p_second, principle=question,
                             error="judge returned no probability for the labels 1/2")
        return Judgement((p_first + p_second) / 2, p_first, p_second, principle=question)


def build_eval_judge(kind: str, judge_model: Any, options: dict[str, Any] | None = None) -> Judge | None:
    """The judge named by the eval config: `auto`/`project` use phronesis.judges (the pipeline's default
    judge unless `options` say otherwise), `builtin` the plain label-log-prob judge above."""
    if kind == "none":
        return None
    if kind in ("auto", "project"):
        from ..judges import JudgeConfig, build_judge

        # The judge model is handed over as the scorer itself; the learned judge brings its own embedder.
        return build_judge(JudgeConfig.model_validate(options or {}), judge_model)
    return OptionPairJudge(judge_model)
