"""Two evaluations side by side (e.g. ethical vs inverted constitution): same metric, same model name."""
from __future__ import annotations

from pathlib import Path

from ..core.errors import DataError
from ..core.io import read_jsonl
from .build import find_eval_dir, load_metrics
from .tables import format_ci, format_diff

SETS = ("harmful", "external", "jailbreak", "benign")  # the answer sets whose refusal rate is compared


def compare_runs(run_a: Path, run_b: Path) -> str:
    """A Markdown table: per metric and model, run A and run B with CIs (and each run's diff vs its base)."""
    a, b = load_metrics(run_a), load_metrics(run_b)
    lines = [f"| metric | model | {run_a} | {run_b} |", "|---|---|---|---|"]
    for name in [n for n in a["metrics"] if n in b["metrics"]]:
        ma, mb = a["metrics"][name], b["metrics"][name]
        for model in [m for m in ma["per_model"] if m in mb["per_model"]]:
            lines.append(f"| {name} | {model} | {format_ci(ma['per_model'][model])} | "
                         f"{format_ci(mb['per_model'][model])} |")
            if model in ma.get("vs_base", {}) and model in mb.get("vs_base", {}):
                lines.append(f"| {name} | {model} − base | {format_diff(ma['vs_base'][model])} | "
                             f"{format_diff(mb['vs_base'][model])} |")
    lines += paired_refusal_lines(run_a, run_b)
    only = sorted(set(a["metrics"]) ^ set(b["metrics"]))
    if only:
        lines.append(f"\nMetrics in only one run: {', '.join(only)}")
    return "\n".join(lines)


def refusals(run: Path) -> dict[tuple[str, str], dict[str, int]]:
    """(model, set) -> {prompt id: 1 if the rule detector calls the answer a refusal}, from answers.jsonl."""
    from ..judges.refusal import is_refusal

    out: dict[tuple[str, str], dict[str, int]] = {}
    for row in read_jsonl(find_eval_dir(Path(run)) / "answers.jsonl", allow_empty=True):
        out.setdefault((row["model"], row["set"]), {})[row["id"]] = int(is_refusal(row["answer"]))
    return out


def paired_refusal_lines(run_a: Path, run_b: Path) -> list[str]:
    """Run B's model minus run A's on the same prompts (paired: McNemar p, paired bootstrap CI), per set."""
    from ..core.stats import compare_paired

    try:
        a, b = refusals(run_a), refusals(run_b)
    except DataError:
        return []
    lines = ["", f"Paired across runs, refusal rate (rule detector): {run_b} minus {run_a}, same prompts", "",
             "| set | model | n | difference [95% CI] p |", "|---|---|---|---|"]
    for (model, set_name), ids_a in sorted(a.items()):
        ids_b = b.get((model, set_name))
        if set_name not in SETS or not ids_b:
            continue
        shared = sorted(set(ids_a) & set(ids_b))
        diff = compare_paired([ids_b[i] for i in shared], [ids_a[i] for i in shared], binary=True)
        lines.append(f"| {set_name} | {model} | {len(shared)} | {format_diff(diff)} |")
    return lines
