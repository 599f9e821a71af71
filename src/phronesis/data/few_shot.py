"""Worked critique → revision examples, shown to the model as earlier turns of the chat."""
from __future__ import annotations

from pydantic import Field

from ..core.config import StrictModel, read_yaml, validate
from ..core.protocols import Conversation
from .sources import data_file


class CritiqueExample(StrictModel):
    prompt: str
    response: str
    principle: str
    critique_request: str
    critique: str
    revision_request: str
    revision: str


class CritiqueExamples(StrictModel):
    examples: list[CritiqueExample] = Field(min_length=1)


def load_critique_examples(ref: str = "builtin:critique_revision") -> list[CritiqueExample]:
    path = data_file(ref, "few_shot/", ".yaml")
    return validate(CritiqueExamples, read_yaml(path), source=str(path)).examples


def example_turns(examples: list[CritiqueExample]) -> Conversation:
    """Each example as six turns: prompt, response, critique request, critique, revision request, revision."""
    turns: Conversation = []
    for ex in examples:
        for role, text in (("user", ex.prompt), ("assistant", ex.response), ("user", ex.critique_request),
                           ("assistant", ex.critique), ("user", ex.revision_request),
                           ("assistant", ex.revision)):
            turns.append({"role": role, "content": text})
    return turns
