"""Atomic writes and validated reads of the JSON/JSONL artifacts stages exchange."""
from __future__ import annotations

import gzip
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator

from .errors import DataError


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write via a temp file in the same folder and rename, so readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def replace_tree(src: str | Path, dst: str | Path) -> None:
    """`dst` becomes a copy of the folder `src` (inside a stage's own folder: what it publishes)."""
    import shutil

    if Path(dst).exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst)


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


def atomic_write_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> int:
    lines = [json.dumps(row, ensure_ascii=False, default=str) for row in rows]
    atomic_write_text(path, "".join(line + "\n" for line in lines))
    return len(lines)


def read_json(path: str | Path) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: line {exc.lineno}: invalid JSON ({exc.msg})") from None


def iter_jsonl(path: str | Path, max_line_bytes: int = 16 * 1024 * 1024) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield `(line number, object)` from a .jsonl or .jsonl.gz file, failing with `file: line N: problem`."""
    path = Path(path)
    try:
        handle = gzip.open(path, "rb") if path.name.endswith(".gz") else path.open("rb")
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror})") from None
    with handle:
        try:
            for number, raw in enumerate(handle, start=1):
                row = _parse_line(path, number, raw, max_line_bytes)
                if row is not None:
                    yield number, row
        except (OSError, EOFError) as exc:  # a corrupt or cut-off gzip stream
            raise DataError(f"{path}: cannot read as gzipped JSONL ({exc})") from None


def _parse_line(path: Path, number: int, raw: bytes, max_line_bytes: int) -> dict[str, Any] | None:
    if len(raw) > max_line_bytes:
        raise DataError(f"{path}: line {number}: line is {len(raw)} bytes, over the {max_line_bytes}-byte limit")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: line {number}: not UTF-8 (byte {exc.start})") from None
    if not text.strip():
        return None
    if not text.endswith("\n") and not _is_valid_json(text):
        raise DataError(f"{path}: line {number}: truncated JSON (file was cut off mid-write)")
    try:
        row = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: line {number}: invalid JSON ({exc.msg})") from None
    if not isinstance(row, dict):
        raise DataError(f"{path}: line {number}: expected a JSON object, got {type(row).__name__}")
    return row


def read_jsonl(path: str | Path, required: Iterable[str] = (), allow_empty: bool = False,
               max_line_bytes: int = 16 * 1024 * 1024) -> list[dict[str, Any]]:
    """Read every row, failing with `file: line N: problem` on the first bad one."""
    required = list(required)
    rows: list[dict[str, Any]] = []
    for number, row in iter_jsonl(path, max_line_bytes):
        missing = [key for key in required if key not in row]
        if missing:
            raise DataError(f"{path}: line {number}: missing column {missing[0]!r} (has: {', '.join(row)})")
        rows.append(row)
    if not rows and not allow_empty:
        raise DataError(f"{path}: no rows (empty file)")
    return rows


def read_csv(path: str | Path) -> tuple[list[str], list[dict[str, Any]]]:
    """(header, rows) of a .csv or .csv.gz file, strictly: an unterminated quote or a row with
    more or fewer fields than the header is refused with its line, never glued into one prompt."""
    import csv

    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    rows: list[dict[str, Any]] = []
    try:
        with opener(path, "rt", newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle, strict=True)
            header = list(reader.fieldnames or [])
            for row in reader:
                if None in row or None in row.values():  # DictReader's marks for extra / missing fields
                    count = len(header) + len(row.get(None, [])) - sum(v is None for v in row.values())
                    raise DataError(f"{path}: line {reader.line_num}: {count} fields, the header has {len(header)}")
                rows.append(row)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except csv.Error as exc:
        # the record that failed starts after the last one read; an unterminated quote runs to the end
        raise DataError(f"{path}: line {reader.line_num + 1}: malformed CSV ({exc}; an unclosed quote?)") from None
    return header, rows


def _is_valid_json(text: str) -> bool:
    try:
        json.loads(text)
        return True
    except json.JSONDecodeError:
        return False


def trim_log(path: Path, max_step: int) -> None:
    """Keep only rows with `step` <= max_step (a torn last line goes too): used when training resumes."""
    if not path.exists():
        return
    kept = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip() and _step_of(line) <= max_step]
    atomic_write_text(path, "".join(line + "\n" for line in kept))


def _step_of(line: str) -> int:
    try:
        return int(json.loads(line).get("step", 0))
    except (ValueError, AttributeError, TypeError):
        return 1 << 30
