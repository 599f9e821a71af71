"""The sft and dpo stages through the pipeline: folders, manifests, merge, and DPO starting from SFT."""
import json

from policy_fakes import ROWS_PREF, ROWS_SFT

from phronesis.config import validate
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
    assert outcomes[1].manifest["base_model"] == str(sft_dir / "merged")  # reference = the SFT model
    assert "sft" in outcomes[1].manifest["inputs"]
    assert (dpo_dir / "adapter" / "adapter_model.safetensors").exists()
    assert all(o.skipped for o in run_pipeline(config))  # unchanged config: both stages resume as done
