"""`phronesis report`: gather an evaluation's files, and the training logs of the run around it, into a report."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..core.errors import DataError
from ..core.io import atomic_write_json, atomic_write_text, read_json, read_jsonl
from . import plots
from .html import render_report
from .run_context import model_labels, run_root, trained_on, training_curves
from .tables import markdown_table


def find_eval_dir(run_dir: Path) -> Path:
    """The folder holding metrics.json: `run_dir` itself or its newest `NN-evaluate` stage."""
    if (run_dir / "metrics.json").is_file():
        return run_dir
    stages = sorted(run_dir.glob("[0-9][0-9]-evaluate"))
    if stages and (stages[-1] / "metrics.json").is_file():
        return stages[-1]
    raise DataError(f"{run_dir}: no metrics.json here or in an NN-evaluate folder; run `phronesis evaluate` first")


def relabel(metrics: dict[str, Any], labels: dict[str, str]) -> dict[str, Any]:
    """A copy of metrics.json with every model named by its label (`sft`, `rl (GRPO, ...)`), for display."""
    name = lambda model: labels.get(model, model)  # noqa: E731
    renamed = {**metrics, "base": name(metrics["base"]),
               "models": {name(m): what for m, what in metrics["models"].items()}, "metrics": {}}
    for key, metric in metrics["metrics"].items():
        renamed["metrics"][key] = {**metric, "per_model": {name(m): v for m, v in metric["per_model"].items()},
                                   "vs_base": {name(m): v for m, v in metric.get("vs_base", {}).items()}}
    return renamed


def collect_samples(answers: list[dict[str, Any]], per_set: int,
                    labels: dict[str, str] | None = None) -> dict[str, list[dict[str, Any]]]:
    """Up to `per_set` prompts per set, each with every model's answer to that same prompt."""
    labels = labels or {}
    samples: dict[str, dict[str, dict[str, Any]]] = {}
    for row in answers:
        by_id = samples.setdefault(row["set"], {})
        if row["id"] not in by_id and len(by_id) >= per_set:
            continue
        entry = by_id.setdefault(row["id"], {"prompt": row["prompt"], "answers": {}})
        entry["answers"][labels.get(row["model"], row["model"])] = row["answer"]
    return {name: list(rows.values()) for name, rows in samples.items()}


CURVE_PANELS = {"loss": ("training loss", "loss"), "reward": ("training rewards", "mean reward"),
                "KL": ("KL to reference", "KL")}


def build_images(metrics: dict[str, Any], items: dict[str, Any], root: Path) -> dict[str, str]:
    """Caption -> PNG; a chart with nothing to show is left out."""
    images = {}
    forest = plots.forest_rows(metrics)
    if forest:
        images[plots.FOREST_CAPTION] = plots.difference_forest(forest, metrics["base"])
    for panel, lines in training_curves(root).items():
        images[CURVE_PANELS[panel][0]] = plots.line_panel(*CURVE_PANELS[panel], lines)
    biases = [i["position_bias"] for key in ("helpfulness_win_rate", "harmlessness_win_rate")
              for rows in items.get(key, {}).values() for i in rows if i.get("position_bias") is not None]
    if biases:
        images["judge position bias"] = plots.position_bias_histogram(biases)
    if items.get("sage"):
        images["SaGE per group"] = plots.sage_per_group(items["sage"])
    return images


def build_report(run_dir: Path, out: Path | None = None) -> list[Path]:
    eval_dir = find_eval_dir(Path(run_dir))
    root = run_root(eval_dir, Path(run_dir))
    out = Path(out) if out else eval_dir
    raw = read_metrics(eval_dir)
    labels = model_labels(raw["models"], root)
    metrics = relabel(raw, labels)
    items = read_json(eval_dir / "items.json") if (eval_dir / "items.json").is_file() else {}
    answers = read_jsonl(eval_dir / "answers.jsonl", allow_empty=True) if (eval_dir / "answers.jsonl").is_file() else []
    per_set = int(metrics.get("config", {}).get("samples", 6))
    training = {labels.get(m, m): line for m, line in trained_on(raw["models"], root).items()}
    page = render_report(metrics, build_images(metrics, items, root), collect_samples(answers, per_set, labels),
                         training)
    paths = [out / "report.html", out / "report.md", out / "metrics.json"]
    atomic_write_text(paths[0], page)
    atomic_write_text(paths[1], "# phronesis evaluation\n\n" + markdown_table(metrics) + "\n")
    if out.resolve() != eval_dir.resolve():
        atomic_write_json(paths[2], raw)
    return paths


def conclude(run_dir: Path, built: bool = False) -> list[Path]:
    """How a run ends: build the report (unless a report stage `built` it in `run_dir`), then print the
    headline table (models named by what they are), the sentence and where the report and metrics are."""
    from .tables import print_headline

    paths = [run_dir / "report.html", run_dir / "report.md"] if built else build_report(run_dir)
    eval_dir = find_eval_dir(Path(run_dir))
    raw = read_metrics(eval_dir)
    print_headline(relabel(raw, model_labels(raw["models"], run_root(eval_dir, Path(run_dir)))), paths[:2])
    return paths


def read_metrics(eval_dir: Path) -> dict[str, Any]:
    """metrics.json as `phronesis evaluate` writes it; anything else is named, not a KeyError deep in a table."""
    path = eval_dir / "metrics.json"
    metrics = read_json(path)
    if not isinstance(metrics, dict):
        raise DataError(f"{path}: expected a JSON object, got {type(metrics).__name__}")
    for key, kind in (("metrics", dict), ("models", (dict, list)), ("base", str)):
        if not isinstance(metrics.get(key), kind):
            raise DataError(f"{path}: missing or malformed {key!r} (not written by `phronesis evaluate`?)")
    return metrics


def load_metrics(run_dir: Path) -> dict[str, Any]:
    return read_metrics(find_eval_dir(Path(run_dir)))
