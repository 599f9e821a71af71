"""Judges: AI feedback read from option log-probs, a learned head, ensembles and panels.

`build_judge(cfg, ctx_or_models)` turns the pipeline's `judge:` section into a
`protocols.Judge` (with a batched `compare_many`). `principle` passed to `compare`
is a comparison question, or None for the default harmlessness/helpfulness question.
"""
from __future__ import annotations

from typing import Any, Callable, Literal, Optional

from pydantic import field_validator

from ..core.config import StrictModel
from .pairwise import Pair, PairwiseLogProbJudge, judge_many
from .prompts import DEFAULT_QUESTION

DEFAULT_WEIGHTS = "builtin:judge/learned_principled.json"  # by `phronesis judge-train --out FILE` (defaults)

__all__ = ["JudgeConfig", "JUDGES", "build_judge", "Pair", "PairwiseLogProbJudge", "judge_many",
           "DEFAULT_QUESTION", "require_principled", "judge_fingerprint"]


def require_principled(judge: Any, need: str) -> None:
    """One-line refusal where a stage needs verdicts that follow the question: a principle-blind judge
    would give one number for every principle, virtue, or inverted twin."""
    if not getattr(judge, "reads_principles", True):
        from ..core.errors import ConfigError

        raise ConfigError(f"{need}: the judge (or a panel member) ignores the principle: learned features "
                          f"{_blind_kind(judge)!r}; use weights trained with features: principled (the default) "
                          f"or a pairwise judge")


def _blind_kind(judge: Any) -> str:
    """The feature kind of the first principle-blind learned judge inside `judge` (panels, ensembles)."""
    for member in getattr(judge, "judges", None) or [getattr(judge, "judge", None)]:
        if member is not None and not getattr(member, "reads_principles", True):
            return _blind_kind(member)
    return getattr(judge, "kind", "?")


class JudgeConfig(StrictModel):
    """The `judge:` section. `kind` picks the judge; the measured default is `learned`."""

    kind: str = "learned"  # a name in JUDGES
    model: str = "judge"  # entry of `models:` for pairwise/pointwise (and the reasoner for chain_of_thought)
    embedder: str = "embedder"  # entry of `models:` for the learned judge's features
    weights: str = DEFAULT_WEIGHTS  # learned-judge weights JSON (builtin:... or a path)
    format: Literal["hardened", "plain"] = "hardened"
    few_shot: int = 0  # worked examples from the calibration pairs in each pairwise prompt
    chain_of_thought: bool = False
    cot_max_new_tokens: int = 96
    principles_per_pair: int = 1  # >1: average p over that many sampled principles
    panel: list["JudgeConfig"] = []  # several judges; overrides `kind` when non-empty
    combine: Literal["mean", "majority"] = "mean"
    max_failure_rate: float = 0.1
    skip_gate: bool = False
    gate_pairs: str = "builtin:judge/calibration.jsonl"
    gate_limit: Optional[int] = None

    @field_validator("kind")
    @classmethod
    def _registered(cls, value: str) -> str:
        return registered_kind(value)


def registered_kind(kind: str, also: tuple[str, ...] = ()) -> str:
    """`kind` if JUDGES has it (or it is one of `also`), else a one-line error naming the kinds there are."""
    if kind not in JUDGES and kind not in also:
        from ..core.errors import did_you_mean

        known = [*JUDGES, *also]
        raise ValueError(f"unknown judge kind {kind!r}{did_you_mean(kind, known, '')} (have: {', '.join(known)})")
    return kind


def judge_fingerprint(cfg: "JudgeConfig") -> dict[str, Any]:
    """The judge section as configured, plus the content hash of every learned-weights file it or a panel
    member reads: the section names `builtin:judge/learned_principled.json`, whose content changes when the
    shipped weights are retrained, and the stages that judged with the old weights must then run again."""
    from ..core.runstore import file_fingerprint
    from ..data.sources import data_file

    def weight_files(c: JudgeConfig) -> list[str]:
        if c.panel:
            return [ref for member in c.panel for ref in weight_files(member)]
        return [c.weights] if c.kind == "learned" else []

    digests = {}
    for ref in weight_files(cfg):
        path = data_file(ref)  # a missing file is reported by the judge's loader when the stage builds it
        digests[ref] = file_fingerprint(path) if path.is_file() else "missing"
    return {**cfg.model_dump(mode="json"), "weights_sha256": digests}


def _resolve_models(ctx_or_models: Any):
    """(scorer_for(name), embedder_for(name)) from a PipelineContext, a {name: ModelSpec|ref} dict,
    or an OptionScorer used directly."""
    from ..models.embeddings import TransformersEmbedder

    if hasattr(ctx_or_models, "generator") and hasattr(ctx_or_models, "model_spec"):
        return ctx_or_models.generator, lambda name: TransformersEmbedder(ctx_or_models.model_spec(name))
    if isinstance(ctx_or_models, dict):
        from ..models.backends import make_generator

        cache: dict[str, Any] = {}

        def scorer(name: str):
            if name not in cache:
                cache[name] = make_generator(ctx_or_models[name])
            return cache[name]
        def embedder(name: str):
            if name not in ctx_or_models:  # never a silent stand-in: the verdicts would come from another model
                from ..core.errors import ConfigError

                raise ConfigError(f"judge.embedder: {name!r} is not among the models given "
                                  f"({', '.join(ctx_or_models) or 'none'})")
            return TransformersEmbedder(ctx_or_models[name])
        return scorer, embedder
    return (lambda name: ctx_or_models), (lambda name: TransformersEmbedder("catalog:minilm-l6-v2"))


def build_judge(cfg: JudgeConfig, ctx_or_models: Any):
    scorer_for, embedder_for = _resolve_models(ctx_or_models)
    return _build(cfg, scorer_for, embedder_for, _constitution_of(ctx_or_models))


def _constitution_of(ctx_or_models: Any):
    """The run's constitution (inverted twin included) in a pipeline; the bundled one for a bare judge."""
    from ..data.constitution import load_constitution

    section = getattr(getattr(ctx_or_models, "config", None), "constitution", None)
    return section.load() if section is not None else load_constitution()


def _build(cfg: JudgeConfig, scorer_for, embedder_for, constitution):
    from .combine import JudgePanel, PrincipleEnsembleJudge

    if cfg.panel:
        return JudgePanel([_build(sub, scorer_for, embedder_for, constitution) for sub in cfg.panel], cfg.combine,
                          cfg.max_failure_rate)
    judge = _single(cfg, scorer_for, embedder_for)
    if cfg.principles_per_pair > 1:
        questions = [p.comparison for p in constitution.active]
        judge = PrincipleEnsembleJudge(judge, questions, cfg.principles_per_pair,
                                       max_failure_rate=cfg.max_failure_rate)
    return judge


def _single(cfg: JudgeConfig, scorer_for, embedder_for):
    return JUDGES[cfg.kind](cfg, scorer_for, embedder_for)


def _learned(cfg: JudgeConfig, scorer_for, embedder_for):
    from .learned import LearnedPairJudge, load_weights

    return LearnedPairJudge(embedder_for(cfg.embedder), load_weights(cfg.weights), cfg.max_failure_rate)


def _pointwise(cfg: JudgeConfig, scorer_for, embedder_for):
    from .pointwise import PointwiseLogProbJudge

    return PointwiseLogProbJudge(scorer_for(cfg.model), cfg.max_failure_rate)


def _pairwise(cfg: JudgeConfig, scorer_for, embedder_for):
    shots = None
    if cfg.few_shot:
        from .prompts import bundled_shot_pairs, few_shot_examples

        shots = few_shot_examples(cfg.format, bundled_shot_pairs()[:cfg.few_shot], None)
    reasoner = scorer_for(cfg.model) if cfg.chain_of_thought else None
    return PairwiseLogProbJudge(scorer_for(cfg.model), cfg.format, shots, reasoner, cfg.cot_max_new_tokens,
                                cfg.max_failure_rate)


# `judge.kind` -> how to build that judge from its section, scorer_for(models: name) (a generator with option
# log-probs) and embedder_for(name). A new judge is a class with compare_many plus one line here.
JUDGES: dict[str, Callable[[JudgeConfig, Callable, Callable], Any]] = {
    "learned": _learned, "pairwise": _pairwise, "pointwise": _pointwise}
