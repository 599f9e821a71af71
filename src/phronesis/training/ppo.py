"""A compact PPO (RLHF style) of our own: TRL >= 1.13 no longer ships one.

Policy = base model + LoRA; value head = one linear layer on the policy's last
hidden state; reference = the same model with the adapter disabled (no second
copy). Per-token reward = -kl_coef * (log p - log p_ref), plus the sequence reward
on the last completion token; advantages by GAE; clipped policy and value losses.
The logged KL is the k3 estimator, which unlike the k1 in the reward is never negative.
Runs under `accelerate launch` (prompts are sharded by process, gradients all-reduced).
"""
from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from pydantic import Field

from ..core.config import StrictModel
from ..core.seeds import derive_seed
from ..models.lora import LoraSettings
from .trl_adapter import PolicyTrainResult


class PPOSettings(StrictModel):
    steps: int = 20
    batch_size: int = 4  # prompts per step per process
    mini_batch_size: int = 2
    ppo_epochs: int = 2
    learning_rate: float = 1e-4
    max_new_tokens: int = 32
    max_prompt_length: int = 256  # prompts are cut from the left
    temperature: float = 1.0
    top_p: float = 1.0
    kl_coef: float = 0.05
    gamma: float = 1.0
    lam: float = 0.95
    cliprange: float = 0.2
    cliprange_value: float = 0.2
    vf_coef: float = 0.1
    max_grad_norm: float = Field(1.0, gt=0)  # one outlier mini-batch must not throw the adapter far
    whiten_rewards: bool = False  # normalise sequence rewards within each batch
    save_steps: int = 10
    seed: int = 0
    bf16: bool = False


@dataclass
class Rollout:
    sequences: Any  # [B, P+T] prompt (left-padded) + completion
    attention: Any
    completion_mask: Any  # [B, T] 1 on completion tokens up to and including EOS
    logprobs: Any  # [B, T] old policy
    ref_logprobs: Any
    values: Any
    scores: Any  # [B] sequence rewards
    prompt_len: int


def _forward(model, value_head, sequences, attention, prompt_len):
    """Per-token log-probs of the completion and the value estimate before each token."""
    import torch

    # Positions as generate counts them: without them left padding shifts every position, and with
    # absolute position embeddings a row's log-probs depend on its batch (RoPE alone would not notice).
    positions = (attention.long().cumsum(-1) - 1).clamp(min=0)
    out = model(input_ids=sequences, attention_mask=attention, position_ids=positions, output_hidden_states=True)
    logits = out.logits[:, prompt_len - 1:-1].float()
    targets = sequences[:, prompt_len:]
    logprobs = torch.log_softmax(logits, dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    hidden = out.hidden_states[-1][:, prompt_len - 1:-1]
    values = value_head(hidden.to(value_head.weight.dtype)).squeeze(-1)
    return logprobs, values


def completion_mask(completion_ids, eos_ids: Sequence[int]):
    """1 up to and including the first EOS token, 0 after it (generate pads after EOS)."""
    import torch

    is_eos = torch.zeros_like(completion_ids, dtype=torch.bool)
    for eos in eos_ids:
        is_eos |= completion_ids == eos
    after_eos = (torch.cumsum(is_eos.int(), dim=1) - is_eos.int()) > 0
    return (~after_eos).long()


def gae(rewards, values, mask, gamma: float, lam: float):
    """Generalised advantage estimation over masked token sequences; returns (advantages, returns)."""
    import torch

    advantages = torch.zeros_like(rewards)
    last = torch.zeros(rewards.shape[0], dtype=rewards.dtype, device=rewards.device)
    length = rewards.shape[1]
    for t in reversed(range(length)):
        next_value = values[:, t + 1] * mask[:, t + 1] if t + 1 < length else torch.zeros_like(last)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        last = (delta + gamma * lam * last) * mask[:, t]
        advantages[:, t] = last
    return advantages, advantages + values


def token_rewards(scores, logprobs, ref_logprobs, mask, kl_coef: float):
    """KL penalty (k1 = log p - log p_ref) on every completion token; the sequence score lands on the last one."""
    import torch

    rewards = -kl_coef * (logprobs - ref_logprobs) * mask
    last = (mask.sum(1) - 1).clamp(min=0).long()
    rewards[torch.arange(rewards.shape[0]), last] += scores
    return rewards


def kl_k3(logprobs, ref_logprobs, mask):
    """KL(policy || reference) per row, summed over completion tokens, by the k3 estimator.

    k1 = log p - log p_ref is unbiased too but a sampled sum often comes out negative, which reads
    as a bug on a plot; k3 = exp(r) - 1 - r with r = log p_ref - log p is never below zero.
    """
    import torch

    r = torch.where(mask.bool(), ref_logprobs - logprobs, torch.zeros_like(logprobs))
    return (torch.expm1(r) - r).sum(1)


def masked_whiten(x, mask, eps: float = 1e-8):
    mean = (x * mask).sum() / mask.sum().clamp(min=1)
    var = ((x - mean) ** 2 * mask).sum() / mask.sum().clamp(min=1)
    return (x - mean) / (var.sqrt() + eps) * mask


def ppo_loss(model, value_head, batch: Rollout, advantages, returns, idx, cfg: PPOSettings):
    """Clipped surrogate + clipped value loss for the rows `idx` of a rollout."""
    import torch

    mask = batch.completion_mask[idx].float()
    logprobs, values = _forward(model, value_head, batch.sequences[idx], batch.attention[idx], batch.prompt_len)
    ratio = torch.exp(logprobs - batch.logprobs[idx])
    adv = advantages[idx]
    pg = torch.max(-adv * ratio, -adv * ratio.clamp(1 - cfg.cliprange, 1 + cfg.cliprange))
    old_v = batch.values[idx]
    v_clipped = old_v + (values - old_v).clamp(-cfg.cliprange_value, cfg.cliprange_value)
    vf = 0.5 * torch.max((values - returns[idx]) ** 2, (v_clipped - returns[idx]) ** 2)
    denom = mask.sum().clamp(min=1)
    pg_loss, vf_loss = (pg * mask).sum() / denom, (vf * mask).sum() / denom
    return pg_loss + cfg.vf_coef * vf_loss, {"pg_loss": pg_loss.item(), "vf_loss": vf_loss.item(),
                                              "clipfrac": (((ratio - 1).abs() > cfg.cliprange).float() * mask).sum().item() / denom.item()}


class PPOTrainer:
    """`train()` runs `cfg.steps` PPO iterations over chat prompts with a reward callable."""

    def __init__(self, base_model: str | Path, rows: list[dict[str, Any]], out_dir: str | Path,
                 reward_fn: Callable[..., list[float]], lora: LoraSettings | None = None,
                 cfg: PPOSettings | None = None):
        self.base_model, self.rows, self.out_dir = str(base_model), list(rows), Path(out_dir)
        self.reward_fn, self.lora, self.cfg = reward_fn, lora or LoraSettings(), cfg or PPOSettings()
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.out_dir / "train_log.jsonl"
        self._setup()

    def _setup(self) -> None:
        import torch
        from accelerate import Accelerator
        from accelerate.state import AcceleratorState
        from peft import get_peft_model
        from transformers import AutoModelForCausalLM, AutoTokenizer

        # A Trainer earlier in this process may have fixed another precision; keep the process group.
        AcceleratorState._reset_state(reset_partial_state=False)
        self.accelerator = Accelerator(cpu=not torch.cuda.is_available(),
                                       mixed_precision="bf16" if self.cfg.bf16 else "no")
        torch.manual_seed(self.cfg.seed)
        self.tokenizer = AutoTokenizer.from_pretrained(self.base_model, padding_side="left")
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        base = AutoModelForCausalLM.from_pretrained(self.base_model, dtype=torch.float32)
        model = get_peft_model(base, self.lora.peft_config())
        value_head = torch.nn.Linear(base.config.hidden_size, 1)
        torch.nn.init.zeros_(value_head.weight), torch.nn.init.zeros_(value_head.bias)
        self.trainable = [p for p in model.parameters() if p.requires_grad] + list(value_head.parameters())
        optimizer = torch.optim.AdamW(self.trainable, lr=self.cfg.learning_rate)
        self.model, self.value_head, self.optimizer = self.accelerator.prepare(model, value_head, optimizer)
        self.start_step = self._resume()

    def _unwrapped(self):
        return self.accelerator.unwrap_model(self.model)

    def _checkpoints(self) -> list[Path]:
        return sorted(self.out_dir.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))

    def _resume(self) -> int:
        import torch

        found = self._checkpoints()
        if not found:
            return 0
        ckpt = found[-1]
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        set_peft_model_state_dict(self._unwrapped(), load_file(str(ckpt / "adapter_model.safetensors")))
        state = torch.load(ckpt / "ppo_state.pt", weights_only=True)  # tensors, dicts, ints and tuples only
        self.accelerator.unwrap_model(self.value_head).load_state_dict(state["value_head"])
        self.optimizer.load_state_dict(state["optimizer"])
        random.setstate(state["python_rng"])
        torch.set_rng_state(state["torch_rng"])
        return int(state["step"])

    def _save(self, step: int) -> None:
        import torch

        self.accelerator.wait_for_everyone()
        if not self.accelerator.is_main_process:
            return
        import shutil

        ckpt = self.out_dir / f"checkpoint-{step}"
        staging = self.out_dir / f".tmp-checkpoint-{step}"  # renamed when complete: a kill never leaves half
        shutil.rmtree(staging, ignore_errors=True)
        self._unwrapped().save_pretrained(staging)
        torch.save({"step": step, "value_head": self.accelerator.unwrap_model(self.value_head).state_dict(),
                    "optimizer": self.optimizer.state_dict(), "python_rng": random.getstate(),
                    "torch_rng": torch.get_rng_state()}, staging / "ppo_state.pt")
        shutil.rmtree(ckpt, ignore_errors=True)
        staging.rename(ckpt)
        for old in self._checkpoints()[:-2]:
            shutil.rmtree(old)

    def _prompt_batch(self, step: int) -> list[dict[str, Any]]:
        """Each process takes its own slice of a step-seeded shuffle: resumable and sharded."""
        rng = random.Random(derive_seed(self.cfg.seed, "ppo-prompts", step))
        order = rng.sample(range(len(self.rows)), len(self.rows))
        world, rank, size = self.accelerator.num_processes, self.accelerator.process_index, self.cfg.batch_size
        picked = [order[(rank * size + i + step * size * world) % len(order)] for i in range(size)]
        return [self.rows[i] for i in picked]

    def rollout(self, rows: list[dict[str, Any]], step: int) -> Rollout:
        import torch

        tok = self.tokenizer
        texts = [tok.apply_chat_template(r["prompt"], tokenize=False, add_generation_prompt=True) for r in rows]
        tok.truncation_side = "left"
        enc = tok(texts, return_tensors="pt", padding=True, truncation=True, max_length=self.cfg.max_prompt_length,
                  add_special_tokens=False).to(self.accelerator.device)
        model = self._unwrapped()
        model.eval()
        with torch.no_grad(), self.accelerator.autocast():
            seq = model.generate(**enc, max_new_tokens=self.cfg.max_new_tokens, do_sample=True,
                                 temperature=self.cfg.temperature, top_p=self.cfg.top_p, pad_token_id=tok.pad_token_id)
        plen = enc["input_ids"].shape[1]
        eos = model.generation_config.eos_token_id
        cmask = completion_mask(seq[:, plen:], eos if isinstance(eos, list) else [eos])
        attention = torch.cat([enc["attention_mask"], cmask], dim=1)
        with torch.no_grad(), self.accelerator.autocast():
            logprobs, values = _forward(self.model, self.value_head, seq, attention, plen)
            with model.disable_adapter():
                ref_logprobs, _ = _forward(self.model, self.value_head, seq, attention, plen)
        completions = [[{"role": "assistant", "content": tok.decode(ids[m.bool()], skip_special_tokens=True)}]
                       for ids, m in zip(seq[:, plen:], cmask)]
        columns = {k: [r.get(k) for r in rows] for k in rows[0] if k != "prompt"}
        if hasattr(self.reward_fn, "step"):
            self.reward_fn.step = step
        scores = torch.tensor(self.reward_fn([r["prompt"] for r in rows], completions, **columns),
                              dtype=torch.float32, device=seq.device)
        return Rollout(seq, attention, cmask, logprobs.float(), ref_logprobs.float(), values.float(), scores, plen)

    def step(self, step: int) -> dict[str, float]:
        import torch

        batch = self.rollout(self._prompt_batch(step), step)
        scores = batch.scores
        if self.cfg.whiten_rewards and scores.numel() > 1:
            scores = (scores - scores.mean()) / (scores.std() + 1e-8)
        mask = batch.completion_mask.float()
        rewards = token_rewards(scores, batch.logprobs, batch.ref_logprobs, mask, self.cfg.kl_coef)
        kl = kl_k3(batch.logprobs, batch.ref_logprobs, mask)
        advantages, returns = gae(rewards, batch.values * mask, mask, self.cfg.gamma, self.cfg.lam)
        advantages = masked_whiten(advantages, mask)
        # Eval mode as in the rollout: with LoRA dropout on here the new log-probs would be a noisy
        # other policy's, so the ratio is biased and not 1 at the first epoch on unchanged weights.
        self.model.eval()
        stats: list[dict[str, float]] = []
        for _ in range(self.cfg.ppo_epochs):
            perm = torch.randperm(scores.shape[0])
            for start in range(0, len(perm), self.cfg.mini_batch_size):
                idx = perm[start:start + self.cfg.mini_batch_size]
                with self.accelerator.autocast():
                    loss, info = ppo_loss(self.model, self.value_head, batch, advantages, returns, idx, self.cfg)
                self.accelerator.backward(loss)
                grad_norm = self.accelerator.clip_grad_norm_(self.trainable, self.cfg.max_grad_norm)
                info["grad_norm"] = float(grad_norm) if grad_norm is not None else float("nan")  # before clipping
                self.optimizer.step()
                self.optimizer.zero_grad()
                stats.append(info)
        mean = lambda key: sum(s[key] for s in stats) / len(stats)  # noqa: E731
        gathered = self.accelerator.gather(torch.stack([batch.scores.mean(), kl.mean()]).unsqueeze(0)).mean(0)
        return {"reward": gathered[0].item(), "kl": gathered[1].item(), "pg_loss": mean("pg_loss"),
                "vf_loss": mean("vf_loss"), "clipfrac": mean("clipfrac"), "grad_norm": mean("grad_norm"),
                "completion_length": batch.completion_mask.sum(1).float().mean().item()}

    def train(self) -> "PPOResult":
        from ..core.progress import progress

        started, done = time.time(), 0
        with progress("ppo", total=self.cfg.steps, unit="steps", done=self.start_step) as advance:
            for step in range(self.start_step + 1, self.cfg.steps + 1):
                tick = time.time()
                record = {"step": step, **self.step(step), "seconds": round(time.time() - tick, 3)}
                if self.accelerator.is_main_process:
                    with self.log_path.open("a", encoding="utf-8") as handle:
                        handle.write(json.dumps(record) + "\n")
                    if hasattr(self.reward_fn, "log") and self.reward_fn.log is not None:
                        self.reward_fn.log.flush(step, {"kl": record["kl"]})
                if step % self.cfg.save_steps == 0 or step == self.cfg.steps:
                    self._save(step)
                done += 1
                advance(1)
        final = self.out_dir / "final"
        if self.accelerator.is_main_process:
            self._unwrapped().save_pretrained(final)
            self.tokenizer.save_pretrained(final)
        self.accelerator.wait_for_everyone()
        return PPOResult(final, self.log_path, self.start_step + done, time.time() - started, steps_run=done)


PPOResult = PolicyTrainResult  # one result shape for every policy trainer: total steps, timed steps


def train_ppo(base_model, rows, out_dir, reward_fn, lora: LoraSettings | None = None,
              cfg: PPOSettings | None = None) -> PPOResult:
    return PPOTrainer(base_model, rows, out_dir, reward_fn, lora, cfg).train()
