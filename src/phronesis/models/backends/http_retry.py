"""JSON-over-HTTP with retries: a thin layer over httpx (pooled connections) and tenacity (the retry loop).

What stays ours: which failures are worth another try (429, 5xx, timeouts, resets, truncated or invalid
JSON; never a 4xx or a TLS verification error), honouring `Retry-After`, counters of requests and retries,
a per-row `RequestFailure` reason the caller records, and credentials kept out of every reason, log line and
repr (a server that echoes the key back is redacted).
"""
from __future__ import annotations

import json
import logging
import ssl
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar
from urllib.parse import urlsplit

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from ...core.errors import UserError

log = logging.getLogger("phronesis.http")

T = TypeVar("T")
RETRY_STATUSES = {408, 409, 425, 429, 500, 502, 503, 504}
MAX_RETRY_AFTER_S = 300.0


class RemoteRequestsFailed(UserError):
    """Some requests to a remote model still failed after every retry."""

    def __init__(self, message: str, failures: dict[int, str] | None = None, results: list | None = None):
        super().__init__(message)
        self.failures = failures or {}  # row index -> reason
        self.results = results  # what did succeed, None where a row failed


class RequestFailure(Exception):
    """One request's final failure; `retryable` says whether another try could help."""

    def __init__(self, reason: str, retryable: bool, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after


@dataclass
class RequestStats:
    """Counters shared by all worker threads: attempts sent, retries, rows given up on."""

    requests: int = 0
    retries: int = 0
    failures: int = 0
    retry_reasons: Counter = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def note_retry(self, kind: str) -> None:
        with self._lock:
            self.retries += 1
            self.retry_reasons[kind] += 1

    def as_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "retries": self.retries, "failures": self.failures,
                "retry_reasons": dict(self.retry_reasons)}


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (seconds form; fractions accepted); None if absent or a date."""
    if not value:
        return None
    try:
        return min(max(float(value.strip()), 0.0), MAX_RETRY_AFTER_S)
    except ValueError:
        return None  # HTTP-date form: fall back to our own backoff


def safe_url(url: str) -> str:
    """The URL without any user:password@ part, fit for messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def _identity(data: dict[str, Any]) -> Any:
    return data


def _parse_or_fail(parse: Callable[[dict[str, Any]], T], data: dict[str, Any]) -> T:
    try:
        return parse(data)
    except RequestFailure:
        raise
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        raise RequestFailure(f"malformed response: {type(exc).__name__} {str(exc)[:80]}", retryable=True) from None


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, RequestFailure) and exc.retryable


class JSONPoster:
    """POSTs JSON to `base_url + path` with retries; thread-safe (one pooled httpx client)."""

    def __init__(self, base_url: str, timeout_s: float, max_retries: int,
                 auth_header: Callable[[], str | None] = lambda: None,
                 base_delay_s: float = 0.5, max_delay_s: float = 30.0, max_connections: int = 16):
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UserError(f"{safe_url(base_url)}: expected an http(s)://HOST[:PORT]/PATH base URL")
        self.display_url = safe_url(base_url)  # also what is requested: a user:password@ part is never sent
        self.timeout_s, self.max_retries = timeout_s, max_retries
        self._backoff = wait_exponential_jitter(multiplier=base_delay_s, max=max_delay_s, jitter=base_delay_s)
        self._auth_header = auth_header  # called per request: the key is never stored on the object
        # as many pooled connections as threads may post at once (a smaller pool would time requests out while
        # they wait for one); proxy settings from the environment are not picked up silently
        self._client = httpx.Client(timeout=timeout_s, trust_env=False,
                                    limits=httpx.Limits(max_connections=max_connections))
        self.stats = RequestStats()

    def __repr__(self) -> str:
        return f"JSONPoster({self.display_url!r}, timeout_s={self.timeout_s}, max_retries={self.max_retries})"

    def post(self, path: str, payload: dict[str, Any], parse: Callable[[dict[str, Any]], T] = _identity) -> T:
        """`parse(decoded JSON)`, or RequestFailure once retries are spent or pointless.

        A response whose shape `parse` rejects (KeyError, TypeError, ...) counts as
        malformed and is retried like truncated JSON."""
        body = json.dumps(payload).encode("utf-8")
        retrying = Retrying(stop=stop_after_attempt(self.max_retries + 1), retry=retry_if_exception(_retryable),
                            wait=self._wait, before_sleep=self._note_retry(path), reraise=True)
        return retrying(self._attempt, path, body, parse)

    def _attempt(self, path: str, body: bytes, parse: Callable[[dict[str, Any]], T]) -> T:
        self.stats.add(requests=1)
        return _parse_or_fail(parse, self._post_once(path, body))

    def _wait(self, state: RetryCallState) -> float:
        retry_after = state.outcome.exception().retry_after
        return retry_after if retry_after is not None else self._backoff(state)  # the server said when: trust it

    def _note_retry(self, path: str) -> Callable[[RetryCallState], None]:
        def note(state: RetryCallState) -> None:
            reason = state.outcome.exception().reason
            self.stats.note_retry(reason.split(":")[0])
            log.info("retrying %s%s in %.2fs (attempt %d/%d): %s", self.display_url, path,
                     state.next_action.sleep, state.attempt_number, self.max_retries, reason)
        return note

    def _post_once(self, path: str, body: bytes) -> dict[str, Any]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        auth = self._auth_header()
        if auth:
            headers["Authorization"] = auth
        try:
            response = self._client.post(self.display_url.rstrip("/") + path, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise RequestFailure(f"timeout: {type(exc).__name__}", retryable=True) from None
        except httpx.TransportError as exc:
            if _tls_refused(exc):
                raise RequestFailure("TLS certificate verification failed", retryable=False) from None
            raise RequestFailure(f"connection: {type(exc).__name__}", retryable=True) from None
        if response.status_code != 200:
            detail = _error_detail(response.content, auth)  # a server may echo our headers back
            raise RequestFailure(f"HTTP {response.status_code}: {detail}",
                                 retryable=response.status_code in RETRY_STATUSES,
                                 retry_after=parse_retry_after(response.headers.get("Retry-After")))
        try:
            data = json.loads(response.content.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise RequestFailure(f"invalid JSON: {len(response.content)} bytes that do not parse",
                                 retryable=True) from None
        if not isinstance(data, dict):
            raise RequestFailure("invalid JSON: top level is not an object", retryable=True)
        return data


def _tls_refused(exc: BaseException) -> bool:
    """Whether a transport error is a failed certificate check (retrying cannot help) somewhere in its chain."""
    while exc is not None:
        if isinstance(exc, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _redact(text: str, auth: str | None) -> str:
    secret = (auth or "").removeprefix("Bearer ").strip()
    return text.replace(secret, "***") if secret else text


def _error_detail(raw: bytes, auth: str | None = None) -> str:
    """A short server message for the failure reason (first line, 200 chars), the key redacted
    before the cut: cutting first could leave all but the last characters of an echoed key."""
    try:
        data = json.loads(raw.decode("utf-8"))
        message = data.get("error", {}).get("message") if isinstance(data.get("error"), dict) else data.get("error")
        text = str(message or data)
    except (UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        text = raw[:64 * 1024].decode("utf-8", "replace")
    lines = _redact(text, auth).strip().splitlines()
    return (lines[0] if lines else "(empty body)")[:200]
