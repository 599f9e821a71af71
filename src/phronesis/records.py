"""Row shapes shared by stages, in TRL's conversational column names.

Preference rows: {"id", "prompt": [messages], "chosen": [messages], "rejected": [messages], ...extras}
SFT rows:        {"id", "messages": [messages]}
The prompt holds the user turn(s); chosen/rejected hold the assistant continuation
(for multi-turn virtue dialogues, every turn after the first user message).
"""
from __future__ import annotations

from typing import Any, Sequence, Union

from .protocols import Conversation

Turns = Union[str, Conversation]


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


def preference_row(row_id: str, prompt: Turns, chosen: Turns, rejected: Turns, **extra: Any) -> dict[str, Any]:
    return {"id": row_id, "prompt": as_messages(prompt, "user"), "chosen": as_messages(chosen),
            "rejected": as_messages(rejected), **extra}


def sft_row(row_id: str, prompt: Turns, answer: Turns, **extra: Any) -> dict[str, Any]:
    return {"id": row_id, "messages": as_messages(prompt, "user") + as_messages(answer), **extra}


def swap(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "chosen": row["rejected"], "rejected": row["chosen"]}


def first_user_text(messages: Sequence[dict[str, str]]) -> str:
    return next((m["content"] for m in messages if m["role"] == "user"), "")
