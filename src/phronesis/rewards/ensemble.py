"""EnsembleRewardModel: any RewardModels combined into one, with per-member z-scores.

Members can be LoRA adapters, an LLM judge wrapped as a scorer, a rule or a classifier:
anything with `score(prompts, completions)`. Each member's scores are z-normalised with
a mean/std calibrated on a reference set (so a member with a wide scale cannot dominate),
then combined by an aggregator. Uncertainty-aware aggregators (min, mean - k*std,
mean - lambda*var) penalise completions the members disagree on, which is the point of
an ensemble against reward hacking.
"""
from __future__ import annotations

from typing import Literal, Sequence

import numpy as np
from pydantic import Field, model_validator

from ..core.config import StrictModel
from ..core.protocols import Conversation, PromptLike, RewardModel

AggregatorName = Literal["mean", "min", "mean_minus_std", "mean_minus_var", "weighted"]
AGGREGATORS: tuple[str, ...] = ("mean", "min", "mean_minus_std", "mean_minus_var", "weighted")


class Aggregator(StrictModel):
    """How member scores combine. std/var are the population (ddof=0) spread across members."""

    name: AggregatorName = "mean_minus_std"
    k: float = 0.5  # mean_minus_std: mean - k * std
    lam: float = 0.5  # mean_minus_var: mean - lam * var
    weights: dict[str, float] = Field(default_factory=dict)  # weighted: member -> weight (normalised to sum 1)

    @model_validator(mode="after")
    def _weights_given(self):
        if self.name == "weighted" and not self.weights:
            raise ValueError("aggregator 'weighted' needs weights: {member: weight}")
        return self

    def combine(self, member_scores: dict[str, Sequence[float]]) -> list[float]:
        names = list(member_scores)
        matrix = np.asarray([member_scores[n] for n in names], dtype=np.float64)  # members x items
        if self.name == "mean":
            out = matrix.mean(axis=0)
        elif self.name == "min":
            out = matrix.min(axis=0)
        elif self.name == "mean_minus_std":
            out = matrix.mean(axis=0) - self.k * matrix.std(axis=0)
        elif self.name == "mean_minus_var":
            out = matrix.mean(axis=0) - self.lam * matrix.var(axis=0)
        else:
            out = self._weighted(names, matrix)
        return [float(x) for x in out]

    def _weighted(self, names: list[str], matrix: np.ndarray) -> np.ndarray:
        missing = [n for n in names if n not in self.weights]
        if missing:
            raise ValueError(f"aggregator 'weighted': no weight for member {missing[0]!r}")
        w = np.asarray([self.weights[n] for n in names], dtype=np.float64)
        if w.sum() <= 0:
            raise ValueError("aggregator 'weighted': weights must sum to a positive number")
        return (w[:, None] * matrix).sum(axis=0) / w.sum()


class Normaliser(StrictModel):
    """z = (score - mean) / std for one member, fitted on a reference set."""

    mean: float = 0.0
    std: float = 1.0
    n: int = 0  # reference items it was fitted on

    @classmethod
    def fit(cls, scores: Sequence[float]) -> "Normaliser":
        values = np.asarray(scores, dtype=np.float64)
        if values.size == 0:
            raise ValueError("cannot calibrate a normaliser on zero reference scores")
        std = float(values.std())
        return cls(mean=float(values.mean()), std=std if std > 1e-12 else 1.0, n=int(values.size))

    def apply(self, scores: Sequence[float]) -> list[float]:
        return [(float(s) - self.mean) / self.std for s in scores]


class EnsembleRewardModel:
    """A RewardModel made of RewardModels: normalise each member, then aggregate."""

    def __init__(self, members: dict[str, RewardModel], aggregator: Aggregator | None = None,
                 normalisers: dict[str, Normaliser] | None = None):
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = dict(members)
        self.aggregator = aggregator or Aggregator()
        self.normalisers = dict(normalisers or {})

    def calibrate(self, prompts: Sequence[PromptLike], completions: Sequence[str | Conversation]) -> dict[str, Normaliser]:
        """Fit every member's z-score on a reference set (e.g. held-out chosen+rejected completions)."""
        raw = self.raw_member_scores(prompts, completions)
        self.normalisers = {name: Normaliser.fit(scores) for name, scores in raw.items()}
        return self.normalisers

    def raw_member_scores(self, prompts: Sequence[PromptLike],
                          completions: Sequence[str | Conversation]) -> dict[str, list[float]]:
        return {name: list(member.score(prompts, completions)) for name, member in self.members.items()}

    def normalise(self, raw: dict[str, Sequence[float]]) -> dict[str, list[float]]:
        """z-scores per member. Raw scores only for a lone uncalibrated member: members' raw scales differ,
        so mixing raw with z-scored (or two raw) members would let one scale dominate the aggregate."""
        if not self.normalisers and len(raw) == 1:
            return {name: [float(x) for x in s] for name, s in raw.items()}
        missing = sorted(set(raw) - set(self.normalisers))
        if missing:
            raise ValueError(f"reward ensemble: member(s) {', '.join(missing)} have no z-score normaliser; "
                             f"calibrate the ensemble (train_reward does) before combining members")
        return {name: self.normalisers[name].apply(s) for name, s in raw.items()}

    def score_members(self, prompts: Sequence[PromptLike],
                      completions: Sequence[str | Conversation]) -> tuple[list[float], dict[str, list[float]]]:
        """(aggregate, {member: normalised scores}) so trainers and evaluation can log each member."""
        members = self.normalise(self.raw_member_scores(prompts, completions))
        return self.aggregator.combine(members), members

    def score(self, prompts: Sequence[PromptLike], completions: Sequence[str | Conversation]) -> list[float]:
        return self.score_members(prompts, completions)[0]

    def with_aggregator(self, aggregator: Aggregator) -> "EnsembleRewardModel":
        return EnsembleRewardModel(self.members, aggregator, self.normalisers)
