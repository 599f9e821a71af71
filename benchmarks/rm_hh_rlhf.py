"""Done-when run: a LoRA RM on SmolLM2 from hh-rlhf harmless-base, held-out accuracy vs length baseline.

Split: the 2,312 test-split pairs are parsed (pairs whose transcripts do not share their
prefix are skipped), shuffled with random.Random(0), then the first 400 train and the
next 200 are held out. Run (about 10 min on 2 cores):
    flock /tmp/phronesis-heavy.lock env PYTHONPATH=src /tmp/venv/bin/python benchmarks/rm_hh_rlhf.py OUT_DIR
"""
from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

from phronesis.data.catalog import pull
from phronesis.evaluation.rm_data import load_pairs
from phronesis.core.io import atomic_write_jsonl
from phronesis.training.trl_adapter import train_reward_model

HH = Path(__file__).resolve().parents[2] / "shared/data/hh-rlhf/harmless-base-test.jsonl.gz"  # ../shared beside the repo


def main(out: Path) -> None:
    rows, unparsed = load_pairs(HH)
    random.Random(0).shuffle(rows)
    train, test = rows[:400], rows[400:600]
    atomic_write_jsonl(out / "hh_test_200.jsonl", test)
    started = time.time()
    summary = train_reward_model(str(pull("smollm2-135m-instruct")), train, test, out / "rm",
                                 trl_overrides={"max_steps": 50, "eval_steps": 50, "logging_steps": 10},
                                 work_dir=out / "work", base_ref="catalog:smollm2-135m-instruct")
    summary.update(total_seconds=round(time.time() - started, 1), parsed_pairs=len(rows), unparsed_pairs=unparsed)
    (out / "train_summary.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps({k: v for k, v in summary.items() if k != "history"}, indent=1))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
