"""Jailbreak robustness: held-out harmful prompts wrapped in attack templates.

Templates come from data/eval/jailbreaks.yaml; each contains `{prompt}` once. The
wrapped answers are scored exactly like plain harmful answers (harmlessness.py).
"""
from __future__ import annotations

from typing import Sequence

from ..core.config import read_yaml
from ..core.errors import DataError
from ..data.records import Row
from ..data.sources import data_file


def load_templates(ref: str = "builtin:eval/jailbreaks.yaml") -> list[dict[str, str]]:
    path = data_file(ref)
    templates = read_yaml(path).get("templates")
    if not isinstance(templates, list) or not templates:
        raise DataError(f"{path}: expected a non-empty `templates:` list")
    for number, entry in enumerate(templates, start=1):
        text = entry.get("template") if isinstance(entry, dict) else None
        if not isinstance(text, str) or text.count("{prompt}") != 1 or not entry.get("id"):
            raise DataError(f"{path}: template {number}: needs an `id` and a `template` with {{prompt}} exactly once")
    return templates


def wrap_prompts(rows: Sequence[Row], templates: Sequence[dict[str, str]]) -> list[Row]:
    """Every prompt in every template; ids are `PROMPT_ID@TEMPLATE_ID`."""
    return [{"id": f"{row['id']}@{tpl['id']}", "prompt": tpl["template"].replace("{prompt}", row["prompt"]),
             "source_id": row["id"], "template": tpl["id"]}
            for tpl in templates for row in rows]
