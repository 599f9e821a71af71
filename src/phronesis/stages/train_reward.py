"""Stage `train_reward`: one LoRA reward model per preference set, saved as a multi-adapter ensemble.

Sets come from upstream stage folders (label_preferences: preferences.jsonl and
virtue_{action,motivation,consequences}.jsonl; critique_revise: preferences.jsonl) or
from any pair file. Output: `<stage>/<set>/` adapters plus `ensemble.json`, so
`load_reward_model(stage_dir)` returns the ensemble over one shared base.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from pydantic import Field

from ..core.config import StrictModel
from ..core.errors import DataError, StageError
from ..core.io import atomic_write_json, read_json, read_jsonl
from ..data.records import Row, preference_row
from ..models.lora import RewardLoraSettings
from ..rewards.ensemble import Aggregator, Normaliser

DONE_FILE = "train_summary.json"


class PreferenceSetSpec(StrictModel):
    """A preference set: a name and its file, an upstream stage's (`stage:NAME/FILE`) or a path."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    data: str


def _default_sets() -> list[PreferenceSetSpec]:
    return [PreferenceSetSpec(name="preferences", data="stage:label_preferences/preferences.jsonl")]


class TrainRewardConfig(StrictModel):
    sets: list[PreferenceSetSpec] = Field(default_factory=_default_sets)
    model: str = "policy"  # base model, an entry of `models:`
    heldout_fraction: float = Field(0.2, gt=0.0, lt=1.0)
    max_train_rows: Optional[int] = Field(None, ge=1)  # cap per set (after the held-out split), for quick runs
    lora: RewardLoraSettings = RewardLoraSettings()
    margin_field: Optional[str] = None  # soft-label column (e.g. "p_chosen") -> Bradley-Terry margin
    margin_scale: float = 1.0
    center_rewards_coefficient: Optional[float] = None
    aggregator: Aggregator = Aggregator()
    calibration_rows: int = Field(64, ge=1)  # held-out pairs per set used to fit z-scores
    # Fewer held-out completions than this and the z-scores' mean and std are mostly noise (the demo once
    # fitted them on ten); the stage stops instead of saving them. The fitted n is stored in ensemble.json.
    min_calibration: int = Field(32, ge=2)
    trl: dict[str, Any] = Field(default_factory=dict)  # passed straight to trl.RewardConfig


def normalise_rows(rows: Sequence[Row], source: str) -> tuple[list[Row], int]:
    """Preference rows in conversational form; rows without both answers (undecided) are skipped."""
    out, skipped = [], 0
    for number, row in enumerate(rows, start=1):
        if not row.get("chosen") or not row.get("rejected") or not row.get("prompt"):
            skipped += 1
            continue
        extra = {k: v for k, v in row.items() if k not in ("id", "prompt", "chosen", "rejected")}
        out.append(preference_row(str(row.get("id", f"{source}:{number}")), row["prompt"], row["chosen"],
                                  row["rejected"], **extra))
    return out, skipped


def split_heldout(rows: Sequence[Row], fraction: float, seed: int) -> tuple[list[Row], list[Row]]:
    """Seeded shuffle, then the first `fraction` (at least one row) is held out."""
    order = list(rows)
    random.Random(seed).shuffle(order)
    n_heldout = max(1, round(len(order) * fraction)) if len(order) > 1 else 0
    return order[n_heldout:], order[:n_heldout]


TrainFn = Callable[..., dict]


def train_sets(sets: dict[str, list[Row]], base_path: str, base_ref: str, out_root: Path, work_root: Path,
               cfg: TrainRewardConfig, seed: int, train_fn: TrainFn) -> dict[str, dict]:
    """Pure core: split, train one RM per set (skipping sets already finished), return summaries."""
    from ..core.progress import info

    summaries = {}
    for name, rows in sets.items():
        done = out_root / name / DONE_FILE
        if done.exists():
            summaries[name] = read_json(done)
            info(f"train_reward: {name}: already trained, reusing {done.parent}")
            continue
        train, heldout = split_heldout(rows, cfg.heldout_fraction, seed)
        if cfg.max_train_rows is not None:
            train = train[: cfg.max_train_rows]
        info(f"train_reward: {name}: {len(train)} train / {len(heldout)} held-out pairs")
        try:
            summary = train_fn(base_path, train, heldout, out_root / name, cfg.lora, cfg.trl,
                               margin_field=cfg.margin_field, margin_scale=cfg.margin_scale,
                               center_rewards_coefficient=cfg.center_rewards_coefficient,
                               work_dir=work_root / name, base_ref=base_ref)
        except DataError as exc:
            raise DataError(f"train_reward: set {name!r}: {exc}") from None
        summary = {**summary, "heldout_ids": [r["id"] for r in heldout]}
        atomic_write_json(done, summary)
        summaries[name] = summary
    return summaries


def calibration_set(sets: dict[str, list[Row]], summaries: dict[str, dict], per_set: int) -> tuple[list, list]:
    """Held-out chosen and rejected completions of every set: the reference for z-scores."""
    prompts, completions = [], []
    for name, rows in sets.items():
        heldout = set(summaries[name].get("heldout_ids", []))
        for row in [r for r in rows if r["id"] in heldout][:per_set]:
            prompts += [row["prompt"], row["prompt"]]
            completions += [row["chosen"], row["rejected"]]
    return prompts, completions


def calibrate_and_save(out_root: Path, names: list[str], cfg: TrainRewardConfig, prompts: list,
                       completions: list, load_members: Callable[[dict[str, Path]], dict]) -> dict[str, Normaliser]:
    from ..rewards.ensemble import EnsembleRewardModel
    from ..rewards.loading import save_ensemble

    if len(completions) < cfg.min_calibration:
        raise StageError(f"train_reward: {len(completions)} held-out completions to fit the ensemble's z-scores; "
                         f"train_reward.min_calibration is {cfg.min_calibration} (more pairs, or a larger held-out share)")
    paths = {name: out_root / name for name in names}
    ensemble = EnsembleRewardModel(load_members(paths), cfg.aggregator)
    normalisers = ensemble.calibrate(prompts, completions)
    save_ensemble(out_root, {n: str(p) for n, p in paths.items()}, cfg.aggregator, normalisers)
    return normalisers


def read_set(spec: PreferenceSetSpec, path: Path) -> tuple[list[Row], int]:
    rows, skipped = normalise_rows(read_jsonl(path, required=["prompt", "chosen", "rejected"]), str(path))
    if not rows:
        raise DataError(f"{path}: preference set {spec.name!r} has no usable pairs")
    return rows, skipped


def run(ctx) -> Any:
    """Wrapper: resolve set files, train each RM with TRL, calibrate z-scores, write ensemble.json."""
    from ..core.runstore import run_stage
    from ..data.modelref import resolve_local_path
    from ..training.trl_adapter import train_reward_model

    cfg: TrainRewardConfig = ctx.section("train_reward")
    located, inputs = ctx.locate_each({s.name: s.data for s in cfg.sets})
    files = {name: Path(path).expanduser() for name, path in located.items()}
    spec = ctx.model_spec(cfg.model)
    fp = ctx.fingerprint_inputs("train_reward")

    def body(stage) -> dict[str, Any]:
        from ..rewards.lora_rm import MultiAdapterRewardModel

        loaded = {s.name: read_set(s, files[s.name]) for s in cfg.sets}
        sets = {name: rows for name, (rows, _) in loaded.items()}
        from ..data.hygiene import record_training_prompts

        record_training_prompts(stage.path, [row for rows in sets.values() for row in rows])
        base_path = resolve_local_path(spec.ref)
        summaries = train_sets(sets, base_path, spec.ref, stage.path, stage.work_dir, cfg, ctx.seed,
                               train_reward_model)
        prompts, completions = calibration_set(sets, summaries, cfg.calibration_rows)
        normalisers = calibrate_and_save(stage.path, list(sets), cfg, prompts, completions,
                                         lambda paths: MultiAdapterRewardModel(paths).members())
        for name, (rows, skipped) in loaded.items():
            stage.counts[name] = {"pairs": len(rows), "skipped_undecided": skipped,
                                  **{k: summaries[name].get(k) for k in ("train_kept", "train_dropped_too_long",
                                                                          "eval_kept", "eval_accuracy", "steps")}}
        return {"normalisation": {n: v.model_dump() for n, v in normalisers.items()}}

    return run_stage(ctx.run, ctx.index("train_reward"), "train_reward", fp, inputs=inputs, body=body,
                     seed=ctx.seed, force=ctx.force)
