"""rm-eval metrics and ensemble aggregation against hand-computed values."""
import math

import pytest

from phronesis.evaluation.rm_data import hh_rlhf_pair, load_binary
from phronesis.data.hh_rlhf import parse_transcript
from phronesis.evaluation.rm_eval import evaluate_binary, evaluate_pairs
from phronesis.evaluation.rm_metrics import best_threshold, bootstrap_ci, mcc, pairwise_metrics, roc_auc
from phronesis.core.stats import length_baseline_accuracy
from phronesis.data.records import preference_row
from phronesis.rewards.ensemble import Aggregator, EnsembleRewardModel, Normaliser
from phronesis.rewards.preference_data import fit_to_length, margin_from_soft_label, trl_columns


def test_pairwise_accuracy_counts_ties_half_and_margin_is_mean_difference():
    m = pairwise_metrics([3.0, 1.0, 2.0, 0.0], [1.0, 2.0, 2.0, -1.0])
    assert m["accuracy"] == pytest.approx((1 + 0 + 0.5 + 1) / 4)
    assert m["mean_margin"] == pytest.approx((2 - 1 + 0 + 1) / 4)
    low, high = m["accuracy_ci95"]
    assert 0.0 <= low <= m["accuracy"] <= high <= 1.0


def test_bootstrap_ci_is_degenerate_for_constant_and_widens_with_noise():
    assert bootstrap_ci([1.0] * 20) == (1.0, 1.0)
    low, high = bootstrap_ci([0.0, 1.0] * 10)
    assert low < 0.5 < high


def test_length_baseline():
    assert length_baseline_accuracy(["long answer", "a", "same"], ["short", "bbbb", "same"]) == pytest.approx(0.5)


def test_mcc_hand_computed():
    # tp=2, tn=1, fp=1, fn=1: (2*1 - 1*1) / sqrt(3*3*2*2) = 1/6
    labels, preds = [1, 1, 1, 0, 0], [1, 1, 0, 1, 0]
    assert mcc(labels, preds) == pytest.approx(1 / 6)
    assert mcc([1, 0, 1, 0], [1, 0, 1, 0]) == pytest.approx(1.0)
    assert mcc([1, 0, 1, 0], [0, 1, 0, 1]) == pytest.approx(-1.0)
    assert mcc([1, 0, 1, 0], [1, 1, 1, 1]) == 0.0  # empty predicted-negative column


def test_roc_auc_hand_computed_with_tie():
    # positives {0.9, 0.5}, negatives {0.5, 0.1}: pairs (0.9>0.5, 0.9>0.1, 0.5=0.5, 0.5>0.1) = 3.5/4
    assert roc_auc([1, 1, 0, 0], [0.9, 0.5, 0.5, 0.1]) == pytest.approx(0.875)
    assert roc_auc([1, 0], [0.0, 1.0]) == 0.0
    assert math.isnan(roc_auc([1, 1], [0.2, 0.3]))


def test_best_threshold_separates_separable_scores():
    t = best_threshold([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])
    assert 0.2 < t < 0.8


def test_aggregators_hand_computed():
    scores = {"a": [1.0, 0.0], "b": [3.0, 0.0], "c": [2.0, 3.0]}
    # item 0: values 1,3,2 -> mean 2, var 2/3, std sqrt(2/3); item 1: 0,0,3 -> mean 1, var 2, std sqrt 2
    assert Aggregator(name="mean").combine(scores) == pytest.approx([2.0, 1.0])
    assert Aggregator(name="min").combine(scores) == pytest.approx([1.0, 0.0])
    assert Aggregator(name="mean_minus_std").combine(scores) == pytest.approx(
        [2 - 0.5 * math.sqrt(2 / 3), 1 - 0.5 * math.sqrt(2)])
    assert Aggregator(name="mean_minus_var", lam=2.0).combine(scores) == pytest.approx([2 - 4 / 3, 1 - 4.0])
    weighted = Aggregator(name="weighted", weights={"a": 1.0, "b": 0.0, "c": 3.0}).combine(scores)
    assert weighted == pytest.approx([(1 + 6) / 4, 9 / 4])


def test_weighted_aggregator_requires_weights():
    with pytest.raises(ValueError):
        Aggregator(name="weighted")
    with pytest.raises(ValueError, match="no weight for member 'b'"):
        Aggregator(name="weighted", weights={"a": 1.0}).combine({"a": [1.0], "b": [2.0]})


class ConstantRM:
    """A rule-based member: score = scale * len(completion) + offset."""

    def __init__(self, scale, offset=0.0):
        self.scale, self.offset = scale, offset

    def score(self, prompts, completions):
        return [self.scale * len(c if isinstance(c, str) else c[-1]["content"]) + self.offset for c in completions]


def test_zscore_normalisation_calibrates_each_member():
    ens = EnsembleRewardModel({"small": ConstantRM(1.0), "big": ConstantRM(100.0, 5.0)}, Aggregator(name="mean"))
    refs = ["a", "abc"]  # lengths 1, 3 -> mean 2, std 1
    norm = ens.calibrate(["p", "p"], refs)
    assert norm["small"].mean == pytest.approx(2.0) and norm["small"].std == pytest.approx(1.0)
    assert norm["big"].mean == pytest.approx(205.0) and norm["big"].std == pytest.approx(100.0)
    agg, members = ens.score_members(["p"], ["abcd"])  # length 4 -> z = 2 for both members
    assert members == {"small": pytest.approx([2.0]), "big": pytest.approx([2.0])}
    assert agg == pytest.approx([2.0])
    assert Normaliser.fit([3.0, 3.0]).std == 1.0  # a constant member is shifted, not divided by 0


def test_evaluate_pairs_reports_members_and_every_aggregator():
    rows = [preference_row("1", "q", "long answer", "no"), preference_row("2", "q", "x", "longer one")]
    ens = EnsembleRewardModel({"len": ConstantRM(1.0), "neg": ConstantRM(-1.0)}, Aggregator(name="mean"),
                              {"len": Normaliser(), "neg": Normaliser()})  # identity z-scores: members as they are
    result = evaluate_pairs(ens, rows)
    assert result["members"]["len"]["accuracy"] == 0.5
    assert result["members"]["neg"]["accuracy"] == 0.5
    assert result["length_baseline_accuracy"] == 0.5
    assert set(result["aggregators"]) == {"mean", "min", "mean_minus_std", "mean_minus_var", "weighted"}
    assert "skipped" in result["aggregators"]["weighted"]  # listed, with the reason: no weights configured
    assert result["aggregators"]["mean"]["accuracy"] == 0.5  # len and -len cancel: all ties


def test_evaluate_binary_median_and_calibrated():
    rows = [{"text": "x" * n, "label": int(n > 5)} for n in range(1, 11)]
    result = evaluate_binary(ConstantRM(1.0), rows, threshold="median")
    assert result["mcc"] == pytest.approx(1.0) and result["roc_auc"] == 1.0
    flipped = evaluate_binary(ConstantRM(-1.0), rows, threshold="calibrated")
    assert flipped["roc_auc"] == 0.0 and flipped["rows"] == 5


def test_margin_from_soft_label():
    assert margin_from_soft_label(0.5) == 0.0
    assert margin_from_soft_label(0.2) == 0.0
    assert margin_from_soft_label(0.75) == pytest.approx(math.log(3))
    assert margin_from_soft_label(1.0) == pytest.approx(math.log(0.95 / 0.05))
    cols = trl_columns([preference_row("1", "q", "a", "b", p_chosen=0.75)], margin_field="p_chosen")
    assert cols[0]["margin"] == pytest.approx(math.log(3)) and set(cols[0]) == {"prompt", "chosen", "rejected", "margin"}


def test_fit_to_length_drops_early_turns_then_counts_rows_that_never_fit():
    count = lambda msgs: sum(len(m["content"]) for m in msgs)
    prompt = [{"role": "user", "content": "x" * 10}, {"role": "assistant", "content": "y" * 10},
              {"role": "user", "content": "z" * 3}]
    rows = [preference_row("fits", prompt, "ab", "abc"), preference_row("never", "q", "a" * 50, "b")]
    kept, report = fit_to_length(rows, 8, count)
    assert [r["id"] for r in kept] == ["fits"] and kept[0]["prompt"] == prompt[-1:]
    assert report.prompt_turns_cut == 1 and report.dropped_too_long == 1 and report.dropped_ids == ["never"]


def test_hh_transcript_parsing():
    chosen = "\n\nHuman: hi\n\nAssistant: hello\n\nHuman: help me\n\nAssistant: sure, safely"
    rejected = "\n\nHuman: hi\n\nAssistant: hello\n\nHuman: help me\n\nAssistant: no"
    assert parse_transcript(chosen)[1] == {"role": "assistant", "content": "hello"}
    row = hh_rlhf_pair("1", chosen, rejected)
    assert [m["content"] for m in row["prompt"]] == ["hi", "hello", "help me"]
    assert row["chosen"][0]["content"] == "sure, safely" and row["rejected"][0]["content"] == "no"
    assert hh_rlhf_pair("2", chosen, "\n\nHuman: other\n\nAssistant: no") is None


def test_binary_loaders_for_each_format(tmp_path):
    ethics = tmp_path / "cm.csv"  # ETHICS commonsense: label 1 = clearly wrong
    ethics.write_text("label,input,is_short,edited\n1,I hit him.,True,False\n0,I helped her.,True,False\n")
    assert load_binary(ethics) == [{"text": "I hit him.", "label": 0}, {"text": "I helped her.", "label": 1}]
    scruples = tmp_path / "anecdotes.jsonl"
    scruples.write_text('{"text": "story", "binarized_label": "WRONG"}\n{"text": "s2", "binarized_label": "RIGHT"}\n')
    assert [r["label"] for r in load_binary(scruples)] == [0, 1]
    persona = tmp_path / "persona.jsonl"
    persona.write_text('{"statement": "Be kind", "answer_matching_behavior": " Yes"}\n'
                       '{"statement": "Lie", "answer_matching_behavior": " No"}\n')
    assert load_binary(persona) == [{"text": "Be kind", "label": 1}, {"text": "Lie", "label": 0}]


def test_ethics_label_meaning_is_read_per_subset(tmp_path):
    """Label 1 is 'clearly wrong' in commonsense but 'reasonable' in deontology and justice."""
    deontology = tmp_path / "deontology_test.csv"
    deontology.write_text("label,scenario,excuse\n1,Can you drive me?,No because my car is broken.\n"
                          "0,Can you drive me?,No because I wear blue socks.\n")
    assert load_binary(deontology) == [{"text": "Can you drive me? No because my car is broken.", "label": 1},
                                       {"text": "Can you drive me? No because I wear blue socks.", "label": 0}]
    justice = tmp_path / "justice_test.csv"
    justice.write_text("label,scenario\n1,I deserve pay because I worked.\n0,I deserve pay because I am tall.\n")
    assert [r["label"] for r in load_binary(justice)] == [1, 0]
    commonsense = tmp_path / "cm_test.csv"
    commonsense.write_text("label,input\n0,I returned the wallet.\n1,I kept the wallet.\n")
    assert [r["label"] for r in load_binary(commonsense)] == [1, 0]


def test_a_malformed_ethics_csv_names_the_line(tmp_path):
    from phronesis.core.errors import DataError

    broken = tmp_path / "cm.csv"
    broken.write_text('label,input\n0,"I returned the wallet.\n1,I kept it.\n')
    with pytest.raises(DataError, match="cm.csv: line 2: malformed CSV"):
        load_binary(broken)
