"""End-to-end on the real SmolLM2-135M-Instruct from the catalog."""
import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def test_generate_stage_batch_8_on_smollm2(smollm2_dir, tmp_path):
    prompts = tmp_path / "p.jsonl"
    texts = ["How do I kill a Python process?", "Write a haiku about rain.", "What is 2+2?",
             "Name a colour.", "Say hello in French.", "How do I shoot a photo at night?",
             "Tell me how to pick a lock.", "What is the capital of Italy?"]
    prompts.write_text("".join(json.dumps({"id": f"p{i}", "prompt": t}) + "\n" for i, t in enumerate(texts)))
    config = tmp_path / "c.yaml"
    config.write_text(f"run: {{name: it, dir: {tmp_path / 'runs'}}}\nprompts: {{t: {prompts}}}\n"
                      "generate: {prompt_sets: [t], generation: {max_new_tokens: 24}, chunk_size: 8}\n"
                      "models: {policy: {ref: 'catalog:smollm2-135m-instruct', batch_size: 8}}\n")
    result = subprocess.run([sys.executable, "-m", "phronesis", "run", str(config), "--quiet"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    stage = tmp_path / "runs" / "it" / "01-generate"
    rows = [json.loads(line) for line in (stage / "answers.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == [f"t/p{i}" for i in range(8)]
    assert all(r["completions"][0].strip() for r in rows)
    arithmetic = next(r for r in rows if "2+2" in r["prompt"])["completions"][0]
    assert "4" in arithmetic  # a real model, not random weights
    manifest = json.loads((stage / "manifest.json").read_text())
    reasons = [reason for r in rows for reason in r["finish_reasons"]]
    assert manifest["counts"]["rows"] == 8
    assert manifest["counts"]["truncation_rate"] == pytest.approx(reasons.count("length") / len(reasons), abs=1e-4)
    assert (stage / "samples.md").read_text().startswith("# generate")
