"""The one module that imports TRL. Everything else talks to TRL through these functions.

TRL facts this relies on (TRL 1.16, measured on a 2-core CPU; see DESIGN.md):
`max_length` everywhere, `processing_class=`, bf16 only with `use_cpu=True` on CPU,
LoRA wants ~10x the full-fine-tuning learning rate, and PPO is no longer in TRL.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError


# ---------------------------------------------------------------------------
# Reward models (RewardTrainer)
# ---------------------------------------------------------------------------









# ---------------------------------------------------------------------------
# Policy training (SFTTrainer, DPOTrainer, GRPOTrainer, RLOOTrainer)
# ---------------------------------------------------------------------------

# Defaults measured on SmolLM2 + LoRA (DESIGN.md): TRL's own rates barely move an adapter.
POLICY_LR = {"sft": 2e-4, "dpo": 1e-5, "grpo": 1e-5, "rloo": 1e-5}


def _policy_callback_class():
    from transformers import TrainerCallback

    class JsonlLogCallback(TrainerCallback):
        """Append every log record (loss, lr, rewards, kl, ...) to a JSONL file, main process only."""

        def __init__(self, path=None, on_record=None):
            self.path = Path(path) if path is not None else None
            self.on_record = on_record

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not state.is_world_process_zero or not logs:
                return
            record = {"step": state.global_step, "epoch": state.epoch, "time": round(time.time(), 3), **logs}
            if self.path is not None:
                with self.path.open("a", encoding="utf-8") as handle:
                    handle.write(json.dumps(record, default=float) + "\n")
            if self.on_record is not None:
                self.on_record(record)

    return JsonlLogCallback


@dataclass
class PolicyTrainResult:
    adapter_dir: Path  # the trained LoRA adapter (or full model when LoRA is off) plus tokenizer
    log_path: Path
    steps: int
    seconds: float
    resumed_from: str | None = None

    @property
    def seconds_per_step(self) -> float:
        return self.seconds / self.steps if self.steps else float("nan")


def _policy_args(config_cls, kind: str, out_dir: Path, overrides: dict[str, Any]):
    """TRL config with our CPU-safe defaults; `overrides` (the YAML `trl:` block) wins."""
    import torch

    on_cpu = not torch.cuda.is_available()
    defaults = {"output_dir": str(out_dir), "report_to": "none", "logging_steps": 1, "save_strategy": "steps",
                "save_steps": 50, "save_total_limit": 2, "learning_rate": POLICY_LR[kind],
                "per_device_train_batch_size": 4, "max_steps": 20, "seed": 0,
                "bf16": (not on_cpu and torch.cuda.is_bf16_supported()) or on_cpu, "use_cpu": on_cpu}
    try:
        return config_cls(**{**defaults, **overrides})
    except TypeError as exc:
        raise ConfigError(f"trl: {exc} (keys pass straight to {config_cls.__name__})") from None


def _last_checkpoint(out_dir: Path) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(str(out_dir)) if out_dir.is_dir() else None


def _load_policy(base_model: str | Path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(base_model))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(str(base_model), dtype=torch.float32)
    return model, tokenizer


def _run_trainer(trainer, out_dir: Path, log_path: Path) -> PolicyTrainResult:
    """Train (resuming from the newest checkpoint in out_dir) and save the final adapter."""
    resume = _last_checkpoint(out_dir)
    started = time.time()
    start_step = int(resume.rsplit("-", 1)[-1]) if resume else 0
    trainer.train(resume_from_checkpoint=resume)
    final = out_dir / "final"
    trainer.save_model(str(final))
    if trainer.is_world_process_zero():
        trainer.processing_class.save_pretrained(str(final))
    return PolicyTrainResult(final, log_path, trainer.state.global_step - start_step, time.time() - started, resume)


def _policy_trainer_common(out_dir, lora, callbacks):
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    log_path = out_dir / "train_log.jsonl"
    callback = _policy_callback_class()(log_path)
    peft_config = lora.peft_config() if lora is not None else None
    return out_dir, log_path, [callback, *(callbacks or [])], peft_config


def train_sft(base_model, rows: list[dict[str, Any]], out_dir, lora=None, trl: dict[str, Any] | None = None,
              chat_template_path: str | Path | None = None, callbacks=None) -> PolicyTrainResult:
    """SFT on {"messages": [...]} rows; loss on assistant tokens only (template needs generation markers)."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    out_dir, log_path, cbs, peft_config = _policy_trainer_common(out_dir, lora, callbacks)
    overrides = {"assistant_only_loss": True, "max_length": 512, **(trl or {})}
    if chat_template_path is not None:
        overrides.setdefault("chat_template_path", str(chat_template_path))
    args = _policy_args(SFTConfig, "sft", out_dir, overrides)
    model, tokenizer = _load_policy(base_model)
    data = Dataset.from_list([{"messages": r["messages"]} for r in rows])
    trainer = SFTTrainer(model=model, args=args, train_dataset=data, processing_class=tokenizer,
                         peft_config=peft_config, callbacks=cbs)
    return _run_trainer(trainer, out_dir, log_path)


def train_dpo(base_model, rows: list[dict[str, Any]], out_dir, lora=None, trl: dict[str, Any] | None = None,
              callbacks=None) -> PolicyTrainResult:
    """DPO on preference rows; with LoRA and ref_model=None the reference is the adapter-disabled model."""
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    out_dir, log_path, cbs, peft_config = _policy_trainer_common(out_dir, lora, callbacks)
    args = _policy_args(DPOConfig, "dpo", out_dir, {"max_length": 512, **(trl or {})})
    model, tokenizer = _load_policy(base_model)
    data = Dataset.from_list([{k: r[k] for k in ("prompt", "chosen", "rejected")} for r in rows])
    trainer = DPOTrainer(model=model, ref_model=None, args=args, train_dataset=data, processing_class=tokenizer,
                         peft_config=peft_config, callbacks=cbs)
    return _run_trainer(trainer, out_dir, log_path)


def _train_online(kind: str, base_model, rows, out_dir, reward_func, lora, trl, callbacks) -> PolicyTrainResult:
    from datasets import Dataset

    if kind == "grpo":
        from trl import GRPOConfig as Config, GRPOTrainer as Trainer
    else:
        from trl import RLOOConfig as Config, RLOOTrainer as Trainer
    out_dir, log_path, cbs, peft_config = _policy_trainer_common(out_dir, lora, callbacks)
    args = _policy_args(Config, kind, out_dir, {"num_generations": 4, "max_completion_length": 64, **(trl or {})})
    model, tokenizer = _load_policy(base_model)
    data = Dataset.from_list(list(rows))
    trainer = Trainer(model=model, reward_funcs=reward_func, args=args, train_dataset=data,
                      processing_class=tokenizer, peft_config=peft_config, callbacks=cbs)
    if hasattr(reward_func, "bind_trainer"):
        reward_func.bind_trainer(trainer)
    return _run_trainer(trainer, out_dir, log_path)


def train_grpo(base_model, rows, out_dir, reward_func, lora=None, trl=None, callbacks=None) -> PolicyTrainResult:
    """GRPO on {"prompt": [msgs], ...extra columns} rows with ONE reward function (our ensemble)."""
    return _train_online("grpo", base_model, rows, out_dir, reward_func, lora, trl, callbacks)


def train_rloo(base_model, rows, out_dir, reward_func, lora=None, trl=None, callbacks=None) -> PolicyTrainResult:
    """RLOO: like GRPO but the baseline is the leave-one-out mean of the other generations."""
    return _train_online("rloo", base_model, rows, out_dir, reward_func, lora, trl, callbacks)
