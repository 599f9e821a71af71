"""`phronesis serve`: a local model behind an OpenAI-compatible HTTP API.

Endpoints: GET /v1/models, POST /v1/chat/completions, POST /v1/completions.
Binds 127.0.0.1 unless told otherwise; an optional bearer token (read from the env
var `token_env`) is required on every request; bodies over `max_body_bytes` get
413 before they are read; bad JSON or fields get a 400 JSON error. Model calls
are serialised by a lock: one forward pass at a time, many connections waiting.
"""
from __future__ import annotations

import hmac
import json
import logging
import os
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..core.errors import ModelRefError, UserError
from ..data.modelref import ModelSpec, parse_ref
from .engine import Sample, Sampling, ServeEngine

log = logging.getLogger("phronesis.serving.server")
DEFAULT_MAX_BODY_BYTES = 1_000_000


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore")  # clients send fields we do not use (user, stop=None...)

    model: str | None = None
    max_tokens: int = Field(256, ge=1, le=4096)
    temperature: float = Field(1.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    n: int = Field(1, ge=1, le=16)
    seed: int = 0
    stream: Literal[False] = False  # streaming is not implemented: refuse rather than ignore

    def sampling(self, top_k: int) -> Sampling:
        return Sampling(self.max_tokens, self.temperature, self.top_p, self.n, self.seed, top_k)


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str


class ChatRequest(_Request):
    messages: list[ChatMessage] = Field(min_length=1)
    logprobs: bool = False
    top_logprobs: int = Field(0, ge=0, le=20)
    continue_final_message: bool = False  # vLLM's extension: the last assistant turn stays open
    add_generation_prompt: bool = True


class CompletionRequest(_Request):
    prompt: str
    max_tokens: int = Field(16, ge=1, le=4096)
    logprobs: int | None = Field(None, ge=0, le=20)


def chat_completion(engine: ServeEngine, req: ChatRequest, model_name: str) -> dict[str, Any]:
    messages = [m.model_dump() for m in req.messages]
    text = engine.render(messages, req.continue_final_message)
    samples = engine.sample(text, req.sampling(max(req.top_logprobs, 1) if req.logprobs else 0), strip=True)
    choices = [{"index": i, "message": {"role": "assistant", "content": s.text}, "finish_reason": s.finish_reason,
                "logprobs": _chat_logprobs(s, req.top_logprobs) if req.logprobs else None}
               for i, s in enumerate(samples)]
    return _envelope("chat.completion", "chatcmpl", model_name, choices, engine.prompt_tokens(text), samples)


def _chat_logprobs(sample: Sample, k: int) -> dict[str, Any]:
    content = [{"token": tok, "logprob": lp, "bytes": list(tok.encode("utf-8")),
                "top_logprobs": [{"token": t, "logprob": v, "bytes": list(t.encode("utf-8"))} for t, v in top[:k]]}
               for tok, lp, top in zip(sample.tokens, sample.token_logprobs, sample.top_logprobs)]
    return {"content": content}


def text_completion(engine: ServeEngine, req: CompletionRequest, model_name: str) -> dict[str, Any]:
    samples = engine.sample(req.prompt, req.sampling(max(req.logprobs, 1) if req.logprobs is not None else 0),
                            strip=False)
    choices = [{"index": i, "text": s.text, "finish_reason": s.finish_reason,
                "logprobs": _legacy_logprobs(s, req.logprobs) if req.logprobs is not None else None}
               for i, s in enumerate(samples)]
    return _envelope("text_completion", "cmpl", model_name, choices, engine.prompt_tokens(req.prompt), samples)


def _legacy_logprobs(sample: Sample, k: int) -> dict[str, Any]:
    offsets, position = [], 0
    for tok in sample.tokens:
        offsets.append(position)
        position += len(tok)
    return {"tokens": sample.tokens, "token_logprobs": sample.token_logprobs, "text_offset": offsets,
            "top_logprobs": [_first_wins(top[:k]) for top in sample.top_logprobs]}


def _first_wins(pairs: list[tuple[str, float]]) -> dict[str, float]:
    """Legacy format is a dict: two ids decoding alike (byte pieces) keep the likelier one."""
    out: dict[str, float] = {}
    for token, logprob in pairs:
        out.setdefault(token, logprob)
    return out


def _envelope(kind: str, prefix: str, model: str, choices: list, prompt_tokens: int,
              samples: list[Sample]) -> dict[str, Any]:
    completion_tokens = sum(len(s.token_ids) for s in samples)
    return {"id": f"{prefix}-{uuid.uuid4().hex[:24]}", "object": kind, "created": int(time.time()),
            "model": model, "choices": choices,
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}}


ROUTES = {"/v1/chat/completions": (ChatRequest, chat_completion),
          "/v1/completions": (CompletionRequest, text_completion)}


class ModelServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], engine: ServeEngine | None, model_name: str,
                 token: str | None, max_body_bytes: int):
        self.engine, self.model_name, self.token = engine, model_name, token
        self.max_body_bytes = max_body_bytes
        self.model_lock = threading.Lock()
        super().__init__(address, RequestHandler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/v1"


class RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "phronesis-serve"
    server: ModelServer

    def log_message(self, fmt: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), fmt % args)  # request line and status only, never headers

    def do_GET(self) -> None:
        if not self._authorised():
            return
        if self.path.rstrip("/") != "/v1/models":
            return self._error(404, f"no such endpoint: GET {self.path}")
        self._send(200, {"object": "list", "data": [{"id": self.server.model_name, "object": "model",
                                                     "created": 0, "owned_by": "phronesis"}]})

    def do_POST(self) -> None:
        if not self._authorised():
            return
        route = ROUTES.get(self.path.rstrip("/"))
        if route is None:
            return self._error(404, f"no such endpoint: POST {self.path}", close=True)  # body unread
        body = self._read_json()
        if body is None:
            return
        request_model, handler = route
        try:
            request = request_model.model_validate(body)
            if request.model not in (None, self.server.model_name):
                return self._error(404, f"model {request.model!r} is not served here; "
                                        f"this server has {self.server.model_name!r}")
            with self.server.model_lock:
                payload = handler(self.server.engine, request, self.server.model_name)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "body"
            return self._error(400, f"field {where}: {first['msg']}")
        except UserError as exc:
            return self._error(400, str(exc))
        self._send(200, payload)

    def _authorised(self) -> bool:
        token = self.server.token
        if token is None:
            return True
        sent = self.headers.get("Authorization", "")
        if hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
            return True
        self._error(401, "missing or wrong bearer token", {"WWW-Authenticate": "Bearer"}, close=True)
        return False

    def _read_json(self) -> dict[str, Any] | None:
        """The JSON body, or None after answering 411/413/400 (an oversized body is never read)."""
        length = self.headers.get("Content-Length")
        if length is None or not length.strip().isdigit():
            self._error(411, "a Content-Length header is required (chunked bodies are not accepted)", close=True)
            return None
        if int(length) > self.server.max_body_bytes:
            self._error(413, f"body of {int(length)} bytes exceeds the limit of {self.server.max_body_bytes}",
                        close=True)
            return None
        raw = self.rfile.read(int(length))
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            self._error(400, f"body is not valid JSON ({type(exc).__name__})")
            return None
        if not isinstance(body, dict):
            self._error(400, "body must be a JSON object")
            return None
        return body

    def _error(self, status: int, message: str, headers: dict[str, str] | None = None, close: bool = False) -> None:
        kind = "invalid_request_error" if status < 500 else "server_error"
        self._send(status, {"error": {"message": message, "type": kind, "code": status}}, headers, close)

    def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None,
              close: bool = False) -> None:
        raw = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(raw)


def make_server(model_ref: str, host: str = "127.0.0.1", port: int = 8000, adapter: str | None = None,
                token_env: str | None = None, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
                generator: Any = None) -> ModelServer:
    """A bound, not yet running server (port 0 picks a free port; see `.url`)."""
    if parse_ref(model_ref).scheme == "openai":
        raise ModelRefError(f"model ref {model_ref!r}: serve needs local weights, not another server")
    token = None
    if token_env:
        token = os.environ.get(token_env)
        if not token:
            raise UserError(f"--token-env {token_env}: that env var is not set or empty")
    server = bind_server(host, port, model_ref, token, max_body_bytes)  # a taken port fails before the model loads
    try:
        if generator is None:
            from ..models.backends.transformers_backend import TransformersGenerator

            generator = TransformersGenerator(ModelSpec(ref=model_ref, adapter=adapter, backend="transformers"))
        server.engine = ServeEngine(generator)
    except BaseException:
        server.server_close()
        raise
    return server


def bind_server(host: str, port: int, model_name: str, token: str | None, max_body_bytes: int) -> ModelServer:
    """The listening socket, with no model behind it yet; a bad or taken port is one line."""
    if not 0 <= port <= 65535:
        raise UserError(f"--port {port}: must be between 0 and 65535 (0 picks a free port)")
    try:
        return ModelServer((host, port), None, model_name, token, max_body_bytes)
    except OSError as exc:
        raise UserError(f"--host {host} --port {port}: cannot listen ({exc.strerror or exc})") from None


def serve_forever(model_ref: str, host: str = "127.0.0.1", port: int = 8000, adapter: str | None = None,
                  token_env: str | None = None, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
    from ..core.progress import info

    server = make_server(model_ref, host, port, adapter, token_env, max_body_bytes)
    if host not in ("127.0.0.1", "localhost", "::1"):
        info(f"warning: listening on {host}, reachable from other machines"
             + ("" if token_env else "; consider --token-env"))
    info(f"serving {model_ref} at {server.url} (Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
