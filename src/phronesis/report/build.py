"""`phronesis report`: gather an evaluation's files (and any training rewards in the run) into a report."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import DataError
from ..io import atomic_write_json, atomic_write_text, read_json, read_jsonl
from . import plots
from .html import render_report
from .tables import markdown_table


def find_eval_dir(run_dir: Path) -> Path:
    """The folder holding metrics.json: `run_dir` itself or its newest `NN-evaluate` stage."""
    if (run_dir / "metrics.json").is_file():
        return run_dir
    stages = sorted(run_dir.glob("[0-9][0-9]-evaluate"))
    if stages and (stages[-1] / "metrics.json").is_file():
        return stages[-1]
    raise DataError(f"{run_dir}: no metrics.json here or in an NN-evaluate folder; run `phronesis evaluate` first")


def reward_curves(run_dir: Path) -> dict[str, list[tuple[float, float]]]:
    """Curves from every rewards.jsonl in the run: rows with a step and a reward (or reward mean)."""
    curves = {}
    for path in sorted(run_dir.rglob("rewards.jsonl")):
        points = []
        for number, row in enumerate(read_jsonl(path, allow_empty=True)):
            reward = row.get("reward", row.get("reward_mean", row.get("mean")))
            if isinstance(reward, (int, float)):
                points.append((float(row.get("step", number)), float(reward)))
        if points:
            curves[str(path.parent.relative_to(run_dir))] = points
    return curves


def collect_samples(answers: list[dict[str, Any]], per_set: int) -> dict[str, list[dict[str, Any]]]:
    samples: dict[str, dict[str, dict[str, Any]]] = {}
    for row in answers:
        by_id = samples.setdefault(row["set"], {})
        if row["id"] not in by_id and len(by_id) >= per_set:
            continue
        entry = by_id.setdefault(row["id"], {"prompt": row["prompt"], "answers": {}})
        entry["answers"][row["model"]] = row["answer"]
    return {name: list(rows.values()) for name, rows in samples.items()}


def build_images(metrics: dict[str, Any], items: dict[str, Any], run_dir: Path) -> dict[str, str]:
    images = {name: plots.metric_bars(name, m) for name, m in metrics["metrics"].items()}
    curves = reward_curves(run_dir)
    if curves:
        images["training rewards"] = plots.reward_curves(curves)
    biases = [i["position_bias"] for key in ("helpfulness_win_rate", "harmlessness_win_rate")
              for rows in items.get(key, {}).values() for i in rows if i.get("position_bias") is not None]
    if biases:
        images["judge position bias"] = plots.position_bias_histogram(biases)
    if items.get("sage"):
        images["SaGE per group"] = plots.sage_per_group(items["sage"])
    return images


def build_report(run_dir: Path, out: Path | None = None) -> list[Path]:
    eval_dir = find_eval_dir(Path(run_dir))
    out = Path(out) if out else eval_dir
    metrics = read_metrics(eval_dir)
    items = read_json(eval_dir / "items.json") if (eval_dir / "items.json").is_file() else {}
    answers = read_jsonl(eval_dir / "answers.jsonl", allow_empty=True) if (eval_dir / "answers.jsonl").is_file() else []
    per_set = int(metrics.get("config", {}).get("samples", 6))
    page = render_report(metrics, build_images(metrics, items, Path(run_dir)), collect_samples(answers, per_set))
    paths = [out / "report.html", out / "report.md", out / "metrics.json"]
    atomic_write_text(paths[0], page)
    atomic_write_text(paths[1], "# phronesis evaluation\n\n" + markdown_table(metrics) + "\n")
    if out.resolve() != eval_dir.resolve():
        atomic_write_json(paths[2], metrics)
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
