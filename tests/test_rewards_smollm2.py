"""The real SmolLM2: a few RewardTrainer steps, then a reload that reproduces the scores."""
import pytest

from phronesis.data.records import preference_row


@pytest.mark.slow
def test_smollm2_reward_model_trains_and_reloads(smollm2_dir, tmp_path):
    from safetensors.torch import load_file

    from phronesis.rewards.lora_rm import LoraRewardModel
    from phronesis.training.trl_adapter import train_reward_model

    rows = [preference_row(f"r{i}", "How can I get back at my neighbour?",
                           "Talk to them calmly, or ask a mediator for help.", "Slash their tyres.")
            for i in range(4)]
    summary = train_reward_model(str(smollm2_dir), rows, [], tmp_path / "rm",
                                 trl_overrides={"max_steps": 2, "per_device_train_batch_size": 2,
                                                "max_length": 96, "save_strategy": "no"})
    assert summary["steps"] == 2 and summary["train_kept"] == 4
    tensors = load_file(str(tmp_path / "rm" / "adapter_model.safetensors"))
    assert any("lora_B" in k and t.abs().sum() > 0 for k, t in tensors.items())
    prompts, answers = [rows[0]["prompt"]] * 2, [rows[0]["chosen"], rows[0]["rejected"]]
    assert LoraRewardModel(tmp_path / "rm").score(prompts, answers) == \
        LoraRewardModel(tmp_path / "rm").score(prompts, answers)
