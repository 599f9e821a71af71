"""The `phronesis` command. Each concern registers its subcommands from its own module."""
from __future__ import annotations

import importlib
import sys

import typer

from ..core.errors import UserError

app = typer.Typer(
    name="phronesis",
    help=(
        "Constitutional-AI and RLAIF experiments on small models, with honest evaluation.\n\n"
        "Start with `phronesis run` (the bundled demo config), `phronesis validate CONFIG` to check a "
        "config without loading models, and `phronesis models list` to see the offline catalog."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="rich",
)

# One line per concern: the module defines `register(app)`.
COMMAND_MODULES = ["core", "judge", "reward", "evaluate", "report", "bench"]

for _name in COMMAND_MODULES:
    importlib.import_module(f"{__name__}.{_name}").register(app)


@app.callback()
def _root(ctx: typer.Context,
          verbose: bool = typer.Option(False, "--verbose", help="Show the libraries' raw logs and bars live "
                                                                "(transformers, TRL, datasets).")) -> None:
    if verbose:
        import os

        os.environ["PHRONESIS_VERBOSE"] = "1"
    else:
        from ..core.progress import quiet_libraries

        quiet_libraries(keep_bars=ctx.invoked_subcommand == "run")  # run's stages log them to stage.log


INTERRUPTED = "interrupted; rerun the same command to resume"


def main() -> None:
    try:
        app(prog_name="phronesis")
    except UserError as exc:
        message = " ".join(str(exc).split())  # always exactly one line
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:  # Ctrl-C outside a command (while importing, say)
        print(INTERRUPTED, file=sys.stderr)
        sys.exit(130)
    except SystemExit as exc:
        if exc.code == 130:  # Typer turns Ctrl-C inside a command into a silent exit 130
            print(INTERRUPTED, file=sys.stderr)
        raise
