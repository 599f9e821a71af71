"""transformers backend: batched chat generation and option log-probs on CPU or GPU."""
from __future__ import annotations

from typing import Any, Sequence

from ...core.errors import DataError, ModelRefError
from ...core.protocols import Completion, Conversation, GenerationParams, PromptLike, as_conversation
from ...core.seeds import derive_seed
from ...data.modelref import CATALOG_HINT, ModelSpec, parse_ref, resolve_local_path

_LOADED: dict[tuple, tuple[Any, Any]] = {}


def pick_device(requested: str = "auto") -> str:
    import torch

    if requested != "auto":
        return requested
    return "cuda" if torch.cuda.is_available() else "cpu"


def load_causal_lm(spec: ModelSpec) -> tuple[Any, Any]:
    """(model, tokenizer) for `spec`, loaded once per process and shared by every user."""
    key = (spec.ref, spec.adapter, spec.dtype, spec.device, spec.trust_remote_code)
    if key not in _LOADED:
        _LOADED[key] = _load(spec)
    return _LOADED[key]


def release_causal_lm(spec: ModelSpec) -> None:
    """Forget a model `load_causal_lm` cached (one scored once, e.g. a training checkpoint)."""
    _LOADED.pop((spec.ref, spec.adapter, spec.dtype, spec.device, spec.trust_remote_code), None)


def _load(spec: ModelSpec) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = resolve_local_path(spec.ref)
    device = pick_device(spec.device)
    dtype = run_dtype(spec.dtype, device)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=spec.trust_remote_code)
        # weights load in fp32 under an adapter so the LoRA delta is merged before any rounding to bf16
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32 if spec.adapter else dtype,
                                                     use_safetensors=True, trust_remote_code=spec.trust_remote_code)
    except OSError as exc:
        if parse_ref(spec.ref).scheme == "hf":
            raise ModelRefError(f"model ref {spec.ref!r}: cannot load from the Hugging Face hub "
                                f"(offline or no such repo); {CATALOG_HINT}") from None
        raise ModelRefError(f"model ref {spec.ref!r}: cannot load ({str(exc).splitlines()[0]})") from None
    if spec.adapter:
        from peft import PeftModel

        # This model only ever runs inference. Merged, the adapter costs nothing per step; unmerged it adds
        # two small matmuls to each of SmolLM2's 210 linear layers at every decoding step (1.36x slower).
        model = PeftModel.from_pretrained(model, resolve_local_path(spec.adapter)).merge_and_unload()
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"  # decoder-only batches must be left-padded
    model.to(device=device, dtype=dtype).eval()
    return model, tokenizer


def run_dtype(requested: str, device: str) -> Any:
    """The weights' dtype: as asked, or for `auto` bf16 where the hardware has it natively, else fp32.

    Inference only (training picks its own precision in trl_adapter). bf16 changes some greedy answers
    token by token; the measured effect on the evaluation's rates is in benchmarks/RESULTS.md.
    """
    import torch

    from ...core.hardware import native_bf16

    if requested == "auto":
        return torch.bfloat16 if native_bf16(device) else torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[requested]


def render_chat(tokenizer: Any, conversation: Conversation, assistant_prefix: str = "") -> str:
    """The prompt text; a conversation that ends with an assistant turn is continued, not answered anew."""
    if conversation and conversation[-1]["role"] == "assistant":
        text = tokenizer.apply_chat_template(conversation, tokenize=False, continue_final_message=True)
    else:
        text = tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)
    return text + assistant_prefix


def batch_seed(seed: int, texts: Sequence[str]) -> int:
    """A seed that depends only on the batch's content, so a resumed run samples the same."""
    return derive_seed(seed, *texts)


def generate_kwargs(tokenizer: Any, texts: Sequence[str], max_new_tokens: int, temperature: float, top_p: float,
                    n: int, seed: int, repetition_penalty: float = 1.0) -> dict[str, Any]:
    """`model.generate` settings, greedy at temperature 0; sampling seeds torch from the batch's content.

    The one place decoding is set up, so `phronesis serve` decodes exactly as the pipeline does.
    """
    import torch

    kwargs: dict[str, Any] = dict(max_new_tokens=max_new_tokens, do_sample=temperature > 0,
                                  num_return_sequences=n, pad_token_id=tokenizer.pad_token_id)
    if repetition_penalty != 1.0:
        kwargs["repetition_penalty"] = repetition_penalty
    if temperature > 0:
        kwargs.update(temperature=temperature, top_p=top_p)
        torch.manual_seed(batch_seed(seed, texts))
    else:  # unset the model's own sampling defaults, or generate() warns and may sample
        kwargs.update(temperature=None, top_p=None, top_k=None)
    return kwargs


def stop_token_ids(tokenizer: Any, model: Any) -> set[int]:
    """Tokens that end an answer: EOS, padding and whatever the model's generation config adds."""
    ids = {tokenizer.eos_token_id, tokenizer.pad_token_id}
    configured = getattr(model.generation_config, "eos_token_id", None)
    ids.update(configured if isinstance(configured, list) else [configured])
    return {i for i in ids if i is not None}


class TransformersGenerator:
    """Generator + OptionScorer over a local transformers model."""

    def __init__(self, spec: ModelSpec | str, model: Any = None, tokenizer: Any = None):
        self.spec = ModelSpec.model_validate(spec)
        if model is None:
            model, tokenizer = load_causal_lm(self.spec)
        self.model, self.tokenizer = model, tokenizer
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token

    def generate(self, prompts: Sequence[PromptLike], params: GenerationParams) -> list[list[str]]:
        texts = [render_chat(self.tokenizer, as_conversation(p, params.system_prompt)) for p in prompts]
        self._check_context(texts, params.max_new_tokens)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths pad less
        results: list[list[str]] = [[] for _ in texts]
        size = max(1, self.spec.batch_size)
        for start in range(0, len(order), size):
            chunk = order[start:start + size]
            outputs = self._generate_batch([texts[i] for i in chunk], params)
            for index, completions in zip(chunk, outputs):
                results[index] = completions
        return results

    def _check_context(self, texts: list[str], max_new_tokens: int) -> None:
        """Refuse, before any compute, a prompt that cannot fit the model's context with its answer.

        The policy is to refuse, not truncate: a cut prompt changes the question. It also keeps Ctrl-C
        working, since one forward pass over a 262k-token prompt ran for minutes inside C++ and ignored SIGINT.
        """
        context = getattr(self.model.config, "max_position_embeddings", None) or getattr(
            self.model.config, "n_positions", None)
        if not context:
            return
        for number, ids in enumerate(self.tokenizer(texts, add_special_tokens=False)["input_ids"], start=1):
            if len(ids) + max_new_tokens > context:
                preview = " ".join(texts[number - 1].split())[:60]
                raise DataError(f"prompt {number} of this batch ({preview!r}...) is {len(ids):,} tokens; with "
                                f"max_new_tokens {max_new_tokens} it exceeds {self.spec.ref}'s context of "
                                f"{context:,} tokens; shorten it or lower the prompt set's max_prompt_chars")

    def _generate_batch(self, texts: list[str], params: GenerationParams) -> list[list[str]]:
        import torch

        enc = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        enc = {k: v.to(self.model.device) for k, v in enc.items()}
        kwargs = generate_kwargs(self.tokenizer, texts, params.max_new_tokens, params.temperature, params.top_p,
                                 params.n, params.seed, params.repetition_penalty)
        with torch.inference_mode():
            out = self.model.generate(**enc, **kwargs)
        new_tokens = out[:, enc["input_ids"].shape[1]:]
        stop_ids = stop_token_ids(self.tokenizer, self.model)
        completions = []
        for row in new_tokens.tolist():
            ended = any(tok in stop_ids for tok in row)
            text = self.tokenizer.decode(row, skip_special_tokens=True).strip()
            completions.append(Completion(text, "stop" if ended else "length"))
        return [completions[i * params.n:(i + 1) * params.n] for i in range(len(texts))]

    def option_logprobs(self, prompts: Sequence[Conversation], options: Sequence[str],
                        assistant_prefix: str = "") -> list[dict[str, float | None]]:
        """One forward pass per prompt (batched): each option's log-prob by the rule in backends.options."""
        import torch

        from .options import match_options, spelling_token_ids

        candidates = {i: self.tokenizer.decode([i]) for i in spelling_token_ids(self.tokenizer, options)}
        texts = [render_chat(self.tokenizer, list(p), assistant_prefix) for p in prompts]
        results: list[dict[str, float | None]] = []
        size = max(1, self.spec.batch_size)
        for start in range(0, len(texts), size):
            enc = self.tokenizer(texts[start:start + size], return_tensors="pt", padding=True,
                                 add_special_tokens=False).to(self.model.device)
            with torch.inference_mode():
                logits = self.model(**enc).logits[:, -1, :].float()  # left padding: last = next token
            logp = torch.log_softmax(logits, dim=-1)
            for row in logp:
                results.append(match_options([(text, float(row[i])) for i, text in candidates.items()], options))
        return results
