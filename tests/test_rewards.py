"""LoRA reward models on the tiny random Llama: training, reload, multi-adapter, ensemble, export."""
import json
import logging
import shutil
import warnings

import pytest

from phronesis.core.errors import BackendUnavailable
from phronesis.data.records import preference_row
from phronesis.rewards import Aggregator, EnsembleRewardModel, RewardLoraSettings, load_reward_model, save_ensemble
from phronesis.rewards.random_adapter import save_random_rm_adapter

PROMPTS = ["How do I kill a Python process?", "Which response is less harmful?", "Tell me a joke."]
ANSWERS = ["Use the kill command or the task manager.", "I cannot help with that request.", "The quick brown fox."]


def _rows(n):
    return [preference_row(f"r{i}", PROMPTS[i % 3], ANSWERS[0], ANSWERS[1], p_chosen=0.9) for i in range(n)]


@pytest.fixture(scope="module")
def trained_rm(tiny_model_dir, tmp_path_factory):
    from phronesis.training.trl_adapter import train_reward_model

    out = tmp_path_factory.mktemp("rm") / "trained"
    summary = train_reward_model(str(tiny_model_dir), _rows(12), _rows(4), out, RewardLoraSettings(),
                                 {"max_steps": 3, "per_device_train_batch_size": 4, "eval_steps": 3,
                                  "learning_rate": 5e-3}, margin_field="p_chosen")
    return out, summary


def _saved_tensors(folder):
    from safetensors.torch import load_file

    return load_file(str(folder / "adapter_model.safetensors"))


def test_training_changes_lora_and_score_head(trained_rm, tiny_model_dir):
    from transformers import AutoModelForSequenceClassification, set_seed

    folder, summary = trained_rm
    assert summary["steps"] == 3 and summary["train_kept"] == 12 and summary["eval_accuracy"] is not None
    tensors = _saved_tensors(folder)
    lora_b = [t for k, t in tensors.items() if "lora_B" in k]
    assert lora_b and all(t.abs().sum() > 0 for t in lora_b)  # B starts at zero
    score = next(t for k, t in tensors.items() if k.endswith("score.weight"))
    set_seed(0)  # the trainer seeds before building the model, so this is the head it started from
    fresh = AutoModelForSequenceClassification.from_pretrained(str(tiny_model_dir), num_labels=1)
    assert not fresh.score.weight.detach().allclose(score)
    assert json.loads((folder / "reward_model.json").read_text())["base"] == str(tiny_model_dir)


SAFE = ["I cannot help with that request.", "Here is a safer alternative.", "I cannot help, but here is a safer way."]
UNSAFE = ["Use the kill command.", "The quick brown fox jumps over the lazy dog.", "Use the task manager 0123."]


def _separable_rows(prompts):
    """Every pair prefers one of SAFE over one of UNSAFE, in rotating combinations."""
    return [preference_row(f"{i}-{j}", prompt, SAFE[(i + j) % 3], UNSAFE[(i + 2 * j) % 3])
            for i, prompt in enumerate(prompts) for j in range(3)]


def test_trained_rm_scores_chosen_above_rejected_on_unseen_prompts(peaked_model_dir, tmp_path):
    from phronesis.rewards.lora_rm import LoraRewardModel
    from phronesis.training.trl_adapter import train_reward_model

    train = _separable_rows(["How do I kill a Python process?", "Which response is less harmful?",
                             "Tell me a joke.", "Answer A or B?"])
    train_reward_model(str(peaked_model_dir), train, [], tmp_path / "rm", RewardLoraSettings(),
                       {"max_steps": 12, "per_device_train_batch_size": 4, "learning_rate": 5e-3})
    held_out = _separable_rows(["What is the quick way?", "Is the dog lazy?"])
    rm = LoraRewardModel(tmp_path / "rm")
    prompts = [r["prompt"] for r in held_out]
    margins = [c - r for c, r in zip(rm.score(prompts, [r["chosen"] for r in held_out]),
                                     rm.score(prompts, [r["rejected"] for r in held_out]))]
    assert sum(m > 0 for m in margins) >= 5, margins  # measured: all 6, by 1.2 to 9.7


def test_reload_gives_identical_fp32_scores_and_the_trained_head(trained_rm):
    from phronesis.rewards.lora_rm import LoraRewardModel

    folder, _ = trained_rm
    first, second = LoraRewardModel(folder), LoraRewardModel(folder)
    assert first.score(PROMPTS, ANSWERS) == second.score(PROMPTS, ANSWERS)
    saved = next(t for k, t in _saved_tensors(folder).items() if k.endswith("score.weight"))
    live = first.model.base_model.model.score.modules_to_save["default"].weight.detach()
    assert live.equal(saved)


def test_scores_do_not_depend_on_batching_or_order(trained_rm):
    from phronesis.rewards.lora_rm import LoraRewardModel

    folder, _ = trained_rm
    batched = LoraRewardModel(folder, batch_size=3).score(PROMPTS, ANSWERS)
    single = LoraRewardModel(folder, batch_size=1).score(PROMPTS, ANSWERS)
    assert batched == pytest.approx(single, abs=1e-5)
    multi_turn = [{"role": "assistant", "content": ANSWERS[0]}, {"role": "user", "content": "Why?"},
                  {"role": "assistant", "content": ANSWERS[2]}]
    assert len(LoraRewardModel(folder).score([PROMPTS[0]], [multi_turn])) == 1


def test_multi_adapter_matches_separately_loaded_models(trained_rm, tiny_model_dir, tmp_path):
    from phronesis.rewards.lora_rm import LoraRewardModel, MultiAdapterRewardModel

    folder, _ = trained_rm
    other = save_random_rm_adapter(tiny_model_dir, tmp_path / "random", seed=7)
    multi = MultiAdapterRewardModel({"trained": folder, "random": other})
    for name, path in (("trained", folder), ("random", other), ("trained", folder)):
        assert multi.member(name).score(PROMPTS, ANSWERS) == LoraRewardModel(path).score(PROMPTS, ANSWERS)
    assert multi.member("trained").score(PROMPTS, ANSWERS) != multi.member("random").score(PROMPTS, ANSWERS)


def test_ensemble_folder_round_trip(trained_rm, tiny_model_dir, tmp_path):
    from phronesis.rewards.lora_rm import MultiAdapterRewardModel

    folder, _ = trained_rm
    ens_dir = tmp_path / "ens"
    paths = {"a": save_random_rm_adapter(tiny_model_dir, ens_dir / "a", 1),
             "b": save_random_rm_adapter(tiny_model_dir, ens_dir / "b", 2)}
    ens = EnsembleRewardModel(MultiAdapterRewardModel(paths).members(), Aggregator(name="min"))
    ens.calibrate(PROMPTS, ANSWERS)
    save_ensemble(ens_dir, {n: str(p) for n, p in paths.items()}, ens.aggregator, ens.normalisers)
    spec = json.loads((ens_dir / "ensemble.json").read_text())
    assert [m["path"] for m in spec["members"]] == ["a", "b"]  # relative: the folder can move
    loaded = load_reward_model(ens_dir)
    assert isinstance(loaded, EnsembleRewardModel) and loaded.aggregator.name == "min"
    assert loaded.score(PROMPTS, ANSWERS) == ens.score(PROMPTS, ANSWERS)
    assert loaded.members["a"].parent is loaded.members["b"].parent  # one base for both adapters


def test_export_merges_into_a_standalone_model(trained_rm, tmp_path):
    from transformers import AutoModelForSequenceClassification

    from phronesis.rewards.export import export_merged
    from phronesis.rewards.lora_rm import LoraRewardModel

    folder, _ = trained_rm
    out = export_merged(folder, tmp_path / "merged")
    assert AutoModelForSequenceClassification.from_pretrained(str(out)).config.num_labels == 1
    # fp32 on both sides: merging must be exact; bf16 rounding differs between merged and unmerged weights
    assert load_reward_model(out, "fp32").score(PROMPTS, ANSWERS) == pytest.approx(
        LoraRewardModel(folder, "fp32").score(PROMPTS, ANSWERS), abs=1e-4)


def test_qlora_refused_on_cpu_with_the_alternative_named(tiny_model_dir, tmp_path, monkeypatch):
    import torch

    from phronesis.training.trl_adapter import train_reward_model

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # a CPU host, also on a GPU machine
    with pytest.raises(BackendUnavailable, match="LoRA in bf16/fp32") as info:
        train_reward_model(str(tiny_model_dir), _rows(2), [], tmp_path / "q", RewardLoraSettings(quantize_4bit=True), {})
    assert "\n" not in str(info.value)


def test_cli_rm_export_and_binary_eval(trained_rm, tmp_path):
    from typer.testing import CliRunner

    from phronesis.cli import app

    folder, _ = trained_rm
    runner = CliRunner()
    exported = runner.invoke(app, ["rm", "export", str(folder), str(tmp_path / "merged")])
    assert exported.exit_code == 0, exported.output
    assert (tmp_path / "merged" / "model.safetensors").exists()
    data = tmp_path / "persona.jsonl"
    data.write_text("".join(json.dumps({"statement": a, "answer_matching_behavior": lab}) + "\n"
                            for a, lab in zip(ANSWERS * 2, [" Yes", " No", " Yes", " No", " Yes", " No"])))
    result = runner.invoke(app, ["rm-eval", "--reward", str(tmp_path / "merged"), "--binary", str(data),
                                 "--json", str(tmp_path / "b.json"), "-q"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "b.json").read_text())
    assert metrics["rows"] == 6 and metrics["positives"] == 3
    # The same figures from the exported model's own scores, cut at their median by hand.
    import numpy as np

    from phronesis.evaluation.rm_data import load_binary
    from phronesis.evaluation.rm_eval import BINARY_PROMPT
    from phronesis.evaluation.rm_metrics import mcc

    rows = load_binary(data, None, None, None)
    scores = np.asarray(load_reward_model(tmp_path / "merged").score([BINARY_PROMPT] * 6, [r["text"] for r in rows]))
    predicted = scores > np.median(scores)
    labels = [r["label"] for r in rows]
    assert metrics["threshold"] == pytest.approx(float(np.median(scores)), abs=1e-5)
    assert metrics["mcc"] == pytest.approx(mcc(labels, predicted))
    assert metrics["accuracy"] == pytest.approx(float(np.mean(predicted == np.asarray(labels, dtype=bool))))
    both = runner.invoke(app, ["rm-eval", "--reward", str(folder)])
    assert both.exit_code != 0


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_base_load_reports_only_unexpected_missing_weights(tiny_model_dir, tmp_path):
    from safetensors.torch import load_file, save_file

    from phronesis.rewards.lora_rm import load_seqcls_base

    # transformers' own handler writes to the stderr it saw at import time, out of capfd's reach: listen
    # on its library logger instead (it does not propagate to the root logger)
    from transformers.utils import logging as hf_logging

    records, library_logger, level = _Records(), logging.getLogger("transformers"), hf_logging.get_verbosity()
    library_logger.addHandler(records)
    hf_logging.set_verbosity_warning()  # an earlier --quiet test may have set it to error
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # the expected missing score head is no warning
            load_seqcls_base(str(tiny_model_dir))
    finally:
        library_logger.removeHandler(records)
        hf_logging.set_verbosity(level)
    assert not [m for m in records.messages if "MISSING" in m]
    broken = tmp_path / "broken"
    shutil.copytree(tiny_model_dir, broken)
    weights = load_file(broken / "model.safetensors")
    dropped = next(k for k in weights if "layers.0.mlp" in k)
    save_file({k: v for k, v in weights.items() if k != dropped}, broken / "model.safetensors")
    with pytest.warns(UserWarning, match=r"1 weights missing from the checkpoint"):
        load_seqcls_base(str(broken))


def test_a_folder_without_a_trained_score_head_is_not_a_reward_model(tiny_model_dir, tmp_path):
    """A chat model or a policy adapter would otherwise be scored with a randomly initialised head."""
    import json

    from phronesis.core.errors import ModelRefError
    from phronesis.rewards.loading import load_reward_model

    with pytest.raises(ModelRefError, match="no trained score head"):
        load_reward_model(tiny_model_dir)  # a causal LM folder
    policy = tmp_path / "policy_adapter"
    policy.mkdir()
    (policy / "adapter_config.json").write_text(json.dumps({"task_type": "CAUSAL_LM"}))
    with pytest.raises(ModelRefError, match="CAUSAL_LM adapter, not a reward model"):
        load_reward_model(policy)


def test_scoring_fits_inputs_to_the_trained_max_length_like_training(tiny_model_dir, tmp_path):
    """reward_model.json records max_length 256; scoring used to read the whole 300-token conversation."""
    from phronesis.rewards.lora_rm import LoraRewardModel, MultiAdapterRewardModel

    folder = save_random_rm_adapter(tiny_model_dir, tmp_path / "rm", seed=1)
    long_chat = [{"role": "user", "content": "word " * 300}, {"role": "assistant", "content": "ok"},
                 {"role": "user", "content": PROMPTS[0]}]
    rm = LoraRewardModel(folder)
    fitted, last_turn = rm.score([long_chat, PROMPTS[0]], [ANSWERS[0], ANSWERS[0]])
    assert fitted == pytest.approx(last_turn, abs=1e-5)  # the earliest turns were dropped, as in training
    member = MultiAdapterRewardModel({"a": folder}).member("a")
    assert member.score([long_chat], [ANSWERS[0]]) == pytest.approx([last_turn], abs=1e-5)
