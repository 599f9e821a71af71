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

from ..core.errors import ConfigError, DataError, did_you_mean
from ..core.io import trim_log


def complete_checkpoints(folder: str | Path) -> list[tuple[int, Path]]:
    """(step, folder) of every `checkpoint-N` that finished saving, oldest first.

    The Trainer writes `trainer_state.json` last, in place; a process killed mid-save
    leaves a checkpoint without it, which `get_last_checkpoint` would happily pick.
    """
    folder = Path(folder)
    complete = []
    for path in folder.glob("checkpoint-*") if folder.is_dir() else []:
        try:
            json.loads((path / "trainer_state.json").read_text())
            complete.append((int(path.name.split("-")[-1]), path))
        except (OSError, ValueError):
            continue  # torn by a kill: ignored, training resumes from the one before
    return sorted(complete)


def last_complete_checkpoint(folder: str | Path) -> str | None:
    """The newest complete `checkpoint-N`, or None."""
    complete = complete_checkpoints(folder)
    return str(complete[-1][1]) if complete else None


def machine_defaults() -> dict:
    """Device, precision and checkpointing settings for the machine we run on.

    TRL defaults to bf16 + activation checkpointing. On a CPU without native bf16 (no
    AVX512-BF16 or AMX) bf16 autocast is emulated: a SmolLM2 RewardTrainer step went from
    46 s (fp32) to over 200 s. Checkpointing re-runs the forward pass to save memory a CPU
    host has plenty of: 62 s/step with it, 46 s without (batch 8, hh-rlhf pairs, 2 cores).
    """
    import torch

    from ..core.hardware import native_bf16

    if torch.cuda.is_available():
        return {"bf16": native_bf16("cuda"), "use_cpu": False}
    return {"use_cpu": True, "bf16": native_bf16("cpu"), "activation_checkpointing": False}


def _trainer_kwargs(defaults: dict, overrides: dict | None) -> dict:
    """Our defaults, then the machine's, then the user's `trl:` block, which always wins.

    transformers resolves the deprecated `gradient_checkpointing` only when the new name is
    unset, so a user who writes the old name must not be outvoted by our default.
    """
    overrides = overrides or {}
    merged = {**defaults, **machine_defaults(), **overrides}
    if "gradient_checkpointing" in overrides and "activation_checkpointing" not in overrides:
        merged.pop("activation_checkpointing", None)
    return merged


# The TRL config class each stage's `trl:` block goes to (rl: by algorithm; PPO is ours and has no `trl:`).
STAGE_TRL_CONFIGS = {"sft": "SFTConfig", "dpo": "DPOConfig", "train_reward": "RewardConfig",
                     "rl": {"grpo": "GRPOConfig", "rloo": "RLOOConfig"}}


def check_trl_block(config_cls, overrides: dict | None, where: str) -> None:
    """Unknown keys and a nonsense `max_steps` as one line, naming the key, before anything is trained."""
    import dataclasses

    valid = [f.name for f in dataclasses.fields(config_cls)]
    for key in overrides or {}:
        if key not in valid:
            raise ConfigError(f"{where}.{key}: not a field of trl.{config_cls.__name__}{did_you_mean(key, valid)}")
    steps = (overrides or {}).get("max_steps")
    if steps is not None and (type(steps) is not int or (steps != -1 and steps < 1)):
        raise ConfigError(f"{where}.max_steps: must be -1 (train by epochs) or at least 1, got {steps!r}")


def check_stage_trl(stage: str, section: Any) -> None:
    """Preflight for a stage's `trl:` block; TRL is imported only when there is a block to check."""
    block = getattr(section, "trl", None)
    name = STAGE_TRL_CONFIGS.get(stage)
    if isinstance(name, dict):
        name = name.get(getattr(section, "algorithm", ""))
    if not block or name is None:
        return
    import trl

    check_trl_block(getattr(trl, name), block, f"{stage}.trl")


# ---------------------------------------------------------------------------
# Reward models (RewardTrainer)
# ---------------------------------------------------------------------------

REWARD_DEFAULTS = {  # measured to learn on SmolLM2 + hh-rlhf (DESIGN.md); `trl:` overrides any of them
    "learning_rate": 5e-4, "max_length": 256, "per_device_train_batch_size": 8,
    "per_device_eval_batch_size": 8, "max_steps": 50, "logging_steps": 5, "eval_strategy": "steps",
    "eval_steps": 25, "save_strategy": "steps", "save_steps": 10, "save_total_limit": 2,
    "report_to": "none", "seed": 0, "disable_tqdm": True,
}


def train_reward_model(base_path: str, train_rows: list[dict], eval_rows: list[dict], out_dir,
                       lora=None, trl_overrides: dict | None = None, *, margin_field: str | None = None,
                       margin_scale: float = 1.0, center_rewards_coefficient: float | None = None,
                       work_dir=None, base_ref: str | None = None) -> dict:
    """Train a LoRA reward model with TRL's RewardTrainer (Bradley-Terry loss) and save it to `out_dir`.

    Rows are conversational preference rows (records.preference_row). Prompts are cut from the
    left to fit `max_length`; pairs that still do not fit are dropped and counted. Held-out
    accuracy is logged every `eval_steps`. Checkpoints go to `work_dir` (default out_dir/checkpoints)
    and a rerun resumes from the newest one. Returns the counts and final held-out metrics.
    """
    import time
    from pathlib import Path

    from datasets import Dataset
    from trl import RewardConfig, RewardTrainer

    from ..models.lora import RewardLoraSettings
    from ..rewards.lora_rm import check_quantization, load_tokenizer, quantization_config, write_rm_meta
    from ..rewards.preference_data import fit_to_length, trl_columns

    lora = lora or RewardLoraSettings()
    out_dir = Path(out_dir)
    work_dir = Path(work_dir) if work_dir else out_dir / "checkpoints"
    check_quantization(lora.quantize_4bit)
    max_length = _trainer_kwargs(REWARD_DEFAULTS, trl_overrides)["max_length"]  # as RewardConfig will get it
    tokenizer = load_tokenizer(base_path)
    count = lambda msgs: len(tokenizer.apply_chat_template(msgs, tokenize=True, return_dict=True)["input_ids"])
    train_fit, train_report = fit_to_length(train_rows, max_length, count)
    eval_fit, eval_report = fit_to_length(eval_rows, max_length, count)
    if not train_fit:
        raise DataError(f"reward training: all {len(train_rows)} pairs exceed max_length={max_length} "
                        f"even with earlier prompt turns cut; raise max_length in the trl: block")
    # held-out pairs that all failed to fit leave nothing to evaluate: train without eval, counted in the summary
    args = _reward_config(RewardConfig, work_dir, trl_overrides, center_rewards_coefficient, bool(eval_fit))
    args.model_init_kwargs = {"dtype": "float32", **(args.model_init_kwargs or {})}
    trainer = RewardTrainer(
        model=base_path, args=args, processing_class=tokenizer, peft_config=lora.peft_config(),
        train_dataset=Dataset.from_list(trl_columns(train_fit, margin_field, margin_scale)),
        eval_dataset=Dataset.from_list(trl_columns(eval_fit, margin_field, margin_scale)) if eval_fit else None,
        quantization_config=quantization_config() if lora.quantize_4bit else None)
    last = last_complete_checkpoint(work_dir)
    started = time.time()
    _one_console_voice(trainer)
    result = trainer.train(resume_from_checkpoint=last)
    seconds = time.time() - started
    final_eval = _final_eval(trainer) if eval_fit else {}
    trainer.save_model(str(out_dir))
    tokenizer.save_pretrained(str(out_dir))
    write_rm_meta(out_dir, base_ref or base_path, args.max_length, lora=lora.model_dump())
    return _training_summary(trainer, result, seconds, final_eval, args, train_rows, eval_rows, train_report,
                             eval_report, last, base_ref or base_path)


def _training_summary(trainer, result, seconds, final_eval, args, train_rows, eval_rows, train_report,
                      eval_report, resumed_from, base) -> dict:
    history = [{k: v for k, v in e.items() if k in ("step", "loss", "accuracy", "eval_accuracy", "eval_loss",
                                                     "eval_margin", "margin")} for e in trainer.state.log_history]
    return {"train_pairs": len(train_rows), "train_kept": train_report.kept,
            "train_prompt_turns_cut": train_report.prompt_turns_cut,
            "train_dropped_too_long": train_report.dropped_too_long, "eval_pairs": len(eval_rows),
            "eval_kept": eval_report.kept, "eval_dropped_too_long": eval_report.dropped_too_long,
            "trainer_kept_train": len(trainer.train_dataset), "resumed_from": resumed_from,
            "steps": result.global_step, "train_seconds": round(seconds, 2),
            "seconds_per_step": round(seconds / max(1, result.global_step - _checkpoint_step(resumed_from)), 3),
            "eval_accuracy": final_eval.get("eval_accuracy"), "eval_loss": final_eval.get("eval_loss"),
            "max_length": args.max_length, "learning_rate": args.learning_rate, "history": history,
            "base": base}


def _checkpoint_step(checkpoint: str | None) -> int:
    """Steps already done before this process started (0 for a fresh run): timings cover the rest."""
    return int(Path(checkpoint).name.split("-")[-1]) if checkpoint else 0


def _final_eval(trainer) -> dict:
    """Held-out metrics at the last step: reuse the trainer's own eval if it just ran one."""
    evals = [e for e in trainer.state.log_history if "eval_accuracy" in e]
    if evals and evals[-1].get("step") == trainer.state.global_step:
        return evals[-1]
    return trainer.evaluate()


def _reward_config(config_cls, work_dir, overrides: dict | None, center: float | None, has_eval: bool):
    """RewardConfig from our defaults + the user's `trl:` mapping."""
    check_trl_block(config_cls, overrides, "train_reward.trl")
    kwargs = _trainer_kwargs(REWARD_DEFAULTS, overrides)
    if not has_eval:
        kwargs["eval_strategy"] = "no"
    if center is not None:
        kwargs.setdefault("center_rewards_coefficient", center)
    try:
        return config_cls(output_dir=str(work_dir), **kwargs)
    except TypeError as exc:
        raise ConfigError(f"train_reward.trl: {exc} (keys pass straight to trl.RewardConfig)") from None


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
    steps: int  # optimizer steps in the adapter, those before a resume included
    seconds: float  # this process's training time
    resumed_from: str | None = None
    steps_run: int | None = None  # the steps `seconds` timed (fewer than `steps` after a resume)

    @property
    def seconds_per_step(self) -> float:
        timed = self.steps if self.steps_run is None else self.steps_run
        return self.seconds / timed if timed else float("nan")

    def last_logged(self, key: str) -> float | None:
        """The last value of `key` in the training log (e.g. "loss", "rewards/margins"); None if never logged."""
        values = [r[key] for r in map(json.loads, Path(self.log_path).read_text().splitlines()) if key in r]
        return values[-1] if values else None


def _policy_args(config_cls, kind: str, out_dir: Path, overrides: dict[str, Any]):
    """TRL config with our CPU-safe defaults; `overrides` (the YAML `trl:` block) wins."""
    defaults = {"output_dir": str(out_dir), "report_to": "none", "logging_steps": 1, "save_strategy": "steps",
                "save_steps": 50, "save_total_limit": 2, "learning_rate": POLICY_LR[kind],
                "per_device_train_batch_size": 4, "max_steps": 20, "seed": 0}
    check_trl_block(config_cls, overrides, "trl")
    try:
        return config_cls(**_trainer_kwargs(defaults, overrides))
    except TypeError as exc:
        raise ConfigError(f"trl: {exc} (keys pass straight to {config_cls.__name__})") from None


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
    resume = last_complete_checkpoint(out_dir)
    started = time.time()
    start_step = _checkpoint_step(resume)
    trim_log(log_path, start_step)  # the resumed trainer logs the later steps again
    _one_console_voice(trainer)
    trainer.train(resume_from_checkpoint=resume)
    final = out_dir / "final"
    trainer.save_model(str(final))
    if trainer.is_world_process_zero():
        trainer.processing_class.save_pretrained(str(final))
    steps = trainer.state.global_step
    return PolicyTrainResult(final, log_path, steps, time.time() - started, resume, steps_run=steps - start_step)


def _one_console_voice(trainer) -> None:
    """One rich step bar on the console for the Trainer's tqdm bar and printed log dicts.

    Inside a stage those go to stage.log, so they stay; elsewhere they are dropped (train_log.jsonl keeps
    the records). `--verbose` shows the Trainer's own output instead of the bar.
    """
    from transformers import TrainerCallback
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    from ..core.progress import is_verbose, progress
    from ..core.stagelog import capturing

    if is_verbose():
        return
    if not capturing():
        trainer.remove_callback(PrinterCallback)
        trainer.remove_callback(ProgressCallback)

    class StepBar(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            self.bar = progress(f"train ({type(trainer).__name__})", state.max_steps, unit="steps",
                                done=state.global_step)
            self.advance = self.bar.__enter__()

        def on_step_end(self, args, state, control, **kwargs):
            self.advance(1)

        def on_train_end(self, args, state, control, **kwargs):
            self.bar.__exit__(None, None, None)

    trainer.add_callback(StepBar())


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
    if len(trainer.train_dataset) == 0:  # TRL drops rows whose assistant tokens truncation removed
        raise DataError(f"sft: all {len(rows)} examples lose every assistant token to max_length="
                        f"{args.max_length}; raise max_length in the trl: block")
    return _run_trainer(trainer, out_dir, log_path)


def train_dpo(base_model, rows: list[dict[str, Any]], out_dir, lora=None, trl: dict[str, Any] | None = None,
              callbacks=None) -> PolicyTrainResult:
    """DPO on preference rows; with LoRA and ref_model=None the reference is the adapter-disabled model."""
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    out_dir, log_path, cbs, peft_config = _policy_trainer_common(out_dir, lora, callbacks)
    # TRL's precompute_ref_log_probs was tried and is left off: in the full recipe (one epoch) the step stayed
    # at 11.8 s against 11.95 s without it, and the pass before training added about 110 s
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
