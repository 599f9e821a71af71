"""LearnedPairJudge: a logistic head on frozen MiniLM features of (question, prompt, response).

score(q, prompt, r) = w · f(q, prompt, r); p(a better) = sigmoid(score(a) − score(b)), so
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

from ..core.errors import ConfigError
from ..core.io import atomic_write_json
from ..core.protocols import Judgement, PromptLike
from .failures import check_failure_rate
from .pairwise import Pair
from .prompts import DEFAULT_QUESTION, conversation_text
from .questions import question_text
from .refusal import is_refusal

FORMAT = "phronesis-learned-judge/1"
FEATURES = ("response", "interaction", "joint", "principled")
# Kinds whose verdict depends on the question asked; the others are principle-blind.
READS_PRINCIPLES = ("principled",)


def embed_unique(embedder, texts: Sequence[str]):
    """embed() each distinct text once (a response is scored under many questions)."""
    import numpy as np

    unique = list(dict.fromkeys(texts))
    vectors = np.asarray(embedder.embed(unique), dtype="float64")
    index = {t: i for i, t in enumerate(unique)}
    return vectors[[index[t] for t in texts]]


def reversing_questions(pairs: Sequence[dict]) -> list[tuple[str, str]]:
    """(q, q') whenever one training pair is labelled one way under q and the other way under q'."""
    sides: dict[str, dict[str, set[str]]] = {}
    for i, p in enumerate(pairs):
        sides.setdefault(str(p.get("id", i)), {}).setdefault(_text(p["chosen"]), set()).add(
            question_text(p.get("question")))
    found = set()
    for by_chosen in sides.values():
        if len(by_chosen) == 2:
            first, second = by_chosen.values()
            found.update((a, b) for a in first for b in second)
    return sorted(found)


def question_basis(embedder, questions: Sequence[str], reversing: Sequence[tuple[str, str]],
                   k: int) -> dict[str, list]:
    """k directions in which the training questions differ, each scaled to unit RMS over them: the
    leading singular directions of the (normalised) differences between questions that reverse a
    label, and of the centred questions. MiniLM puts a principle and its inverted twin one word
    apart, so the head reads the question through these few directions, not all 384 coordinates."""
    import numpy as np

    e_q = embed_unique(embedder, sorted(set(questions)))
    mean = e_q.mean(axis=0)
    rows = [e_q - mean]
    if reversing:
        diffs = embed_unique(embedder, [a for a, _ in reversing]) - embed_unique(embedder, [b for _, b in reversing])
        rows.append(diffs / np.maximum(np.linalg.norm(diffs, axis=1, keepdims=True), 1e-9))
    _, _, vt = np.linalg.svd(np.concatenate(rows), full_matrices=False)
    vt = vt[:k] * np.sign(vt[:k, [0]] + 1e-12)  # a fixed sign per direction, so training is reproducible
    scale = 1 / np.maximum(np.sqrt((((e_q - mean) @ vt.T) ** 2).mean(axis=0)), 1e-9)
    return {"mean": [round(float(v), 7) for v in mean], "components": np.round(vt, 7).tolist(),
            "scale": [round(float(v), 7) for v in scale]}


def response_bases(diffs, k: int, split: int) -> dict[str, list]:
    """The k leading directions of the chosen − rejected differences of each of the two base blocks (the
    first `split` columns, the rest): the question modulates these (k per question direction) rather than
    all ~770 coordinates, so the head stays small."""
    import numpy as np

    out = {}
    for key, part in (("response_components", diffs[:, :split]), ("interaction_components", diffs[:, split:])):
        _, _, vt = np.linalg.svd(np.concatenate([part, -part]), full_matrices=False)
        out[key] = np.round(vt[:k] * np.sign(vt[:k, [0]] + 1e-12), 7).tolist()
    return out


# What the harmful-request classifier reads by default: SmolLM2's state after 21 of its 30 layers at the start of
# its reply. Layer, pooling and l2 were chosen on the bundled harmful_val/benign_val prompts (RESULTS.md).
REQUEST_ENCODER = {"model": "catalog:smollm2-135m-instruct", "layer": 21}
REQUEST_L2 = 1.0
REQUEST_SELECTION_SETS = ("builtin:harmful_val", "builtin:benign_val")
_ENCODERS: dict[tuple[str, int], Any] = {}


def encoder_of(head: dict[str, Any], embedder):
    """The encoder a harmful-request head was fitted on: the chat model its `encoder` names (loaded once per
    process, each prompt encoded once), else the judge's own sentence embedder."""
    spec = head.get("encoder")
    if not spec:
        return embedder
    key = (spec["model"], int(spec["layer"]))
    if key not in _ENCODERS:
        from ..models.embeddings import CachedEmbedder, ReplyStateEncoder

        _ENCODERS[key] = CachedEmbedder(ReplyStateEncoder(*key))
    return _ENCODERS[key]


def fit_prompt_harm(embedder, harmful: Sequence[str], benign: Sequence[str], l2: float = 1.0,
                    encoder: dict[str, Any] | None = None) -> dict[str, Any]:
    """p(harmful request) = sigmoid(w · (x_p − mean)·scale + b), a class-balanced logistic regression on the
    prompts' encodings: `encoder` ({"model", "layer"}, see REQUEST_ENCODER; standardised) or, when None,
    `embedder`'s (as they are)."""
    import numpy as np

    encode = encoder_of({"encoder": encoder}, embedder)
    x = np.concatenate([embed_unique(encode, list(harmful)), embed_unique(encode, list(benign))]).astype("float64")
    # a chat model's states are on no common scale (a few coordinates reach ~100); unit-norm sentence
    # embeddings are, and their head was measured unstandardised
    mean, scale = (x.mean(axis=0), 1 / (x.std(axis=0) + 1e-6)) if encoder else (0.0, 1.0)
    x = np.c_[(x - mean) * scale, np.ones(len(x))]  # the last weight is the bias
    y = np.r_[np.ones(len(harmful)), np.zeros(len(benign))]
    w = newton_logistic(x, y, l2, weight=np.where(y == 1, len(benign) / max(len(harmful), 1), 1.0))
    rounded = lambda v: [round(float(x), 7) for x in v]  # noqa: E731
    standardised = {"encoder": dict(encoder), "mean": rounded(mean), "scale": rounded(scale)} if encoder else {}
    return {**standardised, "weights": rounded(w[:-1]), "bias": round(float(w[-1]), 7), "l2": l2,
            "harmful": len(harmful), "benign": len(benign)}


def harm_sign(embedder, prompts: Sequence[str], head: dict[str, Any]):
    """2·p(harmful) − 1 per prompt: +1 where a refusal is right, −1 where an answer is."""
    import numpy as np

    x = embed_unique(encoder_of(head, embedder), prompts).astype("float64")
    if "mean" in head:  # standardised: fitted on a chat model's states
        x = (x - np.asarray(head["mean"])) * np.asarray(head["scale"])
    logit = x @ np.asarray(head["weights"]) + head["bias"]
    return 2 / (1 + np.exp(-logit)) - 1


def features(embedder, kind: str, prompts: Sequence[str], responses: Sequence[str],
             questions: Sequence[str] | None = None, basis: dict | None = None):
    """(n, d·k) features. `interaction` adds prompt⊙response so one linear head can prefer a refusal
    for a harmful request and an answer for a harmless one (the √d factor keeps it at the scale of e_r).
    `principled` says the same through one number per prompt instead, the sign of a harmful-request
    classifier times the response (s(p)·e_r), beside a down-weighted e_r: a style prior learned from one
    author's pairs did not carry to others' (benchmarks/RESULTS.md). Weights trained with a `refusal_reading`
    also get s(p) times whether the rule detector reads a refusal. It then adds (question coordinates in
    `basis`) ⊗ those blocks, so the question (an inverted twin, helpfulness) can turn the preference round."""
    import numpy as np

    if kind == "joint":
        return embedder.embed([f"{p}\n\n{r}" for p, r in zip(prompts, responses)])
    if kind not in FEATURES:
        raise ConfigError(f"learned judge: unknown feature kind {kind!r} (have: {', '.join(FEATURES)})")
    e_r = embed_unique(embedder, responses)
    if kind == "response":
        return e_r
    if kind == "interaction":
        return np.concatenate([e_r, embed_unique(embedder, prompts) * e_r * math.sqrt(e_r.shape[1])], axis=1)
    if basis is None or "prompt_harm" not in basis:
        raise ConfigError("learned judge: principled features need the basis of their weights file "
                          "(retrain old weights with `phronesis judge-train`)")
    sign = harm_sign(embedder, prompts, basis["prompt_harm"])[:, None]
    interaction = sign * e_r
    if basis.get("refusal_reading"):  # s(p)·(±1 as the rule detector reads a refusal), see REFUSAL_READING
        refuses = np.array([[2.0 * is_refusal(r) - 1] for r in responses])
        interaction = np.c_[interaction, basis["refusal_reading"] * sign * refuses]
    blocks = [e_r * basis["response_scale"], interaction]
    if "response_components" in basis:  # absent only while those components are being fitted
        e_q = embed_unique(embedder, questions if questions is not None else [DEFAULT_QUESTION] * len(responses))
        coords = (e_q - np.asarray(basis["mean"])) @ np.asarray(basis["components"]).T * np.asarray(basis["scale"])
        reduced = [b @ np.asarray(basis[key]).T for b, key in zip(blocks, ("response_components", "interaction_components"))]
        blocks += [coords[:, [j]] * b for j in range(coords.shape[1]) for b in reduced]
    return np.concatenate(blocks, axis=1)


def newton_logistic(x, y, l2: float, weight=None, iterations: int = 50):
    """L2-penalised logistic regression by Newton's method; `weight` per row (default 1)."""
    import numpy as np

    weight = np.ones(len(y)) if weight is None else weight
    w = np.zeros(x.shape[1])
    for _ in range(iterations):
        p = 1 / (1 + np.exp(-(x @ w)))
        grad = x.T @ (weight * (p - y)) + l2 * w
        hess = (x * (weight * p * (1 - p))[:, None]).T @ x + l2 * np.eye(x.shape[1])
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


def fit_logistic(diffs, l2: float, iterations: int = 50):
    """A bias-free logistic regression on both orientations of each pair."""
    import numpy as np

    x = np.concatenate([diffs, -diffs]).astype("float64")
    return newton_logistic(x, np.concatenate([np.ones(len(diffs)), np.zeros(len(diffs))]), l2, iterations=iterations)


def pair_diffs(embedder, kind: str, pairs: Sequence[dict], basis: dict | None = None):
    """f(chosen) − f(rejected) per pair, each under its `question` (None: the default question)."""
    prompts = [conversation_text(p["prompt"]) for p in pairs]
    questions = [question_text(p.get("question")) for p in pairs]
    chosen = features(embedder, kind, prompts, [_text(p["chosen"]) for p in pairs], questions, basis)
    rejected = features(embedder, kind, prompts, [_text(p["rejected"]) for p in pairs], questions, basis)
    return chosen - rejected


def _text(value: Any) -> str:
    return value if isinstance(value, str) else "\n\n".join(m["content"] for m in value if m["role"] == "assistant")


RESPONSE_SCALE = 0.1  # e_r's weight beside s(p)·e_r in principled features, chosen on RESPONSE_SCALE_SET
RESPONSE_SCALE_SET = "wheel:pyrit_objective"  # 1.0 / 0.3 / 0.1 / 0.03 scored 0.27 / 0.54 / 0.62 / 0.60 there
# The scale of s(p)·refusal(r) beside s(p)·e_r. What one author's refusals look like in e_r did not carry to
# another's; whether a reply opens with a refusal phrase does. 1.0 was the only scale tried; the feature was
# chosen on the leave-one-source-out figures (RESULTS.md, session 11), which are therefore selection figures.
REFUSAL_READING = 1.0


def train_learned_judge(embedder, pairs: Sequence[dict], kind: str = "interaction", l2: float = 1.0,
                        sources: Sequence[str] = (), question_dims: int = 32, response_dims: int = 16,
                        prompt_harm: dict | None = None, response_scale: float = RESPONSE_SCALE,
                        refusal_reading: float = REFUSAL_READING) -> dict[str, Any]:
    """Fit the head; returns the JSON-able weights record (deterministic given the pairs). Principled
    kinds read each pair's `question` (see judges.questions.principled_pairs) and a harmful-request
    classifier (`fit_prompt_harm`; default: fitted on these pairs' own prompts by their `kind`)."""
    basis = None
    if kind in READS_PRINCIPLES:
        if prompt_harm is None:
            prompt_harm = fit_prompt_harm(embedder, *requests_by_kind(pairs))
        basis = {"prompt_harm": prompt_harm, "response_scale": response_scale, "refusal_reading": refusal_reading}
        base_blocks = dict(basis)  # the two base blocks only: the question directions are fitted next
        basis.update(question_basis(embedder, [question_text(p.get("question")) for p in pairs],
                                    reversing_questions(pairs), question_dims))
        # e_r's width is the embedder's, which the questions' mean already has
        basis.update(response_bases(pair_diffs(embedder, kind, pairs, base_blocks), response_dims,
                                    split=len(basis["mean"])))
    weights = fit_logistic(pair_diffs(embedder, kind, pairs, basis), l2)
    ids = "\n".join(str(p.get("id", i)) + (f"|{p['question']}" if p.get("question") else "")
                    for i, p in enumerate(pairs))
    return {"format": FORMAT, "embedder": embedder.spec.ref, "features": kind, "l2": l2,
            **({"question_basis": basis} if basis else {}),
            "weights": [round(float(v), 7) for v in weights],
            "trained_on": {"sources": list(sources), "pairs": len(pairs),
                           "ids_sha256": hashlib.sha256(ids.encode()).hexdigest()[:16]}}


SHOT_SOURCE = "builtin:few_shot/critique_revision.yaml"
# Requests the harmful-request classifier learns from, beside the training pairs' own prompts. HarmBench is
# left out: evaluation reports it as the outside set no stage may train on.
HARMFUL_REQUESTS = ("builtin:harmful_train", "wheel:donotanswer", "wheel:advbench")
BENIGN_REQUESTS = ("builtin:benign_train",)


def requests_by_kind(rows: Sequence[dict], harmful_sets: Sequence[str] = (),
                     benign_sets: Sequence[str] = ()) -> tuple[list[str], list[str]]:
    """(harmful, benign) request texts, each once: the rows' prompts by their `kind` (harmful unless
    "benign"), plus the prompt sets named."""
    from ..data.sources import load_prompts

    def texts(sets: Sequence[str], benign: bool) -> list[str]:
        out = [r["prompt"] for ref in sets for r in load_prompts(ref)]
        out += [r["prompt"] for r in rows if (r.get("kind", "harmful") == "benign") == benign]
        return sorted({conversation_text(p) for p in out})
    return texts(harmful_sets, False), texts(benign_sets, True)


L2_GRID = (0.3, 1.0, 3.0, 10.0)


def train_from_sources(embedder, refs: Sequence[str], kind: str = "principled", l2: float | None = None,
                       with_few_shot: bool = True,
                       request_encoder: dict[str, Any] | None = REQUEST_ENCODER) -> dict[str, Any]:
    """What `phronesis judge-train` does: load each pair file or wheel set, add the bundled critique/revision
    examples, label principled kinds under every question they answer, fit; `trained_on` names the sources.
    `l2=None` chooses it by cross-validation on these rows (recorded under `selected_by`). The harmful-request
    classifier reads `request_encoder` (None: the sentence embedder)."""
    from .pairs import load_pairs
    from .prompts import bundled_shot_pairs
    from .questions import principled_pairs

    from ..models.embeddings import CachedEmbedder

    embedder = CachedEmbedder(embedder)  # the folds and the final fit embed the same texts again and again
    rows = [r for ref in refs for r in load_pairs(ref)]
    sources = list(refs)
    if with_few_shot:
        rows, sources = rows + bundled_shot_pairs(), sources + [SHOT_SOURCE]
    extra: dict[str, Any] = {}
    selected: dict[str, Any] = {"sets": []}
    if kind in READS_PRINCIPLES:
        extra["prompt_harm"] = fit_prompt_harm(embedder, *requests_by_kind(rows, HARMFUL_REQUESTS, BENIGN_REQUESTS),
                                               l2=REQUEST_L2, encoder=request_encoder)
        rows = principled_pairs(rows, embedder)
        selected.update(sets=[RESPONSE_SCALE_SET], response_scale=f"{RESPONSE_SCALE}, chosen on {RESPONSE_SCALE_SET}",
                        refusal_reading=f"{REFUSAL_READING}, added after the leave-one-source-out figures "
                                        f"of benchmarks/judge_sources.py, as were the detector's softer-decline "
                                        f"patterns (selection figures since)")
        if request_encoder:
            selected["request_encoder"] = (f"{request_encoder}, l2 {REQUEST_L2}, chosen on the prompt sets "
                                           f"{' + '.join(REQUEST_SELECTION_SETS)}")
    if l2 is None:
        selection = cross_validated_l2(embedder, rows, kind, L2_GRID, extra)
        l2 = selection["l2"]
        selected.update(l2=f"{selection['folds']}-fold cross-validation on the training pairs",
                        cv_accuracy={str(k): v for k, v in selection["cv_accuracy"].items()})
    else:
        selected["l2"] = "given"
    return {**train_learned_judge(embedder, rows, kind, l2, sources, **extra), "selected_by": selected}


def cross_validated_l2(embedder, rows: Sequence[dict], kind: str, grid: Sequence[float],
                       extra: dict[str, Any] | None = None, folds: int = 5) -> dict[str, Any]:
    """The L2 penalty from `grid` with the best k-fold accuracy on the training rows themselves, folds grouped
    by pair id (a pair's copies under every question stay in one fold), so no held-out or gate set is spent
    on choosing it. Returns {"l2", "cv_accuracy": {l2: accuracy}, "folds"}."""
    import numpy as np

    fold = [int(hashlib.sha256(str(r.get("id", i)).encode()).hexdigest(), 16) % folds for i, r in enumerate(rows)]
    splits = [([r for r, f in zip(rows, fold) if f != k], [r for r, f in zip(rows, fold) if f == k])
              for k in range(folds)]
    accuracy = {}
    for l2 in grid:
        right = []
        for train, test in splits:
            if not train or not test:
                continue
            record = train_learned_judge(embedder, train, kind, l2, **(extra or {}))
            diffs = pair_diffs(embedder, kind, test, record.get("question_basis"))
            right += list((diffs @ np.asarray(record["weights"])) > 0)
        accuracy[l2] = round(float(np.mean(right)), 4)
    return {"l2": max(grid, key=lambda l2: (accuracy[l2], l2)), "cv_accuracy": accuracy, "folds": folds}


def save_weights(record: dict[str, Any], path: str | Path) -> None:
    atomic_write_json(path, record)


def load_weights(ref: str | Path) -> dict[str, Any]:
    """A weights file by path or builtin:NAME."""
    from ..data.sources import data_file

    path = data_file(ref)
    try:
        record = json.loads(path.read_text())
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

    @property
    def reads_principles(self) -> bool:
        """Whether the verdict depends on the question asked (stages that ask per principle need it)."""
        return self.kind in READS_PRINCIPLES

    def scores(self, prompts: Sequence[str], responses: Sequence[str], questions: Sequence[str] | None = None):
        return features(self.embedder, self.kind, prompts, responses, questions,
                        self.record.get("question_basis")).astype("float64") @ self.w

    def compare(self, prompt: PromptLike, a: str, b: str, principle: str | None = None) -> Judgement:
        return self.compare_many([Pair(prompt, a, b, principle)])[0]

    def compare_many(self, items: Sequence[Pair]) -> list[Judgement]:
        items = [Pair(*i) for i in items]
        prompts = [conversation_text(i.prompt) for i in items]
        questions = [question_text(i.principle) for i in items]
        sa, sb = (self.scores(prompts, [i.a for i in items], questions),
                  self.scores(prompts, [i.b for i in items], questions))
        out = []
        for item, x, y in zip(items, sa, sb):
            if not (math.isfinite(x) and math.isfinite(y)):
                out.append(Judgement(None, principle=item.principle, error="non-finite learned score"))
                continue
            p = 1 / (1 + math.exp(-(x - y)))
            out.append(Judgement(p, p, p, item.principle, None, {"score_a": float(x), "score_b": float(y)}))
        check_failure_rate(out, self.max_failure_rate, "learned judge")
        return out
