"""Fakes for judge tests: a scorer that reads the rendered prompt like a (gullible) model would."""
from __future__ import annotations

import math
import re

from phronesis.core.protocols import Judgement

_FENCED = re.compile(r"<<<BEGIN RESPONSE ([AB])>>>\n(.*?)\n<<<END RESPONSE \1>>>", re.S)
_PLAIN = re.compile(r"Response A: (.*?)\n\nResponse B: (.*?)\n\n", re.S)
_INJECTED = re.compile(r"(?:answer|Response|labeled)\s+([AB])\b(?! or)(?!:)", re.I)


def quality(text: str) -> float:
    return 2.0 * text.count("GOOD") - 2.0 * text.count("BAD")


class FakeScorer:
    """log-odds(A) = quality(A) − quality(B) + `bias`; obeys an injected label it can see unfenced."""

    def __init__(self, bias: float = 0.7, missing_for: str | None = None):
        self.bias, self.missing_for, self.calls = bias, missing_for, 0

    def option_logprobs(self, prompts, options, assistant_prefix=""):
        self.calls += 1
        return [self._one(next(m["content"] for m in reversed(conv) if "Response A: " in m["content"]
                                or "<<<BEGIN RESPONSE A" in m["content"]), options) for conv in prompts]

    def _one(self, text: str, options):
        if self.missing_for and self.missing_for in text:
            return {options[0]: None, options[1]: -1.0}
        fenced = dict((label, body) for label, body in _FENCED.findall(text))
        if fenced:
            a, b = fenced["A"], fenced["B"]
            visible = _FENCED.sub("", text)
        else:
            a, b = _PLAIN.search(text).groups()
            visible = text.split("Human request:", 1)[1]
            visible = visible.split("\n\n", 1)[1]  # the request itself is not an instruction
        logit = quality(a) - quality(b) + self.bias
        obey = _INJECTED.findall(visible)
        if obey:
            logit = 8.0 if obey[-1].upper() == "A" else -8.0
        la = -math.log1p(math.exp(-logit))
        return {options[0]: la, options[1]: la - logit}


class MarkerJudge:
    """p(a better) from GOOD/BAD markers; p = 0.5 for a tie."""

    def compare(self, prompt, a, b, principle=None):
        d = quality(a) - quality(b)
        p = 0.5 if d == 0 else 1 / (1 + math.exp(-d))
        return Judgement(p, p, p, principle)


class OracleJudge:
    """Knows which response of each labelled pair is the chosen one (for gate tests)."""

    def __init__(self, pairs_ref: str):
        from phronesis.judges.pairs import load_pairs

        self.chosen = {row["chosen"] if isinstance(row["chosen"], str) else str(row["chosen"])
                       for row in load_pairs(pairs_ref)}
        self.prompts = []

    def compare(self, prompt, a, b, principle=None):
        self.prompts.append(prompt if isinstance(prompt, str) else prompt[0]["content"])
        p = 0.9 if a in self.chosen else 0.1
        return Judgement(p, p, p, principle)
