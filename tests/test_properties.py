"""Property-based tests: loaders either return clean rows or raise a one-line UserError, nothing else."""
import json
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phronesis.core.config import apply_overrides, read_yaml, validate
from phronesis.core.errors import ConfigError, DataError, UserError
from phronesis.core.io import read_jsonl
from phronesis.pipeline import PipelineConfig
from phronesis.data.sources import PromptSetSpec, load_prompts

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
keys = st.text(alphabet=string.ascii_lowercase + "_", min_size=1, max_size=12)
scalars = st.one_of(st.integers(-5, 5), st.floats(allow_nan=False, allow_infinity=False), st.booleans(),
                    st.text(max_size=8), st.none())


@SETTINGS
@given(st.binary(max_size=400))
def test_read_jsonl_never_crashes_on_arbitrary_bytes(tmp_path, blob):
    path = tmp_path / "x.jsonl"
    path.write_bytes(blob)
    try:
        rows = read_jsonl(path)
    except DataError as exc:
        assert str(path) in str(exc) and "\n" not in str(exc)
    else:
        assert rows and all(isinstance(r, dict) for r in rows)


@SETTINGS
@given(st.lists(st.dictionaries(st.sampled_from(["id", "prompt", "x"]), scalars, max_size=3), max_size=6))
def test_load_prompts_returns_unique_text_rows_or_data_error(tmp_path, rows):
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    try:
        out = load_prompts(PromptSetSpec(source=str(path)))
    except DataError as exc:
        assert "\n" not in str(exc)
    else:
        assert len({r["id"] for r in out}) == len(out) == len(rows)
        assert all(isinstance(r["prompt"], str) and r["prompt"].strip() for r in out)


@SETTINGS
@given(st.dictionaries(keys, st.one_of(scalars, st.dictionaries(keys, scalars, max_size=3)), max_size=5))
def test_pipeline_config_accepts_or_names_the_problem(data):
    try:
        cfg = validate(PipelineConfig, data, source="c.yaml")
    except ConfigError as exc:
        message = str(exc)
        assert message.startswith("c.yaml: ") and "\n" not in message
    else:
        assert cfg.run.name


@SETTINGS
@given(st.lists(keys, min_size=1, max_size=4), st.one_of(st.integers(), st.booleans(), st.text(alphabet=string.ascii_letters, min_size=1, max_size=6)))
def test_override_sets_exactly_the_dotted_key(path, value):
    data = apply_overrides({}, [f"{'.'.join(path)}={json.dumps(value) if isinstance(value, str) else str(value).lower()}"])
    node = data
    for part in path:
        node = node[part]
    assert node == value


@SETTINGS
@given(st.text(max_size=200))
def test_read_yaml_on_arbitrary_text_is_mapping_or_config_error(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        data = read_yaml(path)
    except UserError as exc:
        assert str(path) in str(exc)
    else:
        assert isinstance(data, dict)
