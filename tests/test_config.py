import pytest

from phronesis.core.config import apply_overrides
from phronesis.core.errors import ConfigError, DataError
from phronesis.pipeline import load_pipeline_config


def write(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_unknown_key_names_file_key_and_suggestion(tmp_path):
    path = write(tmp_path, "generate:\n  generation: {max_new_tokns: 3}\n")
    with pytest.raises(ConfigError) as exc:
        load_pipeline_config(path)
    msg = str(exc.value)
    assert str(path) in msg and "generate.generation.max_new_tokns" in msg
    assert "generate.generation.max_new_tokens" in msg


def test_wrong_type_names_dotted_key(tmp_path):
    path = write(tmp_path, "generate:\n  generation: {max_new_tokens: lots}\n")
    with pytest.raises(ConfigError, match=r"key generate\.generation\.max_new_tokens: .*integer"):
        load_pipeline_config(path)


def test_malformed_yaml_names_line(tmp_path):
    path = write(tmp_path, "run:\n  name: [unclosed\n")
    with pytest.raises(ConfigError, match=r"line \d+.*malformed YAML"):
        load_pipeline_config(path)


def test_set_override_parses_yaml_values(tmp_path):
    path = write(tmp_path, "prompts: {t: x.jsonl}\ngenerate: {prompt_sets: [t]}\n")
    cfg = load_pipeline_config(path, ["generate.generation.max_new_tokens=17", "generate.generation.temperature=0.5",
                                      "run.seed=3"])
    assert cfg.generate.generation.max_new_tokens == 17 and cfg.generate.generation.temperature == 0.5
    assert cfg.run.seed == 3


def test_override_into_scalar_is_refused():
    with pytest.raises(ConfigError, match="not a mapping"):
        apply_overrides({"run": 3}, ["run.name=x"])


def test_override_without_equals_is_refused():
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        apply_overrides({}, ["generate.max_new_tokens"])


def test_run_name_cannot_escape_runs_dir(tmp_path):
    path = write(tmp_path, "run: {name: ../evil}\n")
    with pytest.raises(ConfigError, match="run.name"):
        load_pipeline_config(path)


def test_unknown_stage_suggests(tmp_path):
    path = write(tmp_path, "stages: [genrate]\n")
    with pytest.raises(ConfigError, match="did you mean 'generate'"):
        load_pipeline_config(path)


def test_prompt_set_reference_must_exist(tmp_path):
    path = write(tmp_path, "generate: {prompt_sets: [nope]}\nprompts: {}\n")
    with pytest.raises(ConfigError, match="nope"):
        load_pipeline_config(path)


def test_bad_model_ref_is_a_config_error(tmp_path):
    path = write(tmp_path, "models: {policy: 'openai:ftp://x'}\n")
    with pytest.raises(ConfigError, match="models.policy"):
        load_pipeline_config(path)


def test_bundled_demo_config_validates():
    cfg = load_pipeline_config(None)
    assert cfg.stages and cfg.run.name == "demo"


@pytest.mark.parametrize("algorithm", ["grpo", "rloo"])
def test_prompt_length_for_trl_algorithms_is_refused_not_ignored(algorithm):
    with pytest.raises(ConfigError, match=rf"key rl: max_prompt_length .* ppo only, not {algorithm}"):
        load_pipeline_config(None, [f"rl.algorithm={algorithm}", "rl.max_prompt_length=128"])
    assert load_pipeline_config(None, ["rl.algorithm=ppo", "rl.max_prompt_length=128"]).rl.max_prompt_length == 128


def test_an_empty_stage_section_means_its_defaults(tmp_path):
    """`critique_revise:` with its keys commented out is YAML null; it was an AttributeError at run time."""
    from phronesis.pipeline import load_pipeline_config, preflight
    from phronesis.stages.critique_revise import CritiqueReviseConfig

    path = tmp_path / "c.yaml"
    path.write_text("prompts: {harmful_train: 'builtin:harmful_train'}\nstages: [critique_revise]\n"
                    "critique_revise:\n  # rounds: 2\n")
    for config in (load_pipeline_config(path), load_pipeline_config(None, ["critique_revise=null"])):
        assert config.critique_revise == CritiqueReviseConfig()
        preflight(config)


def test_an_uncached_hf_model_offline_fails_at_once_with_one_line(monkeypatch):
    import socket
    import time

    from phronesis.core.errors import ModelRefError
    from phronesis.data.modelref import resolve_local_path

    def unreachable(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(socket, "create_connection", unreachable)
    started = time.monotonic()
    with pytest.raises(ModelRefError, match=r"^model ref 'hf:nobody/not-cached': not in the local Hugging Face "
                                            r"cache and the hub cannot be reached") as info:
        resolve_local_path("hf:nobody/not-cached")
    assert "\n" not in str(info.value) and time.monotonic() - started < 5


def test_the_static_pipeline_config_has_one_section_per_registered_stage_and_shared_section():
    """PipelineConfig is written out (readers and IDEs see it); the registry and it must not drift apart."""
    from phronesis.pipeline import SECTIONS, STAGES, PipelineConfig

    sections = set(PipelineConfig.model_fields) - {"run", "models", "prompts", "stages"}
    assert sections == set(STAGES) | set(SECTIONS)
    for name, entry in STAGES.items():
        assert PipelineConfig.model_fields[name].annotation in (entry.config, entry.config.__name__)
    from phronesis.pipeline import load_pipeline_config

    first, second = load_pipeline_config(None), load_pipeline_config(None)
    assert isinstance(first, PipelineConfig)
    first.dpo.data.append("x/y.jsonl")  # a section the demo leaves at its defaults
    assert "x/y.jsonl" not in second.dpo.data  # each config gets its own


def test_an_upstream_output_is_named_stage_colon_and_found_through_this_config(tmp_path):
    from types import SimpleNamespace

    from phronesis.core.errors import StageError
    from phronesis.pipeline import PipelineContext
    from phronesis.training.policy_inputs import resolve_data_file
    from phronesis.core.runstore import Run

    # a reference to a stage that does not run before the reader is refused when the config loads
    later = write(tmp_path, "stages: [sft, dpo]\nsft: {data: ['stage:dpo/sft.jsonl']}\n")
    with pytest.raises(ConfigError, match=r"sft.data\[0\]: 'stage:dpo/sft.jsonl' names no stage listed before 'sft'"):
        load_pipeline_config(later)
    unlisted = write(tmp_path, "stages: [dpo]\ndpo: {data: ['x.jsonl']}\nevaluate: {models: {a: 'stage:sft'}}\n")
    assert load_pipeline_config(unlisted).dpo.data == ["x.jsonl"]  # sections of stages not run are not checked

    run = Run(tmp_path, "r")
    ctx = PipelineContext(SimpleNamespace(stages=["generate", "best_of_n", "sft"]), run)
    (run.root / "01-best_of_n").mkdir()  # another config's folder on disk: this config's best_of_n is 02
    (run.root / "01-best_of_n" / "manifest.json").write_text("{}")
    with pytest.raises(StageError, match="02-best_of_n: stage 'best_of_n' has not finished"):
        ctx.locate("stage:best_of_n/sft.jsonl")
    folder = run.stage_path(2, "best_of_n")
    folder.mkdir()
    (folder / "manifest.json").write_text("{}")
    (folder / "sft.jsonl").write_text('{"messages": []}\n')
    assert ctx.locate("stage:best_of_n/sft.jsonl") == (str(folder / "sft.jsonl"), {"best_of_n": folder})
    assert ctx.locate("stage:best_of_n") == (str(folder), {"best_of_n": folder})
    assert ctx.locate("catalog:smollm2-135m-instruct") == ("catalog:smollm2-135m-instruct", {})
    with pytest.raises(StageError, match="stage 'best_of_n' wrote: manifest.json, sft.jsonl"):
        ctx.locate("stage:best_of_n/preferences.jsonl")
    with pytest.raises(DataError, match="written stage:best_of_n/sft.jsonl"):  # the old STAGE/FILE spelling
        resolve_data_file(ctx, "best_of_n/sft.jsonl")


def test_a_generation_block_keeps_the_stages_own_defaults_for_the_keys_it_leaves_out(tmp_path):
    from phronesis.stages.best_of_n import BestOfNConfig
    from phronesis.stages.critique_revise import CritiqueReviseConfig

    sampled = BestOfNConfig(generation={"max_new_tokens": 8}).generation
    assert (sampled.max_new_tokens, sampled.temperature, sampled.top_p) == (8, 0.8, 0.95)  # not greedy
    steps = CritiqueReviseConfig(generation={"revision": {"max_new_tokens": 12}}).generation
    assert (steps.answer.max_new_tokens, steps.critique.max_new_tokens, steps.revision.max_new_tokens) == (128, 80, 12)
    path = write(tmp_path, "stages: [best_of_n]\nprompts: {harmful_train: x.jsonl, benign_train: y.jsonl}\n"
                           "best_of_n: {generation: {top_p: 0.5}}\n")
    assert load_pipeline_config(path, ["best_of_n.generation.max_new_tokens=9"]).best_of_n.generation.model_dump() == \
        {"max_new_tokens": 9, "temperature": 0.8, "top_p": 0.5}
