"""Run folders: `runs/<name>/<NN-stage>/{data, manifest.json, samples.md}`.

A stage whose fingerprint (its config, its inputs' fingerprints, the package
version) matches a finished manifest is skipped. Long stages append finished rows
to a checkpoint, so a killed process resumes without redoing or duplicating rows.
A finished folder that is rerun with new settings is first moved aside to
`.NN-stage.previous`; a rerun that fails gives it back, one that finishes removes it.
What the libraries print while a stage runs goes to its `stage.log`.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Iterable

from .code_fingerprint import code_fingerprint
from .errors import StageError, UserError
from .io import atomic_write_json, atomic_write_text, read_json
from .progress import is_verbose
from .stagelog import stage_log

RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
TRACKED_PACKAGES = ("phronesis", "torch", "transformers", "trl", "peft", "datasets", "accelerate")
CHECKPOINT_DIR = ".work"
STAGE_LOG = "stage.log"  # what the libraries printed while the stage ran
STAGE_FOLDER = re.compile(r"^\d\d-([a-z_]+)$")  # `Run.stage_path`'s names, NN-stage; group 1 is the stage


def validate_run_name(name: str) -> str:
    if not RUN_NAME.match(name) or ".." in name:
        raise UserError(f"run name {name!r}: use letters, digits, '.', '_' and '-' only (no '/', no '..')")
    return name


def fingerprint(obj: Any) -> str:
    blob = json.dumps(obj, sort_keys=True, default=str, ensure_ascii=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def file_fingerprint(path: Path) -> str:
    """16 hex digits of a file's sha256: what a stage fingerprint records for an input file's contents."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


class RowCheckpoint:
    """Append-only JSONL of finished rows, keyed by `id`; survives SIGKILL.

    Each batch is appended and fsynced. A torn final line (killed mid-write) is
    dropped on reopen: that batch is simply redone.
    """

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._rows: dict[str, dict[str, Any]] = {}
        if path.exists():
            self._load()

    def _load(self) -> None:
        good_bytes = 0
        with self.path.open("rb") as handle:
            for raw in handle:
                try:
                    row = json.loads(raw.decode("utf-8"))
                except (json.JSONDecodeError, UnicodeDecodeError):
                    break  # torn tail from a kill: everything after it is redone
                if not raw.endswith(b"\n"):
                    break
                self._rows[str(row["id"])] = row
                good_bytes += len(raw)
        with self.path.open("r+b") as handle:
            handle.truncate(good_bytes)

    def __contains__(self, row_id: object) -> bool:
        return str(row_id) in self._rows

    def __len__(self) -> int:
        return len(self._rows)

    def append(self, rows: Iterable[dict[str, Any]]) -> None:
        fresh = [row for row in rows if str(row["id"]) not in self._rows]
        if not fresh:
            return
        payload = "".join(json.dumps(row, ensure_ascii=False, default=str) + "\n" for row in fresh)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        for row in fresh:
            self._rows[str(row["id"])] = row

    def rows(self, order: Iterable[str] | None = None) -> list[dict[str, Any]]:
        if order is None:
            return list(self._rows.values())
        return [self._rows[str(i)] for i in order if str(i) in self._rows]


@dataclass
class StageDir:
    """What a stage body gets: its folder, checkpoints, and places to report counts and samples."""

    path: Path
    name: str
    seed: int = 0
    counts: dict[str, Any] = field(default_factory=dict)
    samples: list[dict[str, Any]] = field(default_factory=list)

    def file(self, name: str) -> Path:
        return self.path / name

    def checkpoint(self, name: str) -> RowCheckpoint:
        return RowCheckpoint(self.path / CHECKPOINT_DIR / f"{name}.jsonl")

    @property
    def work_dir(self) -> Path:
        return self.path / CHECKPOINT_DIR


@dataclass
class StageOutcome:
    path: Path
    skipped: bool
    manifest: dict[str, Any]


class Run:
    """One named run folder holding numbered stage folders."""

    def __init__(self, root: str | Path, name: str):
        self.name = validate_run_name(name)
        self.root = Path(root) / self.name
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"{self.root}: cannot create run folder ({exc.strerror})") from None
        if not os.access(self.root, os.W_OK):
            raise UserError(f"{self.root}: run folder is not writable")

    def stage_path(self, index: int, name: str) -> Path:
        return self.root / f"{index:02d}-{name}"



def load_manifest(stage_path: Path) -> dict[str, Any]:
    manifest = read_json(stage_path / "manifest.json")
    if manifest.get("status") != "complete":
        raise StageError(f"{stage_path}/manifest.json: stage is not complete; rerun it with --force")
    return manifest


def run_stage(run: Run, index: int, name: str, config: dict[str, Any], inputs: dict[str, Path],
              body: Callable[[StageDir], dict[str, Any] | None], *, seed: int = 0,
              force: bool = False) -> StageOutcome:
    """Run `body` in `runs/<run>/<NN-name>/` unless a finished manifest has the same fingerprint."""
    path = run.stage_path(index, name)
    input_fps = {key: load_manifest(p)["fingerprint"] for key, p in inputs.items()}
    versions = package_versions()
    code = code_fingerprint(body.__module__)  # the stage's code: its module and what it imports from phronesis
    fp = fingerprint({"stage": name, "config": config, "inputs": input_fps, "seed": seed, "code": code})
    manifest_path = path / "manifest.json"
    _restore_previous(path, fp)
    if manifest_path.exists() and not force:
        old = read_json(manifest_path)
        if old.get("fingerprint") == fp and old.get("status") == "complete":
            return StageOutcome(path, True, old)
    previous = _set_aside(path)
    _prepare_stage_dir(path, fp, fresh=force)
    stage = StageDir(path=path, name=name, seed=seed)
    started = time.time()
    try:
        with stage_log(path / STAGE_LOG, echo=is_verbose()):
            extra = body(stage) or {}
    except Exception:  # a failed rerun gives the finished result back; a kill or Ctrl-C leaves both to resume
        if previous is not None:
            shutil.rmtree(path, ignore_errors=True)
            previous.rename(path)
        elif _only_scaffold(path):  # nothing to resume from: no empty folder left behind
            shutil.rmtree(path, ignore_errors=True)
        raise
    manifest = {
        "stage": name, "status": "complete", "fingerprint": fp, "config": config,
        "inputs": {key: {"path": str(p), "fingerprint": input_fps[key]} for key, p in inputs.items()},
        "seed": seed, "counts": stage.counts, "versions": versions, "code": code,
        "timings": {"started": started, "seconds": round(time.time() - started, 3)}, **extra,
    }
    if stage.samples:
        atomic_write_text(path / "samples.md", render_samples(name, stage.samples))
    atomic_write_json(manifest_path, manifest)
    shutil.rmtree(_previous_path(path), ignore_errors=True)
    return StageOutcome(path, False, manifest)


def _only_scaffold(path: Path) -> bool:
    """True when a stage folder holds nothing but the fingerprint stamp `_prepare_stage_dir` wrote (and an
    empty stage.log; a log with library output in it explains the failure, so it is kept)."""
    files = [p for p in path.rglob("*") if not p.is_dir()]
    return all(p == path / CHECKPOINT_DIR / "fingerprint" or (p == path / STAGE_LOG and not p.stat().st_size)
               for p in files)


def remove_if_empty(folder: Path) -> None:
    """rmdir, which refuses a folder with anything in it: a failed first run leaves no empty run folder."""
    try:
        folder.rmdir()
    except OSError:
        pass


def _previous_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.previous")


def _set_aside(path: Path) -> Path | None:
    """Move a finished stage folder beside itself before it is rerun, so a failed rerun cannot lose it."""
    if not (path / "manifest.json").is_file():
        return _previous_path(path) if _previous_path(path).is_dir() else None
    previous = _previous_path(path)
    shutil.rmtree(previous, ignore_errors=True)
    path.rename(previous)
    return previous


def _restore_previous(path: Path, fp: str) -> None:
    """After an interrupted rerun, going back to the old settings brings the old finished result back."""
    previous = _previous_path(path)
    manifest = previous / "manifest.json"
    if manifest.is_file() and read_json(manifest).get("fingerprint") == fp:
        shutil.rmtree(path, ignore_errors=True)
        previous.rename(path)


def _prepare_stage_dir(path: Path, fp: str, fresh: bool) -> None:
    """Keep checkpoints only if they were written under the same fingerprint."""
    work = path / CHECKPOINT_DIR
    stamp = work / "fingerprint"
    stale = fresh or not stamp.exists() or stamp.read_text().strip() != fp
    if stale and path.exists():
        shutil.rmtree(path)
    work.mkdir(parents=True, exist_ok=True)
    (path / "manifest.json").unlink(missing_ok=True)  # a rerun is unfinished until it writes one
    if stale:
        atomic_write_text(stamp, fp + "\n")


def render_samples(stage: str, samples: list[dict[str, Any]]) -> str:
    parts = [f"# {stage}: samples\n"]
    for number, sample in enumerate(samples, start=1):
        parts.append(f"## Sample {number}\n")
        for key, value in sample.items():
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, indent=1)
            parts.append(f"**{key}**\n\n{_quote(text)}\n")
    return "\n".join(parts)


def _quote(text: str) -> str:
    return "\n".join("> " + line for line in str(text).splitlines()) or "> "
