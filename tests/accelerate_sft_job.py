"""Run SFT on the tiny model; launched once plainly and once by `accelerate launch` with 2 CPU processes.

The global batch is 4 either way (4 x 1 process, 2 x 2 processes), so the two runs should agree.
"""
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from policy_fakes import ROWS_SFT  # noqa: E402

from phronesis.models.lora import LoraSettings  # noqa: E402
from phronesis.training.trl_adapter import train_sft  # noqa: E402

model_dir, out_dir = sys.argv[1], sys.argv[2]
world = int(os.environ.get("WORLD_SIZE", "1"))
train_sft(model_dir, ROWS_SFT, out_dir, LoraSettings(r=4, alpha=8, dropout=0.0),
          {"max_steps": 2, "max_length": 256, "per_device_train_batch_size": 4 // world, "bf16": False,
           "learning_rate": 1e-2, "ddp_backend": "gloo" if world > 1 else None},
          chat_template_path=str(Path(__file__).parents[1] / "src/phronesis/builtin/chat_templates/smollm2_assistant_mask.jinja"))
