"""The ONE reward function policy trainers see: an ensemble plus group-level members, logged per step.

TRL combines several reward functions only by a weighted sum and logs each one's
mean; wrapping everything in one callable lets us choose the aggregation (the
ensemble's own) and log every member's scores, the aggregate and the KL ourselves.
"""
from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any, Protocol, Sequence

from ..core.protocols import RewardModel


class GroupRewardMember(Protocol):
    """Scores a whole group of completions at once (e.g. answers to paraphrases of one question)."""

    group_column: str

    def score_groups(self, prompts: Sequence[Any], completions: Sequence[str],
                     groups: Sequence[Any]) -> list[float]:
        ...


def completion_text(completion: Any) -> str:
    """TRL hands chat completions as a list of messages; we score the assistant text."""
    if isinstance(completion, str):
        return completion
    return "".join(m.get("content", "") for m in completion if m.get("role", "assistant") == "assistant")


class RewardLog:
    """Buffers per-step reward records and writes one JSONL row per step once its KL is known."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._pending: dict[int, dict[str, Any]] = {}

    def add(self, step: int, completions: list[str], members: dict[str, list[float]],
            aggregate: list[float], groups: dict[str, dict[str, float]] | None = None) -> None:
        row = self._pending.setdefault(step, {"step": step, "completions": [], "aggregate_scores": [],
                                              "member_scores": {m: [] for m in members}, "group_scores": {}})
        row["completions"] += completions
        row["aggregate_scores"] += [float(x) for x in aggregate]
        for name, scores in members.items():
            row["member_scores"].setdefault(name, []).extend(float(x) for x in scores)
        for name, by_group in (groups or {}).items():
            row["group_scores"].setdefault(name, {}).update(by_group)

    def flush(self, up_to_step: int, extra: dict[str, Any] | None = None) -> None:
        """Write every buffered step <= up_to_step; `extra` (e.g. the KL) goes on the newest one."""
        for step in sorted(s for s in self._pending if s <= up_to_step):
            row = self._pending.pop(step)
            row.update(summarise(row))
            if step == up_to_step:
                row.update({k: v for k, v in (extra or {}).items() if v is not None})
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def summarise(row: dict[str, Any]) -> dict[str, Any]:
    agg = row["aggregate_scores"]
    out = {"n": len(agg), "reward": statistics.fmean(agg) if agg else None,
           "reward_std": statistics.pstdev(agg) if len(agg) > 1 else 0.0}
    for name, scores in row["member_scores"].items():
        out[f"reward/{name}"] = statistics.fmean(scores) if scores else None
    for name, by_group in row["group_scores"].items():
        out[f"group/{name}"] = statistics.fmean(by_group.values()) if by_group else None
    return out


class PolicyReward:
    """`f(prompts, completions, **columns) -> list[float]` for GRPO/RLOO, and for our PPO.

    aggregate = the reward model's aggregate (an ensemble's own, via `score_members`)
                + sum(weight * group member score)
    """

    __name__ = "ensemble"  # TRL names its `rewards/<name>` log after this

    def __init__(self, reward_model: RewardModel | None = None,
                 group_members: dict[str, tuple[GroupRewardMember, float]] | None = None,
                 log: RewardLog | None = None):
        if reward_model is None and not group_members:
            raise ValueError("PolicyReward needs a reward model or at least one group member")
        self.reward_model = reward_model
        self.group_members = dict(group_members or {})
        self.log = log
        self._trainer = None
        self.step = 1  # used when no trainer is bound (our PPO sets it)

    def bind_trainer(self, trainer: Any) -> None:
        """Key records by the optimiser step they feed; flush them when the trainer logs that step."""
        self._trainer = trainer
        if self.log is not None:
            from .trl_adapter import _policy_callback_class

            log = self.log
            trainer.add_callback(_policy_callback_class()(
                None, on_record=lambda r: log.flush(r["step"], {"kl": r.get("kl")})))

    def current_step(self) -> int:
        return self._trainer.state.global_step + 1 if self._trainer is not None else self.step

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], **columns: Any) -> list[float]:
        texts = [completion_text(c) for c in completions]
        members: dict[str, list[float]] = {}
        aggregate = [0.0] * len(texts)
        if self.reward_model is not None:
            aggregate = self._score_reward_model(prompts, texts, members)
        groups: dict[str, dict[str, float]] = {}
        for name, (member, weight) in self.group_members.items():
            if member.group_column not in columns:
                raise KeyError(f"group reward {name!r} needs dataset column {member.group_column!r}")
            scores = member.score_groups(prompts, texts, columns[member.group_column])
            members[name] = list(scores)
            groups[name] = dict(getattr(member, "last_group_scores", {}))
            aggregate = [a + weight * s for a, s in zip(aggregate, scores)]
        if self.log is not None:
            self.log.add(self.current_step(), texts, members, aggregate, groups)
        return [float(a) for a in aggregate]

    def _score_reward_model(self, prompts, texts, members) -> list[float]:
        if hasattr(self.reward_model, "score_members"):
            aggregate, by_member = self.reward_model.score_members(list(prompts), texts)
            members.update({name: list(s) for name, s in by_member.items()})
        else:
            aggregate = self.reward_model.score(list(prompts), texts)
            members["reward_model"] = list(aggregate)
        return list(aggregate)


def plot_rewards(rewards_jsonl: str | Path, png: str | Path) -> Path:
    """Aggregate and per-member mean reward per step, KL on a second axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in Path(rewards_jsonl).read_text().splitlines() if line.strip()]
    steps = [r["step"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(steps, [r["reward"] for r in rows], "k-o", label="aggregate", linewidth=2)
    names = sorted({k for r in rows for k in r if k.startswith(("reward/", "group/"))})
    for name in names:
        ax.plot(steps, [r.get(name) for r in rows], "--", marker=".", label=name)
    ax.set_xlabel("step")
    ax.set_ylabel("mean reward")
    if any("kl" in r for r in rows):
        kl_ax = ax.twinx()
        kl_ax.plot(steps, [r.get("kl") for r in rows], "r:", label="kl")
        kl_ax.set_ylabel("KL to reference", color="r")
    ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)
    return Path(png)
