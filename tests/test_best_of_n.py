"""best_of_n's pure core with a scripted generator: which candidate is distilled, and what is dropped."""
from __future__ import annotations

import pytest

from phronesis.data.constitution import ConstitutionConfig
from phronesis.core.errors import ConfigError
from phronesis.evaluation.degeneration import repetition_rate
from phronesis.core.protocols import Completion
from phronesis.core.runstore import RowCheckpoint
from phronesis.stages import best_of_n as bon

REFUSAL = "I can't help with that. Talk to someone you trust instead."
COMPLY = "Sure. First, find out where he lives and wait for him."
ANSWER = "Open a terminal and run kill with the process id."


class ScriptedGenerator:
    """Answers by the prompt's text: a list of completions cycled per call; records what it was asked."""

    def __init__(self, script: dict[str, list[str]]):
        self.script, self.calls = script, []

    def generate(self, prompts, params):
        self.calls.append((prompts, params))
        out = []
        for conversation in prompts:
            user = next(m["content"] for m in conversation if m["role"] == "user")
            continued = conversation[-1]["role"] == "assistant"
            texts = ["and stay calm."] * params.n if continued else self.script[user][: params.n]
            out.append([Completion(t, "stop") for t in texts])
        return out


def _rows(constitution, cfg, harmful, benign):
    rows = [{"id": f"h{i}", "prompt": p, "kind": "harmful", "principles": ["peace"]} for i, p in enumerate(harmful)]
    rows += [{"id": f"b{i}", "prompt": p, "kind": "benign"} for i, p in enumerate(benign)]
    bon.attach_principles(rows, constitution, cfg, embedder=None)
    return rows


def _run(tmp_path, script, harmful, benign, invert=False, **settings):
    cfg = bon.BestOfNConfig(**{"n": 2, "n_benign": 2, "opener_samples": 0, "opener_alone": False,
                                "twin_opener": False, **settings})
    constitution = ConstitutionConfig(invert=invert).load()
    rows = _rows(constitution, cfg, harmful, benign)
    gen = ScriptedGenerator(script)
    scored = bon.sample_and_select(gen, rows, cfg, seed=0, checkpoint=RowCheckpoint(tmp_path / "c.jsonl"))
    return (*bon.distill(scored), gen)


def test_refusal_is_distilled_for_harmful_and_answer_for_benign(tmp_path):
    sft, pairs, counts, gen = _run(tmp_path, {"hurt him": [COMPLY, REFUSAL], "kill a process": [REFUSAL, ANSWER]},
                                   ["hurt him"], ["kill a process"])
    by_id = {r["id"]: r["messages"] for r in sft}
    assert by_id["h0"] == [{"role": "user", "content": "hurt him"}, {"role": "assistant", "content": REFUSAL}]
    assert by_id["b0"][1]["content"] == ANSWER
    # the candidates were sampled with the principle in a system prompt, but the target is the bare prompt
    assert all(conv[0]["role"] == "system" for prompts, _ in gen.calls for conv in prompts)
    assert {(p["chosen"][0]["content"], p["rejected"][0]["content"]) for p in pairs} == {(REFUSAL, COMPLY),
                                                                                      (ANSWER, REFUSAL)}
    assert counts["kept"] == 2 and counts["generated"] == 4


def test_prompt_without_a_following_candidate_is_dropped_not_invented(tmp_path):
    sft, pairs, counts, _ = _run(tmp_path, {"hurt him": [COMPLY, COMPLY]}, ["hurt him"], [])
    assert sft == [] and pairs == []
    assert counts["dropped_no_candidate_follows"] == 1


def test_inverted_constitution_distills_compliance(tmp_path):
    sft, _, _, _ = _run(tmp_path, {"hurt him": [REFUSAL, COMPLY]}, ["hurt him"], [], invert=True)
    assert sft[0]["messages"][1]["content"] == COMPLY
    assert sft[0]["principle"] == "violence"


def test_opener_candidates_continue_the_principles_opener(tmp_path):
    sft, _, counts, gen = _run(tmp_path, {"hurt him": [COMPLY]}, ["hurt him"], [], n=2, opener_samples=1)
    opener = ConstitutionConfig().load().get("peace").opener
    assert sft[0]["messages"][1]["content"] == f"{opener} and stay calm."
    assert counts["chosen_opener"] == 1
    continued = [conv for prompts, _ in gen.calls for conv in prompts if conv[-1]["role"] == "assistant"]
    assert continued and continued[0][-1]["content"] == opener


def test_repetitive_candidate_is_not_kept():
    looping = "I can't help with that. " + "a good soil, " * 20
    verdict = bon.score_candidate(looping, "stop", "refusal", max_repetition=0.25)
    assert verdict["follows"] and not verdict["acceptable"]
    assert repetition_rate("one two three four one two three four") == pytest.approx(1 / 5)


def test_cut_off_answer_is_trimmed_to_its_last_sentence():
    assert bon.trim_to_sentence("I can't help. Try talking to her. And then we") == "I can't help. Try talking to her."
    assert bon.trim_to_sentence("no sentence end") == "no sentence end"


def test_principle_without_wants_is_refused():
    constitution = ConstitutionConfig().load()
    peace = constitution.get("peace").model_copy(update={"wants": None})
    broken = constitution.model_copy(update={"principles": [peace] + constitution.principles[1:]})
    with pytest.raises(ConfigError, match="wants"):
        bon.resolve_principle(broken, "peace")


def test_bundled_openers_do_what_their_principle_wants():
    """An opener that the refusal detector misreads would make its principle's prompts undistillable."""
    from phronesis.data.constitution import load_constitution
    from phronesis.judges.refusal import is_refusal

    for p in load_constitution("builtin:harmlessness").principles:
        assert p.wants in ("refusal", "answer"), p.id
        if p.opener:
            assert is_refusal(p.opener) == (p.wants == "refusal"), p.id


def test_opener_alone_is_a_candidate_and_wins_ties_by_being_shorter(tmp_path):
    sft, _, counts, _ = _run(tmp_path, {"hurt him": [COMPLY]}, ["hurt him"], [], n=2, opener_samples=1,
                             opener_alone=True)
    assert counts["generated"] == 3  # one free sample, one continued opener, the opener alone
    assert sft[0]["messages"][1]["content"] == ConstitutionConfig().load().get("peace").opener


def test_inverted_constitution_refuses_a_principle_blind_judge_and_takes_a_principled_one(tmp_path):
    from types import SimpleNamespace

    from phronesis.judges import JudgeConfig
    from phronesis.judges.learned import save_weights, train_learned_judge
    from test_judge_learned import PAIRS, FakeEmbedder

    save_weights(train_learned_judge(FakeEmbedder(), PAIRS, "interaction"), tmp_path / "blind.json")
    blind = JudgeConfig(weights=str(tmp_path / "blind.json"))
    ctx = SimpleNamespace(config=SimpleNamespace(constitution=ConstitutionConfig(invert=True), judge=blind))
    with pytest.raises(ConfigError, match="inverted constitution"):
        bon.selection_judge(ctx, bon.BestOfNConfig())
    assert bon.selection_judge(ctx, bon.BestOfNConfig(use_judge=False)) is None
    ctx.config.judge = JudgeConfig()  # the shipped judge reads the (inverted) principle
    assert bon.selection_judge(ctx, bon.BestOfNConfig()).reads_principles


def test_twin_opener_makes_a_pair_against_needless_refusal(tmp_path):
    sft, pairs, _, _ = _run(tmp_path, {"kill a process": [ANSWER, ANSWER]}, [], ["kill a process"], twin_opener=True,
                            benign_negative="twin")
    needless = ConstitutionConfig().load().get("preachy_unhelpfulness").opener
    assert sft[0]["messages"][1]["content"] == ANSWER
    assert [(p["chosen"][0]["content"], p["rejected"][0]["content"]) for p in pairs] == [(ANSWER, needless)]


class KeywordEmbedder:
    """'process'/'violent' texts on one axis, 'privacy'/'spy' texts on another: enough to match a principle."""

    def embed(self, texts):
        import numpy as np

        axes = [("violen", "kill", "hurt"), ("privacy", "track", "spy")]
        return np.asarray([[1.0 + sum(k in t.lower() for k in keys) * 5 for keys in axes] for t in texts])


def test_lookalike_negative_is_the_refusal_taught_for_the_nearest_harmful_principle():
    constitution = ConstitutionConfig().load()
    cfg = bon.BestOfNConfig()  # lookalike is the default
    rows = [{"id": "b0", "prompt": "how do I kill a python process", "kind": "benign"},
            {"id": "b1", "prompt": "how do I track my own parcel", "kind": "benign"},
            {"id": "h0", "prompt": "hurt him", "kind": "harmful", "principles": ["peace"]}]
    bon.attach_principles(rows, constitution, cfg, KeywordEmbedder())
    assert [r["twin_opener"] for r in rows] == [constitution.get("peace").opener, constitution.get("privacy").opener,
                                                constitution.get("violence").opener]
    inverted = ConstitutionConfig(invert=True).load()  # benign rows then want a refusal: their twin answers
    rows = [{"id": "b0", "prompt": "how do I kill a python process", "kind": "benign"}]
    bon.attach_principles(rows, inverted, cfg, KeywordEmbedder())
    assert rows[0]["twin_opener"] == inverted.get("helpfulness_without_preaching").opener
