"""`NAME=REF[@system:constitution|@system:FILE]`: the models an evaluation compares.

REF is any model ref (catalog:, hf:, a local folder, openai:URL#MODEL). A local
folder holding `adapter_config.json` is a LoRA adapter: its base model is loaded
and the adapter applied on top. `@system:constitution` makes the prompted
baseline (the constitution's active principles as the system prompt);
`@system:FILE` reads the system prompt from a text file.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from ..core.errors import ModelRefError
from ..data.constitution import Constitution
from ..data.modelref import ModelSpec, parse_ref
from ..models.lora import adapter_base
from .prompted import constitution_system_prompt

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$")
SYSTEM_MARK = "@system:"
KEY_MARK = "@key_env:"  # the environment variable holding an openai: server's API key (never the key)


@dataclass(frozen=True)
class EvalModel:
    name: str
    spec: ModelSpec
    system: str | None = None  # "constitution", a file path, or None
    system_prompt: str | None = None

    @property
    def describe(self) -> str:
        extra = f" + adapter {self.spec.adapter}" if self.spec.adapter else ""
        return f"{self.spec.ref}{extra}" + (f" (system prompt: {self.system})" if self.system else "")


def split_model_arg(text: str) -> tuple[str, str, str | None, str | None]:
    """(name, ref, system, key_env) from `NAME=REF[@system:X][@key_env:VAR]`, with one-line errors."""
    text, key_mark, key_env = text.partition(KEY_MARK)
    if key_mark and not key_env.strip():
        raise ModelRefError(f"--models {text!r}: '@key_env:' needs an environment variable name")
    name, sep, rest = text.partition("=")
    name = name.strip()
    if not sep or not rest.strip():
        raise ModelRefError(f"--models {text!r}: expected NAME=REF, e.g. base=catalog:smollm2-135m-instruct")
    if not NAME.match(name):
        raise ModelRefError(f"--models {text!r}: name {name!r} must be letters, digits, '_', '.', '+', '-'")
    ref, mark, system = rest.strip().partition(SYSTEM_MARK)
    if mark and not system.strip():
        raise ModelRefError(f"--models {text!r}: '@system:' needs 'constitution' or a file path")
    return name, ref.strip(), (system.strip() or None), (key_env.strip() or None)


def adapter_spec(ref: str) -> ModelSpec:
    """A ModelSpec for `ref`; a local LoRA adapter folder becomes base ref + adapter."""
    parsed = parse_ref(ref)
    folder = Path(parsed.target).expanduser()
    if parsed.scheme != "local" or not (folder / "adapter_config.json").is_file():
        return ModelSpec(ref=ref)
    base = adapter_base(folder)
    if not base.startswith(("catalog:", "hf:", "openai:")) and not Path(base).expanduser().exists():
        base = f"hf:{base}" if base.count("/") == 1 else base
    return ModelSpec(ref=base, adapter=str(folder))


def system_prompt_for(system: str | None, constitution: Constitution | None) -> str | None:
    if system is None:
        return None
    if system == "constitution":
        if constitution is None:
            raise ModelRefError("@system:constitution needs a constitution")
        return constitution_system_prompt(constitution)
    path = Path(system).expanduser()
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError:
        raise ModelRefError(f"@system:{system}: not 'constitution' and no readable file {path}") from None


def parse_models(args: list[str], constitution: Constitution | None = None) -> list[EvalModel]:
    models, seen = [], set()
    for text in args:
        name, ref, system, key_env = split_model_arg(text)
        if name in seen:
            raise ModelRefError(f"--models: name {name!r} given twice")
        seen.add(name)
        spec = adapter_spec(ref)
        if key_env:
            try:  # ModelSpec checks it names a variable and is not a pasted key
                spec = spec.model_validate({**spec.model_dump(exclude_unset=True), "api_key_env": key_env})
            except ValidationError as exc:  # the message never repeats the value: it may be a pasted key
                reason = exc.errors()[0]["msg"].removeprefix("Value error, ")
                raise ModelRefError(f"--models {name}: @key_env: {reason}") from None
        models.append(EvalModel(name, spec, system, system_prompt_for(system, constitution)))
    return models
