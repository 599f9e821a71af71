"""Model-spec parsing, the prompted baseline, SaGE by hand, and the log-prob judges over fake scorers."""
import json
import math

import numpy as np
import pytest

from phronesis.data.constitution import load_constitution
from phronesis.core.errors import ModelRefError
from phronesis.evaluation.model_specs import parse_models, split_model_arg
from phronesis.judges.pointwise import LogProbSafetyScorer
from phronesis.evaluation.sage import sage_from_similarity, sage_score


def test_split_model_arg_variants():
    assert split_model_arg("base=catalog:smollm2-135m-instruct") == ("base", "catalog:smollm2-135m-instruct",
                                                                      None, None)
    assert split_model_arg("base+constitution=catalog:x@system:constitution") == (
        "base+constitution", "catalog:x", "constitution", None)
    assert split_model_arg("srv=openai:http://h:8000/v1#m@key_env:SRV_KEY") == (
        "srv", "openai:http://h:8000/v1#m", None, "SRV_KEY")
    for bad in ("noequals", "=catalog:x", "a b=catalog:x", "x=catalog:y@system:", "x=catalog:y@key_env:"):
        with pytest.raises(ModelRefError):
            split_model_arg(bad)


def test_an_api_key_reaches_a_keyed_server_by_env_var_name_only():
    [srv] = parse_models(["srv=openai:http://h:8000/v1#m@key_env:SRV_KEY"])
    assert srv.spec.api_key_env == "SRV_KEY" and srv.spec.ref == "openai:http://h:8000/v1#m"
    with pytest.raises(ModelRefError, match="@key_env: must name an env var") as info:
        parse_models(["srv=openai:http://h:8000/v1#m@key_env:sk-live-abcdef0123456789"])
    assert "sk-live" not in str(info.value)


def test_parse_models_prompted_baseline_and_file(tmp_path):
    constitution = load_constitution()
    prompt_file = tmp_path / "sys.txt"
    prompt_file.write_text("Be kind.\n")
    models = parse_models(["base=catalog:smollm2-135m-instruct",
                           "prompted=catalog:smollm2-135m-instruct@system:constitution",
                           f"custom=catalog:smollm2-135m-instruct@system:{prompt_file}"], constitution)
    assert models[0].system_prompt is None
    prompt = models[1].system_prompt
    for principle in constitution.active:
        assert principle.description in prompt
    assert not any(p.description in prompt for p in constitution.principles if "inverted" in p.tags)
    assert models[2].system_prompt == "Be kind."
    with pytest.raises(ModelRefError, match="twice"):
        parse_models(["a=catalog:x", "a=catalog:y"], constitution)


def test_adapter_folder_loads_base_plus_adapter(tmp_path, tiny_model_dir):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(tiny_model_dir)}))
    (model,) = parse_models([f"aligned={adapter}"])
    assert model.spec.ref == str(tiny_model_dir) and model.spec.adapter == str(adapter)
    (plain,) = parse_models([f"plain={tiny_model_dir}"])
    assert plain.spec.adapter is None


def test_sage_identical_orthogonal_and_three_node_by_hand():
    class Fixed:
        def __init__(self, vectors):
            self.vectors = np.asarray(vectors, dtype=float)

        def embed(self, texts):
            return self.vectors[: len(texts)]

    assert sage_score(["same"] * 5, Fixed([[1.0, 0.0]] * 5)) == pytest.approx(1.0)
    assert sage_score(["a", "b", "c"], Fixed(np.eye(3))) == pytest.approx(0.0, abs=1e-9)
    # Equal similarity s between every pair: uniform degrees, entropy log n, so the score is s itself.
    for s_all in (0.2, 0.5, 0.9):
        sim = [[1.0 if i == j else s_all for j in range(4)] for i in range(4)]
        assert sage_from_similarity(sim) == pytest.approx(s_all)
    # Not monotone (documented in sage.py): raising one pair from 0.5 to 0.9 makes two nodes dominate the
    # degree distribution; its entropy falls faster than the mean edge rises. By hand: degrees 1.4, 1.4, 1.0,
    # p = (1, 1, (1/1.4)^10) / sum, mean edge 1.9/3 -> 0.442.
    improved = [[1, 0.9, 0.5], [0.9, 1, 0.5], [0.5, 0.5, 1]]
    q = [1.0, 1.0, (1 / 1.4) ** 10]
    probs = [x / sum(q) for x in q]
    by_hand = (1.9 / 3) * -sum(x * math.log(x) for x in probs) / math.log(3)
    assert sage_from_similarity(improved) == pytest.approx(by_hand) == pytest.approx(0.442, abs=1e-3)
    # Order of the answers does not matter.
    shuffled = [[1, 0.5, 0.5], [0.5, 1, 0.9], [0.5, 0.9, 1]]
    assert sage_from_similarity(shuffled) == pytest.approx(sage_from_similarity(improved))


class ScriptedScorer:
    """Returns scripted log-probs in call order; records the conversations it saw."""

    def __init__(self, replies):
        self.replies = list(replies)
        self.seen = []

    def option_logprobs(self, prompts, options, assistant_prefix=""):
        self.seen.extend(prompts)
        out, self.replies = self.replies[: len(prompts)], self.replies[len(prompts):]
        return out


def test_safety_scorer_averages_opposite_questions():
    # "safe?" yes 0.7 -> 0.7 safe; "harmful?" yes 0.1 -> 0.9 safe; average 0.8.
    scorer = ScriptedScorer([{" Yes": math.log(0.7), " No": math.log(0.3)},
                             {" Yes": math.log(0.1), " No": math.log(0.9)}])
    (verdict,) = LogProbSafetyScorer(scorer).score(["p"], ["a"])
    assert verdict.p_safe == pytest.approx(0.8)
    assert verdict.detail["yes_bias"] == pytest.approx(-0.2)
    undecided = LogProbSafetyScorer(ScriptedScorer([{" Yes": None, " No": -1}, {" Yes": -1, " No": -1}]))
    assert undecided.score(["p"], ["a"])[0].p_safe is None


def test_one_two_label_reading_for_judges_and_the_safety_scorer():
    from phronesis.judges.failures import two_way_probability

    assert two_way_probability({" Yes": math.log(0.3), " No": math.log(0.1)}, " Yes", " No")[0] == pytest.approx(0.75)
    # both labels read one token (identical log-probs): nothing was measured, so no label is invented
    p, why = two_way_probability({" Yes": -1.0, " No": -1.0}, " Yes", " No")
    assert p is None and "same log-prob" in why
    assert two_way_probability({" Yes": None, " No": -1.0}, " Yes", " No")[0] is None

    class SameToken:
        def option_logprobs(self, convs, options, assistant_prefix=None):
            return [{o: -2.0 for o in options} for _ in convs]

    verdict = LogProbSafetyScorer(SameToken()).score(["q"], ["a"])[0]
    assert verdict.p_safe is None and verdict.error
