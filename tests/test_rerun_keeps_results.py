"""A finished stage rerun with an invalid change keeps its previous outputs byte-identical,
whether the change is refused at load, in preflight, or only halfway through the stage."""
from pathlib import Path

import pytest

from phronesis.core.errors import StageError, UserError
from phronesis.pipeline import load_pipeline_config, run_pipeline


class FakeGenerator:
    def generate(self, prompts, params):
        if params.system_prompt == "explode":  # a setting only the running stage can find wrong
            raise StageError("generate: this setting fails halfway")
        return [[f"answer to {p}"] * params.n for p in prompts]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def generate_config(tmp_path, monkeypatch, prompts: str, generate: str) -> Path:
    """A one-stage `generate` run on the fake generator; `generate` holds extra keys of its section."""
    monkeypatch.setattr("phronesis.models.backends.make_generator", lambda spec: FakeGenerator())
    (tmp_path / "p.jsonl").write_text(prompts)
    config = tmp_path / "c.yaml"
    config.write_text(f"run: {{name: t, dir: '{tmp_path}/runs'}}\nprompts: {{s: '{tmp_path}/p.jsonl'}}\n"
                      f"stages: [generate]\ngenerate: {{prompt_sets: [s], {generate}}}\n")
    return config


@pytest.fixture()
def finished(tmp_path, monkeypatch):
    config = generate_config(tmp_path, monkeypatch, '{"id": "a", "prompt": "hello"}\n{"id": "b", "prompt": "bye"}\n',
                             "generation: {max_new_tokens: 4}")
    [outcome] = run_pipeline(load_pipeline_config(config))
    assert (outcome.path / "answers.jsonl").is_file()
    return config, tmp_path / "runs" / "t"


@pytest.mark.parametrize("overrides", [
    ["generate.generation.max_new_tokens=-5"],  # refused when the config loads
    ["stages=[generate, sft]", "sft.trl.max_stepz=3"],  # refused in preflight, before any stage
    ["generate.system_prompt=explode"],  # refused halfway through the rerun
])
def test_an_invalid_rerun_leaves_the_finished_stage_byte_identical(finished, overrides):
    config, root = finished
    before = snapshot(root)
    with pytest.raises(UserError):
        run_pipeline(load_pipeline_config(config, overrides))
    assert snapshot(root) == before
    assert not [p for p in root.iterdir() if p.name.startswith(".")]  # no set-aside copy left behind
    assert run_pipeline(load_pipeline_config(config))[0].skipped  # and it is still up to date


def test_a_failed_first_run_leaves_no_empty_run_or_stage_folder(tmp_path, monkeypatch):
    config = generate_config(tmp_path, monkeypatch, '{"id": "a", "prompt": "hello"}\n', "system_prompt: explode")
    with pytest.raises(StageError):
        run_pipeline(load_pipeline_config(config))
    assert not (tmp_path / "runs" / "t").exists()  # was: runs/t/01-generate/.work/fingerprint
