"""Stage `critique_revise`: supervised Constitutional AI (answer → K × (critique, revision)).

For each prompt the policy answers; then, for K rounds, it critiques its latest
answer against a sampled relevant principle and revises it. Every generation step
is one `Generator.generate` call over a chunk of prompts. Revisions that are
empty, cut off at the token limit, or a copy of the critique are dropped (the
previous answer stays current) and counted by reason.

Outputs: `sft.jsonl` (prompt + final revision), `preferences.jsonl` (chosen =
final revision, rejected = initial answer), `trace.jsonl` (every critique and
revision with its principle id).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal, Sequence

from pydantic import Field

from ..core.config import GENERATION_DEFAULT, StrictModel, generation_with
from ..core.io import atomic_write_jsonl
from ..core.protocols import Conversation, GenerationParams, Generator, finish_reason
from ..core.resumable import map_resumable
from ..core.runstore import RowCheckpoint
from ..core.seeds import derive_seed
from ..curation.principle_matching import match_principles, sample_principles
from ..curation.revision_filters import DROP_REASONS, revision_problem, strip_label
from ..data.constitution import Principle
from ..data.few_shot import CritiqueExample, example_turns
from ..data.records import Row, as_messages, assistant, preference_row, sft_row, user, with_length_hint

STAGE = "critique_revise"


class RevisionFilters(StrictModel):
    drop_truncated: bool = True  # a revision cut off at max_new_tokens is not a finished answer
    max_critique_overlap: float = Field(0.6, gt=0, le=1)  # share of revision bigrams found in the critique
    drop_descriptions: bool = True  # "The response encourages ..." is a critique, not a rewritten answer


class CritiqueReviseGeneration(StrictModel):
    """How each step samples: the first answer, each critique, each revision."""

    answer: generation_with(max_new_tokens=128, temperature=0.5, top_p=0.95) = GENERATION_DEFAULT
    critique: generation_with(max_new_tokens=80, temperature=0.5, top_p=0.95) = GENERATION_DEFAULT
    revision: generation_with(max_new_tokens=192, temperature=0.5, top_p=0.95) = GENERATION_DEFAULT


class CritiqueReviseConfig(StrictModel):
    prompt_sets: list[str] = ["harmful_train"]
    model: str = "policy"
    embedder: str = "embedder"  # model entry used to match prompts to principles
    rounds: int = Field(2, ge=1, le=4)
    principle_candidates: int = Field(4, ge=1)  # sample each round's principle from the top-N matches
    principle_temperature: float = Field(0.05, gt=0)  # softmax temperature over cosine similarity
    generation: CritiqueReviseGeneration = CritiqueReviseGeneration()
    few_shot: bool = True
    few_shot_path: str = "builtin:critique_revision"
    # Appended to each principle's revision request: small models otherwise describe the answer instead of rewriting it.
    revision_suffix: str = " Reply with the rewritten response only, speaking directly to the user."
    # regenerate: the model answers afresh with the principle and the critique as its system prompt;
    # rewrite: it edits its answer in the conversation (the CAI paper's way). On SmolLM2-135M (cai_16.yaml,
    # 16 prompts, 2 rounds) the final answer changed in 16/16 rows with regenerate and 4/16 with rewrite,
    # where it echoed the critique or described its answer instead of rewriting it.
    revision_mode: Literal["rewrite", "regenerate"] = "regenerate"
    # Appended to the user's request in regenerate mode. SmolLM2-135M ignores a length limit in the system
    # prompt but often keeps one at the end of the request: 8 of 16 regenerations finished inside 192 tokens
    # with it, 1 of 16 without (the rest are cut off and dropped). Empty: no hint.
    regenerate_length_hint: str = "Answer in at most three short sentences."
    chunk_size: int = Field(32, ge=1)  # prompts per generate call and per checkpoint write
    filters: RevisionFilters = RevisionFilters()

    def settings(self, seed: int) -> "LoopSettings":
        steps = self.generation
        return LoopSettings(answer=steps.answer.params(derive_seed(seed, "critique_revise", 1)),
                            critique=steps.critique.params(derive_seed(seed, "critique_revise", 2)),
                            revision=steps.revision.params(derive_seed(seed, "critique_revise", 3)),
                            rounds=self.rounds, filters=self.filters, revision_suffix=self.revision_suffix,
                            revision_mode=self.revision_mode, length_hint=self.regenerate_length_hint)


@dataclass(frozen=True)
class LoopSettings:
    answer: GenerationParams
    critique: GenerationParams
    revision: GenerationParams
    rounds: int
    filters: RevisionFilters
    revision_suffix: str
    revision_mode: str
    length_hint: str


def row_rng(seed: int, row_id: str):
    """A numpy Generator fixed by (run seed, row id): resumed and reordered runs draw the same."""
    import numpy as np

    return np.random.default_rng(derive_seed(seed, row_id))


def plan_principles(rows: Sequence[Row], principles: Sequence[Principle], embedder: Any, rounds: int,
                    candidates: int, temperature: float, seed: int) -> list[Row]:
    """Add `principle_plan` (one principle id per round) and `principle_matches` to each row."""
    matches = match_principles([r["prompt"] for r in rows], principles, embedder, top_k=candidates)
    return [{**row, "principle_matches": [[m.principle, round(m.score, 4)] for m in found],
             "principle_plan": sample_principles(found, rounds, row_rng(seed, str(row["id"])), temperature)}
            for row, found in zip(rows, matches)]


def critique_turns(prompt: Any, answer: str, principle: Principle, shots: Conversation) -> Conversation:
    return [*shots, *as_messages(prompt, "user"), assistant(answer), user(principle.critique_request)]


def revision_turns(prompt: Any, answer: str, critique: str, principle: Principle, shots: Conversation,
                   suffix: str = "") -> Conversation:
    return [*critique_turns(prompt, answer, principle, shots), assistant(critique),
            user(principle.revision_request + suffix)]


def regeneration_turns(prompt: Any, critique: str, principle: Principle, length_hint: str = "") -> Conversation:
    guidance = (f"Follow this principle: {principle.description} A reviewer criticised an earlier answer to "
                f"this request: {critique} Answer the user directly, avoiding that problem.")
    return [{"role": "system", "content": guidance}, *with_length_hint(as_messages(prompt, "user"), length_hint)]


def revise_chunk(generator: Generator, chunk: Sequence[Row], principles: dict[str, Principle],
                 shots: Conversation, settings: LoopSettings) -> list[Row]:
    """The pure core for one chunk: 1 + 2·rounds generate calls, each over every prompt of the chunk."""
    answers = generator.generate([r["prompt"] for r in chunk], settings.answer)
    states = [{"id": r["id"], "prompt": r["prompt"], "initial": str(a[0]), "initial_finish": finish_reason(a[0]),
               "latest": str(a[0]), "steps": [], "principle_matches": r.get("principle_matches", [])}
              for r, a in zip(chunk, answers)]
    for round_index in range(settings.rounds):
        chosen = [principles[r["principle_plan"][round_index]] for r in chunk]
        critiques = generator.generate([critique_turns(s["prompt"], s["latest"], p, shots)
                                        for s, p in zip(states, chosen)], settings.critique)
        critique_texts = [strip_label(c[0]) for c in critiques]
        revisions = generator.generate([
            regeneration_turns(s["prompt"], c, p, settings.length_hint) if settings.revision_mode == "regenerate"
            else revision_turns(s["prompt"], s["latest"], c, p, shots, settings.revision_suffix)
            for s, c, p in zip(states, critique_texts, chosen)], settings.revision)
        for state, principle, critique, revision in zip(states, chosen, critique_texts, revisions):
            text = strip_label(revision[0])
            problem = revision_problem(text, critique, finish_reason(revision[0]),
                                       drop_truncated=settings.filters.drop_truncated,
                                       max_critique_overlap=settings.filters.max_critique_overlap,
                                       drop_descriptions=settings.filters.drop_descriptions)
            state["steps"].append({"round": round_index + 1, "principle": principle.id, "critique": critique,
                                   "revision": text, "revision_finish": finish_reason(revision[0]),
                                   "dropped": problem})
            if problem is None:
                state["latest"] = text
    for state in states:
        accepted = [s for s in state["steps"] if s["dropped"] is None]
        state["final"] = state.pop("latest") if accepted else None
        state["principles"] = [s["principle"] for s in accepted]
    return states


def critique_revise_rows(generator: Generator, rows: Sequence[Row], principles: dict[str, Principle],
                         shots: Conversation, settings: LoopSettings, checkpoint: RowCheckpoint,
                         chunk_size: int = 8) -> list[Row]:
    """Resumable loop over chunks; rows need `id`, `prompt` and `principle_plan`."""
    return map_resumable(rows, lambda chunk: revise_chunk(generator, chunk, principles, shots, settings),
                         checkpoint, chunk_size, STAGE)


def summarise(out: Sequence[Row]) -> dict[str, Any]:
    """Manifest counts: rows, drops by reason, and how many final answers changed."""
    steps = [s for row in out for s in row["steps"]]
    dropped = Counter(s["dropped"] for s in steps if s["dropped"])
    finals = [r for r in out if r["final"] is not None]
    return {"prompts": len(out), "initial_truncated": sum(r["initial_finish"] == "length" for r in out),
            "revisions": len(steps), "revisions_accepted": len(steps) - sum(dropped.values()),
            **{f"dropped_{reason}": dropped.get(reason, 0) for reason in DROP_REASONS},
            "prompts_without_accepted_revision": len(out) - len(finals),
            "final_differs_from_initial": sum(r["final"].strip() != r["initial"].strip() for r in finals)}


def output_files(out: Sequence[Row]) -> dict[str, list[Row]]:
    """sft / preferences / trace rows; a pair whose final equals its initial answer teaches nothing."""
    sft, prefs, trace = [], [], []
    for row in out:
        for step in row["steps"]:
            trace.append({"id": f"{row['id']}#{step['round']}", "prompt_id": row["id"], **step})
        if row["final"] is None:
            continue
        sft.append(sft_row(row["id"], row["prompt"], row["final"], principles=row["principles"]))
        if row["final"].strip() != row["initial"].strip():
            prefs.append(preference_row(row["id"], row["prompt"], row["final"], row["initial"],
                                        principles=row["principles"]))
    return {"sft.jsonl": sft, "preferences.jsonl": prefs, "trace.jsonl": trace}


def active_examples(examples: list[CritiqueExample], principles: dict[str, Principle]) -> list[CritiqueExample]:
    """Only examples whose principle is active: an inverted constitution must not be shown ethical critiques."""
    return [ex for ex in examples if ex.principle in principles]


def sample_rows(out: Sequence[Row], n: int = 3) -> list[Row]:
    """A few traces for samples.md, critique and revision interleaved round by round."""
    picked = [r for r in out if r["final"] is not None][:n] or list(out[:n])
    samples = []
    for row in picked:
        sample = {"id": row["id"], "prompt": row["prompt"], "initial answer": row["initial"]}
        for step in row["steps"]:
            sample[f"round {step['round']} critique ({step['principle']})"] = step["critique"]
            dropped = f" (dropped: {step['dropped']})" if step["dropped"] else ""
            sample[f"round {step['round']} revision{dropped}"] = step["revision"]
        samples.append(sample)
    return samples


def run(ctx) -> Any:
    """Wrapper: prompts + constitution from the config, embedder-planned principles, checkpointed loop."""
    from ..core.runstore import run_stage
    from ..data.few_shot import load_critique_examples
    from ..models.embeddings import TransformersEmbedder

    cfg: CritiqueReviseConfig = ctx.section(STAGE)
    rows = ctx.prompt_rows(cfg.prompt_sets)
    constitution = ctx.config.constitution.load()  # already inverted when constitution.invert is set
    principles = {p.id: p for p in constitution.active}
    examples = active_examples(load_critique_examples(cfg.few_shot_path), principles) if cfg.few_shot else []
    embedder_spec = ctx.model_spec(cfg.embedder)
    config = {**ctx.fingerprint_inputs(STAGE), "constitution": constitution.model_dump(mode="json"),
              "embedder": embedder_spec.model_dump(mode="json"),
              "few_shot": [ex.model_dump() for ex in examples]}

    def body(stage) -> dict[str, Any]:
        planned = plan_principles(rows, list(principles.values()), TransformersEmbedder(embedder_spec),
                                  cfg.rounds, cfg.principle_candidates, cfg.principle_temperature, ctx.seed)
        out = critique_revise_rows(ctx.generator(cfg.model), planned, principles, example_turns(examples),
                                   cfg.settings(ctx.seed), stage.checkpoint("rows"), cfg.chunk_size)
        files = output_files(out)
        for name, file_rows in files.items():
            atomic_write_jsonl(stage.file(name), file_rows)
        stage.counts.update(summarise(out), sft_rows=len(files["sft.jsonl"]),
                            preference_rows=len(files["preferences.jsonl"]), few_shot_examples=len(examples))
        stage.samples = sample_rows(out)
        return {"constitution": constitution.name}

    return run_stage(ctx.run, ctx.index(STAGE), STAGE, config, inputs={}, body=body, seed=ctx.seed,
                     force=ctx.force)
