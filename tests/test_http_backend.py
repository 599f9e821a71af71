"""OpenAI HTTP backend against a seeded fault-injecting fake server; the API key stays secret."""
import json
import logging
import secrets
import time

import pytest
from fault_server import FaultPlan, FaultServer

from phronesis.models.backends.http_retry import RemoteRequestsFailed, parse_retry_after
from phronesis.models.backends.openai_http import OpenAIGenerator, match_options
from phronesis.core.errors import BackendUnavailable, UserError
from phronesis.core.protocols import GenerationParams
from phronesis.core.runstore import RowCheckpoint
from phronesis.core.resumable import generate_answers

PROMPTS = [f"question number {i} about honesty" for i in range(40)]


def make(url, strict=True, **spec):
    spec = {"ref": f"openai:{url}#fake-model", "timeout_s": 0.3, "max_retries": 8, "max_concurrency": 4, **spec}
    return OpenAIGenerator(spec, strict=strict, base_delay_s=0.001, max_delay_s=0.01)


def test_every_row_survives_seeded_faults_and_retries_are_counted():
    plan = FaultPlan(seed=7)
    with FaultServer(plan) as url:
        gen = make(url)
        outs = gen.generate(PROMPTS, GenerationParams(max_new_tokens=3, n=2))
    assert [o[0] for o in outs] == [" ".join(f"echo {p}".split()[:3]) + " #0" for p in PROMPTS]
    assert all(len(o) == 2 and o[1].endswith("#1") and o[0].finish_reason == "length" for o in outs)
    injected = sum(plan.injected.values())
    assert set(plan.injected) == {"http_500", "http_503", "http_429", "timeout", "reset", "truncated"}
    assert gen.stats.retries == injected and gen.stats.failures == 0 and gen.last_failures == {}
    assert gen.stats.requests == len(PROMPTS) + injected == sum(plan.attempts.values())
    print(f"\nfault test: {gen.stats.as_dict()} injected={dict(plan.injected)}")


def test_parameters_are_passed_through_and_finish_reason_kept():
    plan = FaultPlan(rates=())
    with FaultServer(plan) as url:
        outs = make(url).generate(["a b", "short"], GenerationParams(max_new_tokens=5, temperature=0.7,
                                                                      top_p=0.9, n=3, seed=11,
                                                                      system_prompt="Be kind."))
    body = plan.bodies[0]
    assert (body["max_tokens"], body["temperature"], body["top_p"], body["n"], body["seed"]) == (5, 0.7, 0.9, 3, 11)
    assert body["messages"][0] == {"role": "system", "content": "Be kind."} and body["model"] == "fake-model"
    assert [o.finish_reason for o in outs[0]] == ["stop"] * 3 and len(outs[1]) == 3
    assert "repetition_penalty" not in body  # not OpenAI's API: sent only when asked for


def test_repetition_penalty_is_sent_when_set():
    plan = FaultPlan(rates=())
    with FaultServer(plan) as url:
        make(url).generate(["a b"], GenerationParams(max_new_tokens=5, repetition_penalty=1.3))
    assert plan.bodies[0]["repetition_penalty"] == 1.3


def test_a_server_that_ignores_n_is_asked_again_with_a_new_seed():
    plan = FaultPlan(rates=(), max_choices=1)
    with FaultServer(plan) as url:
        outs = make(url).generate(["q"], GenerationParams(n=3, seed=5))
    assert outs == [["echo q #5", "echo q #6", "echo q #7"]]
    assert [b["n"] for b in plan.bodies] == [3, 2, 1]


def test_exhausted_retries_record_the_row_and_strict_mode_raises_one_line_summary():
    plan = FaultPlan(rates=(), always_fail={"doomed"})
    with FaultServer(plan) as url:
        with pytest.raises(RemoteRequestsFailed) as info:
            make(url, max_retries=2).generate(["fine", "doomed", "also fine"], GenerationParams())
        lenient = make(url, strict=False, max_retries=2)
        outs = lenient.generate(["fine", "doomed"], GenerationParams())
    message = str(info.value)
    assert "\n" not in message and isinstance(info.value, UserError)
    assert "1 of 3 requests failed after 2 retries: last error (row 1) HTTP 503: injected 503" in message
    assert info.value.failures == {1: "HTTP 503: injected 503"}
    assert info.value.results[0] == ["echo fine #0"] and info.value.results[1] is None
    assert outs == [["echo fine #0"], []] and lenient.last_failures == {1: "HTTP 503: injected 503"}
    assert lenient.stats.failures == 1 and lenient.stats.retries == 2 and plan.attempts["doomed"] == 6


def test_client_errors_are_not_retried():
    plan = FaultPlan(rates=(), scripted={0: "http_400"})
    with FaultServer(plan) as url:
        gen = make(url, strict=False)
        gen.generate(["x"], GenerationParams())
    assert gen.stats.requests == 1 and gen.stats.retries == 0 and gen.last_failures[0].startswith("HTTP 400")


def test_retry_after_is_honoured():
    plan = FaultPlan(rates=(), scripted={0: "http_429"}, retry_after="0.4")
    with FaultServer(plan) as url:
        gen = make(url)
        start = time.perf_counter()
        assert gen.generate(["x"], GenerationParams()) == [["echo x #0"]]
        elapsed = time.perf_counter() - start
    assert elapsed >= 0.4 and gen.stats.retries == 1  # base delay is 1 ms: only Retry-After explains it
    assert parse_retry_after("2") == 2.0 and parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") is None


def test_concurrency_is_bounded_by_max_concurrency():
    plan = FaultPlan(rates=(), latency_s=0.05)
    with FaultServer(plan) as url:
        make(url, max_concurrency=3).generate(PROMPTS[:12], GenerationParams())
    assert plan.max_inflight == 3


def test_option_logprobs_request_and_matching():
    plan = FaultPlan(rates=())
    convs = [[{"role": "user", "content": "Which is better?"}]]
    with FaultServer(plan) as url:
        scores = make(url).option_logprobs(convs, ["A", "B", "C", "D"], assistant_prefix="The answer is")
        cont = OpenAIGenerator(f"openai:{url}#m", assistant_prefix_mode="continue")
        cont.option_logprobs(convs, ["A"], assistant_prefix="The answer is")
    # " A" and "A" are one answer, the likelier spelling counts (as on the transformers backend);
    # "\nC" matches once stripped; D is not among the top tokens
    assert scores == [{"A": -0.5, "B": -1.5, "C": -3.0, "D": None}]
    user_mode, continue_mode = plan.bodies
    assert (user_mode["max_tokens"], user_mode["logprobs"], user_mode["top_logprobs"]) == (1, True, 20)
    assert user_mode["messages"] == [{"role": "user", "content": "Which is better?\n\nThe answer is"}]
    assert continue_mode["messages"][-1] == {"role": "assistant", "content": "The answer is"}
    assert continue_mode["continue_final_message"] is True and continue_mode["add_generation_prompt"] is False
    assert match_options([(" B", -2.0), ("B ", -1.0)], ["B"]) == {"B": -1.0}


def test_api_key_is_sent_but_never_leaks(monkeypatch, caplog, tmp_path):
    secret = "sk-test-" + secrets.token_hex(16)
    monkeypatch.setenv("PHRONESIS_TEST_KEY", secret)
    caplog.set_level(logging.DEBUG)
    plan = FaultPlan(seed=3, always_fail={"doomed"}, echo_auth_in_errors=True)
    rows = [{"id": str(i), "prompt": p} for i, p in enumerate(PROMPTS[:8] + ["doomed"])]
    with FaultServer(plan) as url:
        gen = make(url, api_key_env="PHRONESIS_TEST_KEY", max_retries=6)
        with pytest.raises(RemoteRequestsFailed) as info:
            generate_answers(gen, rows, GenerationParams(max_new_tokens=4), RowCheckpoint(tmp_path / "ck.jsonl"))
        gen.strict = False
        done = generate_answers(gen, rows, GenerationParams(max_new_tokens=4), RowCheckpoint(tmp_path / "ck2.jsonl"))
    (tmp_path / "manifest.json").write_text(json.dumps({"model": gen.spec.model_dump(), "stats": gen.stats.as_dict(),
                                                        "failures": gen.last_failures}))
    assert set(plan.auth_headers) == {f"Bearer {secret}"}
    assert "***" in str(info.value)  # the server echoed the header back; it was redacted
    assert sum(r["completions"] == [] for r in done) == 1
    leaks = [str(info.value), repr(info.value), repr(info.value.failures), repr(gen), repr(vars(gen)),
             repr(vars(gen._poster)), caplog.text, str(gen.spec.model_dump())]
    leaks += [p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file()]
    assert caplog.records and (tmp_path / "ck2.jsonl").exists()
    assert not [text for text in leaks if secret in text]


def test_missing_key_env_is_a_user_error_naming_the_variable(monkeypatch):
    monkeypatch.delenv("PHRONESIS_ABSENT_KEY", raising=False)
    with pytest.raises(UserError, match="PHRONESIS_ABSENT_KEY"):
        OpenAIGenerator({"ref": "openai:http://127.0.0.1:9/v1#m", "api_key_env": "PHRONESIS_ABSENT_KEY"})


def test_vllm_backend_is_unavailable_here_with_a_one_line_message():
    from phronesis.models.backends import make_generator

    with pytest.raises(BackendUnavailable) as info:
        make_generator({"ref": "catalog:smollm2-135m-instruct", "backend": "vllm"})
    assert "vllm" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("body_kind", ["json", "text"])
def test_an_echoed_key_near_the_200_char_cut_is_redacted_whole(body_kind):
    """Cutting before redacting printed 15 of a 16-character key that straddled the cut."""
    from phronesis.models.backends.http_retry import _error_detail

    secret = "sk-" + secrets.token_hex(8)
    message = "x" * 190 + secret + " rest"
    raw = json.dumps({"error": {"message": message}}) if body_kind == "json" else message
    detail = _error_detail(raw.encode(), f"Bearer {secret}")
    assert len(detail) <= 200 and detail.startswith("x" * 190)
    assert secret[:8] not in detail and "***" in detail


def test_a_key_pasted_into_api_key_env_is_refused_without_echoing_it():
    from phronesis.core.config import validate
    from phronesis.core.errors import ConfigError
    from phronesis.data.modelref import ModelSpec

    pasted = "sk-" + secrets.token_hex(16)
    with pytest.raises(ConfigError, match="api_key_env") as info:
        validate(ModelSpec, {"ref": "openai:http://127.0.0.1:9/v1#m", "api_key_env": pasted}, source="c.yaml")
    assert pasted not in str(info.value) and pasted[:8] not in str(info.value)
