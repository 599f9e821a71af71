"""Trainer configs pick precision and checkpointing for the machine; the YAML `trl:` block still wins."""
import pytest
import torch

from phronesis.training.trl_adapter import _policy_args, _reward_config, machine_defaults



@pytest.fixture
def cpu_bf16(monkeypatch):
    """A CPU host whatever this machine is, so the CPU branch is tested on a GPU machine too."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)

    def set_native(native: bool):
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: native)
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    return set_native


@pytest.mark.parametrize("native", [False, True])
def test_bf16_only_where_the_cpu_has_it(cpu_bf16, native, tmp_path):
    from trl import RewardConfig, SFTConfig

    cpu_bf16(native)
    reward = _reward_config(RewardConfig, tmp_path, None, None, has_eval=False)
    sft = _policy_args(SFTConfig, "sft", tmp_path, {})
    for args in (reward, sft):
        assert args.bf16 is native and args.use_cpu is True
        assert args.activation_checkpointing is False  # TRL defaults it on; a CPU host has the memory


def test_user_trl_block_overrides_machine_defaults(cpu_bf16, tmp_path):
    from trl import DPOConfig, RewardConfig

    cpu_bf16(False)
    reward = _reward_config(RewardConfig, tmp_path, {"gradient_checkpointing": True, "max_steps": 3}, None, True)
    dpo = _policy_args(DPOConfig, "dpo", tmp_path, {"activation_checkpointing": True})
    assert reward.activation_checkpointing and dpo.activation_checkpointing  # the old name too
    assert reward.max_steps == 3


def test_machine_defaults_never_ask_for_bf16_on_a_cpu_without_it(cpu_bf16):
    cpu_bf16(False)
    assert machine_defaults() == {"use_cpu": True, "bf16": False, "activation_checkpointing": False}


@pytest.mark.parametrize("bf16", [False, True])
def test_machine_defaults_on_a_gpu_host_follow_its_bf16_support(monkeypatch, bf16):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    assert machine_defaults() == {"bf16": bf16, "use_cpu": False}  # checkpointing left to TRL's default


def test_a_resumed_trainer_reports_every_step_and_times_only_its_own(tmp_path, monkeypatch):
    """A run killed after step 4 and resumed to 6 recorded steps=2; the adapter has 6."""
    from types import SimpleNamespace

    from phronesis.training import trl_adapter

    (tmp_path / "checkpoint-4").mkdir()
    (tmp_path / "checkpoint-4" / "trainer_state.json").write_text("{}")

    class ResumedTrainer:
        state = SimpleNamespace(global_step=4)
        processing_class = SimpleNamespace(save_pretrained=lambda path: None)

        def train(self, resume_from_checkpoint):
            assert resume_from_checkpoint.endswith("checkpoint-4")
            self.state.global_step = 6

        def save_model(self, path):
            pass

        def is_world_process_zero(self):
            return True

    monkeypatch.setattr(trl_adapter, "_one_console_voice", lambda trainer: None)
    result = trl_adapter._run_trainer(ResumedTrainer(), tmp_path, tmp_path / "train_log.jsonl")
    assert (result.steps, result.steps_run) == (6, 2)
    assert result.seconds_per_step == result.seconds / 2
