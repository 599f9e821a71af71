"""The bad-input corpus: every case exits 2 with one line naming the file/key/row, no traceback,
and leaves no partial artifact behind."""
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

GOOD_PROMPTS = '{"id": "a", "prompt": "hello"}\n'


@dataclass
class Case:
    name: str
    config: str | bytes | None = None  # written to c.yaml; "{d}" is replaced by the temp folder
    files: dict[str, str | bytes] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)  # "{c}" = the config path
    expect: str = ""  # substring the one-line error must contain


def cfg(body: str, prompts: str = "p.jsonl") -> str:
    return f"run: {{name: t, dir: '{{d}}/runs'}}\nprompts: {{s: '{{d}}/{prompts}'}}\ngenerate: {{prompt_sets: [s]}}\n" + body


RUN = ["run", "{c}"]
CASES = [
    Case("malformed_yaml", "run: {name: [x\n", args=RUN, expect="malformed YAML"),
    Case("tabs_in_yaml", "run:\n\tname: x\n", args=RUN, expect="malformed YAML"),
    Case("top_level_list", "- a\n- b\n", args=RUN, expect="top level must be a mapping"),
    Case("unknown_top_key", "stagez: [generate]\n", args=RUN, expect="did you mean 'stages'"),
    Case("unknown_nested_key", "generate: {generation: {max_new_tokns: 3}}\n", args=RUN,
         expect="generate.generation.max_new_tokens"),
    Case("unknown_model_key", "models: {policy: {ref: 'catalog:smollm2-135m-instruct', dtyp: x}}\n",
         args=RUN, expect="models.policy.dtyp"),
    Case("wrong_type_int", "generate: {generation: {max_new_tokens: lots}}\n", args=RUN,
         expect="generate.generation.max_new_tokens"),
    Case("wrong_type_float", "generate: {generation: {temperature: hot}}\n", args=RUN,
         expect="generate.generation.temperature"),
    Case("old_flat_generation_key", "generate: {max_new_tokens: 3}\n", args=RUN,
         expect="did you mean 'generate.generation.max_new_tokens'"),
    Case("wrong_type_bool", "models: {policy: {ref: 'catalog:smollm2-135m-instruct', trust_remote_code: maybe}}\n",
         args=RUN, expect="trust_remote_code"),
    Case("bad_literal", "models: {policy: {ref: 'catalog:smollm2-135m-instruct', dtype: float8}}\n",
         args=RUN, expect="models.policy.dtype"),
    Case("config_missing", None, args=["run", "{d}/nope.yaml"], expect="config file not found"),
    Case("config_not_utf8", b"run: {name: \xff\xfe}\n", args=RUN, expect="not UTF-8"),
    Case("set_without_equals", cfg(""), {"p.jsonl": GOOD_PROMPTS}, ["run", "{c}", "--set", "generate.n"], "KEY=VALUE"),
    Case("set_into_scalar", cfg(""), {"p.jsonl": GOOD_PROMPTS}, ["run", "{c}", "--set", "run.name.x=1"], "not a mapping"),
    Case("unknown_stage", "stages: [genrate]\n", args=RUN, expect="did you mean 'generate'"),
    Case("missing_prompt_set", "prompts: {}\ngenerate: {prompt_sets: [nope]}\n", args=RUN, expect="'nope'"),
    Case("empty_prompt_file", cfg(""), {"p.jsonl": ""}, RUN, "p.jsonl: no rows"),
    Case("blank_lines_only", cfg(""), {"p.jsonl": "\n\n\n"}, RUN, "p.jsonl: no rows"),
    Case("missing_column", cfg(""), {"p.jsonl": '{"id": 1, "text": "hi"}\n'}, RUN, "line 1: missing column 'prompt'"),
    Case("non_utf8_prompts", cfg(""), {"p.jsonl": b'{"prompt": "ok"}\n{"prompt": "\xc3\x28"}\n'}, RUN, "line 2: not UTF-8"),
    Case("truncated_json", cfg(""), {"p.jsonl": '{"prompt": "a"}\n{"prompt": "b'}, RUN, "line 2: truncated JSON"),
    Case("invalid_json", cfg(""), {"p.jsonl": '{"prompt": "a"}\n{prompt: b}\n'}, RUN, "line 2: invalid JSON"),
    Case("row_not_object", cfg(""), {"p.jsonl": '["a", "b"]\n'}, RUN, "line 1: expected a JSON object"),
    Case("empty_prompt_text", cfg(""), {"p.jsonl": '{"id": "x", "prompt": "  "}\n'}, RUN, "row 1: column 'prompt' is empty"),
    Case("prompt_not_text", cfg(""), {"p.jsonl": '{"id": "x", "prompt": 5}\n'}, RUN, "row 1: column 'prompt'"),
    Case("duplicate_ids", cfg(""), {"p.jsonl": GOOD_PROMPTS * 2}, RUN, "row 2: duplicate id 'a'"),
    Case("huge_line", cfg(""), {"p.jsonl": '{"prompt": "' + "x" * (17 * 1024 * 1024) + '"}\n'}, RUN, "over the"),
    Case("prompt_file_missing", cfg("", prompts="gone.jsonl"), {}, RUN, "gone.jsonl: file not found"),
    Case("unknown_extension", cfg("", prompts="p.txt"), {"p.txt": "hi"}, RUN, "cannot tell the format"),
    Case("unknown_builtin_set", "prompts: {s: 'builtin:nope'}\ngenerate: {prompt_sets: [s]}\n", args=RUN,
         expect="builtin:nope: no such bundled prompt set"),
    Case("dangling_inverse", cfg("constitution: {path: '{d}/con.yaml'}\n"),
         {"p.jsonl": GOOD_PROMPTS, "con.yaml": "name: x\nprinciples:\n- {id: a, description: d, critique_request: c, "
          "revision_request: r, comparison: q, inverse: ghost}\n"}, RUN, "inverse 'ghost' is not defined"),
    Case("constitution_unknown_key", cfg("constitution: {path: '{d}/con.yaml'}\n"),
         {"p.jsonl": GOOD_PROMPTS, "con.yaml": "name: x\nprinciples:\n- {id: a, description: d, critique_request: c, "
          "revision_request: r, comparison: q, weigth: 2}\n"}, RUN, "principles.0.weigth"),
    Case("incomplete_inversion", cfg("constitution: {path: '{d}/con.yaml', invert: true}\n"),
         {"p.jsonl": GOOD_PROMPTS, "con.yaml": "name: x\nprinciples:\n- {id: a, description: d, critique_request: c, "
          "revision_request: r, comparison: q}\n"}, RUN, "cannot invert, principle 'a'"),
    Case("model_folder_missing", cfg("models: {policy: '{d}/no-model'}\n"), {"p.jsonl": GOOD_PROMPTS}, RUN,
         "no such folder"),
    Case("adapter_folder_missing", cfg("models: {policy: {ref: 'catalog:smollm2-135m-instruct', adapter: '{d}/no'}}\n"),
         {"p.jsonl": GOOD_PROMPTS}, RUN, "models.policy"),
    Case("unknown_catalog_model", cfg("models: {policy: 'catalog:smollm3'}\n"), {"p.jsonl": GOOD_PROMPTS}, RUN,
         "catalog:smollm3: no such catalog model"),
    Case("malformed_openai_ref", "models: {policy: 'openai:ftp://x#m'}\n", args=RUN, expect="openai:http"),
    Case("malformed_hf_ref", "models: {policy: 'hf:noslash'}\n", args=RUN, expect="hf:ORG/NAME"),
    Case("run_name_escapes", "run: {name: ../escape}\n", args=RUN, expect="run.name"),
    Case("run_dir_unwritable", cfg("").replace("'{d}/runs'", "'{d}/p.jsonl/runs'"), {"p.jsonl": GOOD_PROMPTS}, RUN,
         "cannot create run folder"),
    Case("pull_unknown_model", None, args=["models", "pull", "gpt5"], expect="no such catalog model"),
    # issue 17: each of these was a traceback, a silent exit 0, or a late failure
    Case("only_unknown_stage", cfg(""), {"p.jsonl": GOOD_PROMPTS}, [*RUN, "--only", "nope"], "--only 'nope'"),
    Case("only_typo", cfg(""), {"p.jsonl": GOOD_PROMPTS}, [*RUN, "--only", "generat"], "did you mean 'generate'"),
    Case("only_stage_not_configured", cfg(""), {"p.jsonl": GOOD_PROMPTS}, [*RUN, "--only", "sft"],
         "not a stage of this config"),
    Case("all_principles_inverted", cfg("constitution: {path: '{d}/con.yaml'}\n"),
         {"p.jsonl": GOOD_PROMPTS, "con.yaml": "name: x\nprinciples:\n- {id: a, description: d, critique_request: c, "
          "revision_request: r, comparison: q, tags: [inverted]}\n"}, RUN, "every principle is tagged 'inverted'"),
    Case("prompt_limit_zero", cfg("").replace("{s: '{d}/p.jsonl'}", "{s: {source: '{d}/p.jsonl', limit: 0}}"),
         {"p.jsonl": GOOD_PROMPTS}, RUN, "prompts.s.limit"),
    Case("prompt_limit_negative", cfg("").replace("{s: '{d}/p.jsonl'}", "{s: {source: '{d}/p.jsonl'}}"),
         {"p.jsonl": GOOD_PROMPTS}, [*RUN, "--set", "prompts.s.limit=-2"], "prompts.s.limit"),
    Case("max_train_rows_negative", cfg("train_reward: {max_train_rows: -1}\n"), {"p.jsonl": GOOD_PROMPTS}, RUN,
         "train_reward.max_train_rows"),
    Case("trl_unknown_key", cfg("stages: [generate, sft]\nsft: {data: ['stage:generate/answers.jsonl'], "
                                "trl: {max_stepz: 3}}\n"), {"p.jsonl": GOOD_PROMPTS},
         RUN, "sft.trl.max_stepz: not a field of trl.SFTConfig; did you mean 'max_steps'"),
    Case("trl_negative_max_steps", cfg("stages: [generate, dpo]\ndpo: {data: ['{d}/p.jsonl'], trl: {max_steps: -5}}\n"),
         {"p.jsonl": GOOD_PROMPTS}, RUN, "dpo.trl.max_steps"),
    Case("upstream_stage_not_in_config", cfg("stages: [generate, sft]\n"), {"p.jsonl": GOOD_PROMPTS}, RUN,
         "sft.data[0]: 'stage:critique_revise/sft.jsonl' names no stage listed before 'sft'"),
    Case("policy_folder_not_a_model", cfg("models: {policy: '{d}/notes'}\n"),
         {"p.jsonl": GOOD_PROMPTS, "notes/readme.txt": "not weights"}, RUN, "not a model folder"),
    Case("api_key_env_holds_a_key", cfg("models: {policy: {ref: 'openai:http://127.0.0.1:9/v1#m', "
                                        "api_key_env: sk-abcdef0123456789}}\n"), {"p.jsonl": GOOD_PROMPTS}, RUN,
         "models.policy.api_key_env"),
    Case("csv_unclosed_quote", cfg("", prompts="p.csv"), {"p.csv": 'id,prompt\na,"hello\nb,bye\n'}, RUN,
         "p.csv: line 2: malformed CSV"),
    Case("csv_extra_field", cfg("", prompts="p.csv"), {"p.csv": "id,prompt\na,hello\nb,bye,extra\n"}, RUN,
         "p.csv: line 3: 3 fields, the header has 2"),
    Case("evaluate_out_is_a_file", None, {"out.txt": "keep me"},
         ["evaluate", "--models", "base=catalog:smollm2-135m-instruct", "--out", "{d}/out.txt"], "exists and is not a folder"),
    Case("report_metrics_without_metrics", None, {"ev/metrics.json": '{"base": "base", "models": {}}'},
         ["report", "{d}/ev"], "missing or malformed 'metrics'"),
    Case("compare_metrics_without_metrics", None, {"ev/metrics.json": '{"base": "base", "models": {}}'},
         ["compare", "{d}/ev", "{d}/ev"], "missing or malformed 'metrics'"),
    Case("serve_port_out_of_range", None, args=["serve", "{d}/no-model", "--port", "99999"], expect="--port 99999"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_exits_2_with_one_line(case: Case, tmp_path: Path):
    d = str(tmp_path)
    for name, content in case.files.items():
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content if isinstance(content, bytes) else content.replace("{d}", d).encode())
    config = tmp_path / "c.yaml"
    if case.config is not None:
        config.write_bytes(case.config if isinstance(case.config, bytes) else case.config.replace("{d}", d).encode())
    args = [a.replace("{c}", str(config)).replace("{d}", d) for a in case.args]
    before = snapshot(tmp_path)
    result = subprocess.run([sys.executable, "-m", "phronesis", *args], capture_output=True, text=True,
                            stdin=subprocess.DEVNULL, timeout=120)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    assert case.expect in lines[0], lines[0]
    assert snapshot(tmp_path) == before  # nothing deleted, changed or half-written
    runs = tmp_path / "runs"
    leftovers = list(runs.rglob("*")) if runs.exists() else []  # not even an empty run folder
    assert not leftovers, leftovers


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_corpus_is_large_enough():
    assert len(CASES) >= 50


@pytest.mark.parametrize("override, key", [("evaluate.generation.max_new_tokens=-5", "max_new_tokens"),
                                           ("rl.num_generations=0", "num_generations"),
                                           ("best_of_n.n=0", "n")])
def test_out_of_range_numbers_are_refused_before_any_stage_runs(override, key):
    from phronesis.core.errors import ConfigError
    from phronesis.pipeline import load_pipeline_config

    with pytest.raises(ConfigError, match=key):
        load_pipeline_config(None, [override])


def test_ctrl_c_in_a_command_says_how_to_resume(monkeypatch, capsys):
    """Typer converted KeyboardInterrupt into a silent exit 130 before main() could print the hint."""
    from phronesis import cli

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("phronesis.pipeline.load_pipeline_config", interrupted)
    monkeypatch.setattr(sys, "argv", ["phronesis", "validate", "c.yaml"])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert exit_info.value.code == 130
    assert capsys.readouterr().err.strip() == "interrupted; rerun the same command to resume"
