"""Rich progress bars with ETA and throughput for every loop over data; `--quiet` silences them."""
from __future__ import annotations

import contextlib
import os
from typing import Callable, Iterator

from .stagelog import console as console_stream

_quiet = False


def set_quiet(quiet: bool) -> None:
    global _quiet
    _quiet = quiet
    if quiet:  # also silence the hub's and transformers' own tqdm bars ("Loading weights ...", GGUF conversion)
        os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
        os.environ["TQDM_DISABLE"] = "1"
        os.environ["TRANSFORMERS_VERBOSITY"] = "error"
        os.environ["PHRONESIS_QUIET"] = "1"


def quiet_libraries(keep_bars: bool = False) -> None:
    """One console voice: the libraries' own bars, info logs and deprecation warnings stay off the screen.

    Called by the CLI before anything heavy is imported (tqdm and transformers read these variables then);
    `phronesis --verbose` skips it. The project's own warnings are untouched. `keep_bars` is for
    `phronesis run`, whose stages send the bars to their stage.log (stagelog.py) instead of the screen.
    """
    import warnings

    from .stagelog import LIBRARIES

    if not keep_bars:
        for name in ("HF_HUB_DISABLE_PROGRESS_BARS", "HF_DATASETS_DISABLE_PROGRESS_BARS", "TQDM_DISABLE"):
            os.environ.setdefault(name, "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    for category in (FutureWarning, DeprecationWarning, UserWarning):
        warnings.filterwarnings("ignore", category=category, module=LIBRARIES)


def is_verbose() -> bool:
    return os.environ.get("PHRONESIS_VERBOSE") == "1"


def is_quiet() -> bool:
    return _quiet or os.environ.get("PHRONESIS_QUIET") == "1"


@contextlib.contextmanager
def progress(description: str, total: int | None, unit: str = "rows",
             done: int = 0) -> Iterator[Callable[[int], None]]:
    """Yield `advance(n)`; shows a bar with ETA and rate unless quiet. `done` rows were resumed."""
    if is_quiet():
        yield lambda n=1: None
        return
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TaskProgressColumn(), TextColumn("{task.fields[rate]}"), TimeElapsedColumn(),
               TextColumn("ETA"), TimeRemainingColumn()]
    console = Console(file=console_stream())
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(description, total=total, completed=done, rate="")

        def advance(n: int = 1) -> None:
            bar.advance(task, n)
            speed = bar.tasks[task].speed
            bar.update(task, rate=f"{speed:.2f} {unit}/s" if speed else "")

        yield advance


def info(message: str) -> None:
    """One status line on stderr (suppressed by --quiet)."""
    if not is_quiet():
        print(message, file=console_stream(), flush=True)
