"""What the run around an evaluation says: which stage made each model, on what data, and its training curves.

An evaluate stage sits in `runs/<name>/NN-evaluate/`; its sibling `NN-<stage>` folders hold the trained
models' manifests, `train_log.jsonl` (loss) and `rewards.jsonl` (reward per member, aggregate, KL).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ..core.io import read_json, read_jsonl
from ..core.runstore import STAGE_FOLDER
from .stage_summary import format_counts

STAGE_ON_PATH = re.compile(r"(\d\d-[a-z_]+)/")
Points = list[tuple[float, float]]


def run_root(eval_dir: Path, given: Path) -> Path:
    """The run folder: the evaluate stage's parent, else the folder the user pointed at."""
    return eval_dir.parent if STAGE_FOLDER.match(eval_dir.name) else given


def stage_folders(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("[0-9][0-9]-*") if p.is_dir() and STAGE_FOLDER.match(p.name))


def made_by(description: str, root: Path) -> Path | None:
    """The stage folder whose model this is: the last `NN-stage/` on its path (the adapter, not its base)."""
    names = STAGE_ON_PATH.findall(description)
    folder = root / names[-1] if names else None
    return folder if folder is not None and (folder / "manifest.json").is_file() else None


def section(manifest: dict[str, Any]) -> dict[str, Any]:
    """The stage's own config section (training stages fingerprint it under `section`)."""
    config = manifest.get("config", {})
    return config.get("section", config)


def describe_aggregator(aggregator: dict[str, Any]) -> str:
    name = aggregator.get("name", "mean")
    if name == "mean_minus_std":
        return f"ensemble mean−{aggregator.get('k', 0.5):g}·std"
    if name == "mean_minus_var":
        return f"ensemble mean−{aggregator.get('lam', 0.5):g}·var"
    return f"ensemble {name}"


def stage_label(folder: Path, root: Path) -> str:
    """`sft`, `dpo`, `rl (GRPO, ensemble mean−0.5·std)`: the kind of stage, and for RL its algorithm and reward."""
    kind = STAGE_FOLDER.match(folder.name).group(1)
    if kind != "rl":
        return kind
    details = [section(read_json(folder / "manifest.json")).get("algorithm", "grpo").upper()]
    reward_stages = [f for f in stage_folders(root) if f.name.endswith("-train_reward")]
    if reward_stages and (reward_stages[-1] / "manifest.json").is_file():
        aggregator = section(read_json(reward_stages[-1] / "manifest.json")).get("aggregator", {})
        details.append(describe_aggregator(aggregator))
    return f"rl ({', '.join(details)})"


def model_labels(models: dict[str, str], root: Path) -> dict[str, str]:
    """Each evaluated model named by what it is; a model no stage made keeps its configured name."""
    labels = {}
    for name, description in models.items():
        folder = made_by(description, root)
        label = stage_label(folder, root) if folder else name
        if folder and "(system prompt:" in description:
            label += " + system prompt"
        labels[name] = label if label not in labels.values() else name
    return labels


def trained_on(models: dict[str, str], root: Path) -> dict[str, str]:
    """For each trained model: its data and its training counts, one line from the stage manifest."""
    lines = {}
    for name, description in models.items():
        folder = made_by(description, root)
        if folder is None:
            continue
        manifest = read_json(folder / "manifest.json")
        data = section(manifest).get("data") or section(manifest).get("prompt_sets") or []
        lines[name] = f"trained on {', '.join(map(str, data)) or '?'}: {format_counts(manifest.get('counts', {}))}"
    return lines


def series(rows: list[dict[str, Any]], key: str) -> Points:
    return [(float(r["step"]), float(r[key])) for r in rows
            if isinstance(r.get(key), (int, float)) and isinstance(r.get("step"), (int, float))]


def _logs(folder: Path, name: str) -> list[list[dict[str, Any]]]:
    """Every `name` under the stage folder, outside scratch folders (`.work`, `.previous`)."""
    paths = [p for p in sorted(folder.rglob(name)) if not any(part.startswith(".") for part in
                                                                p.relative_to(folder).parts)]
    return [read_jsonl(p, allow_empty=True) for p in paths]


def training_curves(root: Path) -> dict[str, dict[str, Points]]:
    """{panel: {series: points}} for panels `loss`, `reward` (aggregate and each member) and `KL`; empty ones left out."""
    panels: dict[str, dict[str, Points]] = {"loss": {}, "reward": {}, "KL": {}}
    for folder in stage_folders(root):
        for rows in _logs(folder, "train_log.jsonl"):
            panels["loss"][folder.name] = series(rows, "loss")
        for rows in _logs(folder, "rewards.jsonl"):
            members = sorted({k for r in rows for k in r if k.startswith(("reward/", "group/"))})
            panels["reward"][f"{folder.name} aggregate"] = series(rows, "reward")
            for key in members:
                panels["reward"][f"{folder.name} {key.split('/', 1)[1]}"] = series(rows, key)
            panels["KL"][folder.name] = series(rows, "kl")
    return {panel: kept for panel, lines in panels.items() if (kept := {k: v for k, v in lines.items() if v})}
