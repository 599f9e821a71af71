"""Model references used in configs and on the command line.

    catalog:NAME                     offline catalog (see `phronesis models list`)
    hf:ORG/NAME                      Hugging Face hub, when online
    ./local/folder                   a saved model or LoRA adapter folder
    openai:http://host:port/v1#MODEL an OpenAI-compatible server and its model name
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import field_validator, model_validator

from ..core.config import StrictModel
from ..core.errors import ModelRefError

ENV_VAR_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
# A saved model, a PEFT adapter, or a sentence-transformers folder has one of these.
MODEL_MARKERS = ("config.json", "adapter_config.json", "modules.json")
CATALOG_HINT = "use catalog:smollm2-135m-instruct (offline; see `phronesis models list`)"


@dataclass(frozen=True)
class ParsedRef:
    scheme: Literal["catalog", "hf", "local", "openai"]
    target: str  # catalog name, hub repo id, folder path, or base URL
    model_name: str | None = None  # served model name for openai refs


def parse_ref(ref: str) -> ParsedRef:
    ref = ref.strip()
    if not ref:
        raise ModelRefError("empty model reference; " + CATALOG_HINT)
    if ref.startswith("catalog:"):
        return ParsedRef("catalog", ref[len("catalog:"):])
    if ref.startswith("hf:"):
        repo = ref[3:]
        if repo.count("/") != 1:
            raise ModelRefError(f"model ref {ref!r}: expected hf:ORG/NAME")
        return ParsedRef("hf", repo)
    if ref.startswith("openai:"):
        url, _, name = ref[len("openai:"):].partition("#")
        if not url.startswith(("http://", "https://")) or not name:
            raise ModelRefError(f"model ref {ref!r}: expected openai:http(s)://HOST[:PORT]/v1#MODEL_NAME")
        return ParsedRef("openai", url.rstrip("/"), name)
    return ParsedRef("local", ref)


def resolve_local_path(ref: str) -> str:
    """A path or hub id that `from_pretrained` can load; pulls catalog models on demand."""
    parsed = parse_ref(ref)
    if parsed.scheme == "catalog":
        from .catalog import pull

        return str(pull(parsed.target))
    if parsed.scheme == "hf":
        return hf_location(parsed.target)
    if parsed.scheme == "local":
        return str(check_local_ref(ref))
    raise ModelRefError(f"model ref {ref!r}: an openai: server has no local weights")


def hub_reachable(timeout: float = 3.0) -> bool:
    import os
    import socket
    from urllib.parse import urlparse

    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def hf_location(repo: str) -> str:
    """The cached snapshot of an hf: model, else the repo id for a download. Offline and uncached fails at
    once with one line; transformers would retry for 25-50 s and print a screen of warnings first."""
    try:
        from huggingface_hub import snapshot_download

        return snapshot_download(repo, local_files_only=True)
    except Exception:  # not cached (the hub's exception types moved between versions)
        pass
    if not hub_reachable():
        raise ModelRefError(f"model ref 'hf:{repo}': not in the local Hugging Face cache and the hub cannot be "
                            f"reached (offline?); {CATALOG_HINT}")
    return repo


def check_local_ref(ref: str, key: str = "model ref") -> Path:
    path = Path(parse_ref(ref).target).expanduser()
    if not path.is_dir():
        raise ModelRefError(f"{key} {ref!r}: no such folder, and not a catalog:, hf: or openai: reference; "
                            f"{CATALOG_HINT}")
    if not any((path / marker).is_file() for marker in MODEL_MARKERS):  # else transformers fails 79 lines deep
        raise ModelRefError(f"{key} {ref!r}: not a model folder (no {' or '.join(MODEL_MARKERS)})")
    return path


class ModelSpec(StrictModel):
    """A model plus how to run it. A plain string in YAML means `{ref: STRING}`."""

    ref: str
    backend: Literal["auto", "transformers", "openai", "vllm"] = "auto"
    adapter: str | None = None  # LoRA adapter folder applied on top of `ref`
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    device: str = "auto"
    batch_size: int = 32  # prompts per generate call; at 64 prompts x 128 tokens, 32 ran 2x faster than 8
    trust_remote_code: bool = False  # only ever on when the user says so, per model
    api_key_env: str | None = None  # env var holding the key for openai: servers; never the key itself
    max_concurrency: int = 4
    timeout_s: float = 120.0
    max_retries: int = 5

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value):
        return {"ref": value} if isinstance(value, str) else value

    @field_validator("ref")
    @classmethod
    def _check_ref(cls, value: str) -> str:
        try:
            parse_ref(value)
        except ModelRefError as exc:  # pydantic turns ValueError into a keyed config error
            raise ValueError(str(exc)) from None
        return value

    @field_validator("api_key_env")
    @classmethod
    def _env_var_name(cls, value: str | None) -> str | None:
        if value is not None and not ENV_VAR_NAME.match(value):  # never echoed: it may be a pasted key
            raise ValueError("must name an env var (A-Z, 0-9, _), e.g. OPENAI_API_KEY, not hold the key itself")
        return value

    @property
    def resolved_backend(self) -> str:
        if self.backend != "auto":
            return self.backend
        return "openai" if parse_ref(self.ref).scheme == "openai" else "transformers"
