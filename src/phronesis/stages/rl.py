"""Stage `rl`: online RL (GRPO, RLOO, or our PPO) against ONE reward: the ensemble plus group members.

Every step's per-member rewards, the aggregate and the KL go to rewards.jsonl in
the stage folder, plotted as rewards.png.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from ..core.config import GENERATION_DEFAULT, StrictModel, generation_with
from ..core.errors import BackendUnavailable, StageError
from ..core.io import replace_tree, trim_log
from ..models.lora import LoraSettings
from ..training.policy_inputs import Init, init_inputs, starting_model
from ..training.policy_reward import PolicyReward, RewardLog, plot_rewards


# TRL / PPO settings that rl's own fields already set (trl_overrides, ppo_settings): a second spelling of
# one knob in the `trl:` or `ppo:` block is refused rather than silently winning.
TRL_NAMED = {"max_steps": "steps", "beta": "kl_coef", "max_completion_length": "generation.max_new_tokens",
             "temperature": "generation.temperature", "top_p": "generation.top_p",
             "num_generations": "num_generations", "scale_rewards": "reward_normalization",
             "normalize_advantages": "reward_normalization", "use_vllm": "use_vllm"}
PPO_NAMED = {"steps": "steps", "kl_coef": "kl_coef", "max_new_tokens": "generation.max_new_tokens",
             "temperature": "generation.temperature", "top_p": "generation.top_p",
             "max_prompt_length": "max_prompt_length", "whiten_rewards": "reward_normalization"}


class RLStageConfig(StrictModel):
    algorithm: Literal["grpo", "rloo", "ppo"] = "grpo"
    model: str = "policy"
    init: Init = "auto"
    prompt_sets: list[str] = ["harmful_train"]  # names from `prompts:`; never an evaluation set
    paraphrase_groups: str | None = None  # JSONL of {id, paraphrases} (a path or builtin:NAME); each paraphrase a prompt with group=id
    max_prompts: int | None = Field(64, ge=1)
    reward_model: str | None = None  # `stage:train_reward` or a path for phronesis.rewards.load_reward_model
    sage_weight: float = 0.0  # > 0 adds the SaGE-consistency group member (needs paraphrase groups)
    embedder: str = "embedder"  # `models:` entry for SaGE
    steps: int = Field(10, ge=1)
    kl_coef: float = 0.05
    reward_normalization: Literal["group", "batch", "none"] = "group"
    generation: generation_with(max_new_tokens=64, temperature=1.0) = GENERATION_DEFAULT  # the policy's samples
    max_prompt_length: int = Field(256, ge=1)  # ppo only: TRL's GRPO and RLOO have no prompt limit
    num_generations: int = Field(4, ge=2)  # a group needs two completions to compare
    use_vllm: bool = False  # GRPO only, needs the vllm extra and a GPU
    lora: LoraSettings = LoraSettings()
    trl: dict[str, Any] = Field(default_factory=dict)  # straight to GRPOConfig / RLOOConfig
    ppo: dict[str, Any] = Field(default_factory=dict)  # straight to phronesis.training.ppo.PPOSettings

    @model_validator(mode="after")
    def _one_way_to_set_each_knob(self):
        for block, named in (("trl", TRL_NAMED), ("ppo", PPO_NAMED)):
            for key in getattr(self, block):
                if key in named:
                    raise ValueError(f"{block}.{key} is set by rl.{named[key]}: set it there, once")
        return self

    @model_validator(mode="after")
    def _sage_needs_paraphrases(self):
        if self.sage_weight > 0 and not self.paraphrase_groups:
            raise ValueError("sage_weight > 0 needs paraphrase_groups: SaGE measures consistency across "
                             "paraphrases of one question, which plain prompts do not have")
        return self

    @model_validator(mode="after")
    def _prompt_length_only_where_honoured(self):
        # TRL 1.16's GRPOConfig/RLOOConfig take no prompt length: a set value would be silently ignored
        if self.algorithm != "ppo" and self.max_prompt_length != type(self).model_fields["max_prompt_length"].default:
            raise ValueError(f"max_prompt_length is honoured by algorithm: ppo only, not {self.algorithm} "
                             f"(TRL does not cut prompts); remove it or use ppo")
        return self


def trl_overrides(cfg: RLStageConfig) -> dict[str, Any]:
    """Our named knobs in TRL's vocabulary, plus the `trl:` block's other settings."""
    base = {"max_steps": cfg.steps, "beta": cfg.kl_coef, "max_completion_length": cfg.generation.max_new_tokens,
            "temperature": cfg.generation.temperature, "top_p": cfg.generation.top_p,
            "num_generations": cfg.num_generations}
    if cfg.algorithm == "grpo":
        base.update(scale_rewards=cfg.reward_normalization, use_vllm=cfg.use_vllm)
    else:
        base.update(normalize_advantages=cfg.reward_normalization != "none")
    return {**base, **cfg.trl}


def ppo_settings(cfg: RLStageConfig, seed: int):
    from ..training.ppo import PPOSettings

    base = {"steps": cfg.steps, "kl_coef": cfg.kl_coef, "max_new_tokens": cfg.generation.max_new_tokens,
            "temperature": cfg.generation.temperature, "top_p": cfg.generation.top_p,
            "max_prompt_length": cfg.max_prompt_length, "whiten_rewards": cfg.reward_normalization != "none",
            "seed": seed}
    return PPOSettings(**{**base, **cfg.ppo})


def train_policy(cfg: RLStageConfig, base: str, rows: list[dict[str, Any]], out: Path,
                 reward: PolicyReward, seed: int = 0) -> dict[str, Any]:
    """Core: run the chosen algorithm, publish the adapter, plot the reward log."""
    if cfg.use_vllm and cfg.algorithm == "grpo":
        import importlib.util

        if importlib.util.find_spec("vllm") is None:
            raise BackendUnavailable("rl.use_vllm: vllm is not installed (pip install 'phronesis[vllm]')")
    if cfg.algorithm == "ppo":
        from ..training.ppo import train_ppo

        result = train_ppo(base, rows, out / "trainer", reward, cfg.lora, ppo_settings(cfg, seed))
    else:
        from ..training import trl_adapter

        trainer = trl_adapter.train_grpo if cfg.algorithm == "grpo" else trl_adapter.train_rloo
        result = trainer(base, rows, out / "trainer", reward, cfg.lora, trl_overrides(cfg))
    replace_tree(result.adapter_dir, out / "adapter")
    if reward.log is not None and reward.log.path.exists():
        plot_rewards(reward.log.path, out / "rewards.png")
    return {"steps": result.steps, "seconds_per_step": round(result.seconds_per_step, 3)}


def prompt_rows(ctx, cfg: RLStageConfig) -> list[dict[str, Any]]:
    """Chat prompts for the trainer; paraphrase groups add a `group` column for group rewards.

    Plain prompts get no group: grouping them by prompt id would make SaGE reward the sameness of the
    samples of one prompt (low diversity), not consistency across paraphrases of one question.
    """
    from ..evaluation.consistency import load_groups

    rows = [{"prompt": [{"role": "user", "content": r["prompt"]}], "group": None}
            for r in ctx.prompt_rows(cfg.prompt_sets)]
    if cfg.paraphrase_groups:
        for group in load_groups(cfg.paraphrase_groups):
            rows += [{"prompt": [{"role": "user", "content": p}], "group": group["id"]} for p in group["paraphrases"]]
    return rows[:cfg.max_prompts] if cfg.max_prompts else rows


def checkpoint_step(trainer_dir: Path) -> int:
    """The step a rerun resumes from: the newest complete TRL or PPO checkpoint, else 0."""
    from ..training.trl_adapter import last_complete_checkpoint

    steps = [int(p.name.split("-")[-1]) for p in trainer_dir.glob("checkpoint-*") if (p / "ppo_state.pt").exists()]
    trl_checkpoint = last_complete_checkpoint(trainer_dir)
    if trl_checkpoint:
        steps.append(int(trl_checkpoint.rsplit("-", 1)[-1]))
    return max(steps, default=0)


def build_reward(ctx, cfg: RLStageConfig, log: RewardLog) -> PolicyReward:
    reward_model = None
    if cfg.reward_model:
        from ..rewards import load_reward_model

        reward_model = load_reward_model(ctx.locate(cfg.reward_model)[0])
    members = {}
    if cfg.sage_weight > 0:
        from ..models.embeddings import TransformersEmbedder
        from ..training.group_rewards import SageConsistencyReward

        members["sage_consistency"] = (SageConsistencyReward(TransformersEmbedder(ctx.model_spec(cfg.embedder))),
                                       cfg.sage_weight)
    if reward_model is None and not members:
        raise StageError("rl: no reward; set rl.reward_model and/or rl.sage_weight > 0")
    return PolicyReward(reward_model, members, log)


def run(ctx) -> Any:
    from ..core.runstore import run_stage

    cfg: RLStageConfig = ctx.section("rl")
    rows = prompt_rows(ctx, cfg)
    inputs = init_inputs(ctx, cfg.init)
    if cfg.reward_model:
        inputs.update(ctx.locate(cfg.reward_model)[1])

    def body(stage) -> dict[str, Any]:
        from ..data.hygiene import record_training_prompts

        base, _ = starting_model(ctx, cfg.model, cfg.init, stage.path)
        record_training_prompts(stage.path, rows)
        log_path = stage.file("rewards.jsonl")
        resume_step = checkpoint_step(stage.path / "trainer")
        trim_log(log_path, resume_step)  # steps after the checkpoint are trained and logged again
        reward = build_reward(ctx, cfg, RewardLog(log_path))
        stage.counts.update(prompts=len(rows), **train_policy(cfg, base, rows, stage.path, reward, ctx.seed))
        return {"base_model": base}

    return run_stage(ctx.run, ctx.index("rl"), "rl", ctx.fingerprint_inputs("rl"), inputs=inputs,
                     body=body, seed=ctx.seed, force=ctx.force)
