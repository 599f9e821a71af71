"""One self-contained report.html: inline CSS, images as base64 PNG, no scripts, no external requests.

Every piece of model or prompt text goes through `html.escape`, and a
Content-Security-Policy forbids scripts and remote loads, so a `<script>` inside
an answer is shown as text and can never run.
"""
from __future__ import annotations

import html
from typing import Any, Sequence

from .tables import table_rows

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
STYLE = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1400px}
table{border-collapse:collapse;margin:12px 0;font-size:13px}
td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top;text-align:left}
th{background:#f3f3f3} .answer{white-space:pre-wrap;max-width:420px}
.plots img{margin:6px;border:1px solid #eee} .note{color:#555;font-size:13px}
"""


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], cell_class: str = "") -> str:
    cls = f' class="{cell_class}"' if cell_class else ""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td{cls}>{esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _image(b64: str, alt: str) -> str:
    return f'<img alt="{esc(alt)}" src="data:image/png;base64,{b64}">'


def _header(metrics: dict[str, Any]) -> str:
    models = _table(["model", "what"], [[name, what] for name, what in metrics["models"].items()])
    choices = "".join(f"<li><b>{esc(k)}</b>: {esc(v)}</li>" for k, v in metrics.get("choices", {}).items())
    bias = metrics.get("judge_position_bias", {})
    bias_line = (f"<p class=note>Judge position bias: mean {bias['mean']:+.3f}, mean |bias| {bias['mean_abs']:.3f} "
                 f"over {bias['n']} pairwise judgements.</p>" if bias.get("n") else "")
    return (f"<h1>phronesis evaluation</h1>{models}<p class=note>Base: {esc(metrics['base'])}. "
            f"Wall time {esc(metrics.get('seconds', '?'))} s. Every number is a mean with its bootstrap 95% CI; "
            f"every difference vs base is paired, with its 95% CI and p-value.</p><ul class=note>{choices}</ul>"
            f"{bias_line}")


def _samples(samples: dict[str, list[dict[str, Any]]], models: Sequence[str]) -> str:
    parts = ["<h2>Sample conversations</h2>"]
    for set_name, rows in samples.items():
        parts.append(f"<h3>{esc(set_name)}</h3>")
        parts.append(_table(["prompt", *models], [[r["prompt"], *[r["answers"].get(m, "") for m in models]]
                                                  for r in rows], cell_class="answer"))
    return "".join(parts)


def render_report(metrics: dict[str, Any], images: dict[str, str], samples: dict[str, list[dict[str, Any]]]) -> str:
    """The whole page. `images` maps a caption to base64 PNG; `samples[set]` rows have prompt + answers by model."""
    header, rows = table_rows(metrics)
    plots = "".join(_image(b64, caption) for caption, b64 in images.items())
    return ("<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            f"<title>phronesis evaluation</title><style>{STYLE}</style></head><body>"
            f"{_header(metrics)}<h2>Summary</h2>{_table(header, rows)}"
            f'<h2>Plots</h2><div class="plots">{plots}</div>'
            f"{_samples(samples, list(metrics['models']))}</body></html>\n")
