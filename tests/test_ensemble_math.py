"""The ensemble's z-normalisation and aggregators against hand-computed values on fixed member scores."""
from __future__ import annotations

import pytest

from phronesis.rewards.ensemble import Aggregator, EnsembleRewardModel, Normaliser


class Fixed:
    def __init__(self, scores):
        self.scores = scores

    def score(self, prompts, completions):
        return list(self.scores)


# Two members on two items. Member a: raw [1, 3] -> z [-1, 1]; member b: raw [10, 10] -> std 0 -> std 1 -> [0, 0].
MEMBERS = {"a": Fixed([1.0, 3.0]), "b": Fixed([10.0, 10.0])}


def _ensemble(aggregator):
    ens = EnsembleRewardModel(MEMBERS, aggregator)
    ens.calibrate(["p", "p"], ["x", "y"])
    return ens


def test_z_normalisation_by_hand():
    ens = _ensemble(Aggregator(name="mean"))
    assert ens.normalisers["a"] == Normaliser(mean=2.0, std=1.0, n=2)
    assert ens.normalisers["b"].std == 1.0  # a constant member is centred, not divided by zero
    _, members = ens.score_members(["p", "p"], ["x", "y"])
    assert members == {"a": [-1.0, 1.0], "b": [0.0, 0.0]}


@pytest.mark.parametrize("aggregator, expected", [
    (Aggregator(name="mean"), [-0.5, 0.5]),
    (Aggregator(name="min"), [-1.0, 0.0]),
    # per item the members are (-1, 0) and (1, 0): population std 0.5, var 0.25
    (Aggregator(name="mean_minus_std", k=0.5), [-0.5 - 0.25, 0.5 - 0.25]),
    (Aggregator(name="mean_minus_var", lam=2.0), [-0.5 - 0.5, 0.5 - 0.5]),
    (Aggregator(name="weighted", weights={"a": 3.0, "b": 1.0}), [-0.75, 0.75]),
])
def test_aggregators_by_hand(aggregator, expected):
    assert _ensemble(aggregator).score(["p", "p"], ["x", "y"]) == pytest.approx(expected)


def test_uncertainty_penalty_prefers_the_item_members_agree_on():
    agree = {"a": [0.5], "b": [0.5]}
    disagree = {"a": [1.5], "b": [-0.5]}  # same mean, wide spread
    for name in ("mean_minus_std", "mean_minus_var", "min"):
        agg = Aggregator(name=name)
        assert agg.combine(agree)[0] > agg.combine(disagree)[0], name
    assert Aggregator(name="mean").combine(agree) == Aggregator(name="mean").combine(disagree)


def test_a_member_without_a_normaliser_is_an_error_not_raw_scores_mixed_with_z_scores():
    half = EnsembleRewardModel(MEMBERS, Aggregator(name="mean"), {"a": Normaliser(mean=2.0, std=1.0, n=2)})
    with pytest.raises(ValueError, match="member.s. b have no z-score normaliser"):
        half.score(["p", "p"], ["x", "y"])
    with pytest.raises(ValueError, match="a, b have no z-score normaliser"):
        EnsembleRewardModel(MEMBERS).score(["p", "p"], ["x", "y"])
    lone = EnsembleRewardModel({"a": MEMBERS["a"]}, Aggregator(name="mean"))  # one member: its own scale
    assert lone.score(["p", "p"], ["x", "y"]) == [1.0, 3.0]
