"""The handful of small protocols every component plugs into.

Backends, judges, reward models and scorers implement these; stages only ever
see the protocol, so tests can hand them fakes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol, Sequence, Union, runtime_checkable

Message = dict[str, str]  # {"role": "user" | "assistant" | "system", "content": ...}
Conversation = list[Message]
PromptLike = Union[str, Conversation]  # a bare string is one user turn
Row = dict[str, Any]  # an artifact row as code passes it around; its documented shapes are in records.py


def as_conversation(prompt: PromptLike, system_prompt: str | None = None) -> Conversation:
    """Normalise a prompt to a chat conversation, optionally prefixed by a system turn."""
    conv = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
    if system_prompt and not (conv and conv[0]["role"] == "system"):
        conv = [{"role": "system", "content": system_prompt}] + conv
    return conv


@dataclass(frozen=True)
class GenerationParams:
    max_new_tokens: int = 256
    temperature: float = 0.0  # 0 means greedy decoding
    top_p: float = 1.0
    n: int = 1  # samples per prompt
    seed: int = 0
    system_prompt: str | None = None
    repetition_penalty: float = 1.0  # >1 discourages repeated tokens; 1 leaves the model's distribution alone


class Completion(str):
    """A generated text that also remembers why generation stopped.

    It *is* a `str`, so code that only wants text never notices the extra field.
    `finish_reason` is "stop" (EOS or stop string) or "length" (hit max_new_tokens).
    """

    finish_reason: str

    def __new__(cls, text: str, finish_reason: str = "stop") -> "Completion":
        obj = super().__new__(cls, text)
        obj.finish_reason = finish_reason
        return obj

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"


def finish_reason(text: str) -> str:
    """"stop" or "length" as the backend reported it; "unknown" for a plain string from a generator that does
    not say. Never guessed: a guessed "stop" would pass a truncated answer off as finished."""
    return getattr(text, "finish_reason", "unknown")


@runtime_checkable
class Generator(Protocol):
    def generate(self, prompts: Sequence[PromptLike], params: GenerationParams) -> list[list[str]]:
        """Return `params.n` completions per prompt, in prompt order (`Completion`s, to say why each ended)."""
        ...


@runtime_checkable
class OptionScorer(Protocol):
    """Reads next-token log-probabilities of option labels: what a log-prob judge needs."""

    def option_logprobs(
        self, prompts: Sequence[Conversation], options: Sequence[str], assistant_prefix: str = ""
    ) -> list[dict[str, float | None]]:
        """For each conversation, log p(option's first token) after the generation prompt
        (plus `assistant_prefix`). None where the backend gave no probability for it."""
        ...


@dataclass
class Judgement:
    """A soft pairwise verdict: `p` is the probability that response `a` is better.

    `p` is None when the judge could not decide; `error` then says why. Nothing is
    ever invented in its place.
    """

    p: float | None
    p_first_order: float | None = None  # p(a better) when a was shown first
    p_second_order: float | None = None  # p(a better) when a was shown second
    principle: str | None = None
    error: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def position_bias(self) -> float | None:
        """How much more the judge likes whichever response is shown first (0 = none)."""
        if self.p_first_order is None or self.p_second_order is None:
            return None
        return self.p_first_order - self.p_second_order


class Pair(NamedTuple):
    """One thing to judge: is `a` or `b` the better answer to `prompt` under `principle`?"""

    prompt: PromptLike
    a: str
    b: str
    principle: str | None = None  # a comparison question; None = the default question


@runtime_checkable
class Judge(Protocol):
    def compare(self, prompt: PromptLike, a: str, b: str, principle: str | None = None) -> Judgement:
        ...

    def compare_many(self, items: Sequence[Pair]) -> list[Judgement]:
        """One Judgement per item, in order (batched where the judge can); what every stage calls."""
        ...


@runtime_checkable
class RewardModel(Protocol):
    def score(self, prompts: Sequence[PromptLike], completions: Sequence[str | Conversation]) -> list[float]:
        """One scalar per (prompt, completion); a completion may be several assistant/user turns."""
        ...
