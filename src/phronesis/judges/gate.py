"""The judge gate: before labelling, the configured judge must beat a coin on the calibration pairs."""
from __future__ import annotations

from typing import Any

from ..core.errors import StageError
from .evaluate import evaluate_judge
from .pairs import load_pairs

# Never trains or tunes the shipped judge: the gate for a judge trained on judge.gate_pairs
HELD_OUT_GATE_PAIRS = "builtin:judge/heldout.jsonl"


def run_gate(judge, pairs_ref: str, skip: bool = False, limit: int | None = None,
             trained_on_gate_pairs: bool = False) -> dict[str, Any]:
    """Accuracy with a bootstrap CI on labelled pairs, undecided verdicts counted as wrong; a one-line
    StageError when the CI's lower bound is not above 0.5, unless `skip` (judge.skip_gate: true).
    Returns the manifest record."""
    pairs = load_pairs(pairs_ref, limit)
    report = evaluate_judge(judge, pairs)
    low, high = report["accuracy_of_all_ci95"]
    record = {"pairs": pairs_ref, "n": report["n"], "accuracy": round(report["accuracy_of_all"], 4),
              "accuracy_ci95": [round(low, 4), round(high, 4)], "undecided_rate": report["undecided_rate"],
              "position_bias": report["position_bias"], "failure_rate": report["failure_rate"],
              "in_sample": trained_on_gate_pairs, "skipped": skip, "passed": low > 0.5}
    if not record["passed"] and not skip:
        raise StageError(f"judge gate: accuracy {report['accuracy_of_all']:.3f} on {pairs_ref} (95% CI {low:.3f}-{high:.3f}) "
                         f"is not clearly above chance; use a better judge or set judge.skip_gate: true")
    return record
