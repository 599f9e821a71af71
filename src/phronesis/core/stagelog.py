"""Stage log files: what the libraries print during a stage goes to `<stage>/stage.log`, not the console.

transformers, TRL and datasets write bars and dicts to sys.stdout/sys.stderr, log through their own
loggers and raise deprecation warnings. While a stage runs, all of that is routed to the stage's log
(and also to the console with `--verbose`); the project's own bars, status lines and warnings still
reach the console through `console()`.
"""
from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import warnings
from pathlib import Path
from typing import Iterator, TextIO

LIBRARY_LOGGERS = ("transformers", "trl", "peft", "datasets", "accelerate", "huggingface_hub", "torch")
LIBRARIES = r"(transformers|trl|peft|datasets|accelerate|huggingface_hub|torch)(\.|$)"
PACKAGE_DIR = str(Path(__file__).resolve().parents[1])  # the phronesis package folder (this file is in core/)


class _Router(io.TextIOBase):
    """A stream that writes to the current stage log (and the console when verbose), else to the console.

    Libraries keep the sys.stderr they saw (logging handlers, tqdm), so this object outlives a stage:
    after it, whatever still holds it writes to the console again instead of to a closed file.
    """

    def __init__(self, console: TextIO):
        self.console = console
        self.log: TextIO | None = None
        self.echo = False

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if self.log is None or self.echo:
            self.console.write(text)
        if self.log is not None:
            self.log.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in (self.console, self.log):
            if stream is not None:
                stream.flush()


_routers: list[_Router] = []  # [stdout, stderr] while a stage is captured


def capturing() -> bool:
    return bool(_routers)


def console() -> TextIO:
    """The real console stream (stderr), also while a stage's library output goes to its log."""
    return _routers[1].console if _routers else sys.stderr


def is_project_file(filename: str) -> bool:
    return os.path.abspath(filename).startswith(PACKAGE_DIR + os.sep)


def _show_warning(log: TextIO):
    """Warnings raised in the project's own code go to the console, the dependencies' to the log."""

    def show(message, category, filename, lineno, file=None, line=None):
        target = console() if is_project_file(filename) else log
        target.write(warnings.formatwarning(message, category, filename, lineno, line))

    return show


@contextlib.contextmanager
def _library_loggers(stream: TextIO) -> Iterator[None]:
    """Library loggers write warnings and up to `stream` only; their own handlers come back afterwards."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    saved = []
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, logger.handlers[:], logger.level, logger.propagate))
        logger.handlers, logger.propagate = [handler], False
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, handlers, level, propagate in saved:
            logger.handlers, logger.propagate = handlers, propagate
            logger.setLevel(level)


@contextlib.contextmanager
def stage_log(path: Path, echo: bool = False) -> Iterator[None]:
    """Route library output to `path` (appended: a resumed stage keeps its earlier log) for the block."""
    if capturing():  # a nested stage (iterate runs others) writes to the outer stage's log
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as log, warnings.catch_warnings():
        routers = [_Router(sys.stdout), _Router(sys.stderr)]
        for router in routers:
            router.log, router.echo = log, echo
        warnings.filterwarnings("default", module=LIBRARIES)  # shown once each, into the log
        warnings.showwarning = _show_warning(routers[1])
        _routers[:] = routers
        try:
            with contextlib.redirect_stdout(routers[0]), contextlib.redirect_stderr(routers[1]), \
                    _library_loggers(routers[1]):
                yield
        finally:
            _routers.clear()
            for router in routers:
                router.flush()
                router.log = None
