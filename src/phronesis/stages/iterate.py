"""Stage `iterate`: the moral-consistency loop, kept going only while it helps.

Each round: generate answers (current policy, or a teacher) to paraphrase groups ->
score every answer -> keep answers above a decaying threshold -> SFT on them ->
evaluate a metric -> keep the new checkpoint if the metric improved, else discard it.
`patience` rounds in a row without improvement stop the loop (1, the default, is the
research's rule: stop at the first); a discarded round's successor starts again from
the best policy with a fresh generation seed. Each round lives in its own folder
`round-NN/`; a finished round (decision.json) is never redone, so a killed loop
resumes at the next round.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal

from pydantic import Field

from ..core.config import GENERATION_DEFAULT, StrictModel, generation_with
from ..core.io import atomic_write_json, atomic_write_jsonl, read_json
from ..curation.selection import Selection
from ..data.records import Row
from ..models.lora import LoraSettings
from ..training.policy_inputs import BUNDLED_CHAT_TEMPLATE


class IterateStageConfig(StrictModel):
    model: str = "policy"  # the policy the loop starts from
    teacher: str | None = None  # `models:` entry that answers instead of the policy (fixed across rounds)
    # Training + validation groups; evaluate's eval/paraphrase_groups.jsonl is the disjoint test split.
    paraphrase_groups: str = "builtin:prompts/paraphrase_train.jsonl"  # a path or builtin:NAME
    max_groups: int | None = 8
    eval_fraction: float = 0.5  # the validation groups that decide keep/stop, never trained on
    samples_per_prompt: int = 2
    # how the training answers are sampled; the held-out answers that decide keep/stop are greedy, same length
    generation: generation_with(max_new_tokens=48, temperature=0.8) = GENERATION_DEFAULT
    embedder: str = "embedder"
    metric: Literal["sage"] = "sage"  # mean SaGE consistency of the policy's greedy answers on held-out groups
    rounds: int = 3
    min_improvement: float = 0.0
    patience: int = Field(1, ge=1)  # rounds in a row without improvement before the loop stops
    # MiniLM consistency of short SmolLM2 answers sits around 0.1-0.45: the research's 0.8/0.3 kept 1 row in 20
    threshold_initial: float = 0.5
    threshold_minimum: float = 0.25
    threshold_decay: float = 0.9
    lora: LoraSettings = LoraSettings()
    chat_template: str | None = BUNDLED_CHAT_TEMPLATE
    trl: dict[str, Any] = Field(default_factory=dict)


@dataclass
class LoopParts:
    """The pieces a round calls; the wrapper builds real ones, tests pass fakes."""

    generate: Callable[[str, int], list[Row]]  # (policy path, round) -> rows {id, group, prompt, answer}
    score: Callable[[list[Row]], list[Row]]  # adds "score" to each row
    select: Callable[..., Selection]  # selection.select_by_decaying_threshold
    train: Callable[[str, list[Row], Path], str]  # (policy, kept rows, round dir) -> new policy path
    evaluate: Callable[[str], float]  # policy path -> metric, higher is better


def run_round(number: int, policy: str, folder: Path, parts: LoopParts, cfg: IterateStageConfig) -> dict[str, Any]:
    """One round's candidate and its metric (not yet the keep/stop decision)."""
    rows = parts.score(parts.generate(policy, number))
    atomic_write_jsonl(folder / "scored.jsonl", rows)
    selection = parts.select(rows, lambda row: row["score"], cfg.threshold_initial, cfg.threshold_minimum,
                             cfg.threshold_decay)
    kept, trace = selection.kept, selection.thresholds
    atomic_write_jsonl(folder / "selected.jsonl", kept)
    if not kept:
        return {"round": number, "candidate": None, "metric": None, "kept_rows": 0, "threshold_trace": list(trace)}
    candidate = parts.train(policy, kept, folder)
    return {"round": number, "candidate": candidate, "metric": parts.evaluate(candidate),
            "kept_rows": len(kept), "scored_rows": len(rows), "threshold_trace": list(trace)}


def iterate_loop(root: Path, start_policy: str, parts: LoopParts, cfg: IterateStageConfig) -> dict[str, Any]:
    """Rounds until the metric stops improving or `cfg.rounds` is reached; every decision recorded."""
    root.mkdir(parents=True, exist_ok=True)
    baseline_file = root / "baseline.json"
    if not baseline_file.exists():
        atomic_write_json(baseline_file, {"policy": start_policy, "metric": parts.evaluate(start_policy)})
    best = read_json(baseline_file)
    decisions, misses = [], 0
    for number in range(1, cfg.rounds + 1):
        folder = root / f"round-{number:02d}"
        folder.mkdir(exist_ok=True)
        if (folder / "decision.json").exists():
            decision = read_json(folder / "decision.json")
        else:
            decision = decide(run_round(number, best["policy"], folder, parts, cfg), best, cfg.min_improvement,
                              last_chance=misses + 1 >= cfg.patience)
            atomic_write_json(folder / "decision.json", decision)
        decisions.append(decision)
        if decision["action"] == "keep":
            best, misses = {"policy": decision["candidate"], "metric": decision["metric"]}, 0
        elif decision["action"] == "stop":
            break
        else:
            misses += 1
    summary = {"baseline": read_json(baseline_file), "best": best, "decisions": decisions}
    atomic_write_json(root / "decisions.json", summary)
    return summary


def decide(result: dict[str, Any], best: dict[str, Any], min_improvement: float,
           last_chance: bool = True) -> dict[str, Any]:
    """keep (improved), discard (not improved, patience left: next round retries from the best) or stop."""
    metric = result["metric"]
    improved = metric is not None and metric > best["metric"] + min_improvement
    reason = ("no rows passed the threshold" if metric is None else
              f"{metric:.4f} {'>' if improved else '<='} best {best['metric']:.4f} + {min_improvement}")
    action = "keep" if improved else "stop" if last_chance else "discard"
    return {**result, "previous_best": best["metric"], "action": action, "reason": reason}


def load_groups(cfg: IterateStageConfig) -> tuple[list[Row], list[Row]]:
    """(train groups, held-out eval groups) from the paraphrase file."""
    from ..evaluation.consistency import load_groups as read_groups

    groups = read_groups(cfg.paraphrase_groups, cfg.max_groups)
    cut = max(1, int(round(len(groups) * cfg.eval_fraction)))
    return groups[cut:], groups[:cut]
