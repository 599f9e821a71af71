"""Sentence embeddings (MiniLM from the catalog) with mean pooling, no sentence-transformers needed."""
from __future__ import annotations

from typing import Any, Sequence

from .modelref import ModelSpec, resolve_local_path

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
