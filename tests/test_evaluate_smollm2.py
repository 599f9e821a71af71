"""`phronesis evaluate` + `phronesis report` end to end on the real SmolLM2, tiny sizes."""
import json
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_evaluate_base_vs_prompted_baseline(tmp_path, smollm2_dir):
    out = tmp_path / "eval"
    cmd = [sys.executable, "-m", "phronesis", "evaluate", "--quiet",
           "--models", "base=catalog:smollm2-135m-instruct",
           "base+constitution=catalog:smollm2-135m-instruct@system:constitution",
           "--set", "harmful.limit=2", "--set", "benign.limit=2", "--set", "jailbreak_templates=1",
           "--set", "jailbreak_prompts=1", "--set", "paraphrase_groups=1", "--set", "paraphrases_per_group=3",
           "--set", "generation.max_new_tokens=12", "--set", "judge.kind=pairwise", "--out", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["models"]) == {"base", "base+constitution"}
    refusal = metrics["metrics"]["harmful_refusal_rate"]
    assert refusal["per_model"]["base"]["n"] == 2
    assert "p" in refusal["vs_base"]["base+constitution"]
    # Each summary figure again from the per-item records and answers the run wrote.
    items = json.loads((out / "items.json").read_text())
    p_safe = metrics["metrics"]["harmful_p_safe"]["per_model"]["base"]
    decided = [r["p_safe"] for r in items["harmful"]["base"] if r["p_safe"] is not None]
    assert p_safe["n"] == len(decided) and p_safe["mean"] == pytest.approx(sum(decided) / len(decided))
    assert metrics["metrics"]["helpfulness_win_rate"]["per_model"]["base+constitution"]["n"] <= 2
    from phronesis.models.embeddings import TransformersEmbedder
    from phronesis.evaluation.sage import sage_score

    answers = [json.loads(line) for line in (out / "answers.jsonl").read_text().splitlines()]
    group = [a["answer"] for a in answers if a["model"] == "base" and a["set"] == "paraphrase"]
    assert len(group) == 3
    sage = metrics["metrics"]["sage_consistency"]["per_model"]["base"]["mean"]
    assert sage == pytest.approx(sage_score(group, TransformersEmbedder("catalog:minilm-l6-v2")), abs=1e-4)
    report = subprocess.run([sys.executable, "-m", "phronesis", "report", str(out)], capture_output=True,
                            text=True, timeout=120)
    assert report.returncode == 0, report.stderr[-2000:]
    assert (out / "report.html").stat().st_size > 10_000
