"""The evaluation suite's pure core: answers from every model, then every metric with its statistics.

Everything model-shaped is injected through `EvalResources` (generators, judge,
p(safe) scorer, embedder, reward models), so tests run the whole suite with fakes.
Answers are checkpointed per model and prompt set; a killed run resumes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from ..core.protocols import Generator, Judge, RewardModel
from ..core.resumable import generate_answers
from ..core.runstore import RowCheckpoint
from ..core.stats import bootstrap_statistic, paired_bootstrap_statistic
from ..data.constitution import Constitution
from ..data.records import Row
from ..data.sources import load_prompts
from ..judges.questions import HELPFULNESS
from ..judges.refusal import is_refusal
from . import consistency, harmlessness, jailbreak, pairwise, virtue
from .degeneration import repetition_rate
from .settings import EvalConfig
from .summary import add_holm, agreement, summarise_metric, summarise_win_rate


@dataclass
class EvalResources:
    generators: dict[str, Generator]  # model name -> generator, base included
    system_prompts: dict[str, str | None] = field(default_factory=dict)
    judge: Judge | None = None
    safety: Any | None = None  # .score(prompts, answers) -> [SafetyVerdict]
    embedder: Any | None = None  # .embed(texts) -> normalised array
    reward_models: dict[str, RewardModel] = field(default_factory=dict)
    constitution: Constitution | None = None


def prompt_sets(cfg: EvalConfig) -> dict[str, list[Row]]:
    """The held-out prompt rows the suite answers, by set name."""
    sets = {"harmful": load_prompts(cfg.harmful), "benign": load_prompts(cfg.benign)}
    if cfg.external:
        sets["external"] = load_prompts(cfg.external)
    if cfg.jailbreaks:
        templates = jailbreak.load_templates(cfg.jailbreaks)[: cfg.jailbreak_templates]
        sets["jailbreak"] = jailbreak.wrap_prompts(sets["harmful"][: cfg.jailbreak_prompts], templates)
    if cfg.paraphrases and cfg.embedder:
        groups = consistency.load_groups(cfg.paraphrases, cfg.paraphrase_groups, cfg.paraphrases_per_group)
        sets["paraphrase"] = consistency.paraphrase_rows(groups)
    return sets


def answer_all(cfg: EvalConfig, res: EvalResources, sets: dict[str, list[Row]],
               work: Path) -> dict[str, dict[str, list[Row]]]:
    """answers[model][set] = rows with `answer`, each (model, set) checkpointed separately."""
    answers: dict[str, dict[str, list[Row]]] = {}
    for model, generator in res.generators.items():
        params = cfg.generation.params(cfg.seed, system_prompt=res.system_prompts.get(model))
        answers[model] = {}
        for name, rows in sets.items():
            done = generate_answers(generator, rows, params, RowCheckpoint(work / f"answers-{model}-{name}.jsonl"),
                                    cfg.chunk_size, description=f"{model}: {name}")
            answers[model][name] = [{**r, "answer": r["completions"][0]} for r in done]
    return answers


def _principle_question(res: EvalResources):
    def question(row: Row) -> str | None:
        if res.constitution is None:
            return None
        ids = [p.id for p in res.constitution.active]
        for pid in row.get("principles") or []:
            if pid in ids:
                return res.constitution.get(pid).comparison
        return res.constitution.active[0].comparison
    return question


def _stats_kw(cfg: EvalConfig) -> dict[str, Any]:
    return {"n_boot": cfg.bootstrap, "n_perm": cfg.permutations, "seed": cfg.seed}


def safety_metrics(cfg: EvalConfig, res: EvalResources, answers, set_name: str,
                   prefix: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Refusal (rule), harmful compliance (judge), mean p(safe) and rule/judge agreement on one set."""
    items = {m: harmlessness.score_answers(a[set_name], res.safety) for m, a in answers.items()}
    col = lambda key: {m: harmlessness.column(v, key) for m, v in items.items()}  # noqa: E731
    kw = _stats_kw(cfg)
    metrics = {f"{prefix}_refusal_rate": summarise_metric(
        col("refused_rule"), cfg.base, True, f"{prefix} prompts: refusal rate (rule detector)", True, **kw)}
    if res.safety is not None:
        metrics[f"{prefix}_compliance_judge"] = summarise_metric(
            col("harmful_judge"), cfg.base, True, f"{prefix} prompts: harmful-compliance rate (judge p(safe) < 0.5)",
            False, **kw)
        metrics[f"{prefix}_p_safe"] = summarise_metric(
            col("p_safe"), cfg.base, False, f"{prefix} prompts: mean judge p(safe)", True, **kw)
        for m, v in items.items():
            metrics[f"{prefix}_compliance_judge"]["per_model"][m]["rule_agreement"] = agreement(
                harmlessness.column(v, "complied_rule"), harmlessness.column(v, "harmful_judge"))
    return metrics, items


def win_rate_metrics(cfg: EvalConfig, res: EvalResources, answers) -> tuple[dict[str, Any], dict[str, Any]]:
    """Helpfulness (benign) and harmlessness (harmful) win rates of each model vs the base."""
    if res.judge is None or cfg.base not in answers:
        return {}, {}
    others = [m for m in answers if m != cfg.base]
    specs = {"helpfulness_win_rate": ("benign", lambda row: HELPFULNESS,
                                      "benign prompts: helpfulness win rate vs base (judge, both orders)"),
             "harmlessness_win_rate": ("harmful", _principle_question(res),
                                       "harmful prompts: harmlessness win rate vs base (constitution question)")}
    metrics, items = {}, {}
    for metric, (set_name, principle_of, description) in specs.items():
        items[metric] = {m: pairwise.judge_against_base(res.judge, answers[m][set_name], answers[cfg.base][set_name],
                                                        principle_of, cfg.tie_margin, f"judge {m} vs base: {set_name}")
                         for m in others}
        outcomes = {m: [i["outcome"] for i in v] for m, v in items[metric].items()}
        if outcomes:
            metrics[metric] = summarise_win_rate(outcomes, description, **_stats_kw(cfg))
    return metrics, items


def consistency_metrics(cfg: EvalConfig, res: EvalResources, answers) -> tuple[dict[str, Any], dict[str, Any]]:
    if res.embedder is None or not cfg.paraphrases or not all("paraphrase" in a for a in answers.values()):
        return {}, {}
    groups = consistency.load_groups(cfg.paraphrases, cfg.paraphrase_groups, cfg.paraphrases_per_group)
    per_group = {m: consistency.sage_per_group(a["paraphrase"], groups, res.embedder) for m, a in answers.items()}
    values = {m: [g["sage"] for g in v] for m, v in per_group.items()}
    return {"sage_consistency": summarise_metric(values, cfg.base, False,
                                                 "paraphrase groups: SaGE moral consistency", True,
                                                 **_stats_kw(cfg))}, {"sage": per_group}


def virtue_metrics(cfg: EvalConfig, res: EvalResources, answers,
                   questions: Sequence[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    if not res.reward_models:
        return {}, {}
    scores = {}
    for model, generator in res.generators.items():
        params = cfg.virtue_generation.params(cfg.seed, system_prompt=res.system_prompts.get(model))
        dialogues = virtue.follow_up_dialogues(generator, answers[model]["harmful"] + answers[model]["benign"],
                                               questions, params)
        scores[model] = virtue.score_dialogues(dialogues, res.reward_models)
    return {"virtue_ensemble": _virtue_summary(cfg, res, scores)}, {"virtue_scores": {m: s.tolist() for m, s in scores.items()}}


def _virtue_summary(cfg: EvalConfig, res: EvalResources, scores) -> dict[str, Any]:
    kw = _stats_kw(cfg)
    per_model = {}
    for model, s in scores.items():
        per_model[model] = bootstrap_statistic(s, virtue.ensemble_statistic, n_boot=cfg.bootstrap, seed=cfg.seed)
        per_model[model]["undecided"] = 0
        per_model[model]["per_rm_mean"] = {name: float(s[:, k, :].mean()) for k, name in enumerate(res.reward_models)}
    vs_base = {m: paired_bootstrap_statistic(s, scores[cfg.base], virtue.ensemble_statistic, **kw)
               for m, s in scores.items() if m != cfg.base and cfg.base in scores}
    return {"description": "virtue ensemble: mean - 0.5 std of all RM scores (action, motivation, consequences)",
            "kind": "mean", "higher_is_better": True, "per_model": per_model, "vs_base": vs_base}


def evaluate_models(cfg: EvalConfig, res: EvalResources, work: Path,
                    virtue_questions: Sequence[str] = ()) -> dict[str, Any]:
    """Run every metric; returns {"metrics", "items", "answers"} (items keep per-item detail for the report)."""
    sets = prompt_sets(cfg)
    answers = answer_all(cfg, res, sets, work)
    metrics: dict[str, Any] = {}
    items: dict[str, Any] = {}
    for set_name, prefix in (("harmful", "harmful"), ("external", "external_harmful"), ("jailbreak", "jailbreak")):
        if set_name in sets:
            found, items[prefix] = safety_metrics(cfg, res, answers, set_name, prefix)
            metrics.update(found)
    benign_refusals = {m: [int(is_refusal(r["answer"])) for r in a["benign"]]
                       for m, a in answers.items()}
    metrics["benign_refusal_rate"] = summarise_metric(
        benign_refusals, cfg.base, True, "benign prompts: over-refusal rate (rule detector; lower is better)",
        False, **_stats_kw(cfg))
    metrics["benign_repetition"] = summarise_metric(
        {m: [repetition_rate(r["answer"]) for r in a["benign"]] for m, a in answers.items()}, cfg.base, False,
        "benign prompts: share of repeated word 4-grams per answer (degeneration; lower is better)", False,
        **_stats_kw(cfg))
    for step in (win_rate_metrics(cfg, res, answers), consistency_metrics(cfg, res, answers),
                 virtue_metrics(cfg, res, answers, virtue_questions)):
        metrics.update(step[0])
        items.update(step[1])
    add_holm(metrics)
    return {"metrics": metrics, "items": items, "answers": answers}
