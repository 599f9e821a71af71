"""Leave-one-source-out accuracy of the learned judge: trained without a source, scored on it.

Training sources: the bundled calibration pairs (project-written), pyrit's human harm scores
(`wheel:pyrit_harm`) and pyrit's human objective labels (`wheel:pyrit_objective`). For each source
the judge is trained on the others with `judge-train`'s own code and defaults (`train_from_sources`, few-shot
examples included, l2 chosen by cross-validation on that fold's training pairs) and scored on it with
`judge-eval`'s (`evaluate_judge`, seeded random slots).
Sets that never train any fold are scored by every fold: the bundled held-out pairs (the gate set)
and, where ../shared/data is present, the hh-rlhf harmless-base test split (sampled).
Run (about 15 min on 2 cores):
    flock /tmp/phronesis-heavy.lock env PYTHONPATH=src .venv/bin/python benchmarks/judge_sources.py OUT_DIR
Writes OUT_DIR/judge_sources.json and prints a markdown table.
"""
from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

from phronesis.bench import machine
from phronesis.models.embeddings import CachedEmbedder, TransformersEmbedder
from phronesis.judges.evaluate import evaluate_judge
from phronesis.judges.learned import LearnedPairJudge, train_from_sources
from phronesis.judges.pairs import load_pairs

SOURCES = ["builtin:judge/calibration.jsonl", "wheel:pyrit_harm", "wheel:pyrit_objective"]
GATE = "builtin:judge/heldout.jsonl"
HH = Path(__file__).resolve().parents[2] / "shared/data/hh-rlhf/harmless-base-test.jsonl.gz"
HH_SAMPLE = 500


def scored(judge, rows) -> dict:
    r = evaluate_judge(judge, rows)
    return {k: r[k] for k in ("n", "accuracy", "accuracy_ci95", "undecided_rate", "length_baseline_accuracy")}


def main(out: Path, kinds=("principled",)) -> None:
    out.mkdir(parents=True, exist_ok=True)
    embedder = CachedEmbedder(TransformersEmbedder())
    rows = {ref: load_pairs(ref) for ref in SOURCES + [GATE]}
    if HH.is_file():
        rows["hh-rlhf harmless-base test (sample)"] = random.Random(0).sample(load_pairs(HH), HH_SAMPLE)
    results = []
    for kind in kinds:
        for left_out in SOURCES + [None]:
            started = time.perf_counter()
            trained = [s for s in SOURCES if s != left_out]
            record = train_from_sources(embedder, trained, kind)
            judge = LearnedPairJudge(embedder, record)
            scored_on = [left_out] if left_out else [s for s in rows if s not in SOURCES]
            for name in scored_on:
                results.append({"features": kind, "l2": record["l2"], "cv_accuracy": record["selected_by"].get(
                    "cv_accuracy"), "trained_on": trained, "scored_on": name, **scored(judge, rows[name]),
                    "seconds": round(time.perf_counter() - started)})
                print(json.dumps(results[-1]), flush=True)
            (out / "judge_sources.json").write_text(json.dumps({"machine": machine(), "results": results},
                                                               indent=1))
    print("| features | l2 | scored on (never trained on) | trained on | n | accuracy [95% CI] | longer wins |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        lo, hi = r["accuracy_ci95"]
        print(f"| {r['features']} | {r['l2']} | {r['scored_on']} | {', '.join(r['trained_on'])} | {r['n']} | "
              f"{r['accuracy']:.3f} [{lo:.3f}, {hi:.3f}] | {r['length_baseline_accuracy']:.3f} |")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "benchmarks/results"))
