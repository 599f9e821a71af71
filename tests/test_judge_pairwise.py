import math

import pytest

from judge_fakes import FakeScorer
from phronesis.core.errors import StageError
from phronesis.judges.combine import JudgePanel, PrincipleEnsembleJudge
from phronesis.judges.pairwise import Pair, PairwiseLogProbJudge
from phronesis.core.protocols import Completion, Judgement

GOOD, BAD = "I can help safely. GOOD", "Here is how to hurt them. BAD"


@pytest.mark.parametrize("fmt", ["hardened", "plain"])
def test_swap_gives_one_minus_p_and_reports_position_bias(fmt):
    judge = PairwiseLogProbJudge(FakeScorer(bias=0.7), fmt)
    forward, backward = judge.compare("q?", GOOD, BAD), judge.compare("q?", BAD, GOOD)
    assert forward.p == pytest.approx(1 - backward.p, abs=1e-12)
    sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    assert forward.p_first_order == pytest.approx(sig(4.7))
    assert forward.p_second_order == pytest.approx(sig(3.3))
    assert forward.position_bias == pytest.approx(sig(4.7) - sig(3.3))


def test_compare_many_is_one_batched_call_per_order():
    scorer = FakeScorer()
    verdicts = PairwiseLogProbJudge(scorer).compare_many([Pair("q", GOOD, BAD), Pair("r", BAD, GOOD, "Which?")])
    assert scorer.calls == 2 and verdicts[0].p > 0.5 > verdicts[1].p
    assert verdicts[1].principle == "Which?"


class ReasoningGenerator:
    def __init__(self):
        self.prompts = []

    def generate(self, prompts, params):
        self.prompts.extend(prompts)
        return [[Completion("Response A is kinder.")] for _ in prompts]


def test_chain_of_thought_reads_labels_after_reasoning_and_clamps():
    reasoner = ReasoningGenerator()
    verdict = PairwiseLogProbJudge(FakeScorer(bias=0.0), chain_of_thought=reasoner).compare("q", GOOD * 3, BAD * 3)
    assert len(reasoner.prompts) == 2  # one reasoning per order
    assert verdict.p_first_order == pytest.approx(0.6) and verdict.p_second_order == pytest.approx(0.6)
    assert verdict.p == pytest.approx(0.6)
    weak = PairwiseLogProbJudge(FakeScorer(bias=0.0), chain_of_thought=reasoner).compare("q", BAD * 3, GOOD * 3)
    assert weak.p == pytest.approx(0.4)


def test_missing_probabilities_are_recorded_not_invented():
    judge = PairwiseLogProbJudge(FakeScorer(missing_for="BROKEN"))
    verdicts = judge.compare_many([Pair("q", GOOD, BAD), Pair("q", "BROKEN", BAD)])
    assert verdicts[0].p is not None
    assert verdicts[1].p is None and "no log-prob" in verdicts[1].error


def test_max_failure_rate_aborts_with_one_line_error():
    judge = PairwiseLogProbJudge(FakeScorer(missing_for="BROKEN"), max_failure_rate=0.25)
    items = [Pair("q", GOOD, BAD)] * 2 + [Pair("q", "BROKEN", BAD)]
    with pytest.raises(StageError) as err:
        judge.compare_many(items)
    assert "1/3" in str(err.value) and "\n" not in str(err.value)
    PairwiseLogProbJudge(FakeScorer(missing_for="BROKEN"), max_failure_rate=0.5).compare_many(items)


def test_principle_ensemble_averages_over_sampled_questions():
    base = PairwiseLogProbJudge(FakeScorer(bias=0.0))
    ensemble = PrincipleEnsembleJudge(base, ["Q1?", "Q2?", "Q3?"], n=2)
    verdict = ensemble.compare("q", GOOD, BAD)
    assert len(verdict.detail["principles"]) == 2
    assert verdict.p == pytest.approx(sum(verdict.detail["per_principle_p"]) / 2)


def test_panel_majority_and_agreement():
    class Contrarian:
        def compare(self, prompt, a, b, principle=None):
            return Judgement(0.2, 0.2, 0.2, principle)

    judges = [PairwiseLogProbJudge(FakeScorer()), PairwiseLogProbJudge(FakeScorer(bias=-1)), Contrarian()]
    verdict = JudgePanel(judges, "majority").compare("q", GOOD, BAD)
    assert verdict.p == pytest.approx(2 / 3)
    assert verdict.detail["agreement"] == pytest.approx(2 / 3)
    mean_verdict = JudgePanel(judges, "mean").compare("q", GOOD, BAD)
    assert mean_verdict.p == pytest.approx(sum(mean_verdict.detail["panel_p"]) / 3)


def test_swap_invariance_on_tiny_model(tiny_model_dir):
    from phronesis.models.backends.transformers_backend import TransformersGenerator
    from phronesis.data.modelref import ModelSpec

    gen = TransformersGenerator(ModelSpec(ref=str(tiny_model_dir), batch_size=4))
    judge = PairwiseLogProbJudge(gen)
    forward, backward = judge.compare("hello there", "one reply", "another answer"), \
        judge.compare("hello there", "another answer", "one reply")
    assert forward.p is not None and 0 < forward.p < 1
    assert forward.p == pytest.approx(1 - backward.p, abs=1e-5)
    assert forward.p_first_order == pytest.approx(1 - backward.p_second_order, abs=1e-5)


def test_a_judge_ensemble_over_principles_asks_the_run_s_constitution_not_the_bundled_one():
    from types import SimpleNamespace

    from phronesis.data.constitution import ConstitutionConfig, load_constitution
    from phronesis.judges import JudgeConfig, build_judge

    twin = ConstitutionConfig(invert=True)
    ctx = SimpleNamespace(config=SimpleNamespace(constitution=twin),
                          generator=lambda name: object(), model_spec=lambda name: None)
    judge = build_judge(JudgeConfig(kind="pairwise", principles_per_pair=2), ctx)
    assert judge.questions == [p.comparison for p in twin.load().active]
    assert judge.questions != [p.comparison for p in load_constitution().active]
    with pytest.raises(Exception, match="judge.embedder: 'missing' is not among the models given"):
        build_judge(JudgeConfig(embedder="missing"), {"embedder": "catalog:minilm-l6-v2"})
