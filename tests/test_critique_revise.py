import json

import pytest

from phronesis.data.constitution import Principle, load_constitution
from phronesis.core.protocols import Completion
from phronesis.curation.revision_filters import critique_overlap, revision_problem, strip_label
from phronesis.core.runstore import RowCheckpoint
from phronesis.stages.critique_revise import (CritiqueReviseConfig, RevisionFilters, active_examples,
                                              critique_revise_rows, output_files, revise_chunk, summarise)
from phronesis.data.few_shot import example_turns, load_critique_examples


def principle(pid):
    return Principle(id=pid, description=pid, critique_request=f"CRITIQUE-BY-{pid}",
                     revision_request=f"REVISE-BY-{pid}", comparison="q", no_inverse=True)


PRINCIPLES = {"peace": principle("peace"), "privacy": principle("privacy")}


class ScriptedGenerator:
    """Answers by the kind of the last user turn; records every call's batch."""

    def __init__(self, revision=lambda prompt, n: f"Revision: a kinder answer {n}", finish="stop"):
        self.calls, self.revision, self.finish = [], revision, finish

    def generate(self, prompts, params):
        self.calls.append(prompts)
        out = []
        for p in prompts:
            last = p if isinstance(p, str) else p[-1]["content"]
            first = p if isinstance(p, str) else p[0]["content"]
            if last.startswith("CRITIQUE-BY-"):
                out.append([Completion(f"Critique: the answer to {first} breaks {last[12:]}")])
            elif last.startswith("REVISE-BY-"):
                out.append([Completion(self.revision(first, len(self.calls)), self.finish)])
            else:
                out.append([Completion(f"initial answer to {first}")])
        return out


def rows(n, plan=("peace", "privacy")):
    return [{"id": f"r{i}", "prompt": f"prompt {i}", "principle_plan": list(plan)} for i in range(n)]


def settings(rounds=2, **filters):
    """Rewrite mode (the scripted generator answers its turns); regenerate mode has its own tests."""
    return CritiqueReviseConfig(rounds=rounds, revision_mode="rewrite",
                                filters=RevisionFilters(**filters)).settings(seed=0)


def test_each_step_is_one_batched_call_over_the_chunk():
    gen = ScriptedGenerator()
    out = revise_chunk(gen, rows(3), PRINCIPLES, [], settings(rounds=2))
    assert [len(c) for c in gen.calls] == [3] * 5  # answer + 2 × (critique, revision), all 3 prompts each
    critique_call = gen.calls[1][0]
    assert critique_call[-1]["content"] == "CRITIQUE-BY-peace" and critique_call[1]["content"] == "initial answer to prompt 0"
    second_round = gen.calls[3][0]  # the round-2 critique sees the round-1 revision, not the initial answer
    assert second_round[1]["content"] == "a kinder answer 3" and second_round[-1]["content"] == "CRITIQUE-BY-privacy"
    assert out[0]["final"] == "a kinder answer 5" and out[0]["principles"] == ["peace", "privacy"]
    assert out[0]["steps"][0]["critique"].startswith("the answer to prompt 0")  # label stripped


def test_few_shot_examples_come_before_the_conversation():
    gen = ScriptedGenerator()
    shots = example_turns(load_critique_examples()[:1])
    revise_chunk(gen, rows(1), PRINCIPLES, shots, settings(rounds=1))
    critique_call = gen.calls[1][0]
    assert critique_call[:6] == shots and critique_call[6]["content"] == "prompt 0"


@pytest.mark.parametrize("revision, finish, reason", [
    (lambda p, n: "Revision:   ", "stop", "empty"),
    (lambda p, n: "a kinder answer that goes on", "length", "truncated"),
    (lambda p, n: f"the answer to {p} breaks peace", "stop", "repeats_critique"),
    (lambda p, n: "Revision: The original response is violent and unkind.", "stop", "describes_response"),
])
def test_bad_revisions_are_dropped_counted_and_the_previous_answer_kept(revision, finish, reason):
    gen = ScriptedGenerator(revision=revision, finish=finish)
    out = revise_chunk(gen, rows(2, plan=("peace",)), PRINCIPLES, [], settings(rounds=1))
    counts = summarise(out)
    assert counts[f"dropped_{reason}"] == 2 and counts["revisions_accepted"] == 0
    assert counts["prompts_without_accepted_revision"] == 2
    files = output_files(out)
    assert files["sft.jsonl"] == [] and files["preferences.jsonl"] == [] and len(files["trace.jsonl"]) == 2
    assert all(t["dropped"] == reason for t in files["trace.jsonl"])


def test_truncated_revisions_may_be_kept_when_the_filter_is_off():
    gen = ScriptedGenerator(finish="length")
    out = revise_chunk(gen, rows(1, plan=("peace",)), PRINCIPLES, [], settings(rounds=1, drop_truncated=False))
    assert out[0]["final"] == "a kinder answer 3"


def test_output_rows_have_trl_shapes():
    out = revise_chunk(ScriptedGenerator(), rows(2), PRINCIPLES, [], settings(rounds=2))
    files = output_files(out)
    sft, pref = files["sft.jsonl"][0], files["preferences.jsonl"][0]
    assert sft["messages"] == [{"role": "user", "content": "prompt 0"},
                               {"role": "assistant", "content": "a kinder answer 5"}]
    assert pref["chosen"][0]["content"] == "a kinder answer 5"
    assert pref["rejected"][0]["content"] == "initial answer to prompt 0"
    assert pref["prompt"] == [{"role": "user", "content": "prompt 0"}] and pref["principles"] == ["peace", "privacy"]
    assert [t["principle"] for t in files["trace.jsonl"][:2]] == ["peace", "privacy"]
    assert summarise(out)["final_differs_from_initial"] == 2


def test_resume_after_a_kill_between_chunks_has_no_duplicates_or_gaps(tmp_path):
    data = rows(7)
    reference = critique_revise_rows(ScriptedGenerator(), data, PRINCIPLES, [], settings(),
                                     RowCheckpoint(tmp_path / "ref.jsonl"), chunk_size=3)

    class Killed(Exception):
        pass

    class DiesAfterTwoChunks(ScriptedGenerator):
        def generate(self, prompts, params):
            if len(self.calls) == 10:  # 5 calls per chunk: the third chunk's first call dies
                raise Killed
            return super().generate(prompts, params)

    path = tmp_path / "ckpt.jsonl"
    with pytest.raises(Killed):
        critique_revise_rows(DiesAfterTwoChunks(), data, PRINCIPLES, [], settings(), RowCheckpoint(path), 3)
    assert len(path.read_text().splitlines()) == 6
    resumed_gen = ScriptedGenerator()
    out = critique_revise_rows(resumed_gen, data, PRINCIPLES, [], settings(), RowCheckpoint(path), 3)
    assert [len(c) for c in resumed_gen.calls] == [1] * 5  # only the last chunk (one row) was redone
    ids = [json.loads(line)["id"] for line in path.read_text().splitlines()]
    assert sorted(ids) == sorted(r["id"] for r in data) and len(ids) == len(set(ids))
    assert [r["id"] for r in out] == [r["id"] for r in data]
    assert [r["initial"] for r in out] == [r["initial"] for r in reference]


def test_label_stripping_and_overlap():
    assert strip_label("**Revision:** Be kind.") == "Be kind."
    assert strip_label("Critique: x") == "x" and strip_label("No label") == "No label"
    assert critique_overlap("the cat sat", "the cat sat down") == 1.0
    assert critique_overlap("be calm and talk", "the answer threatens") == 0.0
    assert revision_problem("the cat sat", "the cat sat down", "stop", max_critique_overlap=0.9) == "repeats_critique"


def test_inverted_constitution_gets_no_ethical_examples():
    examples = load_critique_examples()
    inverted = {p.id: p for p in load_constitution().inverted().active}
    normal = {p.id: p for p in load_constitution().active}
    assert active_examples(examples, inverted) == [] and len(active_examples(examples, normal)) == len(examples)


@pytest.mark.slow
def test_critique_revise_end_to_end_on_smollm2(tmp_path, smollm2_dir, monkeypatch):
    from phronesis.pipeline import load_pipeline_config, run_pipeline

    monkeypatch.chdir(tmp_path)
    config = load_pipeline_config(None, [
        "run.name=e2e", "stages=[critique_revise]",
        "prompts={harm: {source: 'builtin:harmful_train', limit: 2}}",
        "critique_revise.prompt_sets=[harm]", "critique_revise.rounds=1", "critique_revise.few_shot=false",
        "critique_revise.generation.answer.max_new_tokens=24", "critique_revise.generation.critique.max_new_tokens=16",
        "critique_revise.generation.revision.max_new_tokens=24", "critique_revise.filters.drop_truncated=false"])
    [outcome] = run_pipeline(config)
    counts = outcome.manifest["counts"]
    assert counts["prompts"] == 2 and counts["revisions"] == 2
    trace = [json.loads(line) for line in (outcome.path / "trace.jsonl").read_text().splitlines()]
    active = {p.id for p in load_constitution().active}
    assert len(trace) == 2 and all(t["principle"] in active and t["critique"] for t in trace)
    sft = (outcome.path / "sft.jsonl").read_text().splitlines()
    assert len(sft) == counts["sft_rows"] == 2 - counts["prompts_without_accepted_revision"]
    assert (outcome.path / "samples.md").exists()


class RegeneratingGenerator(ScriptedGenerator):
    """A distinct reply to a regenerate call (system + bare request), so the test sees where `final` came from."""

    def generate(self, prompts, params):
        out = super().generate(prompts, params)
        for i, p in enumerate(prompts):
            if not isinstance(p, str) and p[0]["role"] == "system" and len(p) == 2:
                out[i] = [Completion(f"Fresh reply number {i}, written again from the bare request.")]
        return out


def test_regenerate_mode_answers_afresh_under_the_principle_and_critique():
    gen = RegeneratingGenerator()
    cfg = CritiqueReviseConfig(rounds=1, revision_mode="regenerate")
    out = revise_chunk(gen, rows(2), PRINCIPLES, [], cfg.settings(seed=0))
    revision_call = gen.calls[2]
    assert [turn["role"] for turn in revision_call[0]] == ["system", "user"]
    # the user's request (not the old answer) with the length hint after it
    assert revision_call[0][1]["content"] == "prompt 0\n\nAnswer in at most three short sentences."
    assert "peace" in revision_call[0][0]["content"] and "breaks" in revision_call[0][0]["content"]
    assert out[0]["steps"][0]["dropped"] is None  # an answer, not a description of one: kept
    assert out[0]["initial"] == "initial answer to prompt 0"
    assert out[0]["final"] == "Fresh reply number 0, written again from the bare request."  # the regenerated reply


def test_regenerate_without_length_hint_sends_the_request_unchanged():
    gen = ScriptedGenerator()
    cfg = CritiqueReviseConfig(rounds=1, revision_mode="regenerate", regenerate_length_hint="")
    revise_chunk(gen, rows(1), PRINCIPLES, [], cfg.settings(seed=0))
    assert gen.calls[2][0][1] == {"role": "user", "content": "prompt 0"}
