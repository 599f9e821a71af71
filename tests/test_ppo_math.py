"""PPO's pure tensor functions against values computed by hand on tiny tensors.

A PPO with a flipped advantage sign, no clipping, a wrong GAE or a wrong-sign KL fails here,
where "the LoRA weights moved" would not notice.
"""
from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from phronesis.training import ppo  # noqa: E402


def test_completion_mask_keeps_tokens_up_to_and_including_the_first_eos():
    ids = torch.tensor([[5, 6, 2, 9, 2], [5, 6, 7, 8, 9]])
    assert ppo.completion_mask(ids, eos_ids=[2]).tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]


def test_gae_matches_the_recursion_by_hand():
    rewards = torch.tensor([[0.0, 0.0, 1.0]])
    values = torch.tensor([[0.5, 0.6, 0.7]])
    mask = torch.ones(1, 3)
    gamma, lam = 0.9, 0.8
    # deltas: d2 = 1 - 0.7 = 0.3; d1 = 0 + 0.9*0.7 - 0.6 = 0.03; d0 = 0 + 0.9*0.6 - 0.5 = 0.04
    a2 = 0.3
    a1 = 0.03 + gamma * lam * a2  # 0.246
    a0 = 0.04 + gamma * lam * a1  # 0.21712
    adv, ret = ppo.gae(rewards, values, mask, gamma, lam)
    assert adv.tolist()[0] == pytest.approx([a0, a1, a2], abs=1e-6)
    assert ret.tolist()[0] == pytest.approx([a0 + 0.5, a1 + 0.6, a2 + 0.7], abs=1e-6)


def test_gae_ignores_padding_after_the_last_token():
    rewards = torch.tensor([[0.0, 1.0, 5.0]])
    values = torch.tensor([[0.2, 0.4, 9.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    adv, _ = ppo.gae(rewards, values, mask, gamma=1.0, lam=1.0)
    # the padded step's value 9 and reward 5 must not leak: a1 = 1 - 0.4, a0 = 0 + 0.4 - 0.2 + a1
    assert adv.tolist()[0] == pytest.approx([0.8, 0.6, 0.0], abs=1e-6)


def test_token_rewards_put_the_score_on_the_last_token_and_penalise_kl():
    logprobs = torch.tensor([[-1.0, -2.0, -0.5]])
    ref = torch.tensor([[-1.5, -1.0, -0.5]])
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    rewards = ppo.token_rewards(torch.tensor([3.0]), logprobs, ref, mask, kl_coef=0.1)
    # per-token k1 = logp - ref = [0.5, -1.0, (masked)]; reward = -0.1 * k1, score added at index 1
    assert rewards.tolist()[0] == pytest.approx([-0.05, 0.1 + 3.0, 0.0], abs=1e-6)


def test_logged_kl_is_k3_by_hand_where_k1_would_be_negative():
    logprobs = torch.tensor([[-1.0, -2.0, -0.5]])
    ref = torch.tensor([[-1.5, -1.0, float("-inf")]])  # the masked token must not leak, even as -inf
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    # r = ref - logp = [-0.5, 1.0]; k3 = (e^-0.5 - 1 + 0.5) + (e^1 - 1 - 1); the k1 sum here is -0.5
    expected = (math.exp(-0.5) - 0.5) + (math.e - 2.0)
    assert ppo.kl_k3(logprobs, ref, mask).tolist() == pytest.approx([expected], abs=1e-6)


def test_logged_kl_is_never_negative():
    gen = torch.Generator().manual_seed(0)
    logprobs, ref = -torch.rand(64, 9, generator=gen) * 5, -torch.rand(64, 9, generator=gen) * 5
    mask = (torch.rand(64, 9, generator=gen) > 0.3).float()
    assert (ppo.kl_k3(logprobs, ref, mask) >= 0).all()


def test_masked_whiten_uses_only_unmasked_entries():
    x = torch.tensor([[1.0, 3.0, 100.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    assert ppo.masked_whiten(x, mask).tolist()[0] == pytest.approx([-1.0, 1.0, 0.0], abs=1e-5)


def _loss_with(monkeypatch, new_logprobs, old_logprobs, advantages, values=None, returns=None, cliprange=0.2):
    """ppo_loss with the model's forward replaced by fixed log-probs and values."""
    n = new_logprobs.shape[1]
    values = values if values is not None else torch.zeros(1, n)
    monkeypatch.setattr(ppo, "_forward", lambda *a, **k: (new_logprobs, values))
    batch = ppo.Rollout(sequences=torch.zeros(1, n, dtype=torch.long), attention=torch.ones(1, n),
                        completion_mask=torch.ones(1, n), logprobs=old_logprobs, ref_logprobs=old_logprobs,
                        values=torch.zeros(1, n), scores=torch.zeros(1), prompt_len=0)
    cfg = ppo.PPOSettings(cliprange=cliprange, cliprange_value=0.2, vf_coef=0.0)
    returns = returns if returns is not None else torch.zeros(1, n)
    return ppo.ppo_loss(None, None, batch, advantages, returns, [0], cfg)


def test_clipped_objective_inside_and_outside_the_trust_region(monkeypatch):
    old = torch.zeros(1, 3)
    ratios = torch.tensor([[1.1, 1.5, 0.5]])
    adv = torch.tensor([[1.0, 1.0, -1.0]])
    loss, stats = _loss_with(monkeypatch, ratios.log(), old, adv)
    # inside (1.1): -1.1; above 1+eps with A>0: clipped to -1.2; below 1-eps with A<0: max(0.5, 0.8) = 0.8
    assert loss.item() == pytest.approx((-1.1 - 1.2 + 0.8) / 3, abs=1e-5)
    assert stats["clipfrac"] == pytest.approx(2 / 3)


def test_positive_advantage_lowers_loss_when_the_action_gets_likelier(monkeypatch):
    old = torch.zeros(1, 1)
    adv = torch.tensor([[1.0]])
    more, _ = _loss_with(monkeypatch, torch.tensor([[0.1]]), old, adv)
    less, _ = _loss_with(monkeypatch, torch.tensor([[-0.1]]), old, adv)
    assert more.item() < less.item()  # a flipped advantage sign would reverse this


def test_value_loss_is_the_clipped_squared_error(monkeypatch):
    old = torch.zeros(1, 1)
    monkeypatch.setattr(ppo, "_forward", lambda *a, **k: (old, torch.tensor([[1.0]])))
    batch = ppo.Rollout(sequences=torch.zeros(1, 1, dtype=torch.long), attention=torch.ones(1, 1),
                        completion_mask=torch.ones(1, 1), logprobs=old, ref_logprobs=old,
                        values=torch.zeros(1, 1), scores=torch.zeros(1), prompt_len=0)
    cfg = ppo.PPOSettings(cliprange_value=0.2, vf_coef=1.0)
    _, stats = ppo.ppo_loss(None, None, batch, torch.zeros(1, 1), torch.tensor([[2.0]]), [0], cfg)
    # unclipped (1-2)^2 = 1, clipped value 0.2 -> (0.2-2)^2 = 3.24; the max, halved
    assert stats["vf_loss"] == pytest.approx(0.5 * 3.24, abs=1e-5)
