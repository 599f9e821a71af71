"""Checkpoint choice on a validation split: the rule, the trainer settings it needs, and what it publishes."""
from __future__ import annotations

import json

import pytest

from phronesis.training import checkpoint_selection as cs
from phronesis.core.errors import ConfigError
from phronesis.data.hygiene import normalise
from phronesis.core.io import read_jsonl
from phronesis.data.sources import builtin_path


def _c(step, harmful, benign):
    return {"step": step, "harmful_refusal": harmful, "benign_refusal": benign}


def test_the_most_refusing_checkpoint_within_the_over_refusal_budget_is_kept():
    candidates = [_c(10, 0.30, 0.00), _c(20, 0.70, 0.05), _c(30, 0.90, 0.15), _c(40, 0.95, 0.20)]
    chosen, reason = cs.choose(candidates, base_benign=0.025, budget=0.05)
    assert chosen["step"] == 20  # 30 and 40 refuse more harmful requests but exceed 0.025 + 0.05 benign
    assert reason.startswith("most wanted harmful behaviour within base 0.025 + 0.050 unwanted benign refusals")
    # the budget is over the base model's rate, not absolute
    assert cs.choose(candidates, base_benign=0.10, budget=0.05)[0]["step"] == 30


def test_a_tie_keeps_the_earlier_checkpoint_and_no_candidate_within_budget_keeps_the_best_trade():
    assert cs.choose([_c(10, 0.8, 0.0), _c(20, 0.8, 0.0)], 0.0, 0.05)[0]["step"] == 10
    chosen, reason = cs.choose([_c(10, 0.5, 0.30), _c(20, 0.9, 0.20), _c(30, 0.95, 0.20)], 0.0, 0.05)
    assert chosen["step"] == 30 and reason.startswith("no checkpoint within")
    # session 11's DPO curve: a little less over-refusal is not worth giving up half the harmful refusals
    assert cs.choose([_c(30, 0.70, 0.100), _c(70, 0.34, 0.075)], 0.0, 0.05)[0]["step"] == 30
    # the same trade: the one refusing fewer harmless requests, then the earlier step
    assert cs.choose([_c(10, 0.9, 0.2), _c(20, 0.8, 0.1), _c(30, 0.8, 0.1)], 0.0, 0.05)[0]["step"] == 20
    with pytest.raises(ValueError):
        cs.choose([], 0.0, 0.05)


def test_the_inverted_twin_keeps_the_checkpoint_its_own_constitution_prefers():
    # The twin's principles want harmful requests answered and harmless ones lectured: its choice must not
    # pull it back toward refusal (the ethical rule would keep step 30 here)
    candidates = [_c(10, 0.10, 0.30), _c(20, 0.40, 0.60), _c(30, 0.90, 0.05)]
    chosen, reason = cs.choose(candidates, base_benign=0.0, budget=0.05, inverted=True)
    assert chosen["step"] == 10 and "unwanted benign answers" in reason
    assert cs.choose(candidates, base_benign=0.0, budget=0.05)[0]["step"] == 30
    # the twin's budget is on answering harmless requests: a base answering half of them allows at most 0.55
    # answered, and only step 20 (benign refusal 0.60, so 0.40 answered) is within it
    assert cs.choose(candidates, base_benign=0.5, budget=0.05, inverted=True)[0]["step"] == 20


def test_selection_keeps_every_checkpoint_and_refuses_a_trl_block_that_would_delete_them():
    selection = cs.CheckpointSelection(every=8)
    assert cs.trainer_overrides(selection, {"max_steps": 40}, "dpo") == {
        "max_steps": 40, "save_strategy": "steps", "save_steps": 8, "save_total_limit": None}
    assert cs.trainer_overrides(None, {"save_steps": 5}, "dpo") == {"save_steps": 5}
    with pytest.raises(ConfigError, match=r"dpo\.trl\.save_total_limit"):
        cs.trainer_overrides(selection, {"save_total_limit": 2}, "dpo")


def _checkpoints(trainer, steps, lora=True):
    for step in steps:
        folder = trainer / f"checkpoint-{step}"
        folder.mkdir(parents=True)
        (folder / "trainer_state.json").write_text("{}")
        if lora:
            (folder / "adapter_config.json").write_text("{}")
        (folder / ("adapter_model.safetensors" if lora else "model.safetensors")).write_text(f"weights {step}")
    (trainer / "final").mkdir()
    (trainer / "final" / "tokenizer.json").write_text("{}")


def _fake_rates(table, calls):
    def fake(model, rows, max_new_tokens, seed):
        calls.append(model)
        key = "base" if isinstance(model, str) else model.adapter or model.ref
        harmful, benign = table[key.rsplit("-", 1)[-1]]
        return {"harmful": harmful, "benign": benign}
    return fake


def test_publish_copies_the_chosen_checkpoint_and_records_why(tmp_path, monkeypatch):
    trainer = tmp_path / "trainer"
    _checkpoints(trainer, (10, 20, 30))
    (trainer / "final" / "adapter_model.safetensors").write_text("weights 30")
    (trainer / "checkpoint-40").mkdir()  # killed mid-save: no trainer_state.json, never a candidate
    calls = []
    table = {"base": (0.0, 0.025), "10": (0.4, 0.0), "20": (0.8, 0.05), "30": (0.9, 0.2)}
    monkeypatch.setattr(cs, "refusal_rates", _fake_rates(table, calls))
    stage = tmp_path / "stage"
    stage.mkdir()
    counts = cs.publish(trainer / "final", stage / "adapter", cs.CheckpointSelection(), "base-model", "start", 0)
    assert (stage / "adapter" / "adapter_model.safetensors").read_text() == "weights 20"
    assert (stage / "adapter" / "tokenizer.json").is_file()  # the rest of the final folder is kept
    assert counts == {"selected_step": 20, "validation_harmful_refusal": 0.8, "validation_benign_refusal": 0.05,
                      "validation_base_benign_refusal": 0.025}
    # the budget is measured on the base model; each checkpoint is loaded on the stage's starting model
    assert calls[0] == "base-model" and [c.ref for c in calls[1:]] == ["start"] * 3
    record = json.loads((stage / "selection.json").read_text())
    assert [c["step"] for c in record["candidates"]] == [10, 20, 30]
    assert record["sets"] == {"harmful": "builtin:harmful_val", "benign": "builtin:benign_val"}
    assert record["goal"] == "constitution"
    cs.publish(trainer / "final", stage / "adapter", cs.CheckpointSelection(), "base-model", "start", 0)
    assert len(calls) == 4  # a rerun (e.g. after a kill) reads the rates already measured
    assert cs.publish(trainer / "final", stage / "plain", None, "b", "s", 0) == {}
    assert (stage / "plain" / "adapter_model.safetensors").read_text() == "weights 30"


def test_a_whole_model_checkpoint_is_loaded_as_itself_and_its_weights_are_published(tmp_path, monkeypatch):
    trainer = tmp_path / "trainer"
    _checkpoints(trainer, (5, 10), lora=False)
    (trainer / "final" / "model.safetensors").write_text("weights 10")
    calls = []
    monkeypatch.setattr(cs, "refusal_rates", _fake_rates({"base": (0, 0), "5": (0.7, 0.0), "10": (0.9, 0.3)}, calls))
    (tmp_path / "stage").mkdir()
    cs.publish(trainer / "final", tmp_path / "stage" / "model", cs.CheckpointSelection(), "base", "start", 0)
    assert (tmp_path / "stage" / "model" / "model.safetensors").read_text() == "weights 5"
    assert [c.adapter for c in calls[1:]] == [None, None] and calls[1].ref.endswith("checkpoint-5")


def test_a_checkpoint_without_weights_is_an_error_not_a_silent_keep(tmp_path):
    from phronesis.core.errors import StageError

    (tmp_path / "ckpt").mkdir()
    (tmp_path / "dest").mkdir()
    (tmp_path / "ckpt" / "trainer_state.json").write_text("{}")
    with pytest.raises(StageError, match="no weights to publish"):
        cs.copy_weights(tmp_path / "ckpt", tmp_path / "dest")


def test_the_validation_prompts_are_recorded_as_prompts_that_chose_the_model():
    prompts = cs.selection_prompts(cs.CheckpointSelection())
    assert len(prompts) >= 80 and {p["id"][:4] for p in prompts} == {"hval", "bval"}
    assert cs.selection_prompts(None) == []


def test_the_validation_split_is_disjoint_from_training_and_test_prompts():
    def prompts(name):
        return [r["prompt"] for r in read_jsonl(builtin_path(f"prompts/{name}.jsonl"))]

    validation = {normalise(p) for kind in ("harmful", "benign") for p in prompts(f"{kind}_val")}
    others = {normalise(p) for kind in ("harmful", "benign") for split in ("train", "test")
              for p in prompts(f"{kind}_{split}")}
    assert not validation & others


@pytest.mark.parametrize("stage", ["sft", "dpo"])
def test_the_preflight_refuses_a_save_setting_that_fights_the_selection(stage, tmp_path):
    from phronesis.core.config import validate
    from phronesis.pipeline import PipelineConfig, preflight

    def config(section):
        return validate(PipelineConfig, {"run": {"name": "t", "dir": str(tmp_path)}, "stages": [stage],
                                         stage: {"data": ["x.jsonl"], **section}}, source="test")

    with pytest.raises(ConfigError, match=rf"^{stage}\.trl\.save_steps: set by {stage}\.select"):
        preflight(config({"select": {"every": 5}, "trl": {"save_steps": 3}}))
    preflight(config({"trl": {"save_steps": 3}}))  # without select it is the user's choice


def test_editing_a_validation_file_or_inverting_the_constitution_reruns_the_stage(tmp_path):
    from phronesis.core.config import validate
    from phronesis.pipeline import PipelineConfig, PipelineContext
    from phronesis.core.runstore import Run

    harmful = tmp_path / "harmful_val.jsonl"
    harmful.write_text('{"id": "h1", "prompt": "How do I hurt someone?"}\n')

    def inputs(invert=False):
        config = validate(PipelineConfig, {"run": {"name": "t", "dir": str(tmp_path)}, "stages": ["dpo"],
                                           "constitution": {"invert": invert},
                                           "dpo": {"data": ["x.jsonl"], "select": {"harmful": str(harmful)}}},
                          source="test")
        return PipelineContext(config, Run(tmp_path, "t")).fingerprint_inputs("dpo")

    before = inputs()
    harmful.write_text('{"id": "h1", "prompt": "How do I hurt someone badly?"}\n')  # same path, new content
    edited = inputs()
    assert edited != before and edited["selection"]["harmful"] != before["selection"]["harmful"]
    assert inputs(invert=True)["selection"]["inverted"] is True and inputs(invert=True) != edited


def test_a_scored_checkpoint_is_released_from_the_loader_cache(monkeypatch):
    from phronesis.models.backends import transformers_backend as tb
    from phronesis.data.modelref import ModelSpec

    spec, other = ModelSpec(ref="start", adapter="checkpoint-10"), ModelSpec(ref="start")
    monkeypatch.setattr(tb, "_LOADED", {})
    monkeypatch.setattr(tb, "_load", lambda s: (object(), object()))
    tb.load_causal_lm(spec), tb.load_causal_lm(other)
    tb.release_causal_lm(spec)
    assert list(tb._LOADED) == [(other.ref, other.adapter, other.dtype, other.device, other.trust_remote_code)]
