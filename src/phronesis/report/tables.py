"""The summary table: each metric, each model with its CI, each difference vs base with CI and p.

A difference is never formatted without its interval and p-value.
"""
from __future__ import annotations

import math
from typing import Any


def _num(value: float | None, signed: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:+.3f}" if signed else f"{value:.3f}"


SMALL_N = 20  # below this an interval is wide and a "difference" fragile: every cell says so


def _small(entry: dict[str, Any]) -> str:
    return f" n<{SMALL_N}" if 0 < entry.get("n", SMALL_N) < SMALL_N else ""


def format_ci(entry: dict[str, Any]) -> str:
    text = f"{_num(entry.get('mean'))} [{_num(entry.get('lo'))}, {_num(entry.get('hi'))}] n={entry.get('n', 0)}"
    text += _small(entry)
    if entry.get("undecided"):
        text += f" ({entry['undecided']} undecided)"
    return text


def format_diff(entry: dict[str, Any]) -> str:
    against = f" vs {entry['against']}" if entry.get("against") else ""
    holm = f" p_holm={_num(entry['p_holm'])}" if entry.get("p_holm") is not None else ""
    return (f"{_num(entry.get('diff'), signed=True)} [{_num(entry.get('lo'), True)}, {_num(entry.get('hi'), True)}] "
            f"p={_num(entry.get('p'))}{holm} ({entry.get('test', '?')}{against}){_small(entry)}")


def table_rows(metrics: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """(header, rows) as plain text cells; models in metrics.json order, base first."""
    models = list(metrics["models"])
    base = metrics["base"]
    others = [m for m in models if m != base]
    header = ["metric", "better"] + models + [f"{m} − {base}" for m in others]
    rows = []
    for name, metric in metrics["metrics"].items():
        better = "higher" if metric.get("higher_is_better") else "lower"
        cells = [name, better]
        cells += [format_ci(metric["per_model"][m]) if m in metric["per_model"] else "—" for m in models]
        cells += [format_diff(metric["vs_base"][m]) if m in metric.get("vs_base", {}) else "—" for m in others]
        rows.append(cells)
    return header, rows


def markdown_table(metrics: dict[str, Any]) -> str:
    header, rows = table_rows(metrics)
    esc = lambda cell: cell.replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(map(esc, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(esc, row)) + " |" for row in rows]
    return "\n".join(lines)


def print_metrics_table(metrics: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    header, rows = table_rows(metrics)
    table = Table(*header, title="metric: mean [95% CI]; difference vs base [95% CI] p", show_lines=True)
    for row in rows:
        table.add_row(*row)
    Console(width=200).print(table)


def verdict(metric: dict[str, Any], model: str) -> str:
    """✓ better / ✗ worse when the paired 95% CI of the difference excludes 0, else – (no evidence)."""
    diff = metric.get("vs_base", {}).get(model)
    if not diff or diff.get("lo") is None or any(math.isnan(diff[k]) for k in ("lo", "hi")):
        return "–"
    if metric.get("kind") == "win_rate":  # differences are against 0.5, "better" is above it
        lo, hi = diff["lo"], diff["hi"]
        return "✓" if lo > 0 else "✗" if hi < 0 else "–"
    up = metric.get("higher_is_better", True)
    if diff["lo"] > 0:
        return "✓" if up else "✗"
    if diff["hi"] < 0:
        return "✗" if up else "✓"
    return "–"


def headline(metrics: dict[str, Any]) -> tuple[list[str], list[list[str]], str]:
    """(header, rows, sentence): each model vs base on every metric, with ✓ better / ✗ worse / – no evidence."""
    base = metrics["base"]
    others = [m for m in metrics["models"] if m != base]
    header = ["metric", base] + [c for m in others for c in (m, f"{m} − {base} [95% CI]", "")]
    rows, better, worse = [], [], []
    for name, metric in metrics["metrics"].items():
        per = metric["per_model"]
        cells = [name, _num(per.get(base, {}).get("mean"))]
        for m in others:
            diff = metric.get("vs_base", {}).get(m, {})
            mark = verdict(metric, m)
            (better if mark == "✓" else worse if mark == "✗" else []).append(f"{name} ({m})")
            cells += [_num(per.get(m, {}).get("mean")),
                      f"{_num(diff.get('diff'), True)} [{_num(diff.get('lo'), True)}, {_num(diff.get('hi'), True)}]",
                      mark]
        rows.append(cells)
    sentence = (f"Better than {base} with 95% confidence on: {', '.join(better) or 'nothing'}. "
                f"Worse on: {', '.join(worse) or 'nothing'}. Everything else: no evidence either way.")
    return header, rows, sentence


def print_headline(metrics: dict[str, Any], paths: list[Any] = ()) -> None:
    from rich.console import Console
    from rich.table import Table

    header, rows, sentence = headline(metrics)
    table = Table(*header, title="held-out evaluation: ✓ better, ✗ worse, – no evidence (paired 95% CI vs base)")
    for row in rows:
        table.add_row(*row)
    console = Console(width=160)
    console.print(table)
    console.print(sentence)
    for path in paths:
        console.print(f"  {path}")


def key_value_rows(result: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """(key, text) per leaf of a JSON-like report, nested keys dotted: the metric tables of judge-eval and
    rm-eval. Floats get four decimals; a list is one cell."""
    rows = []
    for key, value in result.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows += key_value_rows(value, f"{name}.")
        elif isinstance(value, list):
            rows.append((name, "[" + ", ".join(_cell(v) for v in value) + "]"))
        else:
            rows.append((name, _cell(value)))
    return rows


def _cell(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def print_key_values(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table("metric", "value")
    for key, text in key_value_rows(result):
        table.add_row(key, escape(text))  # a list's "[...]" is text, not rich markup
    Console().print(table)
