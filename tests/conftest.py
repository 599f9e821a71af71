import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("PHRONESIS_QUIET", "1")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny random Llama + BPE tokenizer saved as a local model folder."""
    from tiny_models import save_tiny_causal_lm

    return save_tiny_causal_lm(tmp_path_factory.mktemp("tiny-lm"))


@pytest.fixture(scope="session")
def peaked_model_dir(tmp_path_factory) -> Path:
    """The tiny Llama drawn with initializer_range 0.3, for tests that must see a trainer learn.

    At the usual 0.02 the final RMSNorm and tiny tied embeddings cap every logit near +-0.6: SFT
    loss stalls at 5.76 (from 5.99), a PPO bandit barely moves, a reward model ignores the answer.
    """
    from tiny_models import save_tiny_causal_lm

    return save_tiny_causal_lm(tmp_path_factory.mktemp("peaked-lm"), initializer_range=0.3)


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    """The real SmolLM2-135M-Instruct from the catalog (pulled once into ~/.cache/phronesis)."""
    from phronesis.data.catalog import pull

    return pull("smollm2-135m-instruct")


def skip_or_fail(reason: str) -> None:
    """Skip on a developer's machine; under CI=true a missing prerequisite fails, so nothing is silently
    left untested (`.ci/run` installs the browser and pulls the wheels first)."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: .ci/run should have provided it)")
    pytest.skip(reason)


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        skip_or_fail("../shared/data not present")
    return SHARED_DATA
