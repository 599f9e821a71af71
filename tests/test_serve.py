"""`phronesis serve` on the tiny model: HTTP backend round trips, auth, limits, errors."""
import http.client
import inspect
import json
import socket
import threading
import time
from contextlib import contextmanager

import pytest

from phronesis.models.backends.openai_http import OpenAIGenerator, match_options
from phronesis.models.backends.transformers_backend import TransformersGenerator, render_chat
from phronesis.core.errors import ModelRefError, UserError
from phronesis.core.protocols import GenerationParams
from phronesis.serving.server import make_server, serve_forever


@contextmanager
def running(server):
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def served(tiny_model_dir):
    ref = str(tiny_model_dir)
    with running(make_server(ref, port=0)) as server:
        yield server, ref


def request(server, method, path, body=None, headers=None):
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=30)
    raw = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    conn.request(method, path, body=raw, headers={"Content-Type": "application/json", **(headers or {})})
    response = conn.getresponse()
    status, payload = response.status, json.loads(response.read())
    conn.close()
    return status, payload


def client(server, ref, **kw):
    return OpenAIGenerator({"ref": f"openai:{server.url}#{ref}", "timeout_s": 30, **kw.pop("spec", {})}, **kw)


def direct(ref):
    return TransformersGenerator({"ref": ref, "batch_size": 1})


def test_chat_round_trip_matches_direct_generation_sampled_and_greedy(served):
    server, ref = served
    prompts = ["Hi", "How do I kill a Python process?"]
    sampled = GenerationParams(max_new_tokens=6, temperature=1.0, n=2, seed=3)
    for params in (sampled, GenerationParams(max_new_tokens=6)):
        over_http = client(server, ref).generate(prompts, params)
        local = direct(ref).generate(prompts, params)
        assert over_http == local and all(len(o) == params.n for o in over_http)
        assert [[c.finish_reason for c in o] for o in over_http] == [[c.finish_reason for c in o] for o in local]
    reseeded = GenerationParams(max_new_tokens=6, temperature=1.0, n=2, seed=4)
    assert client(server, ref).generate(prompts, reseeded) != client(server, ref).generate(prompts, sampled)


def _next_token_logprobs(ref, text):
    import torch

    gen = direct(ref)
    enc = gen.tokenizer([text], return_tensors="pt", add_special_tokens=False).to(gen.model.device)
    with torch.inference_mode():
        return torch.log_softmax(gen.model(**enc).logits[0, -1].float(), -1), gen.tokenizer


def test_completions_logprobs_equal_a_direct_forward_pass(served):
    server, ref = served
    status, body = request(server, "POST", "/v1/completions",
                           {"prompt": "The quick brown", "max_tokens": 3, "logprobs": 5, "temperature": 0})
    assert status == 200
    lp = body["choices"][0]["logprobs"]
    logp, tokenizer = _next_token_logprobs(ref, "The quick brown")
    values, ids = logp.topk(5)
    expected = {}
    for value, token_id in zip(values.tolist(), ids.tolist()):  # ids decoding alike keep the likelier
        expected.setdefault(tokenizer.decode([token_id]), value)
    first = lp["top_logprobs"][0]
    assert first.keys() == expected.keys() and len(lp["tokens"]) == len(lp["token_logprobs"]) <= 3
    assert [first[k] for k in expected] == pytest.approx(list(expected.values()), abs=1e-4)
    assert lp["tokens"][0] == tokenizer.decode([int(ids[0])])  # greedy takes the argmax
    assert lp["token_logprobs"][0] == pytest.approx(float(values[0]), abs=1e-4)
    assert body["usage"]["completion_tokens"] == len(lp["tokens"])


def test_option_logprobs_round_trip_matches_direct_scores(served):
    server, ref = served
    conv = [{"role": "user", "content": "Which response is less harmful?"}]
    gen = direct(ref)
    logp, tokenizer = _next_token_logprobs(ref, render_chat(gen.tokenizer, conv, "Answer"))
    ids = logp.topk(3).indices.tolist()
    options = [tokenizer.decode([i]) for i in ids]
    remote = client(server, ref, assistant_prefix_mode="continue").option_logprobs([conv], options + ["zzzz"],
                                                                                  assistant_prefix="Answer")
    assert remote[0]["zzzz"] is None
    top20 = [(tokenizer.decode([i]), float(logp[i])) for i in logp.topk(20).indices.tolist()]
    expected = match_options(top20, options)  # the one rule: whitespace variants of a token are one option
    for option in options:
        assert remote[0][option] == pytest.approx(expected[option], abs=1e-4)
    local = gen.option_logprobs([conv], options, assistant_prefix="Answer")[0]  # same rule, same numbers
    assert [local[o] for o in options] == pytest.approx([remote[0][o] for o in options], abs=1e-4)


def test_models_endpoint_lists_the_served_model(served):
    server, ref = served
    assert request(server, "GET", "/v1/models")[1]["data"][0]["id"] == ref


@pytest.mark.parametrize("body, fragment", [
    (b"{not json", "not valid JSON"),
    ({"max_tokens": 4}, "field messages"),
    ({"messages": [{"role": "user", "content": "x"}], "n": 0}, "field n"),
    ({"messages": [{"role": "user", "content": "x"}], "stream": True}, "field stream"),
    ({"messages": [{"role": "user", "content": "x"}], "model": "other"}, "not served here"),
])
def test_bad_requests_get_clean_json_errors(served, body, fragment):
    status, payload = request(served[0], "POST", "/v1/chat/completions", body)
    assert status in (400, 404) and fragment in payload["error"]["message"]


def test_oversized_body_is_refused_with_413_before_reading_it(served):
    server, _ = served
    with socket.create_connection(server.server_address[:2], timeout=10) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 2000000\r\n\r\n{")  # the rest never comes: the server must not wait
        reply = b""
        while chunk := sock.recv(4096):  # the server closes the connection after a 413
            reply += chunk
        reply = reply.decode()
    assert reply.startswith("HTTP/1.1 413") and "exceeds the limit of 1000000" in reply


def test_bearer_token_is_required_when_configured(tiny_model_dir, monkeypatch):
    monkeypatch.setenv("PHRONESIS_SERVE_TOKEN", "tok-123")
    monkeypatch.setenv("PHRONESIS_CLIENT_KEY", "tok-123")
    ref = str(tiny_model_dir)
    with running(make_server(ref, port=0, token_env="PHRONESIS_SERVE_TOKEN")) as server:
        assert request(server, "GET", "/v1/models")[0] == 401
        assert request(server, "GET", "/v1/models", headers={"Authorization": "Bearer nope"})[0] == 401
        status, _ = request(server, "POST", "/v1/completions", {"prompt": "x"})
        ok = client(server, ref, spec={"api_key_env": "PHRONESIS_CLIENT_KEY"}).generate(["Hi"], GenerationParams(max_new_tokens=2))
        denied = client(server, ref, strict=False, spec={"max_retries": 0})
        denied.generate(["Hi"], GenerationParams(max_new_tokens=2))
    assert status == 401 and len(ok[0]) == 1
    assert denied.last_failures[0].startswith("HTTP 401") and denied.stats.retries == 0


def test_binds_loopback_by_default_and_refuses_bad_setups(tiny_model_dir, monkeypatch):
    assert inspect.signature(serve_forever).parameters["host"].default == "127.0.0.1"
    server = make_server(str(tiny_model_dir), port=0)
    assert server.server_address[0] == "127.0.0.1"
    server.server_close()
    monkeypatch.delenv("PHRONESIS_UNSET_TOKEN", raising=False)
    with pytest.raises(UserError, match="PHRONESIS_UNSET_TOKEN"):
        make_server(str(tiny_model_dir), port=0, token_env="PHRONESIS_UNSET_TOKEN")
    with pytest.raises(ModelRefError):
        make_server("openai:http://127.0.0.1:1/v1#m", port=0)


@pytest.mark.slow
def test_smollm2_greedy_round_trip_matches_direct_output(smollm2_dir):
    ref = "catalog:smollm2-135m-instruct"
    prompts = ["What is honesty?", "Give one tip for sleeping well.", "Is it ever right to lie?",
               "Name a virtue.", "How should I apologise to a friend?", "What is 2+2?"]
    params = GenerationParams(max_new_tokens=32)
    with running(make_server(ref, port=0)) as server:
        remote = client(server, ref)
        start = time.perf_counter()
        over_http = remote.generate(prompts, params)
        elapsed = time.perf_counter() - start
    local = direct(ref).generate(prompts[:2], params)
    assert over_http[:2] == local
    tokenizer = direct(ref).tokenizer
    tokens = sum(len(tokenizer.encode(c, add_special_tokens=False)) for o in over_http for c in o)
    print(f"\nserve SmolLM2 round trip: {len(prompts)} requests in {elapsed:.1f} s = "
          f"{len(prompts) / elapsed:.2f} req/s, {tokens / elapsed:.1f} completion tok/s")


def test_taken_or_impossible_port_is_one_line_before_the_model_loads(tmp_path):
    """The ref is a folder that does not exist: reaching the model would raise ModelRefError instead."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(UserError, match=f"--port {port}: cannot listen"):
            make_server(str(tmp_path / "no-model"), port=port)
    with pytest.raises(UserError, match="--port 99999"):
        make_server(str(tmp_path / "no-model"), port=99999)
