"""Text encoders with `embed(texts) -> (n, d)`: sentence embeddings (MiniLM from the catalog, mean pooling, no
sentence-transformers needed) and a chat model's hidden state at the start of its reply (`ReplyStateEncoder`)."""
from __future__ import annotations

from typing import Any, Sequence

from ..data.modelref import ModelSpec, resolve_local_path

_LOADED: dict[str, tuple[Any, Any]] = {}


class TransformersEmbedder:
    """`embed(texts) -> (n, d)` L2-normalised float32 numpy array."""

    def __init__(self, spec: ModelSpec | str = "catalog:minilm-l6-v2", batch_size: int = 32):
        self.spec = ModelSpec.model_validate(spec)
        self.batch_size = batch_size

    def _model(self) -> tuple[Any, Any]:
        if self.spec.ref not in _LOADED:
            from transformers import AutoModel, AutoTokenizer

            path = resolve_local_path(self.spec.ref)
            tokenizer = AutoTokenizer.from_pretrained(path)
            model = AutoModel.from_pretrained(path, use_safetensors=True).eval()
            _LOADED[self.spec.ref] = (model, tokenizer)
        return _LOADED[self.spec.ref]

    def embed(self, texts: Sequence[str]):
        import numpy as np
        import torch

        model, tokenizer = self._model()
        chunks = []
        for start in range(0, len(texts), self.batch_size):
            enc = tokenizer(list(texts[start:start + self.batch_size]), padding=True, truncation=True,
                            max_length=256, return_tensors="pt")
            with torch.inference_mode():
                hidden = model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).float()
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            chunks.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
        return np.concatenate(chunks) if chunks else np.zeros((0, 384), dtype="float32")


def reply_opener_ids(tokenizer, text: str, max_length: int = 256) -> list[int]:
    """Token ids of `text` as the user's message up to the chat template's assistant opener, cut from the left
    to `max_length` (the opener must stay: its last token is where the reply state is read)."""
    return tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=True,
                                         add_generation_prompt=True, return_dict=True)["input_ids"][-max_length:]


class ReplyStateEncoder:
    """`embed(texts) -> (n, d)` float64: a chat model's hidden state after `layer` decoder layers, at the last token
    of its chat template's assistant opener for `text` as the user's message: what the model has made of a
    request just before it answers. The judge's harmful-request classifier reads these (a probe on SmolLM2's
    layer 21 separated held-out harmful from harmless requests better than MiniLM's embeddings; RESULTS.md)."""

    def __init__(self, spec: ModelSpec | str = "catalog:smollm2-135m-instruct", layer: int = 21,
                 batch_size: int = 16, max_length: int = 256):
        self.spec = ModelSpec.model_validate(spec)
        self.layer, self.batch_size, self.max_length = layer, batch_size, max_length

    def _model(self) -> tuple[Any, Any]:
        key = f"{self.spec.ref}#reply-state-{self.layer}"
        if key not in _LOADED:
            import torch
            from transformers import AutoModel, AutoTokenizer

            from ..core.errors import ConfigError

            path = resolve_local_path(self.spec.ref)
            tokenizer = AutoTokenizer.from_pretrained(path)
            model = AutoModel.from_pretrained(path, use_safetensors=True, dtype="float32").eval()
            if not 1 <= self.layer <= len(model.layers):
                raise ConfigError(f"{self.spec.ref}: reply-state layer {self.layer} is not among its "
                                  f"{len(model.layers)} decoder layers")
            del model.layers[self.layer:]  # the layers after the one read would only cost time
            model.norm = torch.nn.Identity()  # the state as that layer leaves it, not the final norm's
            _LOADED[key] = (model, tokenizer)
        return _LOADED[key]

    def embed(self, texts: Sequence[str]):
        import numpy as np
        import torch

        model, tokenizer = self._model()
        ids = [reply_opener_ids(tokenizer, t, self.max_length) for t in texts]
        # Batches of equal length, no padding: a text's state is then the same bits whichever texts share its
        # batch, so a resumed run reproduces the verdicts of an uninterrupted one.
        by_length: dict[int, list[int]] = {}
        for row, tokens in enumerate(ids):
            by_length.setdefault(len(tokens), []).append(row)
        out = np.zeros((len(ids), model.config.hidden_size))
        for rows in by_length.values():
            for start in range(0, len(rows), self.batch_size):
                batch = rows[start:start + self.batch_size]
                with torch.inference_mode():
                    hidden = model(input_ids=torch.tensor([ids[i] for i in batch])).last_hidden_state
                out[batch] = hidden[:, -1].double().numpy()
        return out


class CachedEmbedder:
    """An embedder that embeds each distinct text once over its lifetime (judge training re-reads the same
    prompts, responses and questions in every fold and fit)."""

    def __init__(self, inner):
        self.inner, self.spec, self.cache = inner, inner.spec, {}

    def embed(self, texts):
        import numpy as np

        new = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if new:
            self.cache.update(zip(new, np.asarray(self.inner.embed(new))))
        return np.stack([self.cache[t] for t in texts])
