"""Killed runs resume with nothing lost: SIGKILL at seeded random points, rerun, compare."""
import random

import pytest

from kill_harness import kill_when, read_rows, run_cli

N_PROMPTS = 12


def write_config(folder, model_dir, name):
    prompts = folder / "p.jsonl"
    prompts.write_text("".join(f'{{"id": "p{i:02d}", "prompt": "Question number {i} about ' + "word " * i + '"}\n'
                               for i in range(N_PROMPTS)))
    config = folder / f"{name}.yaml"
    config.write_text(f"run: {{name: {name}, dir: '{folder / 'runs'}'}}\nprompts: {{s: '{prompts}'}}\n"
                      f"models: {{policy: {{ref: '{model_dir}', batch_size: 2}}}}\n"
                      "generate: {prompt_sets: [s], generation: {max_new_tokens: 24}, chunk_size: 2}\n")
    return config


@pytest.fixture(scope="module")
def reference(tiny_model_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("ref")
    result = run_cli(["run", str(write_config(folder, tiny_model_dir, "ref")), "--quiet"])
    assert result.returncode == 0, result.stderr
    return read_rows(folder / "runs" / "ref" / "01-generate" / "answers.jsonl")


@pytest.mark.parametrize("seed", range(4))
def test_generate_killed_at_random_point_resumes_identically(seed, tiny_model_dir, tmp_path, reference):
    kill_at = random.Random(seed).randrange(1, N_PROMPTS - 1)
    config = write_config(tmp_path, tiny_model_dir, "k")
    checkpoint = tmp_path / "runs" / "k" / "01-generate" / ".work" / "answers.jsonl"
    killed = kill_when(["run", str(config), "--quiet"], checkpoint, kill_at)
    assert killed, "finished before the kill point"
    assert not (checkpoint.parent.parent / "manifest.json").exists()
    result = run_cli(["run", str(config), "--quiet"])
    assert result.returncode == 0, result.stderr
    rows = read_rows(tmp_path / "runs" / "k" / "01-generate" / "answers.jsonl")
    ids = [r["id"] for r in rows]
    assert ids == [r["id"] for r in reference] and len(set(ids)) == N_PROMPTS
    assert [r["completions"] for r in rows] == [r["completions"] for r in reference]  # greedy: identical text
