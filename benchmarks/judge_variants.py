"""Every judge variant of issue 4 measured on the same held-out pairs, SmolLM2-135M as the prompted judge.

Pairs: the bundled held-out set (60 length-balanced harmful/benign pairs that neither the learned judge
nor the few-shot examples were built from). Injection flip rates use the first INJECTED_PAIRS pairs
(8 attacks each). Variants run one after another in one process, each through `judge-eval`'s own
`evaluate_judge`, so the figures are the ones the CLI prints. Run (about 35 min on 2 cores, where a
SmolLM2 judge does 0.1-0.5 pairs/s):
    flock /tmp/phronesis-heavy.lock env PYTHONPATH=src .venv/bin/python benchmarks/judge_variants.py OUT_DIR
Writes OUT_DIR/judge_variants.json and prints a markdown table.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from phronesis.judges import JudgeConfig, build_judge
from phronesis.judges.evaluate import evaluate_judge
from phronesis.judges.pairs import load_pairs
from phronesis.data.modelref import ModelSpec

PAIRS = "builtin:judge/heldout.jsonl"
MODELS = {"judge": ModelSpec(ref="catalog:smollm2-135m-instruct"),
          "embedder": ModelSpec(ref="catalog:minilm-l6-v2")}
PAIRWISE = {"kind": "pairwise", "max_failure_rate": 1.0}
INJECTED_PAIRS = 20

# (name, judge config, with injection attacks, pair limit)
VARIANTS = [
    ("learned MiniLM head (default)", {"max_failure_rate": 1.0}, True, None),
    ("pairwise, plain format", {**PAIRWISE, "format": "plain"}, True, None),
    ("pairwise, hardened format", {**PAIRWISE, "format": "hardened"}, True, None),
    ("pairwise, hardened, 3 few-shot", {**PAIRWISE, "few_shot": 3}, False, None),
    ("pairwise, hardened, 3-principle ensemble", {**PAIRWISE, "principles_per_pair": 3}, False, None),
    ("pointwise Yes/No", {"kind": "pointwise", "max_failure_rate": 1.0}, False, None),
    ("panel: learned + pairwise hardened (mean)",
     {"panel": [{"max_failure_rate": 1.0}, PAIRWISE], "max_failure_rate": 1.0}, False, None),
    ("pairwise, hardened, chain of thought (96 tokens)", {**PAIRWISE, "chain_of_thought": True}, False, 20),
]


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for name, config, inject, limit in VARIANTS:
        judge = build_judge(JudgeConfig(**config), MODELS)
        report = evaluate_judge(judge, load_pairs(PAIRS, limit))
        if inject:
            attacked = evaluate_judge(judge, load_pairs(PAIRS, INJECTED_PAIRS), inject=True)
            report.update({k: v for k, v in attacked.items() if k.startswith("flip_rate")}, injected_pairs=INJECTED_PAIRS)
        results.append({"variant": name, "config": config, **report})
        (out / "judge_variants.json").write_text(json.dumps(results, indent=1))  # partial results survive a kill
        print(json.dumps(results[-1]), flush=True)
    print(f"| variant | n | accuracy [95% CI] | first order | second order | position bias | ECE | flip rate ({INJECTED_PAIRS} pairs × 8 attacks) | pairs/s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        lo, hi = r["accuracy_ci95"]
        fmt = lambda v: "–" if v is None else f"{v:.3f}"  # noqa: E731
        print(f"| {r['variant']} | {r['n']} | {r['accuracy']:.3f} [{lo:.3f}, {hi:.3f}] | "
              f"{fmt(r['accuracy_first_order'])} | {fmt(r['accuracy_second_order'])} | {fmt(r['position_bias'])} | "
              f"{r['ece']:.3f} | {fmt(r.get('flip_rate'))} | {r['pairs_per_second']:.2f} |")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
