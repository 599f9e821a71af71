"""Reward-model commands: `rm-eval` (pairs or binary classification) and `rm export`."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..core.progress import set_quiet

QUIET = typer.Option(False, "--quiet", "-q", help="No progress bars or status lines.")


def register(app: typer.Typer) -> None:
    app.command("rm-eval")(rm_eval)
    rm = typer.Typer(help="Reward-model files: export a LoRA RM as a standalone model.", no_args_is_help=True)
    rm.command("export")(rm_export)
    app.add_typer(rm, name="rm")


def rm_eval(reward: Path = typer.Option(..., "--reward", help="RM folder or ensemble folder (with ensemble.json)."),
            pairs: Optional[Path] = typer.Option(None, "--pairs", help="Preference pairs: JSONL rows or hh-rlhf (.gz)."),
            binary: Optional[Path] = typer.Option(None, "--binary", help="Labelled texts: ETHICS CSV, Scruples or persona JSONL."),
            label_field: Optional[str] = typer.Option(None, "--label-field", help="Label column (default by format)."),
            text_field: Optional[str] = typer.Option(None, "--text-field", help="Text column (default by format)."),
            positive: Optional[str] = typer.Option(None, "--positive", help="Label value meaning positive."),
            threshold: str = typer.Option("median", "--threshold", help="median | calibrated (MCC-best cut on a seeded half)."),
            limit: Optional[int] = typer.Option(None, "--limit", help="Evaluate only the first N rows."),
            precision: str = typer.Option("auto", "--precision", help="auto (bf16 autocast where the hardware has native bf16, else fp32) | fp32 | bf16-autocast."),
            batch_size: int = typer.Option(8, "--batch-size"),
            seed: int = typer.Option(0, "--seed", help="Bootstrap and split seed."),
            json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the metrics here."),
            quiet: bool = QUIET) -> None:
    """Pairwise accuracy (with bootstrap CI, length baseline, per-member and per-aggregator figures
    for ensembles), or MCC / accuracy / ROC-AUC of the RM read as a binary classifier."""
    from ..core.errors import UserError
    from ..core.io import atomic_write_json
    from ..evaluation.rm_data import load_binary, load_pairs
    from ..evaluation.rm_eval import evaluate_binary, evaluate_pairs
    from ..rewards.loading import load_reward_model

    set_quiet(quiet)
    if (pairs is None) == (binary is None):
        raise UserError("rm-eval: give exactly one of --pairs FILE or --binary FILE")
    if precision not in ("auto", "fp32", "bf16-autocast"):
        raise UserError(f"rm-eval --precision {precision!r}: use auto, fp32 or bf16-autocast")
    if pairs is not None:
        rows, skipped = load_pairs(pairs)
        rows = rows[:limit] if limit else rows
        result = {"pairs_file": str(pairs), "unparsed_rows": skipped,
                  **evaluate_pairs(load_reward_model(reward, precision, batch_size), rows, seed)}
    else:
        rows = load_binary(binary, text_field, label_field, positive)
        rows = rows[:limit] if limit else rows
        result = {"binary_file": str(binary),
                  **evaluate_binary(load_reward_model(reward, precision, batch_size), rows, threshold, seed)}
    result["reward"] = str(reward)
    from ..report.tables import print_key_values

    print_key_values(result)
    if json_out:
        atomic_write_json(json_out, result)


def rm_export(adapter_dir: Path = typer.Argument(..., help="A LoRA RM folder (adapter + score head)."),
              out: Path = typer.Argument(..., help="Folder for the merged standalone model.")) -> None:
    """Merge the LoRA into the base and save a safetensors folder that
    AutoModelForSequenceClassification loads on its own."""
    from ..rewards.export import export_merged

    typer.echo(str(export_merged(adapter_dir, out)))
