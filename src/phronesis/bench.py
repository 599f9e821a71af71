"""`phronesis bench`: our sampling loops against the naive way, in the same process, on the same inputs.

Each benchmark runs the naive baseline and ours `repeats` times, alternating, and reports the median
seconds, tokens per second and the ratio. Figures are for the machine they ran on (recorded with them);
tests only check that the benchmarks run.
"""
from __future__ import annotations

import os
import platform
import statistics
import time
from typing import Any, Callable, Sequence

from .protocols import GenerationParams


def machine() -> dict[str, Any]:
    import torch

    cpu = platform.processor()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo", encoding="utf-8")
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "python": platform.python_version()}


def _timed(fn: Callable[[], list[list[str]]], count_tokens: Callable[[list[list[str]]], int]) -> tuple[float, int]:
    started = time.perf_counter()
    out = fn()
    return time.perf_counter() - started, count_tokens(out)


def compare(naive: Callable[[], list[list[str]]], ours: Callable[[], list[list[str]]],
            count_tokens: Callable[[list[list[str]]], int], repeats: int) -> dict[str, Any]:
    """Median seconds and tokens/s of each, alternating runs so drift in machine load hits both alike."""
    runs: dict[str, list[tuple[float, int]]] = {"naive": [], "ours": []}
    for _ in range(repeats):
        runs["naive"].append(_timed(naive, count_tokens))
        runs["ours"].append(_timed(ours, count_tokens))
    out: dict[str, Any] = {}
    for name, values in runs.items():
        seconds = statistics.median(s for s, _ in values)
        tokens = statistics.median(t for _, t in values)
        out[name] = {"seconds": round(seconds, 3), "tokens": int(tokens), "tokens_per_s": round(tokens / seconds, 1)}
    out["speedup"] = round(out["naive"]["seconds"] / out["ours"]["seconds"], 2)
    return out


def run_benchmarks(model_ref: str, prompts: Sequence[str], max_new_tokens: int, n: int, batch_size: int,
                   repeats: int) -> dict[str, Any]:
    """generation (greedy): one generate per prompt vs batched; best_of_n (sampled): N calls per prompt vs one."""
    from .backends.transformers_backend import TransformersGenerator

    ours = TransformersGenerator({"ref": model_ref, "batch_size": batch_size})
    single = TransformersGenerator({"ref": model_ref, "batch_size": 1}, ours.model, ours.tokenizer)
    tokens = lambda outs: sum(len(ours.tokenizer.encode(t, add_special_tokens=False)) for o in outs for t in o)  # noqa: E731
    greedy = GenerationParams(max_new_tokens=max_new_tokens)
    sampled = GenerationParams(max_new_tokens=max_new_tokens, temperature=0.8, n=n)

    def best_of_n_naive() -> list[list[str]]:
        one = GenerationParams(max_new_tokens=max_new_tokens, temperature=0.8)
        return [[single.generate([p], GenerationParams(**{**one.__dict__, "seed": k}))[0][0] for k in range(n)]
                for p in prompts]

    return {"machine": machine(), "model": model_ref,
            "settings": {"prompts": len(prompts), "max_new_tokens": max_new_tokens, "n": n,
                         "batch_size": batch_size, "repeats": repeats},
            "generation": compare(lambda: [single.generate([p], greedy)[0] for p in prompts],
                                  lambda: ours.generate(list(prompts), greedy), tokens, repeats),
            "best_of_n": compare(best_of_n_naive, lambda: ours.generate(list(prompts), sampled), tokens, repeats)}
