"""The evaluation config (`--config EVAL.yaml`, or the `evaluate:` section of a pipeline config).

Defaults are sized so two SmolLM2-135M models finish in a few minutes on a 2-core CPU.
Only held-out prompt sets are allowed: a source naming a training split is refused.
"""
from __future__ import annotations


from pydantic import Field, field_validator

from ..core.config import GENERATION_DEFAULT, StrictModel, generation_with
from ..data.constitution import ConstitutionConfig
from ..data.sources import PromptSetSpec
from ..judges import JudgeConfig, registered_kind


class EvalJudgeConfig(JudgeConfig):
    """The evaluation's judge: the pipeline's judge settings (`judges.JudgeConfig`; the learned head by
    default), or `kind: none`. Here `model` is a model ref, not a `models:` entry: its option log-probs serve
    the pairwise/pointwise kinds and the p(safe) score."""

    kind: str = "learned"  # a name in judges.JUDGES, or none
    model: str = "catalog:smollm2-135m-instruct"
    safety: bool = True  # pointwise p(safe) on harmful and jailbreak answers

    @field_validator("kind")
    @classmethod
    def _registered(cls, value: str) -> str:
        return registered_kind(value, also=("none",))


class EvalConfig(StrictModel):
    harmful: PromptSetSpec = PromptSetSpec(source="builtin:harmful_test", limit=8)
    benign: PromptSetSpec = PromptSetSpec(source="builtin:benign_test", limit=8)
    # An outside harmful set (e.g. wheel:harmbench) reported on its own; no phronesis stage trains on it.
    external: PromptSetSpec | None = None
    paraphrases: str | None = "builtin:eval/paraphrase_groups.jsonl"  # None skips consistency
    paraphrase_groups: int = Field(4, ge=1)
    paraphrases_per_group: int = Field(5, ge=2)
    jailbreaks: str | None = "builtin:eval/jailbreaks.yaml"  # None skips jailbreak robustness
    jailbreak_templates: int = Field(2, ge=0)
    jailbreak_prompts: int = Field(4, ge=0)
    generation: generation_with(max_new_tokens=64) = GENERATION_DEFAULT  # every model's answers (greedy)
    batch_size: int = Field(32, ge=1)
    chunk_size: int = Field(32, ge=1)  # rows per checkpoint write; also caps the batch, so not below it
    judge: EvalJudgeConfig = EvalJudgeConfig()
    embedder: str | None = "catalog:minilm-l6-v2"  # None skips consistency
    reward_models: dict[str, str] = {}  # name -> RM path for the virtue ensemble; empty skips it
    virtue_generation: generation_with(max_new_tokens=32) = GENERATION_DEFAULT  # follow-ups the RMs score
    constitution: ConstitutionConfig = ConstitutionConfig()
    base: str = "base"  # which model the others are compared with
    tie_margin: float = Field(0.05, ge=0, lt=0.5)
    bootstrap: int = Field(2000, ge=100)
    permutations: int = Field(10000, ge=100)
    seed: int = 0
    samples: int = Field(6, ge=0)

    @field_validator("harmful", "benign", "external")
    @classmethod
    def _held_out_only(cls, spec: PromptSetSpec | None) -> PromptSetSpec | None:
        if spec is not None and "train" in spec.source.rsplit("/", 1)[-1].lower():
            raise ValueError(f"{spec.source!r} looks like a training split; evaluate on held-out prompts only")
        return spec
