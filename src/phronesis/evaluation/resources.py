"""Build the real models an evaluation needs from the config: generators, judge, p(safe), embedder, RMs."""
from __future__ import annotations

from typing import Any, Sequence

from ..core.errors import ConfigError
from ..judges.pointwise import LogProbSafetyScorer
from .model_specs import EvalModel
from .settings import EvalConfig
from .suite import EvalResources


def _judge_model(cfg: EvalConfig) -> Any:
    from ..models.backends import make_generator

    model = make_generator(cfg.judge.model)
    if not hasattr(model, "option_logprobs"):
        raise ConfigError(f"judge.model {cfg.judge.model!r}: its backend gives no option log-probabilities; "
                          f"use a transformers model (e.g. catalog:smollm2-135m-instruct) or judge.kind: none")
    return model


def load_reward_models(paths: dict[str, str]) -> dict[str, Any]:
    if not paths:
        return {}
    from ..rewards import load_reward_model

    return {name: load_reward_model(path) for name, path in paths.items()}


def build_resources(models: Sequence[EvalModel], cfg: EvalConfig) -> EvalResources:
    from ..models.backends import make_generator

    constitution = cfg.constitution.load()
    generators = {m.name: make_generator(m.spec.model_copy(update={"batch_size": cfg.batch_size}))
                  for m in models}
    judge = safety = None
    if cfg.judge.kind != "none":
        from ..judges import build_judge

        # The log-prob model is loaded once, for p(safe) and any judge that reads option log-probs; the
        # learned judge brings its own embedder.
        needs_model = cfg.judge.safety or cfg.judge.kind != "learned" or bool(cfg.judge.panel)
        scorer = _judge_model(cfg) if needs_model else None
        judge = build_judge(cfg.judge, scorer)
        safety = LogProbSafetyScorer(scorer) if cfg.judge.safety else None
    embedder = None
    if cfg.embedder and cfg.paraphrases:
        from ..models.embeddings import TransformersEmbedder

        embedder = TransformersEmbedder(cfg.embedder)
    return EvalResources(generators=generators, system_prompts={m.name: m.system_prompt for m in models},
                         judge=judge, safety=safety, embedder=embedder,
                         reward_models=load_reward_models(cfg.reward_models), constitution=constitution)
