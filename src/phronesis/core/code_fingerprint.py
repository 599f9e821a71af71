"""A stage's code version: the hash of its module's source and of every phronesis module it imports.

Resume skips a finished stage whose fingerprint matches. Hashing only the package version let an edited
stage silently reuse output made by the old code; hashing the whole package would redo a long run for a
typo fixed in the report. The import closure is read statically (imports inside functions included).
"""
from __future__ import annotations

import ast
import hashlib
import importlib.util
from functools import lru_cache
from pathlib import Path

PACKAGE = "phronesis"
ROOT = Path(__file__).resolve().parents[1]  # the phronesis package folder (this file is in phronesis/core/)


def code_fingerprint(module: str) -> str:
    """16 hex digits over (name, source hash) of `module` and its phronesis import closure."""
    blob = "\n".join(f"{name} {digest}" for name, digest in sorted(import_closure(module).items()))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def import_closure(module: str) -> dict[str, str]:
    """{module: sha256 of its source} for `module`, the phronesis modules it imports, theirs, and so on."""
    found: dict[str, str] = {}
    pending = [module]
    while pending:
        name = pending.pop()
        if name in found:
            continue
        source = _source(name)
        if source is None:
            continue
        found[name] = hashlib.sha256(source).hexdigest()
        pending.extend(_parents(name))  # importing a.b.c runs a/__init__ and a/b/__init__ first
        pending.extend(m for m in _imports(name, source) if _ours(m))
    return found


@lru_cache(maxsize=None)
def _origin(name: str) -> tuple[str | None, bool]:
    """(source file, is a package). Phronesis modules are found on disk, so nothing is imported to hash them."""
    if _ours(name):
        path = ROOT.joinpath(*name.split(".")[1:])
        for candidate, is_package in ((path / "__init__.py", True), (path.with_suffix(".py"), False)):
            if candidate.is_file():
                return str(candidate), is_package
        return None, False
    try:  # a stage defined outside the package (a plugin, a test) hashes its own file too
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None, False
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None, False
    return spec.origin, spec.submodule_search_locations is not None


def _ours(name: str) -> bool:
    return name == PACKAGE or name.startswith(PACKAGE + ".")


def _source(name: str) -> bytes | None:
    origin, _ = _origin(name)
    return Path(origin).read_bytes() if origin else None


def _parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _imports(name: str, source: bytes) -> list[str]:
    """Absolute names of what `name` imports; `from .x import y` counts y too when y is a module."""
    _, is_package = _origin(name)
    package = name if is_package else name.rpartition(".")[0]
    out: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out.extend(alias.name for alias in node.names if _ours(alias.name))
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(node.module, node.level, package)
            if base is None or not _ours(base):
                continue
            out.append(base)
            out.extend(f"{base}.{alias.name}" for alias in node.names
                       if alias.name != "*" and _origin(f"{base}.{alias.name}")[0])
    return out


def _resolve(module: str | None, level: int, package: str) -> str | None:
    if level == 0:
        return module
    parts = package.split(".")
    if level - 1 > len(parts) - 1:
        return None
    base = ".".join(parts[:len(parts) - (level - 1)])
    return f"{base}.{module}" if module else base
