"""Short CPU runs of every policy trainer on SmolLM2-135M: seconds per step, LoRA moved, reward curve.

Run under the shared lock:  flock /tmp/phronesis-heavy.lock python benchmarks/policy_smollm2_smoke.py OUT_DIR
The reward here is a stand-in ensemble (two heuristic members) plus the real SaGE group member on
MiniLM; the iterate loop uses a stand-in selection until phronesis.selection lands on this branch.
"""
import json
import sys
import time
import types
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
from policy_fakes import FakeEnsemble  # noqa: E402

from phronesis.catalog import pull  # noqa: E402
from phronesis.embeddings import TransformersEmbedder  # noqa: E402
from phronesis.group_rewards import SageConsistencyReward  # noqa: E402
from phronesis.io import read_jsonl  # noqa: E402
from phronesis.lora import LoraSettings, load_adapter_tensors  # noqa: E402
from phronesis.policy_inputs import BUNDLED_CHAT_TEMPLATE, chat_template_path  # noqa: E402
from phronesis.policy_reward import PolicyReward, RewardLog, plot_rewards  # noqa: E402
from phronesis.sources import builtin_path  # noqa: E402

OUT = Path(sys.argv[1])
BASE = str(pull("smollm2-135m-instruct"))
LORA = LoraSettings(r=8, alpha=16)
GROUPS = read_jsonl(builtin_path("eval/paraphrase_groups.jsonl"))
PROMPTS = [{"prompt": [{"role": "user", "content": p}], "group": g["id"]} for g in GROUPS[:2] for p in g["paraphrases"][:4]]
report = {}


def moved(adapter_dir):
    tensors = load_adapter_tensors(adapter_dir)
    return sum(float(v.abs().sum()) for k, v in tensors.items() if "lora_B" in k)


def record(name, result, **extra):
    report[name] = {"steps": result.steps, "seconds_per_step": round(result.seconds_per_step, 2),
                    "lora_B_abs_sum": round(moved(result.adapter_dir), 5), **extra}
    print(name, report[name], flush=True)


def main():
    from phronesis import trl_adapter as T
    from phronesis.ppo import PPOSettings, train_ppo

    torch.manual_seed(0)
    sft_rows = [{"messages": [{"role": "user", "content": p["prompt"][0]["content"]},
                              {"role": "assistant", "content": "Honesty matters, but so does kindness; say what is true gently."}]}
                for p in PROMPTS[:4]]
    record("sft", T.train_sft(BASE, sft_rows, OUT / "sft", LORA, {"max_steps": 2, "max_length": 128,
           "per_device_train_batch_size": 2}, chat_template_path(BUNDLED_CHAT_TEMPLATE)))
    pref = [{"prompt": r["messages"][:1], "chosen": r["messages"][1:],
             "rejected": [{"role": "assistant", "content": "Just lie, nobody cares."}]} for r in sft_rows]
    record("dpo", T.train_dpo(BASE, pref, OUT / "dpo", LORA, {"max_steps": 2, "max_length": 128,
           "per_device_train_batch_size": 2, "learning_rate": 5e-5}))
    embedder = TransformersEmbedder("catalog:minilm-l6-v2")
    for algo in ("grpo", "ppo"):
        log = RewardLog(OUT / algo / "rewards.jsonl")
        reward = PolicyReward(FakeEnsemble(), {"sage_consistency": (SageConsistencyReward(embedder), 1.0)}, log)
        if algo == "grpo":
            result = T.train_grpo(BASE, PROMPTS, OUT / algo / "trainer", reward, LORA,
                                  {"max_steps": 4, "max_completion_length": 32, "beta": 0.04, "learning_rate": 1e-4,
                                   "per_device_train_batch_size": 8, "num_generations": 4})
        else:
            result = train_ppo(BASE, PROMPTS, OUT / algo / "trainer", reward, LORA,
                               PPOSettings(steps=4, batch_size=8, mini_batch_size=4, max_new_tokens=32, learning_rate=1e-4))
        plot_rewards(log.path, OUT / algo / "rewards.png")
        rows = [json.loads(line) for line in log.path.read_text().splitlines()]
        curve = {k: [round(r.get(k) or 0.0, 4) for r in rows] for k in
                 ("reward", "reward/length", "reward/letter_a", "reward/sage_consistency", "group/sage_consistency", "kl")}
        record(algo, result, curve=curve)
    iterate_run(embedder)
    (OUT / "report.json").write_text(json.dumps(report, indent=1))


def iterate_run(embedder):
    """Two rounds of the real loop parts; selection is a stand-in with the agreed signature."""
    def stand_in_select(rows, score, initial, minimum, decay):
        threshold, trace = initial, []
        while True:
            trace.append(threshold)
            kept = [r for r in rows if r[score] >= threshold]
            if kept or threshold <= minimum:
                return kept, trace
            threshold = max(minimum, threshold * decay)

    sys.modules["phronesis.selection"] = types.SimpleNamespace(select_by_decaying_threshold=stand_in_select)
    from phronesis.stages.iterate import IterateStageConfig, iterate_loop
    from phronesis.stages.iterate_parts import build_parts

    class Ctx:
        seed = 0

        def model_spec(self, name):
            from phronesis.modelref import ModelSpec
            return ModelSpec(ref={"policy": "catalog:smollm2-135m-instruct", "embedder": "catalog:minilm-l6-v2"}[name])

    cfg = IterateStageConfig(rounds=2, max_groups=3, eval_fraction=0.34, samples_per_prompt=1, max_new_tokens=24,
                             threshold_initial=0.9, lora=LORA, trl={"max_steps": 2, "max_length": 128,
                                                                    "per_device_train_batch_size": 4})
    tick = time.time()
    start, parts = build_parts(Ctx(), cfg, OUT / "iterate")
    summary = iterate_loop(OUT / "iterate" / "rounds", start, parts, cfg)
    report["iterate"] = {"seconds": round(time.time() - tick, 1), "baseline": summary["baseline"]["metric"],
                         "decisions": [{k: d[k] for k in ("round", "action", "metric", "kept_rows", "reason")}
                                       for d in summary["decisions"]]}
    print("iterate", report["iterate"], flush=True)


if __name__ == "__main__":
    np.random.seed(0)
    main()
