#!/usr/bin/env bash
# Policy optimisation on SmolLM2-135M from the demo's own artifacts (run `make demo` first):
#   1. PPO (our own loop) on the demo's 4-member reward ensemble, into a copy of runs/demo;
#   2. two rounds of the iterate loop (SaGE consistency; patience 2, so a worse first round is discarded and
#      the second retries from the best policy), keep/discard/stop decisions in round-NN/decision.json.
# GRPO, SFT and DPO are already in the demo run itself. Prints each command's wall time.
#   bash benchmarks/policy_smollm2.sh            (uses .venv/bin/phronesis)
set -euo pipefail
phronesis=${PHRONESIS:-.venv/bin/phronesis}
[ -d runs/demo ] || { echo "runs/demo is missing: run 'make demo' first" >&2; exit 2; }
rm -rf runs/demo-ppo && cp -r runs/demo runs/demo-ppo

time "$phronesis" run --quiet --set run.name=demo-ppo --set rl.algorithm=ppo --set rl.steps=3 --only rl

time "$phronesis" run --quiet --set run.name=demo-ppo --set 'stages=[iterate]' \
  --set iterate.rounds=2 --set iterate.patience=2 --set iterate.max_groups=8 --set iterate.samples_per_prompt=2 \
  --set iterate.max_new_tokens=32 --set 'iterate.trl={max_steps: 2, per_device_train_batch_size: 4, max_length: 256}'
