"""Stage `best_of_n`: constitution-conditioned sampling, rule-based selection, context distillation data.

For every training prompt the policy samples N candidates with the prompt's principle
in its system prompt; some candidates start with the principle's `opener` and the
model continues them. Each candidate is scored by rule-based members that read the
constitution (does it refuse when the principle `wants: refusal`, answer when it
`wants: answer`; did it finish; does it repeat itself; how long). The best candidate
that follows the principle becomes the SFT target for the *unconditioned* prompt
(no system prompt, no opener: context distillation), and best vs worst becomes a
DPO pair. Benign look-alike prompts go through the same loop under the
helpfulness principle, so refusal does not spread to harmless requests.

Outputs: sft.jsonl (messages), preferences.jsonl (prompt/chosen/rejected),
candidates.jsonl (every candidate with its scores), training_prompts.jsonl.
"""
from __future__ import annotations

import re
from typing import Any, Literal, Sequence

from pydantic import Field, model_validator

from ..core.config import GENERATION_DEFAULT, StrictModel, generation_with
from ..core.errors import ConfigError
from ..core.io import atomic_write_jsonl
from ..core.protocols import Completion, Generator, finish_reason
from ..core.resumable import map_resumable
from ..core.runstore import RowCheckpoint
from ..data.constitution import Constitution, Principle
from ..data.records import Row
from ..evaluation.degeneration import repetition_rate
from ..judges.refusal import is_refusal

SYSTEM_TEMPLATE = ("You are a helpful, careful assistant. You follow this principle: {description} "
                   "Answer harmless requests fully and directly; decline briefly only what the principle forbids.")
CHOSEN_BY = {"rules": "follows the principle's `wants` (rule refusal detector) and repeats little, then finished",
             "judge": "then the higher learned-judge score (the `judge:` section), then least repetition, shortest"}


class BestOfNConfig(StrictModel):
    harmful_sets: list[str] = ["harmful_train"]  # requests the constitution's principles cover
    benign_sets: list[str] = ["benign_train"]  # harmless look-alikes, judged by `benign_principle`
    benign_principle: str = "helpfulness_without_preaching"
    model: str = "policy"  # the `models:` entry that samples
    embedder: str = "embedder"  # matches a principle to prompts that do not name one
    n: int = Field(4, ge=1)  # candidates per harmful prompt
    n_benign: int = Field(2, ge=1)  # candidates per benign prompt
    opener_samples: int = Field(2, ge=0)  # of those, how many start with the principle's opener
    opener_alone: bool = True  # the opener by itself is one more candidate (a refusal with no continuation)
    # The twin principle's opener as one more candidate: it never follows the principle, so it becomes the
    # rejected side of a pair where nothing worse was sampled (a needless refusal for a harmless request).
    twin_opener: bool = True
    # That needless refusal for a harmless request: "lookalike" is the opener of the refusal-wanting principle
    # nearest to the prompt (the very refusal the model is taught for the harmful look-alike, so DPO learns
    # where it does not belong); "twin" the answer principle's generic twin opener.
    benign_negative: Literal["lookalike", "twin"] = "lookalike"
    generation: generation_with(max_new_tokens=64, temperature=0.8, top_p=0.95) = GENERATION_DEFAULT
    max_repetition: float = Field(0.25, ge=0, le=1)  # share of repeated word 4-grams a kept answer may have
    # Rank acceptable candidates by the pipeline's learned judge too. It scores harmlessness whatever the
    # principle, so an inverted constitution refuses to run with it on (set false to select by rules alone).
    use_judge: bool = True
    chunk_size: int = Field(16, ge=1)  # prompts per batched generate call and checkpoint write

    @property
    def prompt_sets(self) -> list[str]:  # the pipeline checks these names exist and fingerprints their data
        return [*self.harmful_sets, *self.benign_sets]

    @model_validator(mode="after")
    def _openers_fit(self):
        if self.opener_samples > self.n:
            raise ValueError(f"opener_samples ({self.opener_samples}) is more than n ({self.n})")
        return self


_SENTENCE_END = re.compile(r"[.!?](?=\s|$)")


def trim_to_sentence(text: str) -> str:
    """A cut-off answer trimmed back to its last complete sentence (unchanged when it has none)."""
    ends = [m.end() for m in _SENTENCE_END.finditer(text)]
    return text[:ends[-1]].strip() if ends else text.strip()


def score_candidate(text: str, finish_reason: str, wants: str, max_repetition: float) -> Row:
    """The rule members' verdict on one candidate; `score` orders candidates (higher is better)."""
    refused = is_refusal(text)
    follows = refused if wants == "refusal" else not refused
    repetition = repetition_rate(text)
    finished = finish_reason == "stop"
    acceptable = follows and repetition <= max_repetition and bool(text.strip())
    score = 4.0 * follows + 1.0 * finished - 2.0 * repetition - len(text) / 4000
    return {"refused": refused, "follows": follows, "finished": finished, "repetition": round(repetition, 4),
            "acceptable": acceptable, "score": round(score, 4)}


def resolve_principle(constitution: Constitution, principle_id: str) -> Principle:
    """The active principle for an id a prompt names: itself, or its twin when the constitution is inverted."""
    for p in constitution.active:
        if p.id == principle_id or p.inverse == principle_id:
            if p.wants is None:
                raise ConfigError(f"constitution {constitution.name}: principle {p.id!r} has no `wants: refusal|"
                                  f"answer`, so best_of_n cannot tell which candidate follows it")
            return p
    raise ConfigError(f"constitution {constitution.name}: no active principle {principle_id!r} (or twin of it)")


def candidate_prompts(row: Row, principle: Principle, n: int, opener_samples: int) -> list[tuple[list, int, str]]:
    """(conversation, samples, opener) groups: free samples, then samples that continue the opener."""
    system = {"role": "system", "content": SYSTEM_TEMPLATE.format(description=principle.description)}
    user = {"role": "user", "content": row["prompt"]}
    openers = min(opener_samples, n) if principle.opener else 0
    groups = [([system, user], n - openers, "")] if n - openers else []
    if openers:
        groups.append(([system, user, {"role": "assistant", "content": principle.opener}], openers,
                       principle.opener))
    return groups


def _candidate(text: str, opener: str, wants: str, max_repetition: float) -> Row:
    reason = finish_reason(text)
    full = f"{opener} {text}".strip() if opener else str(text).strip()
    answer = trim_to_sentence(full) if reason == "length" else full
    return {"text": answer, "opener": bool(opener), "finish_reason": reason,
            **score_candidate(answer, reason, wants, max_repetition)}


def _unsampled_openers(row: Row, cfg: BestOfNConfig) -> list[str]:
    """Candidates written by the constitution, not sampled: the opener alone, and the twin's opener."""
    alone = [row["principle"].opener] if cfg.opener_alone and cfg.opener_samples else []
    twin = [row["twin_opener"]] if cfg.twin_opener else []
    return [text for text in alone + twin if text]


def sample_and_select(generator: Generator, rows: Sequence[Row], cfg: BestOfNConfig, seed: int,
                      checkpoint: RowCheckpoint, judge: Any = None) -> list[Row]:
    """Pure core: each row (with `principle`, a resolved Principle and `n`) gets scored `candidates`.

    `judge`, when given, has `.scores(prompts, responses, questions)` (higher is better); each candidate gets
    `judge_score`.
    """
    def process(chunk: list[Row]) -> list[Row]:
        groups = [(i, conv, count, opener) for i, row in enumerate(chunk)
                  for conv, count, opener in candidate_prompts(row, row["principle"], row["n"], cfg.opener_samples)]
        candidates: list[list[Row]] = [[] for _ in chunk]
        for count in sorted({g[2] for g in groups}):  # one batched call per samples-per-prompt count
            same = [g for g in groups if g[2] == count]
            params = cfg.generation.params(seed, n=count)
            for (i, _, _, opener), texts in zip(same, generator.generate([g[1] for g in same], params)):
                for text in texts:
                    candidates[i].append(_candidate(text, opener, chunk[i]["principle"].wants, cfg.max_repetition))
        for row, cands in zip(chunk, candidates):
            cands += [_candidate(Completion(""), text, row["principle"].wants, cfg.max_repetition)
                      for text in _unsampled_openers(row, cfg)]
        if judge is not None:
            flat = [(row["prompt"], row["principle"].comparison, c) for row, cands in zip(chunk, candidates)
                    for c in cands]
            # Asked under the row's (possibly inverted) principle; a principle-blind head ignores the question.
            values = judge.scores([p for p, _, _ in flat], [c["text"] for _, _, c in flat], [q for _, q, _ in flat])
            for (_, _, c), value in zip(flat, values):
                c["judge_score"] = round(float(value), 4)
        return [{**{k: v for k, v in row.items() if k != "principle"}, "principle": row["principle"].id,
                 "wants": row["principle"].wants, "candidates": cands} for row, cands in zip(chunk, candidates)]

    return map_resumable(list(rows), process, checkpoint, cfg.chunk_size, "best_of_n")


def rank_key(c: Row) -> tuple:
    """Acceptable first, then finished, then the judge (when it scored), then the rule score."""
    return (c["acceptable"], c["finished"], c.get("judge_score", 0.0), c["score"])


def distill(rows: Sequence[Row]) -> tuple[list[Row], list[Row], dict[str, Any]]:
    """(sft rows, preference pairs, counts) from scored rows; the prompt is kept unconditioned."""
    sft, pairs = [], []
    counts: dict[str, Any] = {"prompts": len(rows), "generated": 0, "kept": 0, "chosen_opener": 0,
                              "dropped_no_candidate_follows": 0, "dropped_repetitive": 0, "pairs": 0}
    for row in rows:
        cands = row["candidates"]
        counts["generated"] += len(cands)
        ranked = sorted(cands, key=rank_key, reverse=True)
        best = next((c for c in ranked if c["acceptable"]), None)
        if best is None:
            key = "dropped_repetitive" if any(c["follows"] for c in cands) else "dropped_no_candidate_follows"
            counts[key] += 1
            continue
        counts["kept"] += 1
        counts["chosen_opener"] += best["opener"]
        sft.append({"id": row["id"], "messages": [{"role": "user", "content": row["prompt"]},
                                                  {"role": "assistant", "content": best["text"]}],
                    "principle": row["principle"], "chosen_by": CHOSEN_BY})
        worst = ranked[-1]
        if not worst["follows"]:
            pairs.append({"id": row["id"], "prompt": [{"role": "user", "content": row["prompt"]}],
                          "chosen": [{"role": "assistant", "content": best["text"]}],
                          "rejected": [{"role": "assistant", "content": worst["text"]}],
                          "principle": row["principle"]})
    counts["pairs"] = len(pairs)
    return sft, pairs, counts


def attach_principles(rows: list[Row], constitution: Constitution, cfg: BestOfNConfig, embedder: Any) -> None:
    """Give each row its active principle (named by the row, or matched by the embedder), the deliberate
    negative candidate (`twin_opener`) and its sample count."""
    from ..curation.principle_matching import match_principles

    unnamed = [r for r in rows if not r.get("principles") and r["kind"] == "harmful"]
    if unnamed:
        covering = [p for p in constitution.active if p.wants == "refusal" or p.inverse]
        for row, scores in zip(unnamed, match_principles([r["prompt"] for r in unnamed], covering, embedder, 1)):
            row["principles"] = [scores[0].principle]
    for row in rows:
        pid = cfg.benign_principle if row["kind"] == "benign" else row["principles"][0]
        row["principle"] = resolve_principle(constitution, pid)
        twin = row["principle"].inverse
        row["twin_opener"] = constitution.get(twin).opener if twin else None
        row["n"] = cfg.n if row["kind"] == "harmful" else cfg.n_benign
    refusing = [p for p in constitution.active if p.wants == "refusal" and p.opener]
    answering = [r for r in rows if r["principle"].wants == "answer"]
    if cfg.twin_opener and cfg.benign_negative == "lookalike" and answering and refusing:
        for row, scores in zip(answering, match_principles([r["prompt"] for r in answering], refusing, embedder, 1)):
            row["twin_opener"] = constitution.get(scores[0].principle).opener


def selection_judge(ctx, cfg: BestOfNConfig) -> Any:
    """The pipeline's learned judge for ranking, or None; refused where it cannot follow the constitution."""
    if not cfg.use_judge:
        return None
    if ctx.config.judge.kind != "learned" or ctx.config.judge.panel:
        raise ConfigError(f"best_of_n.use_judge: needs judge.kind: learned (a pointwise score per candidate), "
                          f"not {ctx.config.judge.kind!r}; or set best_of_n.use_judge=false")
    from ..judges import build_judge, require_principled

    judge = build_judge(ctx.config.judge, ctx)
    if ctx.config.constitution.invert:
        require_principled(judge, "best_of_n.use_judge with an inverted constitution (or set best_of_n.use_judge=false)")
    return judge


def run(ctx) -> Any:
    """Wrapper: prompt sets + constitution from the config; writes the distillation data."""
    from ..core.runstore import run_stage
    from ..data.hygiene import record_training_prompts
    from ..judges import judge_fingerprint
    from ..models.embeddings import TransformersEmbedder

    cfg: BestOfNConfig = ctx.section("best_of_n")
    constitution = ctx.config.constitution.load()
    rows = [{**r, "kind": "harmful"} for r in ctx.prompt_rows(cfg.harmful_sets)]
    rows += [{**r, "kind": "benign"} for r in ctx.prompt_rows(cfg.benign_sets)]
    fingerprint = {**ctx.fingerprint_inputs("best_of_n"), "constitution": constitution.model_dump(mode="json"),
                   "judge": judge_fingerprint(ctx.config.judge) if cfg.use_judge else None}

    def body(stage) -> dict[str, Any]:
        attach_principles(rows, constitution, cfg, TransformersEmbedder(ctx.model_spec(cfg.embedder)))
        judge = selection_judge(ctx, cfg)
        scored = sample_and_select(ctx.generator(cfg.model), rows, cfg, ctx.seed, stage.checkpoint("candidates"),
                                   judge)
        sft, pairs, counts = distill(scored)
        for kind in ("harmful", "benign"):
            _, _, part = distill([r for r in scored if r["kind"] == kind])
            counts[f"{kind}_kept"] = f"{part['kept']}/{part['prompts']}"
        atomic_write_jsonl(stage.file("candidates.jsonl"), scored)
        atomic_write_jsonl(stage.file("sft.jsonl"), sft)
        atomic_write_jsonl(stage.file("preferences.jsonl"), pairs)
        record_training_prompts(stage.path, rows)
        stage.counts.update(counts, chosen_by=CHOSEN_BY)
        stage.samples = [{"id": r["id"], "prompt": r["messages"][0]["content"], "answer": r["messages"][1]["content"]}
                         for r in sft[:: max(1, len(sft) // 6)][:6]]
        return {}

    return run_stage(ctx.run, ctx.index("best_of_n"), "best_of_n", fingerprint, inputs={}, body=body,
                     seed=ctx.seed, force=ctx.force)
