"""LearnedPairJudge: a logistic head on frozen MiniLM features of (prompt, response).

score(prompt, r) = w · f(prompt, r); p(a better) = sigmoid(score(a) − score(b)), so
swapping a and b gives exactly 1 − p. The head is trained on preference pairs the
pipeline makes without a judge (critique revisions over initial answers, the bundled
calibration pairs) and saved as JSON: weights, feature kind, training record. No pickle.
"""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any, Sequence

from ..errors import ConfigError
from ..io import atomic_write_json
from ..protocols import Judgement, PromptLike
from .failures import check_failure_rate
from .pairwise import Pair
from .prompts import prompt_text

FORMAT = "phronesis-learned-judge/1"
FEATURES = ("response", "interaction", "joint")


def features(embedder, kind: str, prompts: Sequence[str], responses: Sequence[str]):
    """(n, d) features. `interaction` adds prompt⊙response so one linear head can prefer a refusal
    for a harmful request and an answer for a harmless one."""
    import numpy as np

    if kind == "joint":
        return embedder.embed([f"{p}\n\n{r}" for p, r in zip(prompts, responses)])
    e_r = embedder.embed(list(responses))
    if kind == "response":
        return e_r
    if kind != "interaction":
        raise ConfigError(f"learned judge: unknown feature kind {kind!r} (have: {', '.join(FEATURES)})")
    e_p = embedder.embed(list(prompts))
    return np.concatenate([e_r, e_p * e_r * math.sqrt(e_r.shape[1])], axis=1)


def fit_logistic(diffs, l2: float, iterations: int = 50):
    """Newton's method for a bias-free logistic regression on both orientations of each pair."""
    import numpy as np

    x = np.concatenate([diffs, -diffs]).astype("float64")
    y = np.concatenate([np.ones(len(diffs)), np.zeros(len(diffs))])
    w = np.zeros(x.shape[1])
    for _ in range(iterations):
        p = 1 / (1 + np.exp(-(x @ w)))
        grad = x.T @ (p - y) + l2 * w
        hess = (x * (p * (1 - p))[:, None]).T @ x + l2 * np.eye(x.shape[1])
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


def pair_diffs(embedder, kind: str, pairs: Sequence[dict]):
    prompts = [prompt_text(p["prompt"]) for p in pairs]
    chosen = features(embedder, kind, prompts, [_text(p["chosen"]) for p in pairs])
    rejected = features(embedder, kind, prompts, [_text(p["rejected"]) for p in pairs])
    return chosen - rejected


def _text(value: Any) -> str:
    return value if isinstance(value, str) else "\n\n".join(m["content"] for m in value if m["role"] == "assistant")


def train_learned_judge(embedder, pairs: Sequence[dict], kind: str = "interaction", l2: float = 1.0,
                        sources: Sequence[str] = ()) -> dict[str, Any]:
    """Fit the head; returns the JSON-able weights record (deterministic given the pairs)."""
    weights = fit_logistic(pair_diffs(embedder, kind, pairs), l2)
    ids = "\n".join(str(p.get("id", i)) for i, p in enumerate(pairs))
    return {"format": FORMAT, "embedder": embedder.spec.ref, "features": kind, "l2": l2,
            "weights": [round(float(v), 7) for v in weights],
            "trained_on": {"sources": list(sources), "pairs": len(pairs),
                           "ids_sha256": hashlib.sha256(ids.encode()).hexdigest()[:16]}}


def save_weights(record: dict[str, Any], path: str | Path) -> None:
    atomic_write_json(path, record)


def load_weights(path: str | Path) -> dict[str, Any]:
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read learned-judge weights ({type(exc).__name__}); "
                          f"train them with `phronesis judge-train --out FILE` and set judge.weights") from None
    if record.get("format") != FORMAT or record.get("features") not in FEATURES:
        raise ConfigError(f"{path}: not a learned-judge weights file (format {record.get('format')!r})")
    return record


class LearnedPairJudge:
    def __init__(self, embedder, record: dict[str, Any], max_failure_rate: float = 1.0):
        import numpy as np

        self.embedder, self.record = embedder, record
        self.kind, self.w = record["features"], np.asarray(record["weights"], dtype="float64")
        self.max_failure_rate = max_failure_rate

    def scores(self, prompts: Sequence[str], responses: Sequence[str]):
        return features(self.embedder, self.kind, prompts, responses).astype("float64") @ self.w

    def compare(self, prompt: PromptLike, a: str, b: str, principle: str | None = None) -> Judgement:
        return self.compare_many([Pair(prompt, a, b, principle)])[0]

    def compare_many(self, items: Sequence[Pair]) -> list[Judgement]:
        items = [Pair(*i) for i in items]
        prompts = [prompt_text(i.prompt) for i in items]
        sa, sb = self.scores(prompts, [i.a for i in items]), self.scores(prompts, [i.b for i in items])
        out = []
        for item, x, y in zip(items, sa, sb):
            if not (math.isfinite(x) and math.isfinite(y)):
                out.append(Judgement(None, principle=item.principle, error="non-finite learned score"))
                continue
            p = 1 / (1 + math.exp(-(x - y)))
            out.append(Judgement(p, p, p, item.principle, None, {"score_a": float(x), "score_b": float(y)}))
        check_failure_rate(out, self.max_failure_rate, "learned judge")
        return out
