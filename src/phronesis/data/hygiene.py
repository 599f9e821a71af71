"""Train/test hygiene: every training stage records the prompts it consumed; evaluation refuses overlap.

A stage that trains (or builds training data) writes `training_prompts.jsonl` in its
folder, one row per prompt: {"id", "prompt", "key"}. `key` is the prompt after
normalising case, whitespace and punctuation, so "How do I X?" and "how do i x"
collide. Evaluating a run's model on any prompt whose key a stage of that run
recorded is refused with one line naming the prompt and the stage.
"""
from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Any, Iterable, Sequence

from ..core.errors import DataError
from ..core.io import atomic_write_jsonl, iter_jsonl
from ..core.runstore import STAGE_FOLDER

TRAINING_PROMPTS = "training_prompts.jsonl"
_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


def normalise(text: str) -> str:
    """Lower case, punctuation and runs of whitespace folded to single spaces."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_NON_WORD.sub(" ", folded).split())


# Words too common to say two prompts ask the same thing.
_FILLER = frozenset("a an the i my me to of in on for and or how do what is it can you with without your from at by "
                    "be are this that does should which why when where so into".split())


def content_words(text: str) -> frozenset[str]:
    return frozenset(w for w in normalise(text).split() if w not in _FILLER)


def near_duplicates(tested: Sequence[str], trained: Sequence[str], threshold: float = 0.5) -> list[tuple[str, str, float]]:
    """(test prompt, training prompt, overlap) where their content words overlap (Jaccard) at least `threshold`.

    The exact check above misses a reworded copy ("How do I butcher a chicken?" vs "What's the best way to
    butcher a chicken?"); this catches those in bundled data, where a test item must ask something new.
    """
    train_words = [(t, content_words(t)) for t in trained]
    found = []
    for prompt in tested:
        words = content_words(prompt)
        for text, other in train_words:
            overlap = len(words & other) / max(1, len(words | other))
            if overlap >= threshold:
                found.append((prompt, text, round(overlap, 2)))
    return found


def user_texts(row: dict[str, Any]) -> list[str]:
    """The user-written text a training row was conditioned on: a `prompt` string or chat, or `messages`."""
    prompt = row.get("prompt", row.get("messages"))
    if isinstance(prompt, str):
        return [prompt]
    if isinstance(prompt, list):
        return [m.get("content", "") for m in prompt if isinstance(m, dict) and m.get("role") == "user"]
    return []


def record_training_prompts(stage_dir: Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write the stage's training_prompts.jsonl (deduplicated by key); returns how many it recorded."""
    seen: dict[str, dict[str, str]] = {}
    for number, row in enumerate(rows):
        for text in user_texts(row):
            key = normalise(text)
            if key and key not in seen:
                seen[key] = {"id": str(row.get("id", number)), "prompt": text, "key": key}
    return atomic_write_jsonl(Path(stage_dir) / TRAINING_PROMPTS, seen.values())


def run_root_of(path: str | Path) -> Path | None:
    """The run folder that a saved model inside `runs/<name>/<NN-stage>/...` belongs to, else None."""
    for folder in [Path(path), *Path(path).parents]:
        if STAGE_FOLDER.match(folder.name) and (folder / "manifest.json").is_file():
            return folder.parent
    return None


def training_prompts(run_root: Path) -> dict[str, tuple[str, str]]:
    """key -> (stage folder name, prompt id) over every stage of the run that recorded prompts."""
    found: dict[str, tuple[str, str]] = {}
    for file in sorted(Path(run_root).glob(f"[0-9][0-9]-*/{TRAINING_PROMPTS}")):
        for _, row in iter_jsonl(file):
            found.setdefault(row["key"], (file.parent.name, row["id"]))
    return found


def check_disjoint(eval_sets: dict[str, Sequence[dict[str, Any]]], run_roots: Iterable[Path]) -> int:
    """Refuse (DataError, one line) when an evaluation prompt was a training prompt of one of the runs.

    Returns how many training prompts were checked against, for the manifest.
    """
    trained: dict[str, tuple[str, str]] = {}
    for root in run_roots:
        for key, (stage, pid) in training_prompts(root).items():
            trained.setdefault(key, (f"{Path(root).name}/{stage}", pid))
    for set_name, rows in eval_sets.items():
        for row in rows:
            hit = trained.get(normalise(row["prompt"]))  # jailbreak rows wrap a harmful row, checked itself
            if hit:
                raise DataError(f"evaluation prompt {set_name}/{row['id']} was a training prompt "
                                f"(id {hit[1]}) of stage {hit[0]}; evaluate on held-out prompts only")
    return len(trained)
