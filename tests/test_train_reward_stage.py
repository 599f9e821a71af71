"""Stage train_reward: pure core with a fake trainer, then the real stage on the tiny model; rm-eval CLI."""
import json

import pytest
from typer.testing import CliRunner

from phronesis.core.errors import ConfigError
from phronesis.core.io import atomic_write_jsonl
from phronesis.data.records import preference_row
from phronesis.stages.train_reward import (PreferenceSetSpec, TrainRewardConfig, normalise_rows, split_heldout,
                                           train_sets)


def _rows(n, prefix="r"):
    return [preference_row(f"{prefix}{i}", f"question {i}", "Use the kill command.", "I cannot help.",
                           p_chosen=0.8) for i in range(n)]


def test_heldout_split_is_seeded_and_disjoint():
    rows = _rows(20)
    train, held = split_heldout(rows, 0.25, seed=3)
    assert len(held) == 5 and len(train) == 15
    assert not {r["id"] for r in train} & {r["id"] for r in held}
    assert split_heldout(rows, 0.25, seed=3) == (train, held)
    assert split_heldout(rows, 0.25, seed=4)[1] != held


def test_undecided_rows_are_skipped_and_strings_become_messages():
    rows, skipped = normalise_rows([{"id": 1, "prompt": "q", "chosen": "a", "rejected": "b"},
                                    {"id": 2, "prompt": "q", "chosen": None, "rejected": "b"}], "f")
    assert skipped == 1 and rows[0]["prompt"] == [{"role": "user", "content": "q"}]


def test_set_spec_takes_one_file_reference():
    with pytest.raises(ValueError):
        PreferenceSetSpec(name="x")
    with pytest.raises(ValueError, match="stage"):  # the old `{stage, file}` spelling is refused, not ignored
        PreferenceSetSpec(name="x", stage="label_preferences", data="f.jsonl")


def test_train_sets_calls_trainer_per_set_and_resumes_finished_sets(tmp_path):
    calls = []

    def fake_train(base, train, heldout, out_dir, lora, trl, **kw):
        calls.append((out_dir.name, len(train), len(heldout), trl))
        return {"steps": 1, "eval_accuracy": 0.5}

    cfg = TrainRewardConfig(sets=[{"name": "a", "data": "x"}, {"name": "b", "data": "y"}],
                            heldout_fraction=0.2, max_train_rows=6, trl={"max_steps": 7})
    sets = {"a": _rows(10, "a"), "b": _rows(5, "b")}
    out = train_sets(sets, "base", "base", tmp_path, tmp_path / ".work", cfg, 0, fake_train)
    assert calls == [("a", 6, 2, {"max_steps": 7}), ("b", 4, 1, {"max_steps": 7})]
    assert len(out["a"]["heldout_ids"]) == 2
    train_sets(sets, "base", "base", tmp_path, tmp_path / ".work", cfg, 0, fake_train)
    assert len(calls) == 2  # both sets were finished: nothing retrained


def test_a_set_that_cannot_train_is_named_in_the_error(tmp_path):
    from phronesis.core.errors import DataError

    def fake_train(base, train, heldout, out_dir, lora, trl, **kw):
        if out_dir.name == "b":
            raise DataError("reward training: all 4 pairs exceed max_length=256")
        return {"steps": 1}

    cfg = TrainRewardConfig(sets=[{"name": "a", "data": "x"}, {"name": "b", "data": "y"}])
    with pytest.raises(DataError, match=r"^train_reward: set 'b': reward training: all 4 pairs exceed"):
        train_sets({"a": _rows(5, "a"), "b": _rows(5, "b")}, "base", "base", tmp_path, tmp_path / ".work", cfg, 0,
                   fake_train)
    assert (tmp_path / "a" / "train_summary.json").exists()  # the set that trained is kept for the rerun


def test_killed_training_resumes_from_its_checkpoint(tiny_model_dir, tmp_path):
    from phronesis.training.trl_adapter import train_reward_model

    trl = {"per_device_train_batch_size": 4, "save_steps": 1, "eval_strategy": "no"}
    first = train_reward_model(str(tiny_model_dir), _rows(8), [], tmp_path / "rm", trl_overrides={**trl, "max_steps": 2},
                               work_dir=tmp_path / "work")
    assert first["resumed_from"] is None and first["steps"] == 2
    second = train_reward_model(str(tiny_model_dir), _rows(8), [], tmp_path / "rm",
                                trl_overrides={**trl, "max_steps": 3}, work_dir=tmp_path / "work")
    assert second["resumed_from"].endswith("checkpoint-2") and second["steps"] == 3
    # the timing covers the one step this process ran, not all three
    assert second["seconds_per_step"] == pytest.approx(second["train_seconds"], abs=0.01)


def test_heldout_pairs_that_all_exceed_max_length_leave_training_without_eval(tiny_model_dir, tmp_path):
    from phronesis.training.trl_adapter import train_reward_model

    long_answer = "This answer goes on and on. " * 40
    too_long = [preference_row(f"h{i}", "q", long_answer, long_answer + "more", p_chosen=0.8) for i in range(2)]
    summary = train_reward_model(str(tiny_model_dir), _rows(4), too_long, tmp_path / "rm", work_dir=tmp_path / "w",
                                 trl_overrides={"max_steps": 1, "per_device_train_batch_size": 4, "max_length": 64})
    assert summary["steps"] == 1 and summary["eval_accuracy"] is None
    assert summary["eval_kept"] == 0 and summary["eval_dropped_too_long"] == 2


def test_unknown_trl_key_is_a_one_line_config_error(tiny_model_dir, tmp_path):
    from phronesis.training.trl_adapter import train_reward_model

    with pytest.raises(ConfigError, match="train_reward.trl"):
        train_reward_model(str(tiny_model_dir), _rows(2), [], tmp_path, trl_overrides={"max_seq_length": 9})


def test_stage_writes_adapters_and_an_ensemble_then_rm_eval_reads_it(tiny_model_dir, tmp_path):
    from phronesis.cli import app
    from phronesis.pipeline import PipelineConfig, run_pipeline
    from phronesis.rewards import EnsembleRewardModel, load_reward_model

    for name in ("action", "motivation"):
        atomic_write_jsonl(tmp_path / f"{name}.jsonl", _rows(10, name))
    config = PipelineConfig.model_validate({
        "run": {"name": "t", "dir": str(tmp_path / "runs")}, "models": {"policy": str(tiny_model_dir)},
        "stages": ["train_reward"],
        "train_reward": {"sets": [{"name": "action", "data": str(tmp_path / "action.jsonl")},
                                  {"name": "motivation", "data": str(tmp_path / "motivation.jsonl")}],
                         "min_calibration": 8,  # 2 sets x 2 held-out pairs x (chosen, rejected)
                         "trl": {"max_steps": 2, "per_device_train_batch_size": 4, "eval_steps": 2}}})
    outcome = run_pipeline(config)[0]
    spec = json.loads((outcome.path / "ensemble.json").read_text())
    assert [m["name"] for m in spec["members"]] == ["action", "motivation"]
    assert set(spec["normalisation"]) == {"action", "motivation"}
    assert spec["normalisation"]["action"]["n"] == 8  # fitted on every member's held-out completions
    assert outcome.manifest["counts"]["action"]["train_kept"] == 8
    ensemble = load_reward_model(outcome.path)
    assert isinstance(ensemble, EnsembleRewardModel) and len(ensemble.score(["q"], ["a"])) == 1
    assert run_pipeline(config)[0].skipped

    result = CliRunner().invoke(app, ["rm-eval", "--reward", str(outcome.path), "--pairs",
                                      str(tmp_path / "action.jsonl"), "--json", str(tmp_path / "m.json"), "-q"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["pairs"] == 10 and set(metrics["members"]) == {"action", "motivation"}
    assert metrics["length_baseline_accuracy"] == 1.0  # "Use the kill command." is longer than "I cannot help."


def test_too_few_held_out_completions_to_fit_z_scores_stop_the_stage(tmp_path):
    from phronesis.core.errors import StageError
    from phronesis.stages.train_reward import calibrate_and_save

    cfg = TrainRewardConfig(sets=[{"name": "a", "data": "a.jsonl"}])
    with pytest.raises(StageError, match="10 held-out completions.*min_calibration is 32"):
        calibrate_and_save(tmp_path, ["a"], cfg, ["q"] * 10, ["x"] * 10, lambda paths: {})
    assert not (tmp_path / "ensemble.json").exists()
