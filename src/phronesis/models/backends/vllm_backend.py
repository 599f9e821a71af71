"""vLLM in-process backend (the `[vllm]` extra; needs a CUDA GPU).

vllm is imported only when a `VLLMGenerator` is built. Without the package or a
GPU the constructor raises `BackendUnavailable` with a one-line hint, so a config
that names `backend: vllm` fails before any work starts.

Untested on this machine (no GPU): only the unavailable path has a test.
"""
from __future__ import annotations

from typing import Any, Sequence

from ...core.errors import BackendUnavailable
from ...core.protocols import Completion, Conversation, GenerationParams, PromptLike, as_conversation
from ...data.modelref import ModelSpec, resolve_local_path
from .transformers_backend import render_chat

HINT = "use backend: transformers, or an openai: ref to a running vLLM server"


def require_vllm() -> Any:
    """The vllm module, or BackendUnavailable saying what is missing."""
    try:
        import vllm
    except ImportError:
        raise BackendUnavailable(f"vllm backend: the vllm package is not installed "
                                 f"(pip install 'phronesis[vllm]' on a CUDA machine); {HINT}") from None
    import torch

    if not torch.cuda.is_available():
        raise BackendUnavailable(f"vllm backend: no CUDA GPU is visible; {HINT}")
    return vllm


class VLLMGenerator:
    """Generator + OptionScorer over `vllm.LLM` (continuous batching on one GPU)."""

    def __init__(self, spec: ModelSpec | str):
        self.spec = ModelSpec.model_validate(spec)
        self._vllm = require_vllm()
        dtype = "auto" if self.spec.dtype == "auto" else self.spec.dtype
        self.llm = self._vllm.LLM(model=resolve_local_path(self.spec.ref), dtype=dtype,
                                  trust_remote_code=self.spec.trust_remote_code,
                                  enable_lora=self.spec.adapter is not None)
        self.tokenizer = self.llm.get_tokenizer()
        self._lora = None
        if self.spec.adapter:
            from vllm.lora.request import LoRARequest

            self._lora = LoRARequest("adapter", 1, resolve_local_path(self.spec.adapter))

    def generate(self, prompts: Sequence[PromptLike], params: GenerationParams) -> list[list[str]]:
        sampling = self._vllm.SamplingParams(n=params.n, temperature=params.temperature, top_p=params.top_p,
                                             max_tokens=params.max_new_tokens, seed=params.seed,
                                             repetition_penalty=params.repetition_penalty)
        texts = [render_chat(self.tokenizer, as_conversation(p, params.system_prompt)) for p in prompts]
        outputs = self.llm.generate(texts, sampling, lora_request=self._lora)
        return [[Completion(o.text.strip(), "length" if o.finish_reason == "length" else "stop")
                 for o in out.outputs] for out in outputs]

    def option_logprobs(self, prompts: Sequence[Conversation], options: Sequence[str],
                        assistant_prefix: str = "") -> list[dict[str, float | None]]:
        """Each option's log-prob from vLLM's top-20 next-token log-probs, by the rule in backends.options."""
        from .options import match_options

        sampling = self._vllm.SamplingParams(max_tokens=1, temperature=0.0, logprobs=20)
        texts = [render_chat(self.tokenizer, list(p), assistant_prefix) for p in prompts]
        outputs = self.llm.generate(texts, sampling, lora_request=self._lora)
        results = []
        for out in outputs:
            first = out.outputs[0].logprobs[0]  # token id -> Logprob(logprob, rank, decoded_token)
            results.append(match_options([(self.tokenizer.decode([tid]), lp.logprob) for tid, lp in first.items()],
                                         options))
        return results
