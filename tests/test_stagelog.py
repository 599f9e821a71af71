"""Stage logs: library output goes to <stage>/stage.log, the project's own lines stay on the console."""
import logging
import sys
import warnings

import pytest

from phronesis.core import progress
from phronesis.core.runstore import Run, run_stage
from phronesis.core.stagelog import is_project_file
from phronesis.stages import sft

LIBRARY_FILE = "/site-packages/transformers/modeling_utils.py"
SFT_FILE = sft.__file__  # a real project file, wherever the package folder is


def test_every_project_module_counts_as_the_project_and_a_library_does_not():
    from phronesis import pipeline
    from phronesis.core import config

    assert all(is_project_file(m.__file__) for m in (sft, pipeline, config))
    assert not is_project_file(LIBRARY_FILE)


def noisy_body(stage):
    """What transformers/TRL/datasets do during a stage, and what the project itself says."""
    print("{'loss': '1.7600', 'grad_norm': '0.5'}")  # TRL's PrinterCallback
    sys.stderr.write("Loading weights: 100%|##########| 3/3\n")  # a tqdm bar
    logging.getLogger("transformers.modeling_utils").warning("Some weights were not initialized")
    warnings.warn_explicit("is_gradient_checkpointing is deprecated", FutureWarning, LIBRARY_FILE, 7,
                           module="transformers.modeling_utils")
    warnings.warn_explicit("prompt set is tiny", UserWarning, SFT_FILE, 9, module="phronesis.stages.sft")
    progress.info("sft: project status line")
    stage.counts["rows"] = 1


@pytest.fixture
def loud(monkeypatch):
    monkeypatch.delenv("PHRONESIS_QUIET", raising=False)
    monkeypatch.delenv("PHRONESIS_VERBOSE", raising=False)
    monkeypatch.setattr(progress, "_quiet", False)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")  # as the CLI sets it
        yield


LIBRARY_LINES = ["'loss': '1.7600'", "Loading weights", "Some weights were not initialized",
                 "is_gradient_checkpointing is deprecated"]


def test_library_output_goes_to_the_stage_log_not_the_console(tmp_path, capsys, loud):
    outcome = run_stage(Run(tmp_path, "r"), 1, "sft", {}, {}, noisy_body)
    log = (outcome.path / "stage.log").read_text()
    console = capsys.readouterr()
    for line in LIBRARY_LINES:
        assert line in log and line not in console.out + console.err
    assert "prompt set is tiny" in console.err and "project status line" in console.err
    assert "prompt set is tiny" not in log
    print("after the stage")
    assert "after the stage" in capsys.readouterr().out  # the console streams are given back


def test_verbose_shows_library_output_live_and_still_logs_it(tmp_path, capsys, loud, monkeypatch):
    monkeypatch.setenv("PHRONESIS_VERBOSE", "1")
    outcome = run_stage(Run(tmp_path, "r"), 1, "sft", {}, {}, noisy_body)
    console = capsys.readouterr()
    for line in LIBRARY_LINES[:3]:
        assert line in (outcome.path / "stage.log").read_text() and line in console.out + console.err


def test_library_logging_is_given_back_after_the_stage(tmp_path):
    logger = logging.getLogger("transformers")
    before = (logger.handlers[:], logger.level, logger.propagate)
    run_stage(Run(tmp_path, "r"), 1, "sft", {}, {}, noisy_body)
    assert (logger.handlers, logger.level, logger.propagate) == before
