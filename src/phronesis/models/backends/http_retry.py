"""JSON-over-HTTP with retries: what every remote backend needs and nothing more.

One POST per attempt on a fresh connection (a reset connection never poisons the
next attempt). Retries cover 429, 5xx, timeouts, resets and truncated or invalid
JSON, with exponential backoff plus jitter, honouring `Retry-After`. A request
that still fails gives a `RequestFailure` with a reason the caller records per
row; credentials never appear in reasons, logs or reprs.
"""
from __future__ import annotations

import http.client
import json
import logging
import random
import socket
import ssl
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar
from urllib.parse import urlsplit

from ...core.errors import UserError

log = logging.getLogger("phronesis.http")

T = TypeVar("T")
RETRY_STATUSES = {408, 409, 425, 429, 500, 502, 503, 504}
MAX_RETRY_AFTER_S = 300.0
TRANSIENT_ERRORS = (TimeoutError, socket.timeout, ConnectionError, http.client.HTTPException, OSError)


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


class JSONPoster:
    """POSTs JSON to `base_url + path` with retries; thread-safe."""

    def __init__(self, base_url: str, timeout_s: float, max_retries: int,
                 auth_header: Callable[[], str | None] = lambda: None,
                 base_delay_s: float = 0.5, max_delay_s: float = 30.0, seed: int | None = None):
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UserError(f"{safe_url(base_url)}: expected an http(s)://HOST[:PORT]/PATH base URL")
        self._https = parts.scheme == "https"
        self._host, self._port = parts.hostname, parts.port
        self._prefix = parts.path.rstrip("/")
        self.display_url = safe_url(base_url)
        self.timeout_s, self.max_retries = timeout_s, max_retries
        self.base_delay_s, self.max_delay_s = base_delay_s, max_delay_s
        self._auth_header = auth_header  # called per request: the key is never stored on the object
        self._rng = random.Random(seed)
        self._rng_lock = threading.Lock()
        self.stats = RequestStats()

    def __repr__(self) -> str:
        return f"JSONPoster({self.display_url!r}, timeout_s={self.timeout_s}, max_retries={self.max_retries})"

    def post(self, path: str, payload: dict[str, Any], parse: Callable[[dict[str, Any]], T] = _identity) -> T:
        """`parse(decoded JSON)`, or RequestFailure once retries are spent or pointless.

        A response whose shape `parse` rejects (KeyError, TypeError, ...) counts as
        malformed and is retried like truncated JSON."""
        body = json.dumps(payload).encode("utf-8")
        for attempt in range(self.max_retries + 1):
            self.stats.add(requests=1)
            try:
                return _parse_or_fail(parse, self._post_once(path, body))
            except RequestFailure as failure:
                if not failure.retryable or attempt == self.max_retries:
                    raise
                self.stats.note_retry(failure.reason.split(":")[0])
                delay = self._delay(attempt, failure.retry_after)
                log.info("retrying %s%s in %.2fs (attempt %d/%d): %s", self.display_url, path, delay,
                         attempt + 1, self.max_retries, failure.reason)
                time.sleep(delay)
        raise AssertionError("unreachable")

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return retry_after  # the server said when; trust it
        with self._rng_lock:
            jitter = 0.5 + self._rng.random()  # 0.5x..1.5x so parallel clients spread out
        return min(self.max_delay_s, self.base_delay_s * (2 ** attempt)) * jitter

    def _connection(self) -> http.client.HTTPConnection:
        cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        return cls(self._host, self._port, timeout=self.timeout_s)

    def _post_once(self, path: str, body: bytes) -> dict[str, Any]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        auth = self._auth_header()
        if auth:
            headers["Authorization"] = auth
        conn = self._connection()
        try:
            conn.request("POST", self._prefix + path, body=body, headers=headers)
            response = conn.getresponse()
            raw = response.read()
            status, retry_after = response.status, parse_retry_after(response.getheader("Retry-After"))
        except ssl.SSLCertVerificationError:
            raise RequestFailure("TLS certificate verification failed", retryable=False) from None
        except TRANSIENT_ERRORS as exc:
            raise RequestFailure(f"{_error_kind(exc)}: {type(exc).__name__}", retryable=True) from None
        finally:
            conn.close()
        if status != 200:
            detail = _error_detail(raw, auth)  # a server may echo our headers back
            raise RequestFailure(f"HTTP {status}: {detail}", retryable=status in RETRY_STATUSES,
                                 retry_after=retry_after)
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise RequestFailure(f"invalid JSON: {len(raw)} bytes that do not parse", retryable=True) from None
        if not isinstance(data, dict):
            raise RequestFailure("invalid JSON: top level is not an object", retryable=True)
        return data


def _error_kind(exc: BaseException) -> str:
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return "timeout"
    if isinstance(exc, (ConnectionError, http.client.RemoteDisconnected)):
        return "connection"
    if isinstance(exc, http.client.IncompleteRead):
        return "truncated"
    return "network"


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
