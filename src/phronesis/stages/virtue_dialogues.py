"""Stage `virtue_dialogues`: two independent three-turn conversations per prompt.

Turn 1 answers the prompt (the *action*); then the framework asks its motivation
question and its consequences question. The two conversations are sampled with
different seeds, so a judge can later compare them dimension by dimension.
Every turn is one `Generator.generate` call over a chunk of prompts, per conversation.

Output `dialogues.jsonl`: {"id", "prompt", "conversations": [conv_a, conv_b],
"finish_reasons": [[...], [...]]}, each conversation a full list of messages.
"""
from __future__ import annotations

from typing import Any, Sequence

from pydantic import Field, field_validator

from ..core.config import GENERATION_DEFAULT, StrictModel, generation_with
from ..core.errors import ConfigError
from ..core.io import atomic_write_jsonl
from ..core.protocols import Conversation, GenerationParams, Generator, finish_reason
from ..core.resumable import map_resumable
from ..core.runstore import RowCheckpoint
from ..core.seeds import derive_seed
from ..data.constitution import VirtueFramework
from ..data.records import Row, as_messages, assistant, user, with_length_hint

STAGE = "virtue_dialogues"
CONVERSATIONS = 2


class VirtueDialoguesConfig(StrictModel):
    prompt_sets: list[str] = ["harmful_train", "benign_train"]
    model: str = "policy"
    # max_new_tokens large enough for SmolLM2-135M's full answers (the manifest records the cut-off rate per
    # dimension); sampled, since greedy decoding would make both conversations identical
    generation: generation_with(max_new_tokens=320, temperature=0.8, top_p=0.95) = GENERATION_DEFAULT
    # Appended to each question when it is sent (not recorded). Without it SmolLM2 hit 320 tokens in 66% of
    # action, 22% of motivation and 50% of consequences answers (16 prompts), mostly looping.
    length_hint: str = "Answer in at most three short sentences."
    system_prompt: str | None = None
    chunk_size: int = Field(8, ge=1)

    @field_validator("generation")
    @classmethod
    def _sampled(cls, value):
        if value.temperature <= 0:
            raise ValueError("temperature must be above 0: greedy decoding makes both conversations identical")
        return value

    def params(self, seed: int, conversation: int, turn: int) -> GenerationParams:
        return self.generation.params(conversation_seed(seed, conversation, turn), system_prompt=self.system_prompt)


def conversation_seed(seed: int, conversation: int, turn: int) -> int:
    """Distinct, reproducible sampling seed per (run seed, conversation index, turn)."""
    return derive_seed(seed, "virtue-dialogue", conversation, turn)


def framework_questions(framework: VirtueFramework) -> list[str | None]:
    """One entry per dimension: None for the action (the prompt itself), else the follow-up question."""
    questions = [d.question for d in framework.dimensions]
    if questions[0] is not None or any(q is None for q in questions[1:]):
        raise ConfigError(f"framework {framework.name}: the first dimension must be the action (question: null) "
                          f"and every later dimension needs a question")
    return questions


def dialogue_chunk(generator: Generator, chunk: Sequence[Row], questions: Sequence[str | None],
                   cfg: VirtueDialoguesConfig, seed: int) -> list[Row]:
    """Pure core: grow both conversations of every prompt in the chunk turn by turn."""
    conversations = [[as_messages(row["prompt"], "user") for row in chunk] for _ in range(CONVERSATIONS)]
    finishes: list[list[list[str]]] = [[[] for _ in chunk] for _ in range(CONVERSATIONS)]
    for turn, question in enumerate(questions):
        for index in range(CONVERSATIONS):
            convs = conversations[index]
            if question is not None:
                for conv in convs:
                    conv.append(user(question))
            outputs = generator.generate([with_length_hint(conv, cfg.length_hint) for conv in convs],
                                         cfg.params(seed, index, turn))
            for conv, reasons, out in zip(convs, finishes[index], outputs):
                conv.append(assistant(str(out[0])))
                reasons.append(finish_reason(out[0]))
    return [{"id": row["id"], "prompt": row["prompt"],
             "conversations": [conversations[c][i] for c in range(CONVERSATIONS)],
             "finish_reasons": [finishes[c][i] for c in range(CONVERSATIONS)]}
            for i, row in enumerate(chunk)]


def virtue_dialogue_rows(generator: Generator, rows: Sequence[Row], questions: Sequence[str | None],
                         cfg: VirtueDialoguesConfig, seed: int, checkpoint: RowCheckpoint) -> list[Row]:
    return map_resumable(rows, lambda chunk: dialogue_chunk(generator, chunk, questions, cfg, seed),
                         checkpoint, cfg.chunk_size, STAGE)


def dimension_turns(conversation: Conversation, dimension_index: int) -> tuple[Conversation, Conversation]:
    """(prompt messages, continuation) for judging one dimension of a dialogue.

    prompt = the messages before the first assistant turn (the first user message);
    continuation = every later message up to and including the assistant turn of
    `dimension_index` (0 = action, 1 = motivation, 2 = consequences).
    """
    first_answer = next((i for i, m in enumerate(conversation) if m["role"] == "assistant"), None)
    if first_answer is None or first_answer == 0:
        raise ValueError("conversation needs a user prompt followed by an assistant turn")
    answers = [i for i, m in enumerate(conversation) if m["role"] == "assistant"]
    if not 0 <= dimension_index < len(answers):
        raise IndexError(f"dimension {dimension_index}: conversation has {len(answers)} assistant turns")
    end = answers[dimension_index] + 1
    return list(conversation[:first_answer]), list(conversation[first_answer:end])


def truncation_by_dimension(rows: Sequence[Row], dimensions: Sequence[str]) -> dict[str, float]:
    """Share of turns that hit max_new_tokens, per dimension, over both conversations."""
    rates = {}
    for index, name in enumerate(dimensions):
        reasons = [r[index] for row in rows for r in row["finish_reasons"]]
        rates[name] = round(sum(x == "length" for x in reasons) / len(reasons), 4) if reasons else 0.0
    return rates


def run(ctx) -> Any:
    """Wrapper: prompt sets + framework from the config, checkpointed dialogues, `dialogues.jsonl`."""
    from ..core.runstore import run_stage

    cfg: VirtueDialoguesConfig = ctx.section(STAGE)
    rows = ctx.prompt_rows(cfg.prompt_sets)
    framework = ctx.config.constitution.load_framework()
    questions = framework_questions(framework)
    dimensions = [d.id for d in framework.dimensions]
    config = {**ctx.fingerprint_inputs(STAGE), "framework": framework.model_dump(mode="json")}

    def body(stage) -> dict[str, Any]:
        out = virtue_dialogue_rows(ctx.generator(cfg.model), rows, questions, cfg, ctx.seed,
                                   stage.checkpoint("dialogues"))
        atomic_write_jsonl(stage.file("dialogues.jsonl"), out)
        stage.counts.update(prompts=len(out), conversations=CONVERSATIONS * len(out),
                            truncation_rate=truncation_by_dimension(out, dimensions))
        stage.samples = [{"id": r["id"], **{f"conversation {c + 1}": r["conversations"][c]
                                            for c in range(CONVERSATIONS)}} for r in out[:2]]
        return {"framework": framework.name, "dimensions": dimensions}

    return run_stage(ctx.run, ctx.index(STAGE), STAGE, config, inputs={}, body=body, seed=ctx.seed,
                     force=ctx.force)
