"""Stage `label_preferences`: a judge orders response pairs into chosen/rejected.

(a) CAI pairs (`pairs:`): the critique stage's revision-vs-initial pairs (or two sampled answers
    from `generate`), judged under sampled relevant principles → `preferences.jsonl`.
(b) Virtue pairs (`dialogues:`): the two dialogues per prompt from `virtue_dialogues`, judged per
    dimension on every virtue; votes decide → `virtue_<dimension>.jsonl`; ties dropped.
(c) A confidence filter keeps pairs with |p − 0.5| ≥ threshold.
Before labelling, the judge gate checks the judge on the bundled calibration pairs.
"""
from __future__ import annotations

from typing import Literal, Optional, Sequence

from ..core.config import StrictModel
from ..core.resumable import map_resumable
from ..core.runstore import RowCheckpoint
from ..data.constitution import Constitution, VirtueFramework
from ..data.records import Row, preference_row, text_of
from ..judges.combine import sample_principles
from ..judges.pairwise import Pair, judge_many
from .virtue_dialogues import dimension_turns

STAGE = "label_preferences"

class LabelPreferencesConfig(StrictModel):
    # The CAI pairs to order: rows {id, prompt, chosen, rejected} (critique_revise's revision vs initial
    # answer) or generate's answers.jsonl rows {id, completions} (two samples make a pair); null: none.
    pairs: Optional[str] = "stage:critique_revise/preferences.jsonl"
    # Dialogues to label per virtue, e.g. stage:virtue_dialogues/dialogues.jsonl; null: none.
    dialogues: Optional[str] = None
    principles_per_pair: int = 2  # sampled from the row's relevant principles (all active ones if none)
    confidence_threshold: float = 0.0  # keep |p − 0.5| ≥ this
    virtue_vote: Literal["votes", "probability"] = "votes"
    chunk_size: int = 16


def relevant_questions(row: Row, constitution: Constitution) -> list[str]:
    ids = row.get("principles") or ([row["principle"]] if row.get("principle") else [])
    known = {p.id: p.comparison for p in constitution.active}
    questions = [known[i] for i in ids if i in known]
    return questions or list(known.values())


def _decide(row_id: str, prompt, first, second, verdicts: list, questions: list[str]) -> Row:
    usable = [v.p for v in verdicts if v.p is not None]
    detail = [{"principle": q, "p": v.p, "p_first_order": v.p_first_order, "p_second_order": v.p_second_order,
               "error": v.error} for q, v in zip(questions, verdicts)]
    if not usable:
        return {"id": row_id, "p": None, "error": verdicts[0].error if verdicts else "no verdicts"}
    p = sum(usable) / len(usable)
    chosen, rejected = (first, second) if p >= 0.5 else (second, first)
    return preference_row(row_id, prompt, chosen, rejected, p=p, p_chosen=max(p, 1 - p), margin=abs(p - 0.5),
                          principles=questions, detail=detail)


def label_cai(judge, rows: Sequence[Row], constitution: Constitution, cfg: LabelPreferencesConfig, seed: int,
              checkpoint: RowCheckpoint) -> list[Row]:
    """Pure core for CAI rows {id, prompt, chosen, rejected} (strings or message lists)."""

    def chunk_fn(chunk: list[Row]) -> list[Row]:
        asked = [sample_principles(relevant_questions(r, constitution), cfg.principles_per_pair, r["id"], seed)
                 for r in chunk]
        items = [Pair(r["prompt"], text_of(r["chosen"]), text_of(r["rejected"]), q)
                 for r, qs in zip(chunk, asked) for q in qs]
        verdicts, out, at = judge_many(judge, items), [], 0
        for row, qs in zip(chunk, asked):
            out.append(_decide(row["id"], row["prompt"], row["chosen"], row["rejected"],
                               verdicts[at:at + len(qs)], qs))
            at += len(qs)
        return out

    return map_resumable(rows, chunk_fn, checkpoint, cfg.chunk_size, "label CAI pairs")


def _dimension_pair(row: Row, index: int, question: str | None):
    (prompt, cont_a), (_, cont_b) = (dimension_turns(c, index) for c in row["conversations"])
    judged_prompt = text_of(prompt) + (f"\n\n(Follow-up question to the assistant: {question})" if question else "")
    return prompt, cont_a, cont_b, judged_prompt


def virtue_verdict(ps: list[float | None], mode: str) -> float | None:
    """Share of votes (or mean probability) for conversation a; None when nothing was usable."""
    usable = [p for p in ps if p is not None]
    if not usable:
        return None
    if mode == "probability":
        return sum(usable) / len(usable)
    votes = [1.0 if p > 0.5 else 0.0 if p < 0.5 else 0.5 for p in usable]
    return sum(votes) / len(votes)


def label_virtue(judge, rows: Sequence[Row], framework: VirtueFramework, cfg: LabelPreferencesConfig,
                 checkpoint: RowCheckpoint) -> list[Row]:
    """Pure core: one output row per dialogue with a decision per dimension (None = tie or failure)."""
    virtues = framework.virtues

    def chunk_fn(chunk: list[Row]) -> list[Row]:
        items, keys = [], []
        for row in chunk:
            for d, dim in enumerate(framework.dimensions):
                _, a, b, judged = _dimension_pair(row, d, dim.question)
                items += [Pair(judged, text_of(a), text_of(b), v.comparison) for v in virtues]
                keys.append((row["id"], d))
        verdicts = judge_many(judge, items)
        out = {row["id"]: {"id": row["id"], "dimensions": {}} for row in chunk}
        for k, (row_id, d) in enumerate(keys):
            ps = [v.p for v in verdicts[k * len(virtues):(k + 1) * len(virtues)]]
            out[row_id]["dimensions"][framework.dimensions[d].id] = {
                "p_virtues": dict(zip([v.id for v in virtues], ps)), "p": virtue_verdict(ps, cfg.virtue_vote)}
        return list(out.values())

    return map_resumable(rows, chunk_fn, checkpoint, cfg.chunk_size, "label virtue dialogues")


def virtue_sets(dialogues: Sequence[Row], decisions: Sequence[Row], framework: VirtueFramework) -> tuple[dict, dict]:
    """{dimension: preference rows} plus counts; ties (p = 0.5) and failures are dropped and counted, and
    `virtues_split` counts the dialogues on which the virtues did not all prefer the same conversation."""
    by_id = {d["id"]: d for d in decisions}
    sets, counts = {}, {}
    for index, dim in enumerate(framework.dimensions):
        rows, ties, failed, split = [], 0, 0, 0
        for row in dialogues:
            verdict = by_id[row["id"]]["dimensions"][dim.id]
            p = verdict["p"]
            split += len({v > 0.5 for v in verdict["p_virtues"].values() if v is not None and v != 0.5}) > 1
            if p is None or p == 0.5:
                ties, failed = ties + (p == 0.5), failed + (p is None)
                continue
            prompt, a, b, _ = _dimension_pair(row, index, dim.question)
            chosen, rejected = (a, b) if p > 0.5 else (b, a)
            rows.append(preference_row(f"{row['id']}/{dim.id}", prompt, chosen, rejected, dimension=dim.id, p=p,
                                       p_chosen=max(p, 1 - p), margin=abs(p - 0.5), votes=verdict["p_virtues"]))
        sets[dim.id] = rows
        counts[dim.id] = {"pairs": len(rows), "ties_dropped": ties, "failed": failed, "virtues_split": split}
    return sets, counts


def confidence_filter(rows: Sequence[Row], threshold: float) -> tuple[list[Row], dict[str, int]]:
    """Keep decided rows with |p − 0.5| ≥ threshold; count what was dropped and why."""
    usable = [r for r in rows if r.get("p") is not None]
    kept = [r for r in usable if r["margin"] >= threshold]
    return kept, {"input": len(rows), "kept": len(kept), "failed": len(rows) - len(usable),
                  "below_threshold": len(usable) - len(kept)}


def cai_rows_from_answers(answers: Sequence[Row]) -> list[Row]:
    """Two sampled completions per prompt from the generate stage become one unordered pair."""
    return [{"id": r["id"], "prompt": r["prompt"], "chosen": r["completions"][0], "rejected": r["completions"][1],
             "principles": r.get("principles", [])} for r in answers if len(r.get("completions", [])) >= 2]
