"""OpenAI-compatible HTTP backend: vLLM / llama.cpp / Ollama servers, hosted APIs, `phronesis serve`.

Generation uses `/chat/completions` (n samples per prompt; temperature, top_p,
max_tokens and seed passed through). Option log-probs use one token with
`logprobs=true, top_logprobs=20` and read each option off the returned tokens.

Failure handling: every row is tried with retries (see `http_retry`). A row that
still fails is recorded in `last_failures` (row index -> reason). With
`strict=True` (the default) the call then raises `RemoteRequestsFailed`, a
one-line `UserError` ("N of M requests failed after R retries: last error ...")
that also carries the rows that did succeed; with `strict=False` failed rows come
back empty (`[]` completions, all-None log-probs) and the caller records them.

The API key is read from the env var named by `api_key_env` at each request and
sent as a Bearer token. It is never stored on the object, logged, or put in
messages; a server that echoes it back in an error body is redacted.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any, Callable, Literal, Sequence

from ...core.errors import ModelRefError, UserError
from ...core.progress import progress
from ...core.protocols import Completion, Conversation, GenerationParams, PromptLike, as_conversation
from ...data.modelref import ModelSpec, parse_ref
from .http_retry import JSONPoster, RemoteRequestsFailed, RequestFailure, RequestStats
from .options import match_options

TOP_LOGPROBS = 20  # the most OpenAI's API returns
PrefixMode = Literal["user", "continue"]


@dataclass(frozen=True)
class RowResult:
    """One prompt's outcome: `value` when it worked, else `error` says why."""

    value: Any = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class OpenAIGenerator:
    """Generator + OptionScorer over an OpenAI-compatible server (`openai:URL#MODEL`).

    `assistant_prefix_mode` says where `option_logprobs`' assistant prefix goes:
    "user" (default, works with every server) appends it to the last user turn, so
    the model sees it as an instruction rather than its own words; "continue" sends
    it as a final assistant message with `continue_final_message=true,
    add_generation_prompt=false` (vLLM's and `phronesis serve`'s extension), which
    reproduces the transformers backend exactly.
    """

    def __init__(self, spec: ModelSpec | str, *, strict: bool = True, base_delay_s: float = 0.5,
                 max_delay_s: float = 30.0, assistant_prefix_mode: PrefixMode = "user"):
        self.spec = ModelSpec.model_validate(spec)
        parsed = parse_ref(self.spec.ref)
        if parsed.scheme != "openai":
            raise ModelRefError(f"model ref {self.spec.ref!r}: the openai backend needs openai:URL#MODEL")
        self.model_name = parsed.model_name
        self._key_env = self.spec.api_key_env
        if self._key_env and not os.environ.get(self._key_env):
            raise UserError(f"model {self.model_name!r}: env var {self._key_env} (its api_key_env) is not set")
        self._poster = JSONPoster(parsed.target, self.spec.timeout_s, self.spec.max_retries,
                                  auth_header=self._auth_header, base_delay_s=base_delay_s,
                                  max_delay_s=max_delay_s, max_connections=self.spec.max_concurrency)
        self.strict = strict
        self.assistant_prefix_mode = assistant_prefix_mode
        self.last_failures: dict[int, str] = {}

    def __repr__(self) -> str:
        return (f"OpenAIGenerator({self._poster.display_url!r}, model={self.model_name!r}, "
                f"api_key_env={self._key_env!r})")

    @property
    def stats(self) -> RequestStats:
        return self._poster.stats

    def _auth_header(self) -> str | None:
        key = os.environ.get(self._key_env) if self._key_env else None
        return f"Bearer {key}" if key else None

    # -- Generator -------------------------------------------------------------------------
    def generate(self, prompts: Sequence[PromptLike], params: GenerationParams) -> list[list[str]]:
        return self._finish(self.generate_rows(prompts, params), empty=lambda: [])

    def generate_rows(self, prompts: Sequence[PromptLike], params: GenerationParams) -> list[RowResult]:
        convs = [as_conversation(p, params.system_prompt) for p in prompts]
        return self._map("generate (http)", convs, lambda conv: self._sample(conv, params))

    def _sample(self, conv: Conversation, params: GenerationParams) -> list[Completion]:
        """`params.n` completions; asks again if a server returns fewer choices than n."""
        choices: list[Completion] = []
        for extra in range(params.n):
            payload = {"model": self.model_name, "messages": conv, "n": params.n - len(choices),
                       "max_tokens": params.max_new_tokens, "temperature": params.temperature,
                       "top_p": params.top_p, "seed": params.seed + extra}
            if params.repetition_penalty != 1.0:  # not OpenAI's API: vLLM and TGI-style servers accept it
                payload["repetition_penalty"] = params.repetition_penalty
            choices += self._poster.post("/chat/completions", payload, parse=parse_chat_choices)
            if len(choices) >= params.n:
                return choices[:params.n]
        raise RequestFailure(f"server returned {len(choices)} of {params.n} choices", retryable=False)

    # -- OptionScorer ----------------------------------------------------------------------
    def option_logprobs(self, prompts: Sequence[Conversation], options: Sequence[str],
                        assistant_prefix: str = "") -> list[dict[str, float | None]]:
        rows = self.option_logprobs_rows(prompts, options, assistant_prefix)
        return self._finish(rows, empty=lambda: {opt: None for opt in options})

    def option_logprobs_rows(self, prompts: Sequence[Conversation], options: Sequence[str],
                             assistant_prefix: str = "") -> list[RowResult]:
        def one(conv: Conversation) -> dict[str, float | None]:
            payload = {"model": self.model_name, "messages": self._with_prefix(conv, assistant_prefix),
                       "max_tokens": 1, "temperature": 0.0, "logprobs": True, "top_logprobs": TOP_LOGPROBS}
            if assistant_prefix and self.assistant_prefix_mode == "continue":
                payload.update(continue_final_message=True, add_generation_prompt=False)
            top = self._poster.post("/chat/completions", payload, parse=parse_first_token_top_logprobs)
            return match_options(top, options)

        return self._map("option log-probs (http)", list(prompts), one)

    def _with_prefix(self, conv: Conversation, prefix: str) -> Conversation:
        conv = [dict(m) for m in conv]
        if not prefix:
            return conv
        if self.assistant_prefix_mode == "continue":
            return conv + [{"role": "assistant", "content": prefix}]
        if conv and conv[-1]["role"] == "user":
            conv[-1]["content"] = f"{conv[-1]['content']}\n\n{prefix}"
            return conv
        return conv + [{"role": "user", "content": prefix}]

    # -- concurrency and failure bookkeeping -------------------------------------------------
    def _map(self, description: str, items: Sequence[Any], work: Callable[[Any], Any]) -> list[RowResult]:
        results: list[RowResult | None] = [None] * len(items)
        workers = max(1, min(self.spec.max_concurrency, len(items) or 1))
        with ThreadPoolExecutor(max_workers=workers) as pool, progress(description, len(items)) as advance:
            futures = {pool.submit(_attempt, work, item): i for i, item in enumerate(items)}
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                advance(1)
        self.stats.add(failures=sum(not r.ok for r in results))
        return results  # type: ignore[return-value]

    def _finish(self, rows: list[RowResult], empty: Callable[[], Any]) -> list[Any]:
        self.last_failures = {i: r.error for i, r in enumerate(rows) if not r.ok}
        values = [r.value if r.ok else None for r in rows]
        if self.last_failures and self.strict:
            raise RemoteRequestsFailed(self.failure_summary(len(rows)), dict(self.last_failures), values)
        return [v if r.ok else empty() for v, r in zip(values, rows)]

    def failure_summary(self, total: int) -> str:
        last_index = max(self.last_failures)
        return (f"{self._poster.display_url} (model {self.model_name}): {len(self.last_failures)} of {total} "
                f"requests failed after {self.spec.max_retries} retries: last error (row {last_index}) "
                f"{self.last_failures[last_index]}")


def _attempt(work: Callable[[Any], Any], item: Any) -> RowResult:
    try:
        return RowResult(value=work(item))
    except RequestFailure as failure:
        return RowResult(error=failure.reason)


def parse_chat_choices(data: dict[str, Any]) -> list[Completion]:
    """Completions from a chat response; "length" when the server says it hit max_tokens."""
    out = []
    for choice in data["choices"]:
        content = choice["message"].get("content") or ""
        reason = "length" if choice.get("finish_reason") == "length" else "stop"
        out.append(Completion(str(content), reason))
    return out


def parse_first_token_top_logprobs(data: dict[str, Any]) -> list[tuple[str, float]]:
    """(token, logprob) pairs of the first generated position."""
    logprobs = data["choices"][0].get("logprobs")
    if not logprobs or not logprobs.get("content"):
        raise RequestFailure("server returned no logprobs (does it support logprobs=true?)", retryable=False)
    first = logprobs["content"][0]
    return [(str(t["token"]), float(t["logprob"])) for t in first.get("top_logprobs") or [first]]
