"""Generation backends. Each module imports its heavy dependency lazily."""
from __future__ import annotations

from ...core.protocols import Generator
from ...data.modelref import ModelSpec


def make_generator(spec: ModelSpec | str) -> Generator:
    spec = ModelSpec.model_validate(spec)
    backend = spec.resolved_backend
    if backend == "transformers":
        from .transformers_backend import TransformersGenerator

        return TransformersGenerator(spec)
    if backend == "openai":
        from .openai_http import OpenAIGenerator

        return OpenAIGenerator(spec)
    from .vllm_backend import VLLMGenerator

    return VLLMGenerator(spec)
