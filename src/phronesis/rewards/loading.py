"""Save and load reward models: a single RM folder, or an ensemble folder with `ensemble.json`.

ensemble.json:
    {"format": "phronesis-reward-ensemble/1",
     "members": [{"name": "action", "path": "action"}, ...],      # paths relative to the folder
     "normalisation": {"action": {"mean": 0.1, "std": 1.3, "n": 400}, ...},
     "aggregator": {"name": "mean_minus_std", "k": 0.5, ...}}
LoRA members that share a base are loaded as ONE MultiAdapterRewardModel.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..core.errors import ModelRefError
from ..core.io import atomic_write_json, read_json
from ..core.protocols import RewardModel
from .ensemble import Aggregator, EnsembleRewardModel, Normaliser
from .settings import Precision

ENSEMBLE_FILE = "ensemble.json"
ENSEMBLE_FORMAT = "phronesis-reward-ensemble/1"


def save_ensemble(folder: str | Path, member_paths: dict[str, str], aggregator: Aggregator,
                  normalisers: dict[str, Normaliser] | None = None) -> Path:
    """Write ensemble.json; member paths are stored relative to `folder` when they lie inside it."""
    folder = Path(folder)
    members = []
    for name, path in member_paths.items():
        p = Path(path)
        rel = p.resolve().relative_to(folder.resolve()) if p.resolve().is_relative_to(folder.resolve()) else p
        members.append({"name": name, "path": str(rel)})
    data = {"format": ENSEMBLE_FORMAT, "members": members,
            "normalisation": {n: v.model_dump() for n, v in (normalisers or {}).items()},
            "aggregator": aggregator.model_dump()}
    atomic_write_json(folder / ENSEMBLE_FILE, data)
    return folder / ENSEMBLE_FILE


def read_ensemble_spec(folder: str | Path) -> dict[str, Any]:
    path = Path(folder) / ENSEMBLE_FILE
    data = read_json(path)
    if data.get("format") != ENSEMBLE_FORMAT:
        raise ModelRefError(f"{path}: format is {data.get('format')!r}, expected {ENSEMBLE_FORMAT!r}")
    if not data.get("members"):
        raise ModelRefError(f"{path}: 'members' is empty")
    for member in data["members"]:
        target = Path(folder) / member["path"]
        if not target.exists():
            raise ModelRefError(f"{path}: member {member['name']!r}: no folder {target}")
    return data


def rm_kind(folder: Path) -> str:
    """ensemble | lora | seqcls; a folder without a trained score head (a chat model, a policy adapter) is refused,
    since loading it would score with a randomly initialised head."""
    if (folder / ENSEMBLE_FILE).exists():
        return "ensemble"
    if (folder / "adapter_config.json").exists():
        task = _json_field(folder / "adapter_config.json", "task_type")
        if task not in (None, "SEQ_CLS"):
            raise ModelRefError(f"{folder}: a {task} adapter, not a reward model (reward adapters are SEQ_CLS with a "
                                f"trained score head; train one with the train_reward stage)")
        return "lora"
    if (folder / "config.json").exists():
        architectures = _json_field(folder / "config.json", "architectures") or []
        if not any(str(a).endswith("ForSequenceClassification") for a in architectures):
            raise ModelRefError(f"{folder}: {', '.join(map(str, architectures)) or 'this model'} has no trained score "
                                f"head, so it is not a reward model (export one with `phronesis rm export`)")
        return "seqcls"
    raise ModelRefError(f"{folder}: not a reward model (no {ENSEMBLE_FILE}, adapter_config.json or config.json)")


def _json_field(path: Path, key: str) -> Any:
    import json

    try:
        return json.loads(path.read_text(encoding="utf-8")).get(key)
    except (OSError, ValueError, AttributeError) as exc:
        raise ModelRefError(f"{path}: unreadable ({exc})") from None


def load_reward_model(path: str | Path, precision: Precision = "auto", batch_size: int = 8) -> RewardModel:
    """A single LoRA RM folder, an exported sequence-classification folder, or an ensemble folder."""
    folder = Path(path)
    if not folder.is_dir():
        raise ModelRefError(f"{folder}: no such reward model folder")
    kind = rm_kind(folder)
    if kind == "lora":
        from .lora_rm import LoraRewardModel

        return LoraRewardModel(folder, precision, batch_size)
    if kind == "seqcls":
        from .lora_rm import SequenceClassifierRewardModel

        return SequenceClassifierRewardModel(folder, precision, batch_size)
    return load_ensemble(folder, precision, batch_size)


def load_ensemble(folder: Path, precision: Precision = "auto", batch_size: int = 8) -> EnsembleRewardModel:
    spec = read_ensemble_spec(folder)
    paths = {m["name"]: folder / m["path"] for m in spec["members"]}
    members: dict[str, RewardModel] = {}
    lora = {name: p for name, p in paths.items() if rm_kind(p) == "lora"}
    for group in _group_by_base(lora).values():
        from .lora_rm import MultiAdapterRewardModel

        members.update(MultiAdapterRewardModel(group, precision, batch_size).members())
    for name, p in paths.items():
        if name not in members:
            members[name] = load_reward_model(p, precision, batch_size)
    ordered = {name: members[name] for name in paths}  # keep the file's member order
    normalisers = {n: Normaliser.model_validate(v) for n, v in (spec.get("normalisation") or {}).items()}
    return EnsembleRewardModel(ordered, Aggregator.model_validate(spec.get("aggregator") or {}), normalisers)


def _group_by_base(folders: dict[str, Path]) -> dict[str, dict[str, Path]]:
    from .lora_rm import base_of

    groups: dict[str, dict[str, Path]] = {}
    for name, p in folders.items():
        groups.setdefault(base_of(p), {})[name] = p
    return groups
