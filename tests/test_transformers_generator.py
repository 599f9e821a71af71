import pytest

from phronesis.models.backends.transformers_backend import TransformersGenerator, render_chat
from phronesis.core.protocols import GenerationParams

PROMPTS = ["Hi", "How do I kill a Python process quickly and safely?", "Which response is less harmful?",
           "The quick brown fox"]


@pytest.fixture(scope="module")
def tiny():
    from tiny_models import build_tiny_causal_lm

    return build_tiny_causal_lm()


def make(tiny, batch_size):
    model, tokenizer = tiny
    return TransformersGenerator({"ref": "./unused", "batch_size": batch_size}, model=model, tokenizer=tokenizer)


def test_left_padded_batch_matches_one_by_one(tiny):
    params = GenerationParams(max_new_tokens=8)
    single = make(tiny, 1).generate(PROMPTS, params)
    batched = make(tiny, 4).generate(PROMPTS, params)
    assert batched == single
    assert all(len(outs) == 1 for outs in batched)


def test_option_logprobs_are_batch_invariant(tiny):
    convs = [[{"role": "user", "content": p}] for p in PROMPTS]
    single = make(tiny, 1).option_logprobs(convs, ["A", "B"])
    batched = make(tiny, 4).option_logprobs(convs, ["A", "B"])
    for s, b in zip(single, batched):
        assert s["A"] == pytest.approx(b["A"], abs=1e-4) and s["B"] == pytest.approx(b["B"], abs=1e-4)


def test_sampling_is_deterministic_with_a_seed_and_varies_without(tiny):
    gen = make(tiny, 2)
    a = gen.generate(PROMPTS, GenerationParams(max_new_tokens=10, temperature=1.0, n=2, seed=1))
    b = gen.generate(PROMPTS, GenerationParams(max_new_tokens=10, temperature=1.0, n=2, seed=1))
    c = gen.generate(PROMPTS, GenerationParams(max_new_tokens=10, temperature=1.0, n=2, seed=2))
    assert a == b and a != c
    assert all(len(outs) == 2 for outs in a)


def test_truncation_is_reported(tiny):
    outs = make(tiny, 4).generate(PROMPTS, GenerationParams(max_new_tokens=3))
    reasons = {o.finish_reason for row in outs for o in row}
    assert reasons <= {"stop", "length"} and "length" in reasons  # a random model rarely stops in 3 tokens


def test_chat_template_is_applied(tiny):
    _, tokenizer = tiny
    text = render_chat(tokenizer, [{"role": "user", "content": "Hi"}])
    assert text.endswith("<|im_start|>assistant\n") and "<|im_start|>user\nHi<|im_end|>" in text


def test_repetition_penalty_changes_greedy_output(tiny):
    gen = make(tiny, 4)
    plain = gen.generate(PROMPTS, GenerationParams(max_new_tokens=24))
    assert gen.generate(PROMPTS, GenerationParams(max_new_tokens=24, repetition_penalty=1.0)) == plain
    penalised = gen.generate(PROMPTS, GenerationParams(max_new_tokens=24, repetition_penalty=5.0))
    assert penalised != plain  # a random model repeats itself within 24 greedy tokens; the penalty breaks that


def test_a_conversation_ending_with_an_assistant_turn_is_continued(tiny):
    _, tokenizer = tiny
    opened = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "I can't help with"}]
    text = render_chat(tokenizer, opened)
    assert text.rstrip().endswith("I can't help with")  # no end-of-turn, no new assistant header
    fresh = render_chat(tokenizer, opened[:1])
    assert text.startswith(fresh.rstrip()[: len(fresh.rstrip()) // 2])


def test_option_logprobs_follow_the_http_rule_whitespace_variants_are_one_answer(tiny):
    """The transformers backend read only the exact first token of " A"; the HTTP backend strips whitespace."""
    import torch

    from phronesis.models.backends.openai_http import match_options
    from phronesis.models.backends.transformers_backend import render_chat

    gen = make(tiny, 2)
    conv = [{"role": "user", "content": PROMPTS[0]}]
    local = gen.option_logprobs([conv], ["A", " A", "B"])[0]
    enc = gen.tokenizer([render_chat(gen.tokenizer, conv)], return_tensors="pt", add_special_tokens=False)
    with torch.inference_mode():
        logp = torch.log_softmax(gen.model(**enc).logits[0, -1].float(), -1)
    everything = [(gen.tokenizer.decode([i]), float(lp)) for i, lp in enumerate(logp.tolist())]
    expected = match_options(everything, ["A", " A", "B"])  # the HTTP rule over the whole vocabulary
    assert local == pytest.approx(expected, abs=1e-4) and local["A"] == local[" A"]


def test_a_prompt_longer_than_the_context_is_refused_before_any_compute(tiny):
    from phronesis.core.errors import DataError

    long_prompt = "kill the process " * 400  # well over the tiny model's 512 positions
    with pytest.raises(DataError, match=r"^prompt 2 of this batch \('.*'\.\.\.\) is [\d,]+ tokens; with "
                                        r"max_new_tokens 4 it exceeds .* context of 512 tokens"):
        make(tiny, 2).generate(["short", long_prompt], GenerationParams(max_new_tokens=4))
    assert len(make(tiny, 2).generate(["short"], GenerationParams(max_new_tokens=4))[0]) == 1
