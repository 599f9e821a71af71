"""Nothing unsafe is loaded: safetensors only, no remote code by default, configs never execute."""
import re
from pathlib import Path

import pytest

from phronesis.models.backends.transformers_backend import load_causal_lm
from phronesis.core.config import read_yaml
from phronesis.core.errors import ConfigError, ModelRefError
from phronesis.data.modelref import ModelSpec

SRC = Path(__file__).resolve().parents[1] / "src" / "phronesis"


def test_source_never_unpickles_or_executes_untrusted_input():
    offenders = []
    for path in SRC.rglob("*.py"):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            code = line.split("#")[0]
            unsafe_torch_load = "torch.load(" in code and "weights_only=True" not in code
            if re.search(r"\bpickle\.loads?\(|(?<![.\w])eval\(|(?<![.\w])exec\(|yaml\.load\(|yaml\.unsafe_load", code) \
                    or unsafe_torch_load or "trust_remote_code=True" in code:
                offenders.append(f"{path.relative_to(SRC)}:{number}: {line.strip()}")
    assert not offenders, offenders


def test_yaml_python_tags_are_refused_not_executed(tmp_path):
    marker = tmp_path / "pwned"
    config = tmp_path / "c.yaml"
    config.write_text(f'run: !!python/object/apply:os.system ["touch {marker}"]\n')
    with pytest.raises(ConfigError, match="malformed YAML"):
        read_yaml(config)
    assert not marker.exists()


def test_remote_code_is_off_unless_asked_per_model():
    assert ModelSpec(ref="hf:org/name").trust_remote_code is False
    assert ModelSpec(ref="hf:org/name", trust_remote_code=True).trust_remote_code is True


def test_pickle_weights_are_refused(tmp_path):
    import torch

    from tiny_models import build_tiny_causal_lm

    model, tokenizer = build_tiny_causal_lm()
    model.config.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")  # a pickle-based checkpoint only
    with pytest.raises(ModelRefError, match="cannot load"):
        load_causal_lm(ModelSpec(ref=str(tmp_path)))
