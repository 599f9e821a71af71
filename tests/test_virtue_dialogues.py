import pytest

from phronesis.data.constitution import load_framework
from phronesis.core.errors import ConfigError
from phronesis.core.protocols import Completion
from phronesis.core.runstore import RowCheckpoint
from phronesis.stages.virtue_dialogues import (VirtueDialoguesConfig, conversation_seed, dialogue_chunk,
                                               dimension_turns, framework_questions, truncation_by_dimension,
                                               virtue_dialogue_rows)


class SeedEchoGenerator:
    """Replies name the call's seed and the turn count, so tests can see which seeds were used."""

    def __init__(self, cut_every=0):
        self.calls, self.cut_every = [], cut_every

    def generate(self, prompts, params):
        self.calls.append((len(prompts), params.seed))
        cut = self.cut_every and len(self.calls) % self.cut_every == 0
        return [[Completion(f"seed {params.seed} turn {len(p)}", "length" if cut else "stop")] for p in prompts]


QUESTIONS = framework_questions(load_framework())


def test_two_three_turn_conversations_per_prompt_batched_with_different_seeds():
    gen = SeedEchoGenerator()
    rows = [{"id": f"p{i}", "prompt": f"question {i}"} for i in range(3)]
    out = dialogue_chunk(gen, rows, QUESTIONS, VirtueDialoguesConfig(), seed=7)
    assert [n for n, _ in gen.calls] == [3] * 6  # 3 turns × 2 conversations, each over all prompts
    conv_a, conv_b = out[0]["conversations"]
    assert [m["role"] for m in conv_a] == ["user", "assistant"] * 3
    assert conv_a[0]["content"] == "question 0" and conv_a[2]["content"] == QUESTIONS[1]
    assert conv_a[4]["content"] == QUESTIONS[2]
    assert conv_a[1]["content"] != conv_b[1]["content"]  # independent samples
    assert {s for _, s in gen.calls} == {conversation_seed(7, c, t) for c in (0, 1) for t in range(3)}
    assert len({conversation_seed(7, c, 0) for c in (0, 1)} | {conversation_seed(8, 0, 0)}) == 3
    assert out[0]["finish_reasons"] == [["stop"] * 3, ["stop"] * 3]


def test_dimension_turns_slices_prompt_and_continuation():
    conv = [{"role": "user", "content": "u0"}, {"role": "assistant", "content": "a0"},
            {"role": "user", "content": "u1"}, {"role": "assistant", "content": "a1"},
            {"role": "user", "content": "u2"}, {"role": "assistant", "content": "a2"}]
    prompt, cont = dimension_turns(conv, 0)
    assert prompt == conv[:1] and cont == conv[1:2]
    assert dimension_turns(conv, 1)[1] == conv[1:4]
    assert dimension_turns(conv, 2) == (conv[:1], conv[1:])
    with pytest.raises(IndexError):
        dimension_turns(conv, 3)


def test_truncation_rate_is_counted_per_dimension_and_resume_skips_finished_rows(tmp_path):
    gen = SeedEchoGenerator(cut_every=6)  # the 6th call of each chunk = conversation b's consequences turn
    rows = [{"id": f"p{i}", "prompt": f"q{i}"} for i in range(4)]
    cfg = VirtueDialoguesConfig(chunk_size=2)
    out = virtue_dialogue_rows(gen, rows, QUESTIONS, cfg, 0, RowCheckpoint(tmp_path / "c.jsonl"))
    rates = truncation_by_dimension(out, ["action", "motivation", "consequences"])
    assert rates == {"action": 0.0, "motivation": 0.0, "consequences": 0.5}
    again = SeedEchoGenerator()
    assert virtue_dialogue_rows(again, rows, QUESTIONS, cfg, 0, RowCheckpoint(tmp_path / "c.jsonl")) == out
    assert again.calls == []


def test_framework_must_start_with_the_action():
    framework = load_framework().model_copy(update={"dimensions": list(reversed(load_framework().dimensions))})
    with pytest.raises(ConfigError, match="first dimension must be the action"):
        framework_questions(framework)


def test_greedy_decoding_is_refused_because_both_conversations_would_match():
    with pytest.raises(ValueError):
        VirtueDialoguesConfig(generation={"temperature": 0})


class RecordingGenerator:
    def __init__(self):
        self.sent = []

    def generate(self, prompts, params):
        self.sent.append([list(p) for p in prompts])
        return [[Completion("ok", "stop")] for _ in prompts]


def test_length_hint_is_sent_with_each_question_but_not_recorded():
    gen = RecordingGenerator()
    out = dialogue_chunk(gen, [{"id": "p0", "prompt": "question 0"}], QUESTIONS, VirtueDialoguesConfig(), seed=0)
    hint = "\n\nAnswer in at most three short sentences."
    assert gen.sent[0][0][-1]["content"] == "question 0" + hint
    assert gen.sent[-1][0][-1]["content"] == QUESTIONS[2] + hint
    assert gen.sent[-1][0][0]["content"] == "question 0"  # earlier turns go as recorded
    recorded = out[0]["conversations"][0]
    assert [m["content"] for m in recorded if m["role"] == "user"] == ["question 0", QUESTIONS[1], QUESTIONS[2]]
    unhinted = RecordingGenerator()
    dialogue_chunk(unhinted, [{"id": "p0", "prompt": "question 0"}], QUESTIONS, VirtueDialoguesConfig(length_hint=""),
                   seed=0)
    assert unhinted.sent[0][0][-1]["content"] == "question 0"


def test_a_plain_string_from_a_generator_is_an_unknown_finish_never_a_guessed_stop():
    from phronesis.core.protocols import Completion, finish_reason

    assert finish_reason(Completion("cut off", "length")) == "length"
    assert finish_reason("a plain string says nothing about how it ended") == "unknown"
