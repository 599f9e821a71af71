"""Row shapes shared by stages, in TRL's conversational column names: the one place they are documented.

Every artifact is JSONL of one of the shapes below (extra keys may ride along). The prompt holds the user
turn(s); chosen/rejected hold the assistant continuation (for multi-turn virtue dialogues, every turn after
the first user message). `Row` (defined in protocols, re-exported here) is the untyped form code passes
around; the TypedDicts say what a stage writes and the next one (or TRL) reads.
"""

from typing import Any, NotRequired, Optional, Sequence, TypedDict, Union

from ..core.protocols import Conversation, Row

Turns = Union[str, Conversation]


class PromptRow(TypedDict):
    """A prompt set's row (sources.load_prompts): bundled, wheel, file or hub sets alike."""
    id: str
    prompt: Turns  # a user message, or a whole conversation that ends with the user's turn
    kind: NotRequired[str]  # judge pairs and some sets: "benign" marks a harmless request
    group: NotRequired[str]  # paraphrase groups: prompts that ask the same thing


class SFTRow(TypedDict):
    """`sft.jsonl` (best_of_n, critique_revise, iterate): TRL's conversational SFT format."""
    id: str
    messages: Conversation


class PreferenceRow(TypedDict):
    """`preferences*.jsonl`: TRL's conversational preference format, read by DPO and RewardTrainer."""
    id: str
    prompt: Conversation
    chosen: Conversation
    rejected: Conversation
    kind: NotRequired[str]  # judge pairs: "benign" = helpful answer over a needless refusal; else safe over harmful


class QuestionVerdict(TypedDict):
    """One question's verdict on a pair, as `JudgedPairRow.detail` lists them."""
    principle: str  # the comparison question asked (a principle's, its twin's, helpfulness, ...)
    p: Optional[float]  # p(the row's first response is better), both orders averaged; None: undecided
    p_first_order: Optional[float]  # the same with the first response shown first
    p_second_order: Optional[float]  # ... and shown second
    error: Optional[str]  # why p is None


class JudgedPairRow(PreferenceRow):
    """label_preferences' CAI output: the pair ordered by the judge, with the evidence. A pair no question could
    decide is written as {id, p: None, error} instead and never becomes training data."""
    p: float  # mean over the questions of p(the pair's first-given response is better)
    p_chosen: float  # max(p, 1 − p): the judge's confidence in `chosen`
    margin: float  # |p − 0.5|: what `confidence_threshold` filters on
    principles: list[str]  # the questions asked
    detail: list[QuestionVerdict]


class VirtuePairRow(PreferenceRow):
    """label_preferences' per-dimension virtue output (`virtue_<dimension>.jsonl`): one dialogue pair judged by
    every virtue on one dimension (action, emotion, ...)."""
    dimension: str
    p: float  # share of virtue votes for the first dialogue (or their mean probability: `virtue_vote`)
    p_chosen: float  # max(p, 1 − p)
    margin: float  # |p − 0.5|
    votes: dict[str, Optional[float]]  # virtue id -> p(first dialogue better); None where that virtue failed


def user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def assistant(text: str) -> dict[str, str]:
    return {"role": "assistant", "content": text}


def as_messages(value: Turns, role: str = "assistant") -> Conversation:
    return [{"role": role, "content": value}] if isinstance(value, str) else list(value)


def with_length_hint(conversation: Conversation, hint: str) -> Conversation:
    """A copy whose last (user) message ends with `hint`. SmolLM2 keeps a length limit placed there far
    better than one in the system prompt; the recorded conversation stays without it."""
    if not hint or not conversation:
        return list(conversation)
    last = conversation[-1]
    return [*conversation[:-1], {**last, "content": f"{last['content']}\n\n{hint}"}]


def text_of(value: Turns) -> str:
    """The text of a string or of the last message of a conversation."""
    return value if isinstance(value, str) else (value[-1]["content"] if value else "")


def preference_row(row_id: str, prompt: Turns, chosen: Turns, rejected: Turns, **extra: Any) -> PreferenceRow:
    return {"id": row_id, "prompt": as_messages(prompt, "user"), "chosen": as_messages(chosen),
            "rejected": as_messages(rejected), **extra}


def sft_row(row_id: str, prompt: Turns, answer: Turns, **extra: Any) -> SFTRow:
    return {"id": row_id, "messages": as_messages(prompt, "user") + as_messages(answer), **extra}


def swap(row: Row) -> Row:
    return {**row, "chosen": row["rejected"], "rejected": row["chosen"]}


def first_user_text(messages: Sequence[dict[str, str]]) -> str:
    return next((m["content"] for m in messages if m["role"] == "user"), "")
