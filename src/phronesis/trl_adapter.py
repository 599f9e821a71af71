"""The one module that imports TRL. Everything else talks to TRL through these functions.

TRL facts this relies on (TRL 1.16, measured on a 2-core CPU; see DESIGN.md):
`max_length` everywhere, `processing_class=`, bf16 only with `use_cpu=True` on CPU,
LoRA wants ~10x the full-fine-tuning learning rate, and PPO is no longer in TRL.
"""
from __future__ import annotations


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
    from transformers.trainer_utils import get_last_checkpoint
    from trl import RewardConfig, RewardTrainer

    from .rewards.lora_rm import check_quantization, load_tokenizer, quantization_config, write_rm_meta
    from .rewards.preference_data import fit_to_length, trl_columns
    from .rewards.settings import LoraSettings

    lora = lora or LoraSettings()
    out_dir = Path(out_dir)
    work_dir = Path(work_dir) if work_dir else out_dir / "checkpoints"
    check_quantization(lora.quantize_4bit)
    args = _reward_config(RewardConfig, work_dir, trl_overrides, center_rewards_coefficient, bool(eval_rows))
    tokenizer = load_tokenizer(base_path)
    count = lambda msgs: len(tokenizer.apply_chat_template(msgs, tokenize=True, return_dict=True)["input_ids"])
    train_fit, train_report = fit_to_length(train_rows, args.max_length, count)
    eval_fit, eval_report = fit_to_length(eval_rows, args.max_length, count)
    if not train_fit:
        from .errors import DataError

        raise DataError(f"reward training: all {len(train_rows)} pairs exceed max_length={args.max_length}")
    args.model_init_kwargs = {"dtype": "float32", **(args.model_init_kwargs or {})}
    trainer = RewardTrainer(
        model=base_path, args=args, processing_class=tokenizer, peft_config=lora.peft_config(),
        train_dataset=Dataset.from_list(trl_columns(train_fit, margin_field, margin_scale)),
        eval_dataset=Dataset.from_list(trl_columns(eval_fit, margin_field, margin_scale)) if eval_fit else None,
        quantization_config=quantization_config() if lora.quantize_4bit else None)
    last = get_last_checkpoint(str(work_dir)) if work_dir.is_dir() else None
    started = time.time()
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
            "seconds_per_step": round(seconds / max(1, result.global_step), 3),
            "eval_accuracy": final_eval.get("eval_accuracy"), "eval_loss": final_eval.get("eval_loss"),
            "max_length": args.max_length, "learning_rate": args.learning_rate, "history": history,
            "base": base}


def _final_eval(trainer) -> dict:
    """Held-out metrics at the last step: reuse the trainer's own eval if it just ran one."""
    evals = [e for e in trainer.state.log_history if "eval_accuracy" in e]
    if evals and evals[-1].get("step") == trainer.state.global_step:
        return evals[-1]
    return trainer.evaluate()


def _reward_config(config_cls, work_dir, overrides: dict | None, center: float | None, has_eval: bool):
    """RewardConfig from our defaults + the user's `trl:` mapping; bf16 on CPU needs use_cpu=True."""
    import torch

    kwargs = {**REWARD_DEFAULTS, **(overrides or {})}
    if not has_eval:
        kwargs["eval_strategy"] = "no"
    if center is not None:
        kwargs.setdefault("center_rewards_coefficient", center)
    if not torch.cuda.is_available():
        kwargs.setdefault("use_cpu", True)
        kwargs.setdefault("bf16", True)
    try:
        return config_cls(output_dir=str(work_dir), **kwargs)
    except TypeError as exc:
        from .errors import ConfigError

        raise ConfigError(f"train_reward.trl: {exc} (keys pass straight to trl.RewardConfig)") from None


# ---------------------------------------------------------------------------
# Policy training (SFTTrainer, DPOTrainer, GRPOTrainer, RLOOTrainer)
# ---------------------------------------------------------------------------
