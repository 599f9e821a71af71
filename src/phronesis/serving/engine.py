"""The model side of `phronesis serve`: generation with optional per-token top log-probs.

It decodes exactly like `TransformersGenerator` (same kwargs, same seed, same
decode-and-strip for chat), so greedy output over HTTP equals the direct output.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..core.errors import UserError
from ..core.protocols import Conversation
from ..models.backends.transformers_backend import TransformersGenerator, generate_kwargs, render_chat, stop_token_ids


@dataclass
class Sample:
    """One generated sequence; the log-prob lists are filled only when asked for."""

    text: str
    finish_reason: str
    token_ids: list[int]
    tokens: list[str] = field(default_factory=list)
    token_logprobs: list[float] = field(default_factory=list)
    top_logprobs: list[list[tuple[str, float]]] = field(default_factory=list)


@dataclass(frozen=True)
class Sampling:
    max_tokens: int
    temperature: float
    top_p: float
    n: int
    seed: int
    top_k_logprobs: int = 0  # 0: no log-probs


class ServeEngine:
    def __init__(self, generator: TransformersGenerator):
        self.model, self.tokenizer = generator.model, generator.tokenizer

    def render(self, messages: Conversation, continue_final_message: bool = False) -> str:
        """Chat text; with `continue_final_message` the last assistant turn is left open."""
        if continue_final_message:
            if messages[-1]["role"] != "assistant":
                raise UserError("continue_final_message needs the last message to be an assistant turn")
            return render_chat(self.tokenizer, messages[:-1], messages[-1]["content"])
        return render_chat(self.tokenizer, messages)

    def prompt_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def sample(self, text: str, s: Sampling, strip: bool) -> list[Sample]:
        import torch

        enc = self.tokenizer([text], return_tensors="pt", add_special_tokens=False).to(self.model.device)
        kwargs = generate_kwargs(self.tokenizer, [text], s.max_tokens, s.temperature, s.top_p, s.n, s.seed)
        with torch.inference_mode():
            out = self.model.generate(**enc, **kwargs, return_dict_in_generate=True,
                                      output_logits=s.top_k_logprobs > 0)
        new_tokens = out.sequences[:, enc["input_ids"].shape[1]:].tolist()
        logp = torch.log_softmax(torch.stack(out.logits, 1).float(), -1) if s.top_k_logprobs else None
        return [self._sample(row, logp[i] if logp is not None else None, s.top_k_logprobs, strip)
                for i, row in enumerate(new_tokens)]

    def _sample(self, row: list[int], logp: Any, k: int, strip: bool) -> Sample:
        stops = stop_token_ids(self.tokenizer, self.model)
        end = next((i for i, tok in enumerate(row) if tok in stops), None)
        kept = row if end is None else row[:end + 1]  # the stop token is reported, what follows is padding
        text = self.tokenizer.decode(row, skip_special_tokens=True)
        sample = Sample(text.strip() if strip else text, "length" if end is None else "stop", kept)
        if logp is not None:
            for step, tok in enumerate(kept):
                values, ids = logp[step].topk(k)
                sample.tokens.append(self._piece(tok))
                sample.token_logprobs.append(float(logp[step, tok]))
                sample.top_logprobs.append([(self._piece(i), float(v)) for v, i in zip(values.tolist(), ids.tolist())])
        return sample

    def _piece(self, token_id: int) -> str:
        return self.tokenizer.decode([token_id], skip_special_tokens=False)
