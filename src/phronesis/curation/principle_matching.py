"""Which constitution principles a prompt touches: embedding similarity to each principle's description.

`match_principles` ranks principles per prompt; `sample_principles` draws from those
ranks with a softmax, so a critique round usually uses a relevant principle while
still visiting the runners-up now and then.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, Sequence

from ..core.protocols import PromptLike
from ..data.constitution import Principle


class Embedder(Protocol):
    def embed(self, texts: Sequence[str]) -> Any:
        """(n, d) array of L2-normalised vectors."""
        ...


@dataclass(frozen=True)
class PrincipleScore:
    principle: str
    score: float


def prompt_text(prompt: PromptLike) -> str:
    """The text to classify: a plain prompt, or a dialogue's user turns joined."""
    if isinstance(prompt, str):
        return prompt
    return "\n".join(m["content"] for m in prompt if m.get("role") == "user")


def similarity_matrix(prompts: Sequence[PromptLike], principles: Sequence[Principle], embedder: Embedder):
    """(n_prompts, n_principles) cosine similarities (vectors are re-normalised to be safe)."""
    import numpy as np

    if not principles:
        raise ValueError("no principles to match against")
    vectors = np.asarray(embedder.embed([prompt_text(p) for p in prompts]), dtype="float64")
    anchors = np.asarray(embedder.embed([p.description for p in principles]), dtype="float64")
    vectors /= np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None)
    anchors /= np.clip(np.linalg.norm(anchors, axis=1, keepdims=True), 1e-12, None)
    return vectors @ anchors.T


def match_principles(prompts: Sequence[PromptLike], principles: Sequence[Principle], embedder: Embedder,
                     top_k: int = 3) -> list[list[PrincipleScore]]:
    """Per prompt, the `top_k` most similar principles, best first."""
    sims = similarity_matrix(prompts, principles, embedder)
    out = []
    for row in sims:
        order = sorted(range(len(principles)), key=lambda j: (-row[j], principles[j].id))[:top_k]
        out.append([PrincipleScore(principles[j].id, float(row[j])) for j in order])
    return out


def sample_principles(scores: Sequence[PrincipleScore], k: int, rng: Any,
                      temperature: float = 0.05) -> list[str]:
    """Draw `k` principle ids without replacement, p ∝ exp(score / temperature).

    `rng` is a numpy Generator. With more draws than candidates the list repeats
    in fresh permutations, so every round still gets a principle.
    """
    import numpy as np

    if not scores:
        raise ValueError("no principle scores to sample from")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    ids = [s.principle for s in scores]
    logits = np.array([s.score for s in scores], dtype="float64") / temperature
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    drawn: list[str] = []
    while len(drawn) < k:
        take = min(k - len(drawn), len(ids))
        picks = rng.choice(len(ids), size=take, replace=False, p=probs)
        drawn.extend(ids[i] for i in picks)
    return drawn
