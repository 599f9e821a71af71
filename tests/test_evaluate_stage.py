"""The `evaluate` stage's config and model wiring, and the CLI's one-line errors (no model is loaded)."""
import json
import subprocess
import sys

import pytest

from phronesis.core.errors import StageError
from phronesis.pipeline import STAGES, PipelineContext, load_pipeline_config
from phronesis.core.runstore import Run
from phronesis.stages.evaluate import stage_model_folder, stage_models


def test_stage_is_registered_and_config_validates(tmp_path):
    assert "evaluate" in STAGES
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("stages: [evaluate]\nevaluate:\n  models: {base: 'catalog:smollm2-135m-instruct'}\n"
                        "  generation: {max_new_tokens: 16}\n")
    cfg = load_pipeline_config(cfg_file)
    assert cfg.evaluate.generation.max_new_tokens == 16 and cfg.evaluate.generation.temperature == 0.0
    cfg_file.write_text("stages: [evaluate]\nevaluate:\n  harmful: builtin:harmful_train\n")
    with pytest.raises(Exception, match="training split"):
        load_pipeline_config(cfg_file)


def test_stage_refs_resolve_to_saved_adapters(tmp_path):
    from types import SimpleNamespace

    run = Run(tmp_path, "r")
    stage_dir = run.stage_path(4, "dpo")
    (stage_dir / "adapter").mkdir(parents=True)
    (stage_dir / "adapter" / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "x"}))
    (stage_dir / "manifest.json").write_text(json.dumps({"status": "complete", "fingerprint": "f"}))
    cfg = STAGES["evaluate"].config(models={"base": "catalog:smollm2-135m-instruct",
                                            "aligned": "stage:dpo@system:constitution"})
    args, inputs = stage_models(cfg, PipelineContext(SimpleNamespace(stages=["a", "b", "c", "dpo", "evaluate"]), run))
    assert args == ["base=catalog:smollm2-135m-instruct", f"aligned={stage_dir / 'adapter'}@system:constitution"]
    assert inputs == {"dpo": stage_dir}
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(StageError, match="no saved model"):
        stage_model_folder(empty)


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "phronesis", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("models, message", [
    (["aligned=catalog:smollm2-135m-instruct"], "no model named 'base'"),
    (["base"], "expected NAME=REF"),
    (["base=catalog:smollm2-135m-instruct@system:/no/such/file"], "no readable file"),
])
def test_cli_errors_are_one_line(tmp_path, models, message):
    done = run_cli("evaluate", "--models", *models, "--out", str(tmp_path / "o"))
    assert done.returncode == 2
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_report_on_a_folder_without_metrics(tmp_path):
    done = run_cli("report", str(tmp_path))
    assert done.returncode == 2 and "no metrics.json" in done.stderr
