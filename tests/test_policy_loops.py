"""Group rewards, the iterate loop's keep/stop decisions, and multi-process training."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from policy_fakes import CharEmbedder

from phronesis.evaluation.sage import sage_score
from phronesis.training.group_rewards import SageConsistencyReward
from phronesis.curation.selection import select_by_decaying_threshold
from phronesis.stages.iterate import IterateStageConfig, LoopParts, iterate_loop


def test_sage_member_rewards_the_consistent_answers_of_a_group():
    answers = ["lying is wrong", "lying is wrong", "lying is wrong", "zzzz qqqq"]
    member = SageConsistencyReward(CharEmbedder())
    scores = member.score_groups([None] * 5, answers + ["alone"], ["g"] * 4 + ["h"])
    assert member.last_group_scores["g"] == pytest.approx(sage_score(answers, CharEmbedder()))
    assert "h" not in member.last_group_scores and scores[4] == 0.0  # a lone answer has no consistency
    assert scores[3] < min(scores[:3])  # the outlier lowers group consistency: lowest marginal reward
    shared = SageConsistencyReward(CharEmbedder(), mode="shared").score_groups([None] * 4, answers, ["g"] * 4)
    assert shared == pytest.approx([member.last_group_scores["g"]] * 4)
    ungrouped = member.score_groups([None] * 4, answers, [None] * 4)  # plain prompts, no paraphrase group
    assert ungrouped == [0.0] * 4 and member.last_group_scores == {}


def fake_parts(metrics, calls):
    """Generation yields rows with fixed scores; each trained policy gets the next metric in `metrics`."""
    values = dict(metrics)

    def generate(policy, number):
        calls.append(("generate", policy, number))
        return [{"id": f"{number}-{i}", "answer": f"a{i}", "group": "g"} for i in range(4)]

    def train(policy, kept, folder):
        calls.append(("train", policy, len(kept)))
        return f"policy-{folder.name}"

    # the real selection (a pure function), so the loop is held to its actual signature
    return LoopParts(generate, lambda rows: [{**r, "score": i / 4} for i, r in enumerate(rows)],
                     select_by_decaying_threshold, train,
                     lambda policy: values[policy])


def test_iterate_keeps_while_better_then_stops_and_resumes(tmp_path):
    metrics = {"base": 0.50, "policy-round-01": 0.60, "policy-round-02": 0.55, "policy-round-03": 0.9}
    calls = []
    cfg = IterateStageConfig(rounds=3, threshold_initial=0.5)
    summary = iterate_loop(tmp_path, "base", fake_parts(metrics, calls), cfg)
    actions = [(d["round"], d["action"], d["metric"]) for d in summary["decisions"]]
    assert actions == [(1, "keep", 0.60), (2, "stop", 0.55)]  # round 3 never runs
    assert summary["best"] == {"policy": "policy-round-01", "metric": 0.60}
    assert ("train", "policy-round-01", 2) in calls  # round 2 started from the kept round-1 model
    saved = json.loads((tmp_path / "round-01" / "decision.json").read_text())
    # scores 0, .25, .5, .75 against 0.5 decaying by 0.9 per row: the last two pass
    assert saved["threshold_trace"] == pytest.approx([0.5, 0.45, 0.405, 0.3645]) and saved["kept_rows"] == 2
    calls.clear()
    again = iterate_loop(tmp_path, "base", fake_parts(metrics, calls), cfg)
    assert calls == [] and again["decisions"] == summary["decisions"]  # finished rounds are not redone


def test_iterate_patience_discards_a_worse_round_and_retries_from_the_best(tmp_path):
    metrics = {"base": 0.50, "policy-round-01": 0.40, "policy-round-02": 0.60, "policy-round-03": 0.55,
               "policy-round-04": 0.58, "policy-round-05": 0.9}
    calls = []
    cfg = IterateStageConfig(rounds=5, patience=2, threshold_initial=0.5)
    summary = iterate_loop(tmp_path, "base", fake_parts(metrics, calls), cfg)
    actions = [(d["round"], d["action"]) for d in summary["decisions"]]
    # a miss with patience left is discarded; a keep resets the count; the second miss in a row stops
    assert actions == [(1, "discard"), (2, "keep"), (3, "discard"), (4, "stop")]
    trained_from = [c[1] for c in calls if c[0] == "train"]
    assert trained_from == ["base", "base", "policy-round-02", "policy-round-02"]
    assert [c[2] for c in calls if c[0] == "generate"] == [1, 2, 3, 4]  # each round draws with its own seed
    assert summary["best"] == {"policy": "policy-round-02", "metric": 0.60}
    calls.clear()
    assert iterate_loop(tmp_path, "base", fake_parts(metrics, calls), cfg)["decisions"] == summary["decisions"]
    assert calls == []  # resuming replays the recorded decisions, patience count included


def test_iterate_stops_when_nothing_passes_threshold(tmp_path):
    calls = []
    summary = iterate_loop(tmp_path, "base", fake_parts({"base": 0.5}, calls), IterateStageConfig(threshold_initial=2.0))
    assert summary["decisions"][0]["action"] == "stop" and summary["best"]["policy"] == "base"
    assert not any(c[0] == "train" for c in calls)


def _run_job(args, env_extra, tmp_path):
    # The child needs the parent's import path too (a venv without an editable install, a GPU image's paths).
    path = os.pathsep.join([str(Path(__file__).parents[1] / "src"), *filter(None, sys.path)])
    env = {**os.environ, "PYTHONPATH": path, **env_extra}
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_sft_under_accelerate_two_cpu_processes_matches_single_process(tiny_model_dir, tmp_path):
    from phronesis.models.lora import load_adapter_tensors

    job = str(Path(__file__).parent / "accelerate_sft_job.py")
    _run_job([sys.executable, job, str(tiny_model_dir), str(tmp_path / "one")], {}, tmp_path)
    _run_job([sys.executable, "-m", "accelerate.commands.launch", "--cpu", "--num_processes", "2",
              "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port",
              "29517", job, str(tiny_model_dir), str(tmp_path / "two")], {"OMP_NUM_THREADS": "1"}, tmp_path)
    one = load_adapter_tensors(tmp_path / "one" / "final")
    two = load_adapter_tensors(tmp_path / "two" / "final")
    assert one.keys() == two.keys()
    assert any(v.abs().sum() > 0 for k, v in one.items() if "lora_B" in k)
    for key in one:
        assert (one[key] - two[key]).abs().max().item() < 1e-4, key


def test_rl_groups_only_paraphrases_and_sage_needs_them():
    from pydantic import ValidationError

    from phronesis.stages.rl import RLStageConfig, prompt_rows

    class Ctx:
        def prompt_rows(self, names):
            return [{"id": "harmful_train/h1", "prompt": "plain request"}]

    rows = prompt_rows(Ctx(), RLStageConfig(paraphrase_groups="builtin:prompts/paraphrase_train.jsonl", max_prompts=None))
    assert rows[0]["group"] is None  # not its own group: SaGE would reward sameness of its samples
    assert {r["group"] for r in rows[1:]} and None not in {r["group"] for r in rows[1:]}
    with pytest.raises(ValidationError, match="paraphrase_groups"):
        RLStageConfig(sage_weight=0.5)


def test_a_knob_rl_names_cannot_be_set_again_in_the_trl_or_ppo_block():
    from phronesis.stages.rl import RLStageConfig

    with pytest.raises(ValueError, match=r"trl.max_steps is set by rl.steps"):
        RLStageConfig(trl={"max_steps": 5})
    with pytest.raises(ValueError, match=r"ppo.kl_coef is set by rl.kl_coef"):
        RLStageConfig(algorithm="ppo", ppo={"kl_coef": 0.1})
    assert RLStageConfig(trl={"warmup_steps": 2}).trl == {"warmup_steps": 2}  # TRL's other fields pass through
    with pytest.raises(ValueError, match=r"trl.temperature is set by rl.generation.temperature"):
        RLStageConfig(trl={"temperature": 0.7})


def test_init_auto_starts_from_this_configs_sft_stage_not_any_folder_on_disk(tmp_path):
    from types import SimpleNamespace

    from phronesis.core.errors import ConfigError, StageError
    from phronesis.pipeline import PipelineContext
    from phronesis.training.policy_inputs import init_inputs
    from phronesis.core.runstore import Run

    run = Run(tmp_path, "r")
    (run.root / "01-sft").mkdir()
    (run.root / "01-sft" / "manifest.json").write_text('{"status": "complete"}')  # left by another config
    ctx = lambda stages: PipelineContext(SimpleNamespace(stages=stages), run)  # noqa: E731
    assert init_inputs(ctx(["dpo", "evaluate"]), "auto") == {}
    assert init_inputs(ctx(["sft", "dpo"]), "auto") == {"sft": run.root / "01-sft"}
    assert init_inputs(ctx(["sft", "dpo"]), "stage:sft") == {"sft": run.root / "01-sft"}  # asked for explicitly
    assert init_inputs(ctx(["sft", "dpo"]), "base") == {}
    with pytest.raises(ConfigError, match="'sft' is not a stage of this config"):
        init_inputs(ctx(["dpo"]), "stage:sft")
    with pytest.raises(StageError, match="02-sft: stage 'sft' has not finished"):  # this config's sft is second
        init_inputs(ctx(["generate", "sft", "dpo"]), "auto")


def test_a_merged_sft_start_is_published_in_the_stage_folder_so_its_adapter_survives_cleaning(
        tiny_model_dir, tmp_path):
    import shutil
    from types import SimpleNamespace

    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from phronesis.data.modelref import ModelSpec
    from phronesis.pipeline import PipelineContext
    from phronesis.training.policy_inputs import starting_model
    from phronesis.core.runstore import Run

    run = Run(tmp_path, "r")
    sft = run.root / "01-sft"
    peft_model = get_peft_model(AutoModelForCausalLM.from_pretrained(str(tiny_model_dir)),
                                LoraConfig(r=2, target_modules="all-linear"))
    peft_model.save_pretrained(sft / "adapter")
    AutoTokenizer.from_pretrained(str(tiny_model_dir)).save_pretrained(sft / "adapter")
    (sft / "manifest.json").write_text('{"status": "complete"}')
    ctx = PipelineContext(SimpleNamespace(stages=["sft", "dpo"], models={"policy": ModelSpec(ref=str(tiny_model_dir))}),
                          run)
    stage = run.root / "02-dpo"
    stage.mkdir()
    start, inputs = starting_model(ctx, "policy", "auto", stage)
    assert start == str((stage / "start_model").resolve()) and inputs == {"sft": sft}
    shutil.rmtree(stage / ".work")  # scratch cleaned: the model a DPO adapter names as its base remains
    assert (stage / "start_model" / "config.json").is_file()
    AutoModelForCausalLM.from_pretrained(start)
