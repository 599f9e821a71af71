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
           "--set", "max_new_tokens=12", "--set", "judge.kind=builtin", "--out", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["models"]) == {"base", "base+constitution"}
    refusal = metrics["metrics"]["harmful_refusal_rate"]
    assert refusal["per_model"]["base"]["n"] == 2
    assert "p" in refusal["vs_base"]["base+constitution"]
    p_safe = metrics["metrics"]["harmful_p_safe"]["per_model"]["base"]
    assert 0.0 <= p_safe["mean"] <= 1.0 or p_safe["undecided"] == 2
    assert metrics["metrics"]["helpfulness_win_rate"]["per_model"]["base+constitution"]["n"] <= 2
    assert 0.0 <= metrics["metrics"]["sage_consistency"]["per_model"]["base"]["mean"] <= 1.0
    report = subprocess.run([sys.executable, "-m", "phronesis", "report", str(out)], capture_output=True,
                            text=True, timeout=120)
    assert report.returncode == 0, report.stderr[-2000:]
    assert (out / "report.html").stat().st_size > 10_000
