"""LoRA reward models: one adapter (`LoraRewardModel`) or several over one base (`MultiAdapterRewardModel`).

An RM folder is a PEFT adapter (LoRA + its own `score` head, saved via modules_to_save)
plus the tokenizer and `reward_model.json` naming the base model. Scoring renders
prompt + completion with the chat template exactly as TRL's RewardTrainer does,
pads on the right (as the trainer did) and runs in one precision: fp32, or bf16
autocast, never a mix, so a reload reproduces scores bit for bit.
"""
from __future__ import annotations

import contextlib
import warnings
from pathlib import Path
from typing import Any, Sequence

from ..core.errors import BackendUnavailable, ModelRefError
from ..core.io import atomic_write_json, read_json
from ..core.progress import progress
from ..core.protocols import Conversation, PromptLike, as_conversation
from ..data.records import as_messages
from ..models.lora import adapter_base
from .settings import Precision

RM_META = "reward_model.json"


def check_quantization(quantize_4bit: bool) -> None:
    """4-bit QLoRA needs CUDA and bitsandbytes; refuse on CPU with the alternative named."""
    if not quantize_4bit:
        return
    import torch

    if not torch.cuda.is_available():
        raise BackendUnavailable("4-bit QLoRA needs a CUDA GPU (bitsandbytes); on CPU use plain LoRA in "
                                 "bf16/fp32: set quantize_4bit: false")
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise BackendUnavailable("4-bit QLoRA needs bitsandbytes: pip install bitsandbytes, or set "
                                 "quantize_4bit: false for LoRA in bf16/fp32") from None


def quantization_config():
    import torch
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                              bnb_4bit_compute_dtype=torch.bfloat16, bnb_4bit_use_double_quant=True)


def load_tokenizer(path: str):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"
    return tokenizer


def load_seqcls_base(base_path: str, quantize_4bit: bool = False):
    """The base model with a 1-output score head (random until an adapter supplies its own)."""
    import torch
    from transformers import AutoModelForSequenceClassification

    check_quantization(quantize_4bit)
    kwargs: dict[str, Any] = {"num_labels": 1, "dtype": torch.float32}
    if quantize_4bit:
        kwargs.update(quantization_config=quantization_config(), device_map={"": 0})
    # A causal-LM checkpoint has no score head (the adapter brings it), so transformers' load report would
    # always warn "score.weight MISSING"; silence that report and warn only about other missing weights.
    with _transformers_log_level_error():
        model, info = AutoModelForSequenceClassification.from_pretrained(base_path, output_loading_info=True,
                                                                         **kwargs)
    others = sorted(k for k in info["missing_keys"] if not k.startswith("score."))
    if others:
        warnings.warn(f"{base_path}: {len(others)} weights missing from the checkpoint, e.g. {others[:3]}")
    if model.config.pad_token_id is None:
        tokenizer = load_tokenizer(base_path)
        model.config.pad_token_id = tokenizer.pad_token_id
    return model


@contextlib.contextmanager
def _transformers_log_level_error():
    from transformers.utils import logging as hf_logging

    previous = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(previous)


def write_rm_meta(folder: str | Path, base_ref: str, max_length: int | None, **extra: Any) -> None:
    atomic_write_json(Path(folder) / RM_META, {"format": "phronesis-lora-rm/1", "base": base_ref,
                                               "max_length": max_length, **extra})


def base_of(folder: str | Path) -> str:
    """The base model of an adapter folder: reward_model.json, else PEFT's adapter_config.json."""
    folder = Path(folder)
    if (folder / RM_META).exists():
        return str(read_json(folder / RM_META)["base"])
    if not (folder / "adapter_config.json").exists():
        raise ModelRefError(f"{folder}: not a LoRA reward model (no {RM_META} or adapter_config.json)")
    return adapter_base(folder)


def resolve_base(ref: str) -> str:
    from ..data.modelref import resolve_local_path

    return resolve_local_path(ref)


def render(tokenizer: Any, prompt: PromptLike, completion: str | Conversation) -> list[int]:
    """Token ids of prompt + completion, rendered like TRL's RewardTrainer renders a pair."""
    conversation = as_conversation(prompt) + as_messages(completion, "assistant")
    return list(tokenizer.apply_chat_template(conversation, tokenize=True, return_dict=True)["input_ids"])


def render_fitted(tokenizer: Any, prompt: PromptLike, completion: str | Conversation,
                  max_length: int | None) -> list[int]:
    """`render`, fitted to the RM's trained `max_length` as training fitted its pairs (earliest prompt
    turns dropped first); one turn still too long keeps its last tokens, where the score head reads."""
    from .preference_data import drop_first_turn

    turns = as_conversation(prompt)
    ids = render(tokenizer, turns, completion)
    if max_length is None:
        return ids
    while len(ids) > max_length and len(turns) > 1:
        turns = drop_first_turn(turns)
        ids = render(tokenizer, turns, completion)
    return ids[-max_length:]


def trained_max_length(folder: str | Path) -> int | None:
    """The `max_length` the RM was trained with (reward_model.json), None when it was not recorded."""
    meta = Path(folder) / RM_META
    return read_json(meta).get("max_length") if meta.is_file() else None


class _Scorer:
    """Batched forward passes of a sequence-classification model; right padding, one precision."""

    def __init__(self, model: Any, tokenizer: Any, precision: Precision = "auto", batch_size: int = 8,
                 max_length: int | None = None):
        self.model, self.tokenizer = model.eval(), tokenizer
        self.precision, self.batch_size, self.max_length = precision, batch_size, max_length

    def _autocast(self):
        import torch

        from ..core.hardware import native_bf16

        if self.precision == "bf16-autocast" or (self.precision == "auto" and native_bf16(self.model.device.type)):
            return torch.autocast(device_type=self.model.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def score_ids(self, sequences: list[list[int]]) -> list[float]:
        import torch

        order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
        scores: list[float] = [0.0] * len(sequences)
        pad = self.tokenizer.pad_token_id
        with progress("reward scoring", total=len(sequences), unit="seqs") as advance:
            for start in range(0, len(order), max(1, self.batch_size)):
                chunk = order[start:start + self.batch_size]
                width = max(len(sequences[i]) for i in chunk)
                ids = torch.full((len(chunk), width), pad, dtype=torch.long)
                mask = torch.zeros((len(chunk), width), dtype=torch.long)
                for row, i in enumerate(chunk):
                    ids[row, :len(sequences[i])] = torch.tensor(sequences[i])
                    mask[row, :len(sequences[i])] = 1
                with torch.inference_mode(), self._autocast():
                    logits = self.model(input_ids=ids.to(self.model.device),
                                        attention_mask=mask.to(self.model.device)).logits
                for row, i in enumerate(chunk):
                    scores[i] = float(logits[row, 0].float())
                advance(len(chunk))
        return scores

    def score(self, prompts: Sequence[PromptLike], completions: Sequence[str | Conversation]) -> list[float]:
        if len(prompts) != len(completions):
            raise ValueError(f"score: {len(prompts)} prompts but {len(completions)} completions")
        return self.score_ids([render_fitted(self.tokenizer, p, c, self.max_length)
                               for p, c in zip(prompts, completions)])


class LoraRewardModel:
    """One LoRA reward model (a `protocols.RewardModel`) loaded from its folder."""

    def __init__(self, folder: str | Path, precision: Precision = "auto", batch_size: int = 8,
                 base_path: str | None = None, quantize_4bit: bool = False):
        from peft import PeftModel

        self.folder = Path(folder)
        base_path = base_path or resolve_base(base_of(self.folder))
        model = PeftModel.from_pretrained(load_seqcls_base(base_path, quantize_4bit), str(self.folder))
        self._scorer = _Scorer(model, load_tokenizer(str(self.folder)), precision, batch_size,
                               trained_max_length(self.folder))

    @property
    def model(self) -> Any:
        return self._scorer.model

    def score(self, prompts: Sequence[PromptLike], completions: Sequence[str | Conversation]) -> list[float]:
        return self._scorer.score(prompts, completions)


class MultiAdapterRewardModel:
    """Several LoRA RMs over ONE base model in memory; each adapter keeps its own score head.

    `member(name)` is a RewardModel that switches to that adapter before scoring. The base is
    loaded once; a second adapter costs megabytes, a second model hundreds (benchmarks/).
    """

    def __init__(self, folders: dict[str, str | Path], precision: Precision = "auto", batch_size: int = 8,
                 base_path: str | None = None):
        from peft import PeftModel

        if not folders:
            raise ValueError("MultiAdapterRewardModel needs at least one adapter folder")
        names = list(folders)
        bases = {name: base_of(folders[name]) for name in names}
        if base_path is None and len(set(bases.values())) > 1:
            raise ModelRefError(f"adapters {names} do not share one base model: {sorted(set(bases.values()))}")
        base_path = base_path or resolve_base(bases[names[0]])
        model = PeftModel.from_pretrained(load_seqcls_base(base_path), str(folders[names[0]]),
                                          adapter_name=names[0])
        for name in names[1:]:
            model.load_adapter(str(folders[name]), adapter_name=name)
        self.names = names
        self.max_lengths = {name: trained_max_length(folders[name]) for name in names}
        self._scorer = _Scorer(model, load_tokenizer(str(folders[names[0]])), precision, batch_size)

    @property
    def model(self) -> Any:
        return self._scorer.model

    def score_with(self, name: str, prompts: Sequence[PromptLike],
                   completions: Sequence[str | Conversation]) -> list[float]:
        self.model.set_adapter(name)
        self._scorer.max_length = self.max_lengths[name]  # each adapter scores at its own trained length
        return self._scorer.score(prompts, completions)

    def member(self, name: str) -> "AdapterMember":
        if name not in self.names:
            raise KeyError(f"no adapter {name!r} (have: {', '.join(self.names)})")
        return AdapterMember(self, name)

    def members(self) -> dict[str, "AdapterMember"]:
        return {name: AdapterMember(self, name) for name in self.names}


class AdapterMember:
    """One adapter of a MultiAdapterRewardModel, seen as a plain RewardModel."""

    def __init__(self, parent: MultiAdapterRewardModel, name: str):
        self.parent, self.name = parent, name

    def score(self, prompts: Sequence[PromptLike], completions: Sequence[str | Conversation]) -> list[float]:
        return self.parent.score_with(self.name, prompts, completions)


class SequenceClassifierRewardModel:
    """A standalone (merged / exported) sequence-classification reward model folder."""

    def __init__(self, folder: str | Path, precision: Precision = "auto", batch_size: int = 8):
        import torch
        from transformers import AutoModelForSequenceClassification

        model = AutoModelForSequenceClassification.from_pretrained(str(folder), dtype=torch.float32)
        self._scorer = _Scorer(model, load_tokenizer(str(folder)), precision, batch_size, trained_max_length(folder))

    def score(self, prompts: Sequence[PromptLike], completions: Sequence[str | Conversation]) -> list[float]:
        return self._scorer.score(prompts, completions)
