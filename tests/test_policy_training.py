"""Each policy trainer moves the LoRA weights on a tiny random model; reward logs are faithful."""
import json

import pytest
import torch
from policy_fakes import ROWS_PREF, ROWS_PROMPT, ROWS_SFT, CharEmbedder, FakeEnsemble

from phronesis.models.lora import LoraSettings, load_adapter_tensors, lora_state
from phronesis.training.policy_inputs import BUNDLED_CHAT_TEMPLATE, chat_template_path
from phronesis.training.policy_reward import PolicyReward, RewardLog

LORA = LoraSettings(r=4, alpha=8, dropout=0.0)


class Snapshot:
    """A TrainerCallback that copies the LoRA tensors when training starts."""

    def __new__(cls):
        from transformers import TrainerCallback

        class _Snap(TrainerCallback):
            before = {}

            def on_train_begin(self, args, state, control, model=None, **kw):
                type(self).before = lora_state(model)

        return _Snap()


def assert_moved(before, adapter_dir):
    after = load_adapter_tensors(adapter_dir)
    assert before and len(after) == len(before)
    keys = {k.replace(".default", ""): v for k, v in before.items()}
    # .cpu() on both sides: on a GPU machine the trained tensors and the snapshot may sit on different devices
    moved = [k for k, v in after.items() if not torch.allclose(v.float().cpu(), keys[k].float().cpu(), atol=0)]
    assert moved, "no LoRA tensor changed"
    assert any("lora_B" in k for k in moved)


def test_sft_moves_lora(tiny_model_dir, tmp_path):
    from phronesis.training.trl_adapter import train_sft

    snap = Snapshot()
    result = train_sft(tiny_model_dir, ROWS_SFT, tmp_path, LORA, {"max_steps": 2, "max_length": 256},
                       chat_template_path(BUNDLED_CHAT_TEMPLATE), callbacks=[snap])
    assert result.steps == 2
    assert_moved(type(snap).before, result.adapter_dir)
    logged = [json.loads(line) for line in result.log_path.read_text().splitlines()]
    assert [r["step"] for r in logged if "loss" in r] == [1, 2]


def _logged(result, key):
    return [r[key] for r in map(json.loads, result.log_path.read_text().splitlines()) if key in r]


def test_sft_loss_falls_on_a_memorisable_set(peaked_model_dir, tmp_path):
    from phronesis.training.trl_adapter import train_sft

    result = train_sft(peaked_model_dir, ROWS_SFT, tmp_path, LORA, {"max_steps": 10, "max_length": 256,
                                                                     "learning_rate": 1e-2},
                       chat_template_path(BUNDLED_CHAT_TEMPLATE))
    losses = _logged(result, "loss")
    assert len(losses) == 10 and losses[-1] < 0.5 * losses[0], losses  # measured: 5.7 -> 1.9


def test_sft_refuses_when_truncation_masks_every_example(tiny_model_dir, tmp_path):
    from phronesis.core.errors import DataError
    from phronesis.training.trl_adapter import train_sft

    # 4 tokens hold only the start of the user turn: TRL would drop every row and torch fail on 0 samples
    with pytest.raises(DataError, match=r"sft: all 8 examples .* max_length=4"):
        train_sft(tiny_model_dir, ROWS_SFT, tmp_path, LORA, {"max_steps": 1, "max_length": 4},
                  chat_template_path(BUNDLED_CHAT_TEMPLATE))


def test_assistant_mask_covers_only_assistant_tokens(tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    template = open(chat_template_path(BUNDLED_CHAT_TEMPLATE)).read()
    messages = [{"role": "user", "content": "How do I kill a process?"},
                {"role": "assistant", "content": "Use the kill command."},
                {"role": "user", "content": "Which one?"}, {"role": "assistant", "content": "The safer one."}]
    enc = tok.apply_chat_template(messages, chat_template=template, tokenize=True, return_dict=True,
                                  return_assistant_tokens_mask=True)
    ids, mask = enc["input_ids"], enc["assistant_masks"]
    masked_text = tok.decode([i for i, m in zip(ids, mask) if m])
    assert masked_text == "Use the kill command.<|im_end|>The safer one.<|im_end|>"
    unmasked = tok.decode([i for i, m in zip(ids, mask) if not m])
    assert "How do I kill" in unmasked and "Use the kill" not in unmasked


def test_dpo_moves_lora(tiny_model_dir, tmp_path):
    from phronesis.training.trl_adapter import train_dpo

    snap = Snapshot()
    result = train_dpo(tiny_model_dir, ROWS_PREF, tmp_path, LORA, {"max_steps": 2, "max_length": 128,
                                                                   "learning_rate": 1e-3}, callbacks=[snap])
    assert_moved(type(snap).before, result.adapter_dir)


def _response_logprob(model, tokenizer, prompt, response) -> float:
    """Summed log-prob of the assistant turn `response` after the chat-formatted `prompt`."""
    prompt_ids = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True,
                                               return_dict=True)["input_ids"]
    ids = tokenizer.apply_chat_template(prompt + response, tokenize=True, return_dict=True)["input_ids"]
    assert ids[:len(prompt_ids)] == prompt_ids
    ids = torch.tensor([ids])
    with torch.no_grad():
        logprobs = model(input_ids=ids).logits[0, :-1].float().log_softmax(-1)
    return logprobs.gather(-1, ids[0, 1:, None]).squeeze(-1)[len(prompt_ids) - 1:].sum().item()


def test_dpo_widens_the_chosen_minus_rejected_margin(peaked_model_dir, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from phronesis.training.trl_adapter import train_dpo

    result = train_dpo(peaked_model_dir, ROWS_PREF, tmp_path, LORA, {"max_steps": 8, "max_length": 128,
                                                                     "learning_rate": 1e-2})
    margins = _logged(result, "rewards/margins")
    assert margins[-1] > margins[0] + 1.0, margins  # measured: 0 -> 4.9
    # TRL's margin is chosen minus rejected as TRL was handed them; measure ours on the data we passed,
    # so a swap anywhere on the way into the trainer fails here too
    tokenizer = AutoTokenizer.from_pretrained(peaked_model_dir)
    policy = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(peaked_model_dir), result.adapter_dir)
    row = ROWS_PREF[0]

    def chosen_minus_rejected():
        return (_response_logprob(policy, tokenizer, row["prompt"], row["chosen"])
                - _response_logprob(policy, tokenizer, row["prompt"], row["rejected"]))

    trained = chosen_minus_rejected()
    with policy.disable_adapter():
        reference = chosen_minus_rejected()
    assert trained - reference > 10.0, (trained, reference)  # measured: 50, TRL's 4.9 over beta 0.1


def test_grpo_moves_lora_and_logs_members_and_group_reward(tiny_model_dir, tmp_path):
    from phronesis.training.group_rewards import SageConsistencyReward
    from phronesis.training.trl_adapter import train_grpo

    log = RewardLog(tmp_path / "rewards.jsonl")
    reward = PolicyReward(FakeEnsemble(), {"sage": (SageConsistencyReward(CharEmbedder()), 1.0)}, log)
    snap = Snapshot()
    result = train_grpo(tiny_model_dir, ROWS_PROMPT, tmp_path / "grpo", reward, LORA,
                        {"max_steps": 2, "max_completion_length": 8, "beta": 0.04, "learning_rate": 1e-3},
                        callbacks=[snap])
    assert_moved(type(snap).before, result.adapter_dir)
    rows = [json.loads(line) for line in log.path.read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]
    for row in rows:
        aggregate, members = FakeEnsemble().score_members(None, row["completions"])
        for name, scores in members.items():
            assert row["member_scores"][name] == pytest.approx(scores)
            assert row[f"reward/{name}"] == pytest.approx(sum(scores) / len(scores))
        sage = row["member_scores"]["sage"]
        assert row["aggregate_scores"] == pytest.approx([a + s for a, s in zip(aggregate, sage)])
        assert "group/sage" in row and "kl" in row


def test_rl_stage_core_runs_our_ppo(tiny_model_dir, tmp_path):
    from phronesis.stages.rl import RLStageConfig, train_policy

    cfg = RLStageConfig(algorithm="ppo", steps=2, generation={"max_new_tokens": 8}, lora=LORA,
                        ppo={"batch_size": 4, "mini_batch_size": 2, "learning_rate": 1e-2})
    log = RewardLog(tmp_path / "rewards.jsonl")
    reward = PolicyReward(FakeEnsemble(), log=log)
    counts = train_policy(cfg, str(tiny_model_dir), ROWS_PROMPT, tmp_path, reward)
    assert counts["steps"] == 2
    after = load_adapter_tensors(tmp_path / "adapter")
    lora_b = [v for k, v in after.items() if "lora_B" in k]
    assert lora_b and any(v.abs().sum() > 0 for v in lora_b), "lora_B starts at zero; PPO must move it"
    rows = [json.loads(line) for line in log.path.read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2] and all("kl" in r and "reward/length" in r for r in rows)
    assert (tmp_path / "rewards.png").stat().st_size > 1000


@pytest.mark.slow
def test_sft_on_smollm2_moves_lora(smollm2_dir, tmp_path):
    from phronesis.training.trl_adapter import train_sft

    snap = Snapshot()
    result = train_sft(smollm2_dir, ROWS_SFT[:2], tmp_path, LoraSettings(r=4, alpha=8),
                       {"max_steps": 1, "max_length": 96, "per_device_train_batch_size": 2},
                       chat_template_path(BUNDLED_CHAT_TEMPLATE), callbacks=[snap])
    assert_moved(type(snap).before, result.adapter_dir)


def test_ppo_resumes_from_its_checkpoint_with_safe_loading(tiny_model_dir, tmp_path):
    from phronesis.stages.rl import RLStageConfig, train_policy

    def run(steps):
        cfg = RLStageConfig(algorithm="ppo", steps=steps, generation={"max_new_tokens": 6}, lora=LORA,
                            ppo={"batch_size": 2, "mini_batch_size": 2, "learning_rate": 1e-2, "save_steps": 1})
        log = RewardLog(tmp_path / f"rewards-{steps}.jsonl")
        counts = train_policy(cfg, str(tiny_model_dir), ROWS_PROMPT, tmp_path, PolicyReward(FakeEnsemble(), log=log))
        return [json.loads(line)["step"] for line in log.path.read_text().splitlines()], counts["steps"]

    assert run(1) == ([1], 1)
    # step 1 came from the checkpoint (loaded with weights_only=True), not redone; the adapter has both steps
    assert run(2) == ([2], 2)


def test_repeat_rows_weighs_one_prompt_set_and_refuses_a_name_that_matches_nothing():
    from phronesis.core.errors import DataError
    from phronesis.training.policy_inputs import repeat_rows

    rows = [{"id": "harmful_train/h1"}, {"id": "benign_train/b1"}, {"id": "benign_train/b2"}]
    out = repeat_rows(rows, {"benign_train": 3})
    assert [r["id"] for r in out] == ["harmful_train/h1", "benign_train/b1", "benign_train/b1#2", "benign_train/b1#3",
                                      "benign_train/b2", "benign_train/b2#2", "benign_train/b2#3"]
    assert repeat_rows(rows, {}) == rows
    with pytest.raises(DataError, match=r"sft.repeat: 'bengin_train' names no row's prompt set.*benign_train"):
        repeat_rows(rows, {"bengin_train": 2}, key="sft.repeat")
    with pytest.raises(DataError, match="0 copies"):
        repeat_rows(rows, {"benign_train": 0})
