"""A fake OpenAI-compatible server on 127.0.0.1 that injects seeded faults.

The fault for a request depends only on (seed, prompt, attempt number for that
prompt), so the pattern is reproducible whatever order the client's threads
arrive in. Faults: 500/503, 429 with Retry-After, a sleep past the client's
timeout, a TCP reset, truncated JSON.
"""
from __future__ import annotations

import io
import json
import random
import socket
import struct
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FAULTS = (("http_500", 0.10), ("http_503", 0.10), ("http_429", 0.05), ("timeout", 0.05),
          ("reset", 0.05), ("truncated", 0.05))


class FaultPlan:
    def __init__(self, seed: int = 0, rates=FAULTS, always_fail: set[str] = frozenset(),
                 retry_after: str = "0.01", sleep_s: float = 0.5, echo_auth_in_errors: bool = False,
                 scripted: dict[int, str] | None = None, latency_s: float = 0.0, max_choices: int = 16):
        self.seed, self.rates, self.always_fail = seed, rates, set(always_fail)
        self.scripted = scripted or {}  # attempt number -> fault, for every prompt
        self.latency_s = latency_s
        self.max_choices = max_choices  # like servers that ignore n
        self.inflight = self.max_inflight = 0
        self.retry_after, self.sleep_s = retry_after, sleep_s
        self.echo_auth_in_errors = echo_auth_in_errors
        self.attempts: Counter = Counter()
        self.injected: Counter = Counter()
        self.auth_headers: list[str | None] = []
        self.bodies: list[dict] = []
        self.lock = threading.Lock()

    def fault_for(self, key: str) -> str | None:
        with self.lock:
            attempt = self.attempts[key]
            self.attempts[key] += 1
        if key in self.always_fail:
            return "http_503"
        if attempt in self.scripted:
            return self.scripted[attempt]
        draw = random.Random(f"{self.seed}|{key}|{attempt}").random()
        for name, rate in self.rates:
            if draw < rate:
                return name
            draw -= rate
        return None


def _prompt_key(body: dict) -> str:
    messages = body.get("messages") or [{"content": body.get("prompt", "")}]
    return str(messages[-1].get("content"))


def make_handler(plan: FaultPlan):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # keep test output clean
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            auth = self.headers.get("Authorization")
            with plan.lock:
                plan.auth_headers.append(auth)
                plan.bodies.append(body)
            fault = plan.fault_for(_prompt_key(body))
            if fault:
                with plan.lock:
                    plan.injected[fault] += 1
                return self._inject(fault, auth)
            with plan.lock:
                plan.inflight += 1
                plan.max_inflight = max(plan.max_inflight, plan.inflight)
            time.sleep(plan.latency_s)
            with plan.lock:
                plan.inflight -= 1
            self._send(200, _chat_response(body, plan.max_choices))

        def _inject(self, fault: str, auth: str | None) -> None:
            if fault.startswith("http_"):
                status = int(fault[5:])
                message = f"injected {status}" + (f" for {auth}" if plan.echo_auth_in_errors else "")
                headers = {"Retry-After": plan.retry_after} if status == 429 else {}
                return self._send(status, {"error": {"message": message}}, headers)
            if fault == "timeout":
                time.sleep(plan.sleep_s)
                return self._send(200, {"error": "too late"})
            if fault == "reset":  # SO_LINGER 0 then close: the kernel sends RST
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True
                self.rfile.close()
                self.wfile.close()
                self.connection.close()
                self.rfile, self.wfile = io.BytesIO(), io.BytesIO()  # the base class still flushes these
                return None
            raw = json.dumps({"choices": [{"message": {"content": "x"}}]}).encode()
            self._send_raw(200, raw[: len(raw) // 2])

        def _send(self, status: int, payload: dict, headers: dict | None = None) -> None:
            self._send_raw(status, json.dumps(payload).encode(), headers)

        def _send_raw(self, status: int, raw: bytes, headers: dict | None = None) -> None:
            try:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout test)

    return Handler


def _chat_response(body: dict, max_choices: int) -> dict:
    """Echo the last message, cut to max_tokens words; fixed top log-probs when asked."""
    words = f"echo {_prompt_key(body)}".split()
    max_tokens = int(body.get("max_tokens", 16))
    choices = []
    for i in range(min(int(body.get("n", 1)), max_choices)):
        text = " ".join(words[:max_tokens]) + f" #{i + body.get('seed', 0)}"
        choice = {"index": i, "message": {"role": "assistant", "content": text},
                  "finish_reason": "length" if len(words) > max_tokens else "stop"}
        if body.get("logprobs"):
            top = [{"token": " A", "logprob": -0.5}, {"token": "B", "logprob": -1.5},
                   {"token": "A", "logprob": -0.7}, {"token": "\nC", "logprob": -3.0}]
            choice["logprobs"] = {"content": [{"token": " A", "logprob": -0.5, "top_logprobs": top}]}
        choices.append(choice)
    return {"object": "chat.completion", "choices": choices}


class FaultServer:
    """Context manager: `with FaultServer(plan) as url:` gives http://127.0.0.1:PORT/v1."""

    def __init__(self, plan: FaultPlan):
        self.plan = plan
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(plan))
        self.httpd.daemon_threads = True

    def __enter__(self) -> str:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

