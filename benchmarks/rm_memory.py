"""Memory and time: K LoRA reward adapters over ONE base vs K separately loaded models.

Each variant runs in its own subprocess so its peak RSS (ru_maxrss) is its own. Both score
the same N (prompt, completion) pairs with every member, fp32, batch 8. The adapters are
untrained-but-real LoRA RMs (random LoRA matrices and score heads) on SmolLM2-135M.
    flock /tmp/phronesis-heavy.lock env PYTHONPATH=src /tmp/venv/bin/python benchmarks/rm_memory.py
"""
from __future__ import annotations

import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

K, N = 3, 16
ROOT = Path(__file__).resolve().parents[1]


def _pairs():
    prompts = [f"Question {i}: is it ever right to lie to protect a friend?" for i in range(N)]
    answers = [f"Answer {i}: honesty matters, but so does care; " * (1 + i % 3) for i in range(N)]
    return prompts, answers


def child(variant: str, folders: list[str]) -> None:
    from phronesis.rewards.lora_rm import LoraRewardModel, MultiAdapterRewardModel

    prompts, answers = _pairs()
    started = time.perf_counter()
    if variant == "multi":
        multi = MultiAdapterRewardModel({f"m{i}": f for i, f in enumerate(folders)})
        members = list(multi.members().values())
    else:
        members = [LoraRewardModel(f) for f in folders]
    loaded = time.perf_counter()
    scores = [m.score(prompts, answers) for m in members]
    done = time.perf_counter()
    print(json.dumps({"variant": variant, "load_s": round(loaded - started, 2), "score_s": round(done - loaded, 2),
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                      "first_scores": [round(s[0], 5) for s in scores]}))


def main() -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    from rm_helpers import save_random_rm_adapter

    from phronesis.catalog import pull

    base = pull("smollm2-135m-instruct")
    with tempfile.TemporaryDirectory() as tmp:
        folders = [str(save_random_rm_adapter(base, Path(tmp) / f"a{i}", seed=i)) for i in range(K)]
        results = {}
        for variant in ("multi", "separate"):
            out = subprocess.run([sys.executable, __file__, "--child", variant, *folders], check=True,
                                 capture_output=True, text=True).stdout.strip().splitlines()[-1]
            results[variant] = json.loads(out)
    assert results["multi"]["first_scores"] == results["separate"]["first_scores"], "variants disagree"
    results["rss_ratio_separate_over_multi"] = round(results["separate"]["peak_rss_mb"] / results["multi"]["peak_rss_mb"], 2)
    results["machine"] = f"{platform.machine()} {platform.processor() or ''}".strip()
    results.update(K=K, N=N)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3:])
    else:
        main()
