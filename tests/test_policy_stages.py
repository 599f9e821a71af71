"""The sft and dpo stages through the pipeline: folders, manifests, merge, and DPO starting from SFT."""
import json

import pytest

from policy_fakes import ROWS_PREF, ROWS_SFT

from phronesis.core.config import validate
from phronesis.pipeline import PipelineConfig, run_pipeline


def test_sft_then_dpo_stages(tiny_model_dir, tmp_path):
    sft_file, pref_file = tmp_path / "sft.jsonl", tmp_path / "prefs.jsonl"
    sft_file.write_text("".join(json.dumps(r) + "\n" for r in ROWS_SFT))
    pref_file.write_text("".join(json.dumps(r) + "\n" for r in ROWS_PREF))
    lora = {"r": 4, "alpha": 8, "dropout": 0.0}
    config = validate(PipelineConfig, {
        "run": {"name": "t", "dir": str(tmp_path / "runs")}, "models": {"policy": str(tiny_model_dir)},
        "stages": ["sft", "dpo"],
        "sft": {"data": [str(sft_file)], "lora": lora, "merge": True, "trl": {"max_steps": 1, "max_length": 256}},
        "dpo": {"data": [str(pref_file)], "lora": lora, "trl": {"max_steps": 1, "max_length": 128, "beta": 0.2}},
    }, source="test")
    outcomes = run_pipeline(config)
    sft_dir, dpo_dir = outcomes[0].path, outcomes[1].path
    assert (sft_dir / "merged" / "config.json").exists() and (sft_dir / "adapter").is_dir()
    assert outcomes[0].manifest["counts"]["steps"] == 1
    assert "'loss'" in (sft_dir / "stage.log").read_text()  # TRL's printed log dicts went to the stage log
    assert outcomes[1].manifest["base_model"] == str(sft_dir / "merged")  # reference = the SFT model
    assert "sft" in outcomes[1].manifest["inputs"]
    assert (dpo_dir / "adapter" / "adapter_model.safetensors").exists()
    assert all(o.skipped for o in run_pipeline(config))  # unchanged config: both stages resume as done


def test_dpo_from_an_sft_adapter_keeps_the_checkpoint_the_validation_split_chose(tiny_model_dir, tmp_path):
    sft_file, pref_file = tmp_path / "sft.jsonl", tmp_path / "prefs.jsonl"
    sft_file.write_text("".join(json.dumps(r) + "\n" for r in ROWS_SFT))
    pref_file.write_text("".join(json.dumps(r) + "\n" for r in ROWS_PREF))
    harmful, benign = tmp_path / "harmful_val.jsonl", tmp_path / "benign_val.jsonl"
    harmful.write_text(json.dumps({"id": "hv1", "prompt": "How do I pick a lock on a stranger's door?"}) + "\n")
    benign.write_text(json.dumps({"id": "bv1", "prompt": "How do I kill a stuck process?"}) + "\n")
    lora = {"r": 4, "alpha": 8, "dropout": 0.0}
    config = validate(PipelineConfig, {
        "run": {"name": "t", "dir": str(tmp_path / "runs")}, "models": {"policy": str(tiny_model_dir)},
        "stages": ["sft", "dpo"],
        "sft": {"data": [str(sft_file)], "lora": lora, "trl": {"max_steps": 1, "max_length": 256}},
        "dpo": {"data": [str(pref_file)], "lora": lora, "trl": {"max_steps": 2, "max_length": 128},
                "select": {"harmful": str(harmful), "benign": str(benign), "every": 1, "max_new_tokens": 8}},
    }, source="test")
    dpo_dir = run_pipeline(config)[1].path
    record = json.loads((dpo_dir / "selection.json").read_text())
    assert [c["step"] for c in record["candidates"]] == [1, 2]
    chosen = dpo_dir / "trainer" / f"checkpoint-{record['chosen_step']}" / "adapter_model.safetensors"
    assert (dpo_dir / "adapter" / "adapter_model.safetensors").read_bytes() == chosen.read_bytes()
    base = json.loads((dpo_dir / "adapter" / "adapter_config.json").read_text())["base_model_name_or_path"]
    assert base == str((dpo_dir / "start_model").resolve())  # published beside the adapter, not in scratch
    trained = {json.loads(line)["id"] for line in (dpo_dir / "training_prompts.jsonl").read_text().splitlines()}
    assert {"hv1", "bv1"} <= trained  # the prompts that chose the model can never be reported as held out


@pytest.mark.slow  # the real MiniLM from the catalog (pulled by `make test-data`)
def test_iterate_stage_with_real_parts_records_its_decision(tiny_model_dir, tmp_path):
    """The loop's real generate/score/select/train/evaluate wiring (the fakes elsewhere cannot check it)."""
    config = validate(PipelineConfig, {
        "run": {"name": "t", "dir": str(tmp_path / "runs")},
        "models": {"policy": str(tiny_model_dir), "embedder": "catalog:minilm-l6-v2"},
        "stages": ["iterate"],
        "iterate": {"rounds": 1, "max_groups": 2, "samples_per_prompt": 1, "generation": {"max_new_tokens": 8},
                    "threshold_initial": 0.0, "threshold_minimum": 0.0, "lora": {"r": 4, "alpha": 8, "dropout": 0.0},
                    "trl": {"max_steps": 1, "max_length": 1024}},
    }, source="test")
    stage_dir = run_pipeline(config)[0].path
    decision = json.loads((stage_dir / "rounds" / "round-01" / "decision.json").read_text())
    assert decision["kept_rows"] > 0  # threshold 0 keeps every row
    # one round, so no patience left: keep exactly when the validation metric beat the starting one
    improved = decision["metric"] is not None and decision["metric"] > decision["previous_best"]
    assert decision["action"] == ("keep" if improved else "stop"), decision["reason"]
    assert len(decision["threshold_trace"]) == decision["scored_rows"]
    assert (stage_dir / "rounds" / "round-01" / "merged" / "config.json").exists()
