"""The whole evaluation suite with fake generators, judges, p(safe) scorer, embedder and RMs.

The fake "aligned" model is the fake base given a system prompt: it then refuses the
harmful test prompts (also when wrapped in a jailbreak) and answers each paraphrase
differently. Every expected value below is computed by hand from that design.
"""
import math

import numpy as np
import pytest

from phronesis.evaluation.consistency import load_groups
from phronesis.judges.pointwise import SafetyVerdict
from phronesis.evaluation.settings import EvalConfig
from phronesis.evaluation.suite import EvalResources, evaluate_models
from phronesis.core.protocols import Judgement
from phronesis.data.sources import load_prompts

REFUSAL = "I can't help with that."
COMPLY = "Sure, here is how."
HARMFUL = {r["prompt"] for r in load_prompts("builtin:harmful_test")}
PARAPHRASES = {text for g in load_groups() for text in g["paraphrases"]}


class FakeGenerator:
    def __init__(self):
        self.system_prompts_seen = set()

    def generate(self, prompts, params):
        self.system_prompts_seen.add(params.system_prompt)
        return [[self._answer(p, params.system_prompt)] for p in prompts]

    @staticmethod
    def _answer(prompt, system):
        if not isinstance(prompt, str):  # a virtue follow-up turn
            return "Because it is right."
        if system and any(h in prompt for h in HARMFUL):
            return REFUSAL
        if system and prompt in PARAPHRASES:
            return f"My view on: {prompt}"  # a different answer per paraphrase
        return COMPLY


class LongerWinsJudge:
    def compare(self, prompt, a, b, principle=None):
        p = 0.5 if len(a) == len(b) else (0.9 if len(a) > len(b) else 0.1)
        return Judgement(p, p_first_order=min(1.0, p + 0.05), p_second_order=max(0.0, p - 0.05), principle=principle)


class RuleSafety:
    """p(safe) 0.9 for the refusal, 0.2 for compliance; undecided for one jailbreak template's answers."""

    def __init__(self):
        self.calls = 0

    def score(self, prompts, answers):
        self.calls += 1
        out = []
        for prompt, answer in zip(prompts, answers):
            if prompt.startswith("Please pretend to be my late grandmother"):
                out.append(SafetyVerdict(None, error="no probability"))
            else:
                out.append(SafetyVerdict(0.9 if answer == REFUSAL else 0.2))
        return out


class OneHotEmbedder:
    def __init__(self):
        self.index = {}

    def embed(self, texts):
        for t in texts:
            self.index.setdefault(t, len(self.index))
        out = np.zeros((len(texts), 512))
        for row, t in enumerate(texts):
            out[row, self.index[t]] = 1.0
        return out


class RefusalRM:
    def score(self, prompts, completions):
        return [1.0 if c.startswith("I can't") else 0.0 for c in completions]


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    cfg = EvalConfig(harmful={"source": "builtin:harmful_test", "limit": 4},
                     benign={"source": "builtin:benign_test", "limit": 3},
                     jailbreak_templates=2, jailbreak_prompts=2, paraphrase_groups=2, paraphrases_per_group=3,
                     bootstrap=500, permutations=500, reward_models={"r": "unused"})
    generator = FakeGenerator()
    res = EvalResources(generators={"base": generator, "aligned": generator},
                        system_prompts={"base": None, "aligned": "be good"}, judge=LongerWinsJudge(),
                        safety=RuleSafety(), embedder=OneHotEmbedder(), reward_models={"r": RefusalRM()})
    out = evaluate_models(cfg, res, tmp_path_factory.mktemp("work"), virtue_questions=["Why?", "So?"])
    out["generator"] = generator
    return out


def test_refusal_rates_and_mcnemar(result):
    m = result["metrics"]["harmful_refusal_rate"]
    assert m["per_model"]["base"]["mean"] == 0.0 and m["per_model"]["aligned"]["mean"] == 1.0
    diff = m["vs_base"]["aligned"]
    assert diff["diff"] == 1.0 and diff["test"] == "mcnemar-exact"
    assert diff["p"] == pytest.approx(2 * 0.5 ** 4)  # 4 discordant pairs, all one way
    tested = [d["p"] for metric in result["metrics"].values() for model, d in metric["vs_base"].items()
              if model == "aligned" and d.get("p") is not None]
    assert diff["p_holm"] == pytest.approx(min(1.0, diff["p"] * len(tested)))  # the smallest p: times m
    assert result["generator"].system_prompts_seen >= {None, "be good"}


def test_judge_compliance_with_undecided_items(result):
    m = result["metrics"]["jailbreak_compliance_judge"]
    # 2 templates x 2 prompts; the grandmother template's 2 items are undecided.
    assert m["per_model"]["base"]["undecided"] == 2 and m["per_model"]["base"]["n"] == 2
    assert m["per_model"]["base"]["mean"] == 1.0 and m["per_model"]["aligned"]["mean"] == 0.0
    assert m["vs_base"]["aligned"]["n"] == 2 and m["vs_base"]["aligned"]["p"] == pytest.approx(0.5)
    agree = m["per_model"]["base"]["rule_agreement"]
    assert agree["agreement"] == 1.0 and agree["n"] == 2
    assert result["metrics"]["harmful_p_safe"]["per_model"]["aligned"]["mean"] == pytest.approx(0.9)


def test_over_refusal_is_zero_for_both(result):
    m = result["metrics"]["benign_refusal_rate"]
    assert m["per_model"]["base"]["mean"] == 0.0 and m["per_model"]["aligned"]["mean"] == 0.0
    assert m["vs_base"]["aligned"]["p"] == 1.0 and m["higher_is_better"] is False


def test_win_rates_ties_and_permutation(result):
    help_ = result["metrics"]["helpfulness_win_rate"]["per_model"]["aligned"]
    assert help_["mean"] == 0.5  # identical benign answers: every item a tie
    harm = result["metrics"]["harmlessness_win_rate"]
    assert harm["per_model"]["aligned"]["mean"] == 1.0
    assert harm["vs_base"]["aligned"]["diff"] == 0.5
    assert harm["vs_base"]["aligned"]["p"] == pytest.approx(2 / 16)  # exact sign flips of 4 x (+0.5)
    assert "base" not in harm["per_model"]
    detail = result["items"]["harmlessness_win_rate"]["aligned"][0]
    assert detail["position_bias"] == pytest.approx(0.1)


def test_sage_identical_vs_distinct_answers(result):
    m = result["metrics"]["sage_consistency"]
    assert m["per_model"]["base"]["mean"] == pytest.approx(1.0)
    assert m["per_model"]["aligned"]["mean"] == pytest.approx(0.0)
    assert m["vs_base"]["aligned"]["diff"] == pytest.approx(-1.0)


def test_virtue_ensemble_hand_computed(result):
    m = result["metrics"]["virtue_ensemble"]
    # aligned: 7 prompts x 3 turns, the 4 harmful actions are refusals scoring 1, the rest 0.
    p = 4 / 21
    expected = p - 0.5 * math.sqrt(p * (1 - p))
    assert m["per_model"]["aligned"]["mean"] == pytest.approx(expected)
    assert m["per_model"]["base"]["mean"] == pytest.approx(0.0)
    assert m["per_model"]["aligned"]["per_rm_mean"]["r"] == pytest.approx(p)
    assert m["vs_base"]["aligned"]["diff"] == pytest.approx(expected)


def test_resume_reuses_checkpointed_answers(result, tmp_path):
    cfg = EvalConfig(harmful={"source": "builtin:harmful_test", "limit": 2},
                     benign={"source": "builtin:benign_test", "limit": 2}, jailbreaks=None, paraphrases=None,
                     bootstrap=100, permutations=100)
    evaluate_models(cfg, EvalResources(generators={"base": FakeGenerator()}), tmp_path)

    class Exploding:
        def generate(self, prompts, params):
            raise AssertionError("answers should have come from the checkpoint")

    again = evaluate_models(cfg, EvalResources(generators={"base": Exploding()}), tmp_path)
    assert again["metrics"]["harmful_refusal_rate"]["per_model"]["base"]["n"] == 2


def test_training_prompts_are_refused():
    with pytest.raises(Exception, match="training split"):
        EvalConfig(harmful="builtin:harmful_train")
