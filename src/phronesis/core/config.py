"""Typed YAML configs: unknown keys are errors that name the key and suggest a fix.

Configs are data only. YAML is read with `safe_load`, so nothing in a config can
execute code, and `--set a.b=value` overrides are parsed the same way.
"""
from __future__ import annotations

import difflib
import typing
from pathlib import Path
from typing import Annotated, Any, Iterable, TypeVar

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from .errors import ConfigError
from .protocols import GenerationParams

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    """Base for every config section: refuses unknown keys, validates on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=())


class Generation(StrictModel):
    """How a stage samples text: the one `generation:` block of every stage that generates."""

    max_new_tokens: int = Field(256, ge=1)  # 0 would "finish" with empty answers
    temperature: float = Field(0.0, ge=0.0)  # 0: greedy
    top_p: float = Field(1.0, gt=0.0, le=1.0)

    def params(self, seed: int, n: int = 1, system_prompt: str | None = None) -> GenerationParams:
        return GenerationParams(max_new_tokens=self.max_new_tokens, temperature=self.temperature, top_p=self.top_p,
                                n=n, seed=seed, system_prompt=system_prompt)


def generation_with(**stage_defaults: Any) -> Any:
    """The type of a stage's `generation:` field: the keys a config leaves out keep this stage's defaults
    (not Generation's). Declare it as `generation: generation_with(...) = GENERATION_DEFAULT`."""
    return Annotated[Generation, BeforeValidator(lambda v: {**stage_defaults, **v} if isinstance(v, dict) else v)]


GENERATION_DEFAULT: Any = Field(default_factory=dict, validate_default=True)  # {} filled by generation_with(...)


def read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}:{where}: malformed YAML: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping of keys, got {type(data).__name__}")
    return data


def apply_overrides(data: dict[str, Any], overrides: Iterable[str], source: str = "--set") -> dict[str, Any]:
    """Apply `a.b.c=value` overrides; the value is parsed as YAML (`3`, `true`, `[1,2]`)."""
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{source} {item!r}: expected KEY=VALUE, e.g. generate.max_new_tokens=64")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        node = data
        parts = key.strip().split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"{source} {key}: {part!r} is not a mapping, cannot set a sub-key")
            node = child
        node[parts[-1]] = value
    return data


def load_config(model: type[M], path: str | Path | None, overrides: Iterable[str] = (),
                base: dict[str, Any] | None = None) -> M:
    """Read YAML (merged over `base`), apply overrides, and validate into `model`."""
    data = dict(base or {})
    if path is not None:
        data = deep_merge(data, read_yaml(path))
    data = apply_overrides(data, overrides)
    return validate(model, data, source=str(path) if path else "config")


def validate(model: type[M], data: Any, source: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, model, source)) from None


def deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def describe_validation_error(exc: ValidationError, model: type[BaseModel], source: str) -> str:
    """The first error as one line: `file: key a.b.c: problem (did you mean 'x'?)`."""
    err = exc.errors()[0]
    loc = [str(p) for p in err["loc"]]
    dotted = ".".join(loc) or "(top level)"
    if err["type"] == "extra_forbidden":
        valid = field_names_at(model, loc[:-1])
        hint = [".".join(loc[:-1] + [h]) for h in difflib.get_close_matches(loc[-1], valid, n=1, cutoff=0.5)]
        # a key that lives one level down (max_new_tokens inside a stage's `generation:` block)
        hint = hint or [".".join(loc[:-1] + [f, loc[-1]]) for f in valid if loc[-1] in field_names_at(model, loc[:-1] + [f])]
        suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
        allowed = f" (valid keys: {', '.join(sorted(valid))})" if valid and not hint else ""
        return f"{source}: unknown key {dotted!r}{suggestion}{allowed}"
    message = err["msg"].removeprefix("Value error, ")
    extra = f" ({len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return f"{source}: key {dotted}: {message}{extra}"


def field_names_at(model: type[BaseModel], loc: list[str]) -> list[str]:
    """Field names of the nested model that `loc` points into, or [] if unknown."""
    current: Any = model
    for part in loc:
        current = _unwrap_to_model(current)
        if current is None:
            return []
        field = current.model_fields.get(part)
        if field is None:
            return []
        current = field.annotation
    current = _unwrap_to_model(current)
    return list(current.model_fields) if current is not None else []


def _unwrap_to_model(tp: Any) -> type[BaseModel] | None:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp
    for arg in typing.get_args(tp):  # Optional[X], list[X], dict[str, X]
        found = _unwrap_to_model(arg)
        if found is not None:
            return found
    return None
