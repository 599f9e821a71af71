"""SIGKILL the data stages (critique, virtue dialogues, labelling) and a training stage at seeded points;
the rerun must equal an uninterrupted run: same ids, no duplicates, identical seeded text."""
import json
import random

import pytest

from kill_harness import kill_when, read_rows, run_cli

N = 8


def write_config(folder, model_dir, name, stages):
    prompts = folder / "p.jsonl"
    prompts.write_text("".join(json.dumps({"id": f"h{i}", "prompt": f"How do I hurt person number {i}?",
                                           "principles": ["peace"]}) + "\n" for i in range(N)))
    config = folder / f"{name}.yaml"
    config.write_text(f"""
run: {{name: {name}, dir: '{folder / 'runs'}'}}
models: {{policy: {{ref: '{model_dir}', batch_size: 2}}, judge: {{ref: '{model_dir}'}}}}
prompts: {{s: '{prompts}'}}
stages: {stages}
critique_revise: {{prompt_sets: [s], rounds: 1, few_shot: false, chunk_size: 2,
                  generation: {{answer: {{max_new_tokens: 12, temperature: 1.0}}, critique: {{max_new_tokens: 8, temperature: 1.0}},
                               revision: {{max_new_tokens: 12, temperature: 1.0}}}},
                  filters: {{drop_truncated: false, drop_descriptions: false, max_critique_overlap: 1.0}}}}
virtue_dialogues: {{prompt_sets: [s], generation: {{max_new_tokens: 10}}, chunk_size: 2}}
label_preferences: {{pairs: 'stage:critique_revise/preferences.jsonl', dialogues: 'stage:virtue_dialogues/dialogues.jsonl',
                    chunk_size: 2}}
judge: {{kind: learned, skip_gate: true}}
sft: {{data: ['stage:critique_revise/sft.jsonl'], lora: {{r: 4, alpha: 8}},
      trl: {{max_steps: 6, save_steps: 1, per_device_train_batch_size: 2, max_length: 128, learning_rate: 0.01}}}}
""")
    return config


STAGES = "[critique_revise, virtue_dialogues, label_preferences]"
KILL_POINTS = [("01-critique_revise", "rows"), ("02-virtue_dialogues", "dialogues"), ("03-label_preferences", "cai")]
OUTPUTS = {"01-critique_revise": ["sft.jsonl", "preferences.jsonl", "trace.jsonl"],
           "02-virtue_dialogues": ["dialogues.jsonl"],
           "03-label_preferences": ["preferences.jsonl", "virtue_action.jsonl"]}


@pytest.fixture(scope="module")
def reference(tiny_model_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("ref")
    result = run_cli(["run", str(write_config(folder, tiny_model_dir, "ref", STAGES)), "--quiet"])
    assert result.returncode == 0, result.stderr
    return folder / "runs" / "ref"


def _without_timing(row):
    return {k: v for k, v in row.items() if "second" not in k and "time" not in k}


# Two seeded kill points per stage: early and late (checkpoints are written two rows at a time).
POINTS = [(stage, name, random.Random(i).choice(rows)) for i, (stage, name) in enumerate(KILL_POINTS)
          for rows in ((2, 4), (6,))]


@pytest.mark.slow
@pytest.mark.parametrize("point", POINTS, ids=[f"{p[0]}@{p[2]}" for p in POINTS])
def test_data_stage_killed_mid_run_resumes_identically(point, tiny_model_dir, tmp_path, reference):
    stage, checkpoint_name, kill_at = point
    config = write_config(tmp_path, tiny_model_dir, "k", STAGES)
    checkpoint = tmp_path / "runs" / "k" / stage / ".work" / f"{checkpoint_name}.jsonl"
    assert kill_when(["run", str(config), "--quiet"], checkpoint, kill_at), "finished before the kill point"
    result = run_cli(["run", str(config), "--quiet"])
    assert result.returncode == 0, result.stderr
    for folder, files in OUTPUTS.items():
        for name in files:
            got = read_rows(tmp_path / "runs" / "k" / folder / name)
            want = read_rows(reference / folder / name)
            assert [r["id"] for r in got] == [r["id"] for r in want], (folder, name)
            assert len({r["id"] for r in got}) == len(got)
            assert [_without_timing(r) for r in got] == [_without_timing(r) for r in want], (folder, name)


@pytest.mark.slow
def test_training_stage_killed_mid_run_resumes_from_checkpoint(tiny_model_dir, tmp_path):
    config = write_config(tmp_path, tiny_model_dir, "t", "[critique_revise, sft]")
    trainer = tmp_path / "runs" / "t" / "02-sft" / "trainer"
    proc_args = ["run", str(config), "--quiet"]
    # kill as soon as the second checkpoint folder exists
    marker = trainer / "train_log.jsonl"
    assert kill_when(proc_args, marker, 2, timeout=300), "finished before the kill point"
    checkpoints = sorted(p.name for p in trainer.glob("checkpoint-*"))
    assert checkpoints, "no checkpoint was written before the kill"
    result = run_cli(proc_args)
    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "runs" / "t" / "02-sft" / "manifest.json").read_text())
    assert manifest["counts"].get("resumed_from"), manifest["counts"]  # continued, not restarted
    assert manifest["counts"]["steps"] == 6  # all steps in the adapter, not only those after the checkpoint
    log_steps = [json.loads(line).get("step") for line in (trainer / "train_log.jsonl").read_text().splitlines()]
    assert max(s for s in log_steps if s is not None) == 6
