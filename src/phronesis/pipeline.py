"""The pipeline: a typed config, a registry of stages, and a runner that resumes.

Adding a stage is one module with a `Config` model and a `run(ctx)` function, plus one line in `STAGES`
and its section in `PipelineConfig` (named after the stage; a test checks the two agree).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from pydantic import Field, field_validator, model_validator

from .core.config import StrictModel, load_config
from .core.errors import ConfigError, StageError, UserError, did_you_mean
from .core.progress import info
from .core.runstore import Run, StageOutcome, file_fingerprint, remove_if_empty, validate_run_name
from .data.constitution import ConstitutionConfig
from .data.modelref import ModelSpec
from .data.sources import PromptSetSpec, builtin_path, resolve_source
from .judges import JudgeConfig
from .report.stage_summary import stage_summary
from .stages import (best_of_n, critique_revise, dpo, evaluate, generate, iterate, iterate_parts, label_preferences,
                     label_preferences_run, report, rl, sft, train_reward, virtue_dialogues)
from .stages.best_of_n import BestOfNConfig
from .stages.critique_revise import CritiqueReviseConfig
from .stages.dpo import DPOStageConfig
from .stages.evaluate import EvaluateConfig
from .stages.generate import GenerateConfig
from .stages.iterate import IterateStageConfig
from .stages.label_preferences import LabelPreferencesConfig
from .stages.report import ReportConfig
from .stages.rl import RLStageConfig
from .stages.sft import SFTStageConfig
from .stages.train_reward import TrainRewardConfig
from .stages.virtue_dialogues import VirtueDialoguesConfig

DEFAULT_CONFIG = "configs/demo.yaml"
# The one way a config names what an earlier stage of the same run wrote: `stage:NAME` (its folder, or the
# model it saved) or `stage:NAME/PATH` (a file or folder inside it).
STAGE_REF = "stage:"


def config_strings(value: Any, where: str) -> Iterator[tuple[str, str]]:
    """(key path, string) for every string inside a section's dumped config."""
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from config_strings(item, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from config_strings(item, f"{where}[{i}]")


def named_file(value: str) -> Path | None:
    """The existing file a config string names by path, else None (model refs, words, `stage:` references)."""
    if value.startswith(STAGE_REF) or "\n" in value or len(value) > 4096:
        return None
    try:
        path = Path(value).expanduser()
        return path if path.is_file() else None
    except (OSError, ValueError):  # not a path at all: too long a name, a NUL byte
        return None


def ref_stage(ref: str) -> str:
    """The stage a `stage:NAME[/PATH][@SYSTEM]` reference names."""
    return ref[len(STAGE_REF):].partition("/")[0].partition("@")[0]


@dataclass(frozen=True)
class StageEntry:
    config: type[StrictModel]
    run: Callable[["PipelineContext"], StageOutcome]
    description: str


STAGES: dict[str, StageEntry] = {
    "generate": StageEntry(generate.GenerateConfig, generate.run, "answers from one model"),
    "critique_revise": StageEntry(critique_revise.CritiqueReviseConfig, critique_revise.run,
                                  "constitutional critique → revision data"),
    "best_of_n": StageEntry(best_of_n.BestOfNConfig, best_of_n.run,
                            "constitution-conditioned best-of-N: distillation and preference data"),
    "virtue_dialogues": StageEntry(virtue_dialogues.VirtueDialoguesConfig, virtue_dialogues.run,
                                   "two three-turn virtue dialogues per prompt"),
    "label_preferences": StageEntry(label_preferences.LabelPreferencesConfig,
                                    label_preferences_run.run_label_preferences,
                                    "a gated judge orders CAI and virtue pairs into chosen/rejected"),
    "train_reward": StageEntry(train_reward.TrainRewardConfig, train_reward.run,
                               "one LoRA reward model per preference set, as an ensemble"),
    "sft": StageEntry(sft.SFTStageConfig, sft.run, "LoRA SFT on assistant tokens"),
    "dpo": StageEntry(dpo.DPOStageConfig, dpo.run, "LoRA DPO on preference pairs"),
    "rl": StageEntry(rl.RLStageConfig, rl.run, "online RL: GRPO, RLOO or PPO"),
    "iterate": StageEntry(iterate.IterateStageConfig, iterate_parts.run, "consistency loop while better"),
    "evaluate": StageEntry(evaluate.EvaluateConfig, evaluate.run, "models vs base, with CIs"),
    "report": StageEntry(report.ReportConfig, report.run, "report.html: the evaluation, the models' provenance and curves"),
}

# Top-level sections that are shared by several stages (constitution, judge, ...).
SECTIONS: dict[str, type[StrictModel]] = {"constitution": ConstitutionConfig, "judge": JudgeConfig}


class RunSection(StrictModel):
    name: str = "demo"
    dir: str = "runs"
    seed: int = 0

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        try:
            return validate_run_name(value)
        except UserError as exc:  # surfaced by pydantic as a keyed config error
            raise ValueError(str(exc)) from None


def _default_models() -> dict[str, ModelSpec]:
    return {"policy": ModelSpec(ref="catalog:smollm2-135m-instruct"),
            "judge": ModelSpec(ref="catalog:smollm2-135m-instruct"),
            "embedder": ModelSpec(ref="catalog:minilm-l6-v2")}


class _PipelineBase(StrictModel):
    run: RunSection = RunSection()
    models: dict[str, ModelSpec] = Field(default_factory=_default_models)
    prompts: dict[str, PromptSetSpec] = {}
    stages: list[str] = ["generate"]

    @model_validator(mode="before")
    @classmethod
    def _empty_sections_use_defaults(cls, data: Any) -> Any:
        """`critique_revise:` with every key commented out is YAML null: it means "all defaults"."""
        if isinstance(data, dict):
            return {k: {} if v is None and (k in STAGES or k in SECTIONS) else v for k, v in data.items()}
        return data

    @field_validator("models", mode="before")
    @classmethod
    def _keep_default_models(cls, value: Any) -> Any:
        """A config that names only `policy` still gets the default judge and embedder entries."""
        if isinstance(value, dict):
            return {**{k: v.ref for k, v in _default_models().items()}, **value}
        return value

    @field_validator("stages")
    @classmethod
    def _known_stages(cls, value: list[str]) -> list[str]:
        for name in value:
            if name not in STAGES:
                hint = did_you_mean(name, STAGES, f" (known: {', '.join(STAGES)})")
                raise ValueError(f"unknown stage {name!r}{hint}")
        if len(set(value)) != len(value):
            raise ValueError("a stage is listed twice")
        return value

    @model_validator(mode="after")
    def _references_exist(self):
        for stage in self.stages:
            section = getattr(self, stage, None)
            for attr in ("model", "judge_model", "embedder", "teacher"):
                name = getattr(section, attr, None)  # a `models:` entry name; refs (with ':' or '/') pass
                if isinstance(name, str) and not any(c in name for c in ":/") and name not in self.models:
                    raise ValueError(f"{stage}.{attr} names model {name!r}, which is not in `models:`")
            for set_name in getattr(section, "prompt_sets", []) or []:
                if set_name not in self.prompts:
                    raise ValueError(f"{stage}.prompt_sets names {set_name!r}, which is not in `prompts:`")
        return self

    @model_validator(mode="after")
    def _upstream_refs_name_earlier_stages(self):
        """Upstream outputs come from the config, not from whatever folders are on disk: a `stage:` reference
        must name a stage listed before the one that reads it."""
        for i, stage in enumerate(self.stages):
            section = getattr(self, stage, None)
            for where, ref in config_strings(section.model_dump(mode="json") if section else {}, stage):
                if ref.startswith(STAGE_REF) and ref_stage(ref) not in self.stages[:i]:
                    raise ValueError(f"{where}: {ref!r} names no stage listed before {stage!r} in `stages:` "
                                     f"({', '.join(self.stages)})")
        return self


class PipelineConfig(_PipelineBase):
    """The whole YAML: run, models, prompts, stages, the shared sections, and one section per stage (each
    defaulted, so a config names only what it changes). A test keeps these fields and STAGES in step."""

    constitution: ConstitutionConfig = Field(default_factory=ConstitutionConfig)
    judge: JudgeConfig = Field(default_factory=JudgeConfig)
    generate: GenerateConfig = Field(default_factory=GenerateConfig)
    critique_revise: CritiqueReviseConfig = Field(default_factory=CritiqueReviseConfig)
    best_of_n: BestOfNConfig = Field(default_factory=BestOfNConfig)
    virtue_dialogues: VirtueDialoguesConfig = Field(default_factory=VirtueDialoguesConfig)
    label_preferences: LabelPreferencesConfig = Field(default_factory=LabelPreferencesConfig)
    train_reward: TrainRewardConfig = Field(default_factory=TrainRewardConfig)
    sft: SFTStageConfig = Field(default_factory=SFTStageConfig)
    dpo: DPOStageConfig = Field(default_factory=DPOStageConfig)
    rl: RLStageConfig = Field(default_factory=RLStageConfig)
    iterate: IterateStageConfig = Field(default_factory=IterateStageConfig)
    evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)


def load_pipeline_config(path: str | Path | None, overrides: list[str] = ()) -> PipelineConfig:
    """Read a pipeline YAML (default: the bundled demo config) with `--set` overrides."""
    source = Path(path) if path else builtin_path(DEFAULT_CONFIG)
    return load_config(PipelineConfig, source, overrides)


def source_fingerprint(spec: PromptSetSpec) -> str:
    """Content hash of a prompt file, so editing the data invalidates cached stages."""
    fmt, location = resolve_source(spec)
    if isinstance(location, Path) and location.is_file():
        return file_fingerprint(location)
    return str(location)


@dataclass
class PipelineContext:
    config: Any
    run: Run
    force: bool = False
    _generators: dict[str, Any] = field(default_factory=dict)

    @property
    def seed(self) -> int:
        return self.config.run.seed

    def index(self, stage: str) -> int:
        return self.config.stages.index(stage) + 1 if stage in self.config.stages else 90

    def section(self, stage: str) -> Any:
        return getattr(self.config, stage)

    def locate(self, value: str) -> tuple[str, dict[str, Path]]:
        """A `stage:NAME[/PATH]` reference -> (that path in this run's finished NAME folder, {NAME: the folder},
        an input of the reading stage); any other value (a file, a model ref) as it is, with no input. The
        folder is the one this config's `stages:` gives NAME, never another that happens to be on disk."""
        if not value.startswith(STAGE_REF):
            return value, {}
        name, _, inner = value[len(STAGE_REF):].partition("/")
        if name not in self.config.stages:
            raise ConfigError(f"{value}: {name!r} is not a stage of this config (stages: "
                              f"{', '.join(self.config.stages)})")
        folder = self.run.stage_path(self.index(name), name)
        if not (folder / "manifest.json").exists():
            raise StageError(f"{folder}: stage {name!r} has not finished; run it first "
                             f"(phronesis run --only {name})")
        path = folder / inner if inner else folder
        if not path.exists():
            raise StageError(f"{value}: {path} does not exist; stage {name!r} wrote: "
                             f"{', '.join(sorted(p.name for p in folder.iterdir()))}")
        return str(path), {name: folder}

    def locate_each(self, named: dict[str, str]) -> tuple[dict[str, str], dict[str, Path]]:
        """`locate` for each value of `named`: ({key: located}, the upstream folders of them all)."""
        located, inputs = {}, {}
        for key, value in named.items():
            located[key], found = self.locate(value)
            inputs.update(found)
        return located, inputs

    def model_spec(self, name: str) -> ModelSpec:
        if name not in self.config.models:
            raise ConfigError(f"models.{name}: not configured (have: {', '.join(self.config.models)})")
        return self.config.models[name]

    def generator(self, name: str):
        """One generator per configured model name, shared by every stage in this process."""
        if name not in self._generators:
            from .models.backends import make_generator

            self._generators[name] = make_generator(self.model_spec(name))
        return self._generators[name]

    def prompt_rows(self, set_names: list[str]) -> list[dict[str, Any]]:
        from .data.sources import load_prompts

        rows = []
        for set_name in set_names:
            for row in load_prompts(self.config.prompts[set_name]):
                rows.append({**row, "id": f"{set_name}/{row['id']}", "prompt_set": set_name})
        return rows

    def fingerprint_inputs(self, stage: str) -> dict[str, Any]:
        """The config a stage's fingerprint covers: its section, its models, its prompt data and the contents
        of every file its section names by path (an upstream stage's files count through that stage's own
        fingerprint)."""
        section = self.section(stage)
        used_models = {getattr(section, a) for a in ("model", "judge_model", "embedder", "teacher")
                       if getattr(section, a, None) in self.config.models}
        sets = getattr(section, "prompt_sets", []) or []
        dumped = section.model_dump(mode="json")
        inputs = {"section": dumped,
                  "models": {m: self.config.models[m].model_dump(mode="json") for m in sorted(used_models)},
                  "prompts": {s: [self.config.prompts[s].model_dump(mode="json"),
                                  source_fingerprint(self.config.prompts[s])] for s in sets},
                  "files": {value: file_fingerprint(path) for _, value in config_strings(dumped, stage)
                            if (path := named_file(value)) is not None}}
        selection = getattr(section, "select", None)
        if selection is not None:  # the validation files choose the published checkpoint, with the goal
            inputs["selection"] = {"harmful": source_fingerprint(selection.harmful),
                                   "benign": source_fingerprint(selection.benign),
                                   "inverted": self.config.constitution.invert}
        return inputs


def preflight(config: Any) -> None:
    """Cheap checks before any stage starts, so bad input fails before anything is written:
    every model ref resolvable without loading, every prompt set readable, the constitution valid."""
    from .data.catalog import get_entry
    from .data.modelref import check_local_ref, parse_ref
    from .data.sources import load_prompts

    for name, spec in config.models.items():
        for ref in filter(None, (spec.ref, spec.adapter)):
            parsed = parse_ref(ref)
            if parsed.scheme == "catalog":
                get_entry(parsed.target)
            elif parsed.scheme == "local":
                check_local_ref(ref, f"models.{name}")
    used = {s for stage in config.stages for s in (getattr(getattr(config, stage, None), "prompt_sets", None) or [])}
    for set_name in sorted(used):
        load_prompts(config.prompts[set_name])
    from .training.checkpoint_selection import trainer_overrides, validation_rows
    from .training.trl_adapter import check_stage_trl

    for stage in config.stages:
        section = getattr(config, stage)
        check_stage_trl(stage, section)
        selection = getattr(section, "select", None)
        if selection is not None:  # checkpoint choice owns the trainer's save_* settings and reads two sets
            trainer_overrides(selection, section.trl, stage)
            validation_rows(selection)
    if hasattr(config, "constitution"):
        config.constitution.load()
        config.constitution.load_framework()


def check_only(only: list[str] | None, stages: list[str]) -> None:
    """`--only` must name stages of this config; otherwise the run would silently do nothing."""
    for name in only or []:
        if name not in stages:
            hint = did_you_mean(name, stages, f" (stages: {', '.join(stages)})")
            raise ConfigError(f"--only {name!r}: not a stage of this config{hint}")


def run_pipeline(config: Any, force: bool = False, only: list[str] | None = None) -> list[StageOutcome]:
    check_only(only, config.stages)
    preflight(config)
    run = Run(config.run.dir, config.run.name)
    ctx = PipelineContext(config=config, run=run, force=force)
    outcomes = []
    try:
        for stage in config.stages:
            if only and stage not in only:
                continue
            outcome = STAGES[stage].run(ctx)
            info(stage_summary(outcome.path.name, outcome.manifest, outcome.skipped))
            outcomes.append(outcome)
    except Exception:
        remove_if_empty(run.root)
        raise
    return outcomes
