"""Our PPO on the tiny random Llama: padding, dropout and clipping do what the maths assumes,
and a reward for one token makes the policy emit that token more (a flipped sign, less)."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from phronesis import ppo  # noqa: E402
from phronesis.lora import LoraSettings  # noqa: E402


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
