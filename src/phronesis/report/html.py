"""One self-contained report.html: inline CSS, images as base64 PNG, no scripts, no external requests.

Every piece of model or prompt text goes through `html.escape`, and a
Content-Security-Policy forbids scripts and remote loads, so a `<script>` inside
an answer is shown as text and can never run.
"""
from __future__ import annotations

import html
from typing import Any, Sequence

from .plots import FOREST_CAPTION
from .tables import headline, table_rows

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
STYLE = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1400px}
table{border-collapse:collapse;margin:12px 0;font-size:13px}
td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top;text-align:left}
th{background:#f3f3f3} .answer{white-space:pre-wrap;max-width:420px;overflow-wrap:anywhere}
img{max-width:100%} .plots img{margin:6px;border:1px solid #eee} .note{color:#555;font-size:13px}
.first{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start} .first>div{max-width:560px}
.lead{font-size:17px;font-weight:600} details{margin:12px 0} summary{cursor:pointer;font-weight:600}
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


def _notes(metrics: dict[str, Any]) -> list[str]:
    """Small-n and multiplicity warnings, only where they apply."""
    diffs = [d for m in metrics["metrics"].values() for d in m.get("vs_base", {}).values()]
    notes = []
    if any(0 < d.get("n", 20) < 20 for d in diffs):
        notes.append("Some differences rest on fewer than 20 items (flagged n<20 below): their intervals are wide.")
    if any(d.get("p_holm") is not None for d in diffs):
        notes.append(f"{len(metrics['metrics'])} metrics are tested at once: read p_holm (Holm-adjusted across "
                     f"them) rather than the raw p.")
    return notes


def _headline(metrics: dict[str, Any], forest: str | None, training: dict[str, str]) -> str:
    """The first screen: what was trained on what, whether it is better (table with CIs), and the forest plot."""
    header, rows, sentence = headline(metrics)
    others = [m for m in metrics["models"] if m != metrics["base"]]
    trained = "".join(f"<li><b>{esc(m)}</b>: {esc(training[m])}</li>" for m in others if m in training)
    notes = "".join(f"<p class=note>⚠ {esc(n)}</p>" for n in _notes(metrics))
    plot = _image(forest, FOREST_CAPTION) if forest else ""
    return (f"<h1>{esc(', '.join(others) or 'models')} vs {esc(metrics['base'])}</h1>"
            f"<p class=lead>{esc(sentence)}</p><ul>{trained}</ul>"
            f"<p class=note>✓ better, ✗ worse, – no evidence: the paired 95% CI of the difference vs base.</p>"
            f"<div class=first><div>{_table(header, rows)}{notes}</div>{plot}</div>")


def _details(metrics: dict[str, Any]) -> str:
    """The full model paths and the evaluation's choices, folded away below the conclusion."""
    models = _table(["model", "what (full path)"], [[name, what] for name, what in metrics["models"].items()])
    choices = "".join(f"<li><b>{esc(k)}</b>: {esc(v)}</li>" for k, v in metrics.get("choices", {}).items())
    bias = metrics.get("judge_position_bias", {})
    bias_line = (f"<p class=note>Judge position bias: mean {bias['mean']:+.3f}, mean |bias| {bias['mean_abs']:.3f} "
                 f"over {bias['n']} pairwise judgements.</p>" if bias.get("n") else "")
    return (f"<details><summary>Models and method</summary>{models}<p class=note>Wall time "
            f"{esc(metrics.get('seconds', '?'))} s. Every number is a mean with its 95% CI; every difference vs "
            f"base is paired, with its 95% CI and p-value.</p><ul class=note>{choices}</ul>{bias_line}</details>")


def _samples(samples: dict[str, list[dict[str, Any]]], models: Sequence[str]) -> str:
    """Side by side: each prompt once, then every model's answer to it in its own column."""
    parts = ["<h2>Sample conversations</h2>"]
    for set_name, rows in samples.items():
        parts.append(f"<h3>{esc(set_name)}</h3>")
        parts.append(_table(["prompt", *models], [[r["prompt"], *[r["answers"].get(m, "") for m in models]]
                                                  for r in rows], cell_class="answer"))
    return "".join(parts)


def render_report(metrics: dict[str, Any], images: dict[str, str], samples: dict[str, list[dict[str, Any]]],
                  training: dict[str, str] | None = None) -> str:
    """The whole page, conclusion first. `images` maps a caption to base64 PNG; `samples[set]` rows have
    prompt + answers by model; `training[model]` says what a trained model was trained on."""
    header, rows = table_rows(metrics)
    plots = "".join(_image(b64, caption) for caption, b64 in images.items() if caption != FOREST_CAPTION)
    return ("<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            f"<title>phronesis evaluation</title><style>{STYLE}</style></head><body>"
            f"{_headline(metrics, images.get(FOREST_CAPTION), training or {})}{_details(metrics)}"
            f"<h2>All metrics</h2>{_table(header, rows)}"
            + (f'<h2>Training and judge plots</h2><div class="plots">{plots}</div>' if plots else "")
            + f"{_samples(samples, list(metrics['models']))}</body></html>\n")
