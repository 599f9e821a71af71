"""Our PPO on the tiny random Llama: padding, dropout and clipping do what the maths assumes,
and a reward for one token makes the policy emit that token more (a flipped sign, less)."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from phronesis.training import ppo  # noqa: E402
from phronesis.models.lora import LoraSettings  # noqa: E402


@pytest.mark.parametrize("build", ["build_tiny_causal_lm", "build_tiny_gpt2"])
def test_left_padding_does_not_change_a_rows_log_probs(build):
    # RoPE (Llama) only sees relative positions; GPT-2's absolute ones catch a missing position_ids
    import tiny_models

    model, _ = getattr(tiny_models, build)()
    head = torch.nn.Linear(model.config.hidden_size, 1)
    short_prompt, long_prompt = [5, 6, 7], [8, 9, 10, 11, 12, 13]
    completion = [20, 21, 22, 23]
    pad = [0] * (len(long_prompt) - len(short_prompt))
    batch = torch.tensor([pad + short_prompt + completion, long_prompt + completion])
    attention = torch.tensor([[0] * len(pad) + [1] * (len(short_prompt) + len(completion)),
                              [1] * (len(long_prompt) + len(completion))])
    alone = torch.tensor([short_prompt + completion])
    with torch.no_grad():
        padded_logprobs, padded_values = ppo._forward(model, head, batch, attention, len(long_prompt))
        alone_logprobs, alone_values = ppo._forward(model, head, alone, torch.ones_like(alone), len(short_prompt))
    torch.testing.assert_close(padded_logprobs[0], alone_logprobs[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(padded_values[0], alone_values[0], atol=1e-5, rtol=0)


def _trainer(model_dir, out_dir, reward_fn, lora=None, **settings):
    from policy_fakes import ROWS_PROMPT

    cfg = ppo.PPOSettings(**{"steps": 1, "batch_size": 2, "mini_batch_size": 2, "ppo_epochs": 1,
                             "max_new_tokens": 6, **settings})
    return ppo.PPOTrainer(model_dir, ROWS_PROMPT, out_dir, reward_fn, lora or LoraSettings(r=4, alpha=8), cfg)


def _no_reward(prompts, completions, **columns):
    return [0.0] * len(completions)


def test_update_sees_the_rollouts_policy_so_the_first_ratio_is_one(tiny_model_dir, tmp_path, monkeypatch):
    trainer = _trainer(tiny_model_dir, tmp_path, _no_reward, LoraSettings(r=4, alpha=8, dropout=0.5))
    with torch.no_grad():  # lora_B starts at zero, which would hide the dropout on the LoRA path
        for name, param in trainer.model.named_parameters():
            if "lora_B" in name:
                param.normal_(std=0.5)
    first = []
    real_loss = ppo.ppo_loss

    def recording_loss(model, value_head, batch, advantages, returns, idx, cfg):
        if not first:  # before any optimizer step: the weights the rollout sampled with
            new, _ = ppo._forward(model, value_head, batch.sequences[idx], batch.attention[idx], batch.prompt_len)
            mask = batch.completion_mask[idx].bool()
            first.append((new.detach()[mask], batch.logprobs[idx][mask]))
        return real_loss(model, value_head, batch, advantages, returns, idx, cfg)

    monkeypatch.setattr(ppo, "ppo_loss", recording_loss)
    trainer.step(1)
    new, old = first[0]
    torch.testing.assert_close(torch.exp(new - old), torch.ones_like(old), atol=1e-5, rtol=0)


def test_gradients_are_clipped_before_the_optimizer_steps(tiny_model_dir, tmp_path, monkeypatch):
    def length_reward(prompts, completions, **columns):
        return [float(len(c[0]["content"])) for c in completions]

    trainer = _trainer(tiny_model_dir, tmp_path, length_reward, max_grad_norm=1e-3, mini_batch_size=1)
    norms_at_step = []
    real_step = trainer.optimizer.step

    def recording_step(*args, **kwargs):
        grads = [p.grad for p in trainer.trainable if p.grad is not None]
        norms_at_step.append(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])).item())
        return real_step(*args, **kwargs)

    monkeypatch.setattr(trainer.optimizer, "step", recording_step)
    stats = trainer.step(1)
    assert stats["grad_norm"] > 1e-2  # the raw gradients were far above the bound ...
    assert len(norms_at_step) == 2 and max(norms_at_step) <= 1e-3 * (1 + 1e-4)  # ... the optimizer saw them cut


def test_rl_stage_passes_max_grad_norm_to_ppo_and_a_zero_bound_is_refused():
    from pydantic import ValidationError

    from phronesis.stages.rl import RLStageConfig, ppo_settings

    assert ppo_settings(RLStageConfig(algorithm="ppo", ppo={"max_grad_norm": 0.5}), seed=0).max_grad_norm == 0.5
    with pytest.raises(ValidationError, match="max_grad_norm"):
        ppo.PPOSettings(max_grad_norm=0)


LOWERCASE = frozenset("abcdefghijklmnopqrstuvwxyz")


def _first_token_mass(trainer, token_ids):
    """Mean probability, over the training prompts, that the first completion token is one of `token_ids`."""
    tok = trainer.tokenizer
    texts = [tok.apply_chat_template(r["prompt"], tokenize=False, add_generation_prompt=True) for r in trainer.rows]
    enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    with torch.no_grad():
        last = trainer.model(**enc).logits[:, -1].float()
    return last.softmax(-1)[:, token_ids].sum(-1).mean().item()


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_reward_for_a_lowercase_start_moves_its_probability_the_rewarded_way(peaked_model_dir, tmp_path, sign):
    """A bandit: the reward (sign x 1) depends only on whether the first token starts with a lowercase letter."""
    def reward(prompts, completions, **columns):
        return [sign * float(c[0]["content"][:1] in LOWERCASE) for c in completions]

    # no KL penalty: it pulls towards the reference and would only blur the sign under test
    trainer = _trainer(peaked_model_dir, tmp_path, reward, steps=10, batch_size=8, mini_batch_size=4, ppo_epochs=2,
                       max_new_tokens=2, learning_rate=1e-2, whiten_rewards=True, kl_coef=0.0)
    tok = trainer.tokenizer
    rewarded = [i for i in range(len(tok)) if tok.decode([i])[:1] in LOWERCASE]
    before = _first_token_mass(trainer, rewarded)
    trainer.train()
    after = _first_token_mass(trainer, rewarded)
    # measured over seeds 0-3, from 0.27: +0.56 to +0.62 when rewarded, -0.16 to -0.23 when penalised
    assert after - before > 0.3 if sign > 0 else before - after > 0.1, (before, after)
