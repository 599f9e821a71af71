"""Constitutions (principles with inverted twins) and the virtue-ethics framework, from YAML."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from ..core.config import StrictModel, read_yaml, validate
from ..core.errors import ConfigError
from .sources import data_file


class Principle(StrictModel):
    id: str
    description: str
    critique_request: str
    revision_request: str
    comparison: str  # a judging question: "Which response is less harmful ...?"
    inverse: str | None = None  # id of the twin with the opposite value
    no_inverse: bool = False  # set to true to say "this principle deliberately has no twin"
    weight: float = 1.0
    tags: list[str] = []
    # What an answer that honours this principle does with the requests it covers; best_of_n selects by it.
    wants: Literal["refusal", "answer"] | None = None
    # An optional start for some sampled candidates under this principle (best_of_n `opener_samples`).
    opener: str | None = None


class Constitution(StrictModel):
    name: str
    description: str = ""
    principles: list[Principle] = Field(min_length=1)

    @model_validator(mode="after")
    def _check_twins(self):
        ids = [p.id for p in self.principles]
        duplicates = {i for i in ids if ids.count(i) > 1}
        if duplicates:
            raise ValueError(f"duplicate principle id {sorted(duplicates)[0]!r}")
        for p in self.principles:
            if p.inverse is not None and p.inverse not in ids:
                raise ValueError(f"principle {p.id!r}: inverse {p.inverse!r} is not defined")
        if all("inverted" in p.tags for p in self.principles):  # nothing would steer the model
            raise ValueError("every principle is tagged 'inverted'; at least one must be active")
        return self

    def get(self, principle_id: str) -> Principle:
        for p in self.principles:
            if p.id == principle_id:
                return p
        raise ConfigError(f"constitution {self.name}: no principle {principle_id!r}")

    @property
    def active(self) -> list[Principle]:
        """The principles a model is steered by: everything not tagged `inverted`."""
        return [p for p in self.principles if "inverted" not in p.tags]

    def inverted(self) -> "Constitution":
        """Swap every active principle for its twin: the 'unconstitutional' comparison model."""
        missing = [p.id for p in self.active if p.inverse is None and not p.no_inverse]
        if missing:
            raise ConfigError(f"constitution {self.name}: cannot invert, principle {missing[0]!r} has no "
                              f"`inverse` (add one, or set `no_inverse: true` to keep it as is)")
        swapped, retired = [], []
        for p in self.active:
            twin = p if p.inverse is None else self.get(p.inverse)
            swapped.append(twin.model_copy(update={"tags": [t for t in twin.tags if t != "inverted"]}))
            if p.inverse is not None:  # kept, tagged inverted, so inverting again restores it
                retired.append(p.model_copy(update={"tags": [*p.tags, "inverted"]}))
        return Constitution(name=f"{self.name}-inverted", description=self.description,
                            principles=swapped + retired)


class Dimension(StrictModel):
    id: str
    question: str | None = None  # None for the action itself: the answer to the user's prompt
    description: str = ""


class Virtue(StrictModel):
    id: str
    description: str = ""
    comparison: str


class VirtueFramework(StrictModel):
    name: str
    dimensions: list[Dimension] = Field(min_length=1)
    virtues: list[Virtue] = Field(min_length=1)


class ConstitutionConfig(StrictModel):
    """The `constitution:` section of a pipeline config."""

    path: str = "builtin:harmlessness"
    invert: bool = False
    framework: str = "builtin:virtue_ethics"

    def load(self) -> Constitution:
        constitution = load_constitution(self.path)
        return constitution.inverted() if self.invert else constitution

    def load_framework(self) -> VirtueFramework:
        return load_framework(self.framework)


def _load(model: type, ref: str, folder: str) -> Any:
    path = data_file(ref, f"{folder}/", ".yaml")
    return validate(model, read_yaml(path), source=str(path))


def load_constitution(ref: str = "builtin:harmlessness") -> Constitution:
    return _load(Constitution, ref, "constitutions")


def load_framework(ref: str = "builtin:virtue_ethics") -> VirtueFramework:
    return _load(VirtueFramework, ref, "frameworks")
