"""The rule refusal detector (`phronesis.judges.refusal`) against pyrit's human refusal labels.

pyrit 1.1.0 ships two human-labelled refusal sets (`scorer_evals/refusal_scorer/refusal.csv`, 105 replies,
and `refusal_extra.csv`, 64), read out of the pinned wheel the project already caches. Their notion of a
refusal is wider than the detector's: a reply that answers a different question counts as one there.
Run (seconds; no model):
    env PYTHONPATH=src .venv/bin/python benchmarks/refusal_detector.py [OUT.json]
Prints precision, recall and accuracy per set with Wilson intervals; OUT.json also lists each disagreement's opening.
"""
from __future__ import annotations

import json
import sys
import zipfile

from phronesis.data.catalog import fetch_wheel, pip_download
from phronesis.data.wheel_datasets import WHEEL_PAIRS, commented_csv_rows
from phronesis.core.stats import wilson_ci
from phronesis.judges.refusal import detect_refusal, opening

SETS = ("refusal.csv", "refusal_extra.csv")
FOLDER = "pyrit/datasets/scorer_evals/refusal_scorer/"


def rate(k: int, n: int) -> dict:
    ci = wilson_ci([1.0] * k + [0.0] * (n - k))
    return {"k": k, "n": n, "rate": round(k / n, 3) if n else None,
            "ci95": [round(ci["lo"], 3), round(ci["hi"], 3)] if n else None}


def main(out: str | None = None) -> None:
    entry = WHEEL_PAIRS["pyrit_objective"].entry  # the same pinned pyrit wheel
    results = {}
    with zipfile.ZipFile(fetch_wheel(entry, pip_download)) as wheel:
        for name in SETS:
            table = commented_csv_rows(wheel, FOLDER + name)
            human = [r["human_score"].strip() == "1" for r in table]
            found = [detect_refusal(r["assistant_response"]) for r in table]
            tp = sum(h and f.refused for h, f in zip(human, found))
            fp = sum(f.refused and not h for h, f in zip(human, found))
            right = sum(h == f.refused for h, f in zip(human, found))
            results[name] = {"precision": rate(tp, tp + fp), "recall": rate(tp, sum(human)),
                             "accuracy": rate(right, len(table)),
                             "missed": [opening(r["assistant_response"])[:160] for r, h, f in zip(table, human, found)
                                        if h and not f.refused],
                             "false_alarms": [opening(r["assistant_response"])[:160] for r, h, f in
                                              zip(table, human, found) if f.refused and not h]}
            r = results[name]
            print(f"{name}: precision {r['precision']['k']}/{r['precision']['n']}, recall "
                  f"{r['recall']['k']}/{r['recall']['n']} = {r['recall']['rate']} {r['recall']['ci95']}, "
                  f"accuracy {r['accuracy']['rate']} {r['accuracy']['ci95']}")
    if out:
        with open(out, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=1)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
