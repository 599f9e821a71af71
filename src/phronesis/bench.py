"""`phronesis bench`: each of our fast paths against the naive way, in the same process run, on the same inputs.

Every benchmark runs the naive baseline and ours `repeats` times, alternating so drift in machine load hits
both alike, and reports the median seconds, the throughput and the ratio naive/ours, beside the issue's target
and the machine (`machine()`). Figures are for the machine they ran on; tests only check that benchmarks run.

    generation   greedy answers: one fp32 `model.generate` per prompt vs TransformersGenerator's defaults
    best_of_n    N sampled answers per prompt: N generate calls per prompt vs one batched call
    judging      pairwise judge, both orders: generate 5 tokens and parse A/B vs PairwiseLogProbJudge log-probs
    reward       K LoRA reward models: K separately loaded models vs MultiAdapterRewardModel (subprocesses)
    sage         SaGE of groups of answers: embed one answer at a time vs consistency.sage_per_group
"""
from __future__ import annotations

import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable, Sequence

from .core.protocols import GenerationParams


@dataclass(frozen=True)
class Sizes:
    """How much work each benchmark does; the defaults are the issue's sizes."""

    prompts: int = 64  # generation
    new_tokens: int = 128
    bon_prompts: int = 32  # best_of_n
    n: int = 8
    bon_tokens: int = 64
    pairs: int = 64  # judging
    adapters: int = 4  # reward
    rm_pairs: int = 256
    groups: int = 30  # sage
    answers: int = 5
    batch_size: int = 64  # ours: prompts per batch (the only ModelSpec setting we change)
    repeats: int = 3


QUICK = Sizes(prompts=2, new_tokens=4, bon_prompts=2, n=2, bon_tokens=4, pairs=2, adapters=2, rm_pairs=4,
              groups=2, answers=3, batch_size=8, repeats=1)

# name -> (the target in words, whether a result meets it)
TARGETS: dict[str, tuple[str, Callable[[dict], bool]]] = {
    "generation": (">=15x and >=350 tok/s", lambda r: r["ratio"] >= 15 and r["ours"]["per_s"] >= 350),
    "best_of_n": (">=3x", lambda r: r["ratio"] >= 3),
    "judging": (">=10x", lambda r: r["ratio"] >= 10),
    "reward": ("peak RSS <=1.3x one RM, time <=1.0x the sum",
               lambda r: r["rss_vs_one_rm"] <= 1.3 and r["time_vs_sum"] <= 1.0),
    "sage": (">=5x", lambda r: r["ratio"] >= 5),
}
BENCHMARKS = tuple(TARGETS)


def say(message: str) -> None:
    """Progress on stderr, so stdout keeps only the table."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def machine() -> dict[str, Any]:
    import torch

    cpu = platform.processor()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo", encoding="utf-8")
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import transformers

    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "transformers": transformers.__version__, "amx": torch.cpu._is_amx_tile_supported(),
            "avx512_bf16": torch.cpu._is_avx512_bf16_supported(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "python": platform.python_version()}


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    out = fn()
    return time.perf_counter() - started, out


def _median_of(values: list[tuple[float, int]]) -> dict[str, Any]:
    seconds = statistics.median(s for s, _ in values)
    count = statistics.median(c for _, c in values)
    return {"seconds": round(seconds, 3), "count": int(count), "per_s": round(count / seconds, 1)}


def compare(naive: Callable[[], Any], ours: Callable[[], Any], count: Callable[[Any], int], repeats: int,
            unit: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(figures, last outputs): median seconds and `unit`s per second of each, the ratio naive/ours seconds,
    and each side's outputs from its last run, for checks that must not be timed."""
    runs: dict[str, list[tuple[float, int]]] = {"naive": [], "ours": []}
    last: dict[str, Any] = {}
    for k in range(repeats):
        for side, fn in (("naive", naive), ("ours", ours)):
            seconds, last[side] = _timed(fn)
            runs[side].append((seconds, count(last[side])))
            say(f"  {side} run {k + 1}/{repeats}: {seconds:.1f} s")
    out: dict[str, Any] = {"unit": unit, "naive": _median_of(runs["naive"]), "ours": _median_of(runs["ours"])}
    out["ratio"] = round(out["naive"]["seconds"] / out["ours"]["seconds"], 2)
    return out, last


# ---- inputs: builtin data, so every run (and every machine) sees the same ones ----------------------------

def _cycled(rows: list, n: int) -> list:
    """`n` rows, repeating the list when it is shorter (the builtin sets are small)."""
    return [rows[i % len(rows)] for i in range(n)]


def bench_prompts(n: int) -> list[str]:
    from .data.sources import load_prompts

    rows = load_prompts({"source": "builtin:benign_test"}) + load_prompts({"source": "builtin:benign_train"})
    return [r["prompt"] for r in _cycled(rows, n)]


def bench_pairs(n: int) -> list[dict[str, Any]]:
    from .judges.pairs import load_pairs

    return _cycled(load_pairs("builtin:judge/heldout.jsonl") + load_pairs("builtin:judge/calibration.jsonl"), n)


def _responses(n: int) -> list[str]:
    """Real answer texts (both sides of the judge pairs), for the reward and SaGE benchmarks."""
    pairs = bench_pairs(64)
    return _cycled([p[side] for p in pairs for side in ("chosen", "rejected")], n)


# ---- generation and best-of-N ------------------------------------------------------------------------------

def _generators(model_ref: str, batch_size: int):
    """(naive, ours): naive is plain fp32 one prompt at a time; ours is the stages' default ModelSpec."""
    from .models.backends.transformers_backend import TransformersGenerator

    naive = TransformersGenerator({"ref": model_ref, "dtype": "float32", "batch_size": 1})
    ours = TransformersGenerator({"ref": model_ref, "batch_size": batch_size})
    return naive, ours


def _token_counter(tokenizer) -> Callable[[list[list[Any]]], int]:
    return lambda outs: sum(len(tokenizer.encode(str(t), add_special_tokens=False)) for o in outs for t in o)


def bench_generation(model_ref: str, sizes: Sizes) -> dict[str, Any]:
    naive, ours = _generators(model_ref, sizes.batch_size)
    prompts = bench_prompts(sizes.prompts)
    greedy = GenerationParams(max_new_tokens=sizes.new_tokens)
    return compare(lambda: [naive.generate([p], greedy)[0] for p in prompts],
                   lambda: ours.generate(prompts, greedy), _token_counter(ours.tokenizer), sizes.repeats, "tok")[0]


def bench_best_of_n(model_ref: str, sizes: Sizes) -> dict[str, Any]:
    naive, ours = _generators(model_ref, sizes.batch_size)
    prompts = bench_prompts(sizes.bon_prompts)
    sampled = GenerationParams(max_new_tokens=sizes.bon_tokens, temperature=0.8, n=sizes.n)
    one = replace(sampled, n=1)

    def naive_run() -> list[list[Any]]:
        return [[naive.generate([p], replace(one, seed=k))[0][0] for k in range(sizes.n)] for p in prompts]

    return compare(naive_run, lambda: ours.generate(prompts, sampled), _token_counter(ours.tokenizer),
                   sizes.repeats, "tok")[0]


# ---- pairwise judging --------------------------------------------------------------------------------------

_LABEL = re.compile(r"\b([AB])\b")


def parse_label(text: str) -> str | None:
    """The first standalone A or B in a free-text verdict (the naive judge's parser)."""
    match = _LABEL.search(text)
    return match.group(1) if match else None


def bench_judging(model_ref: str, sizes: Sizes) -> dict[str, Any]:
    from .judges.pairwise import Pair, PairwiseLogProbJudge
    from .judges.prompts import render_pair

    naive, ours = _generators(model_ref, sizes.batch_size)
    items = [Pair(p["prompt"], p["chosen"], p["rejected"]) for p in bench_pairs(sizes.pairs)]
    judge = PairwiseLogProbJudge(ours)
    five = GenerationParams(max_new_tokens=5)

    def ask(item: Pair, first: str, second: str) -> str | None:
        return parse_label(str(naive.generate([render_pair("hardened", item.prompt, first, second, None)], five)[0][0]))

    def naive_run() -> list[tuple[str | None, str | None]]:
        return [(ask(i, i.a, i.b), ask(i, i.b, i.a)) for i in items]

    out, last = compare(naive_run, lambda: judge.compare_many(items), len, sizes.repeats, "pair")
    # a = chosen; the naive judge prefers it when it says A with a first and B with a second
    naive_votes = [(x == "A") + (y == "B") for x, y in last["naive"]]
    out["naive_unparsed"] = sum(label is None for pair in last["naive"] for label in pair)
    out["naive_chosen_rate"] = round(sum(naive_votes) / (2 * len(items)), 3)
    out["ours_chosen_rate"] = round(sum((j.p or 0) > 0.5 for j in last["ours"]) / len(items), 3)
    return out


# ---- reward models: each variant in its own process, so ru_maxrss is its own --------------------------------

def rm_inputs(n: int) -> tuple[list[str], list[str]]:
    return bench_prompts(n), _responses(n)


def peak_rss_mb() -> float:
    """This process's peak RSS. VmHWM, not ru_maxrss: Linux carries ru_maxrss across fork+exec, so a child of
    a parent holding 5 GB reported 5 GB whatever it loaded (the first SmolLM2 run showed 5288 MB for all)."""
    try:
        line = next(x for x in open("/proc/self/status", encoding="utf-8") if x.startswith("VmHWM:"))
        return round(int(line.split()[1]) / 1024, 1)
    except (OSError, StopIteration):
        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def rm_child(variant: str, n: int, folders: Sequence[str]) -> dict[str, Any]:
    """Load `variant` ("multi": one base + every adapter; "separate": one model per adapter; "one": the first
    adapter alone), score `n` pairs with every member, and report time, peak RSS and the first scores."""
    from .rewards.lora_rm import LoraRewardModel, MultiAdapterRewardModel

    prompts, answers = rm_inputs(n)
    started = time.perf_counter()
    if variant == "multi":
        members = list(MultiAdapterRewardModel({f"m{i}": f for i, f in enumerate(folders)}).members().values())
    else:
        members = [LoraRewardModel(f) for f in (folders[:1] if variant == "one" else folders)]
    loaded = time.perf_counter()
    scores = [m.score(prompts, answers) for m in members]
    done = time.perf_counter()
    return {"load_s": round(loaded - started, 2), "score_s": round(done - loaded, 2),
            "seconds": round(done - started, 2),
            "peak_rss_mb": peak_rss_mb(),
            "first_scores": [round(s[0], 4) for s in scores]}


def _run_child(variant: str, n: int, folders: Sequence[str]) -> dict[str, Any]:
    src = str(Path(__file__).resolve().parents[1])  # this copy of phronesis, not whichever is installed
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "phronesis.bench", "--rm-child", variant, str(n), *folders],
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"reward benchmark child {variant!r} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _median_child(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("load_s", "score_s", "seconds", "peak_rss_mb")
    return {**{k: statistics.median(r[k] for r in runs) for k in keys}, "first_scores": runs[0]["first_scores"]}


def bench_reward(model_ref: str, sizes: Sizes) -> dict[str, Any]:
    from .data.modelref import resolve_local_path
    from .rewards.random_adapter import save_random_rm_adapter

    base = resolve_local_path(model_ref)
    with tempfile.TemporaryDirectory() as tmp:
        folders = [str(save_random_rm_adapter(base, Path(tmp) / f"a{i}", seed=i, base_ref=model_ref))
                   for i in range(sizes.adapters)]
        runs: dict[str, list[dict[str, Any]]] = {"naive": [], "ours": [], "one_rm": []}
        for k in range(sizes.repeats):
            for side, variant in (("naive", "separate"), ("ours", "multi"), ("one_rm", "one")):
                runs[side].append(_run_child(variant, sizes.rm_pairs, folders))
                say(f"  {side} run {k + 1}/{sizes.repeats}: {runs[side][-1]['seconds']:.1f} s, "
                    f"{runs[side][-1]['peak_rss_mb']:.0f} MB")
    out: dict[str, Any] = {"unit": "pair-score", **{side: _median_child(r) for side, r in runs.items()}}
    count = sizes.rm_pairs * sizes.adapters
    for side in ("naive", "ours"):
        out[side].update(count=count, per_s=round(count / out[side]["seconds"], 1))
    out["scores_agree"] = out["naive"]["first_scores"] == out["ours"]["first_scores"]
    out["ratio"] = round(out["naive"]["seconds"] / out["ours"]["seconds"], 2)
    out["time_vs_sum"] = round(out["ours"]["seconds"] / out["naive"]["seconds"], 2)
    out["rss_vs_one_rm"] = round(out["ours"]["peak_rss_mb"] / out["one_rm"]["peak_rss_mb"], 2)
    return out


# ---- SaGE --------------------------------------------------------------------------------------------------

def sage_inputs(groups: int, answers: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(groups, answer rows) shaped like the evaluate stage's, with real answer texts."""
    texts = _responses(groups * answers)
    group_rows = [{"id": f"g{g}", "paraphrases": [""] * answers} for g in range(groups)]
    rows = [{"id": f"g{g}#{k}", "answer": texts[g * answers + k]} for g in range(groups) for k in range(answers)]
    return group_rows, rows


def bench_sage(embedder_ref: str, sizes: Sizes) -> dict[str, Any]:
    import numpy as np

    from .evaluation.consistency import sage_per_group
    from .evaluation.sage import sage_from_embeddings
    from .models.embeddings import TransformersEmbedder

    embedder = TransformersEmbedder(embedder_ref)
    groups, rows = sage_inputs(sizes.groups, sizes.answers)

    def naive_run() -> list[float]:
        by_group = [[r["answer"] for r in rows if r["id"].split("#")[0] == g["id"]] for g in groups]
        return [sage_from_embeddings(np.concatenate([embedder.embed([a]) for a in answers]))
                for answers in by_group]

    embedder.embed(["warm-up"])  # loading the model is neither side's cost
    out, last = compare(naive_run, lambda: sage_per_group(rows, groups, embedder), len, sizes.repeats, "group")
    pairs = zip(last["naive"], (r["sage"] for r in last["ours"]))
    out["max_score_difference"] = round(max(abs(a - b) for a, b in pairs), 6)  # padding: float noise only
    return out


# ---- the whole run -----------------------------------------------------------------------------------------

def run_benchmarks(model_ref: str, embedder_ref: str, sizes: Sizes, only: Sequence[str] = BENCHMARKS
                   ) -> dict[str, Any]:
    """Every benchmark in `only`, each with its target and whether it was met, plus the machine and sizes."""
    runners: dict[str, Callable[[], dict[str, Any]]] = {
        "generation": lambda: bench_generation(model_ref, sizes),
        "best_of_n": lambda: bench_best_of_n(model_ref, sizes),
        "judging": lambda: bench_judging(model_ref, sizes),
        "reward": lambda: bench_reward(model_ref, sizes),
        "sage": lambda: bench_sage(embedder_ref, sizes),
    }
    result: dict[str, Any] = {"machine": machine(), "model": model_ref, "embedder": embedder_ref,
                              "date": time.strftime("%Y-%m-%d %H:%M %Z"), "sizes": asdict(sizes), "benchmarks": {}}
    for name in only:
        say(f"{name} ...")
        figures = runners[name]()
        target, met = TARGETS[name]
        result["benchmarks"][name] = {**figures, "target": target, "met": met(figures)}
    return result


if __name__ == "__main__" and sys.argv[1:2] == ["--rm-child"]:
    print(json.dumps(rm_child(sys.argv[2], int(sys.argv[3]), sys.argv[4:])))
