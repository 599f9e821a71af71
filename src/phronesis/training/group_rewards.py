"""Reward members that score a whole group at once: SaGE consistency over paraphrase answers.

A group is every completion in the batch whose `group` column matches (the answers
to paraphrases of one moral question). One SaGE number per group would give every
completion of a prompt the same reward, and GRPO's group-relative advantage would
then be zero; so each completion gets its *marginal* contribution: SaGE(group) minus
SaGE(group without it). `mode="shared"` gives the plain group score instead.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Literal, Sequence

from ..evaluation.sage import ALPHA, sage_from_similarity


class SageConsistencyReward:
    group_column = "group"

    def __init__(self, embedder: Any, mode: Literal["marginal", "shared"] = "marginal", alpha: float = ALPHA):
        self.embedder = embedder
        self.mode = mode
        self.alpha = alpha
        self.last_group_scores: dict[str, float] = {}

    def score_groups(self, prompts: Sequence[Any], completions: Sequence[str],
                     groups: Sequence[Any]) -> list[float]:
        emb = self.embedder.embed(list(completions))
        sim = (emb @ emb.T).tolist()
        members: dict[str, list[int]] = defaultdict(list)
        for index, group in enumerate(groups):
            if group is not None:  # a prompt outside every paraphrase group has no consistency to measure
                members[str(group)].append(index)
        scores = [0.0] * len(completions)
        self.last_group_scores = {}
        for group, idx in members.items():
            if len(idx) < 2:
                continue  # a lone answer has no consistency to measure: reward 0
            whole = self._sage(sim, idx)
            self.last_group_scores[group] = whole
            for i in idx:
                rest = [j for j in idx if j != i]
                scores[i] = whole if self.mode == "shared" or len(rest) < 2 else whole - self._sage(sim, rest)
        return scores

    def _sage(self, sim: list[list[float]], idx: list[int]) -> float:
        return sage_from_similarity([[sim[i][j] for j in idx] for i in idx], self.alpha)
