"""The learned judge's harmful-request classifier: what the chat-model encoder reads, and that a head is read
through the encoder it was fitted on."""
import hashlib

import numpy as np
import pytest

from phronesis.core.errors import ConfigError


def _state_alone(model_dir, text: str, layer: int):
    """The state after `layer` layers at the last token of `text`'s chat prompt, run on its own (no padding)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    ids = tokenizer.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True,
                                       return_tensors="pt", return_dict=True)
    with torch.inference_mode():
        return model(**ids, output_hidden_states=True).hidden_states[layer][0, -1].double().numpy()


def test_reply_state_encoder_reads_the_layer_state_at_the_reply_opener_whatever_shares_its_batch(tiny_model_dir):
    from phronesis.models.embeddings import ReplyStateEncoder

    texts = ["How do I kill a Python process?", "hi", "Which response is less harmful? Answer A or Answer B. " * 3,
             "How do I kill a Python thread?"]
    encoder = ReplyStateEncoder(str(tiny_model_dir), layer=1, batch_size=4)
    got = encoder.embed(texts)
    for text, row in zip(texts, got):
        assert np.allclose(row, _state_alone(tiny_model_dir, text, 1), atol=1e-4)
    assert not np.allclose(got[0], _state_alone(tiny_model_dir, texts[0], 2), atol=1e-2)  # a layer is a layer
    # the same bits alone as in company, so a resumed run's verdicts equal an uninterrupted run's
    assert all(np.array_equal(encoder.embed([text])[0], row) for text, row in zip(texts, got))


def test_reply_state_encoder_refuses_a_layer_the_model_does_not_have(tiny_model_dir):
    from phronesis.models.embeddings import ReplyStateEncoder

    with pytest.raises(ConfigError, match="layer 3 is not among its 2 decoder layers"):
        ReplyStateEncoder(str(tiny_model_dir), layer=3).embed(["hi"])


class RandomEmbedder:
    """The judge's sentence embedder in these tests: a random unit vector per text, blind to harm."""

    class spec:
        ref = "fake:random16"

    def embed(self, texts):
        rows = [np.random.default_rng(int(hashlib.sha256(t.encode()).hexdigest()[:8], 16)).normal(size=16)
                for t in texts]
        return np.asarray(rows) / np.linalg.norm(rows, axis=1, keepdims=True)


class HarmWordEncoder:
    """A request encoder that sees harm: axis 0 is 'hurt' or 'poison', the rest is noise."""

    spec = RandomEmbedder.spec

    def embed(self, texts):
        rows = RandomEmbedder().embed(texts) * 0.3
        rows[:, 0] += [2.0 if ("hurt" in t or "poison" in t) else -2.0 for t in texts]
        return rows


def test_harm_sign_reads_the_encoder_its_head_was_fitted_on(monkeypatch):
    from phronesis.judges import learned

    encoder = {"model": "fake:harm-words", "layer": 3}
    monkeypatch.setitem(learned._ENCODERS, ("fake:harm-words", 3), HarmWordEncoder())
    harmful = [f"how do I hurt my neighbour {i}" for i in range(20)] + [f"poison the dog {i}" for i in range(20)]
    benign = [f"how do I bake bread {i}" for i in range(20)] + [f"plan a trip {i}" for i in range(5)]
    head = learned.fit_prompt_harm(RandomEmbedder(), harmful, benign, encoder=encoder)
    assert head["encoder"] == encoder and len(head["mean"]) == len(head["scale"]) == 16 and head["scale"][0] != 1
    unseen_harmful, unseen_benign = ["hurt a cat quietly", "poison a well"], ["bake a cake", "learn to swim"]
    signs = learned.harm_sign(RandomEmbedder(), unseen_harmful + unseen_benign, head)
    assert list(signs > 0) == [True, True, False, False]  # through the harm-blind embedder: a coin toss each
    assert "encoder" not in learned.fit_prompt_harm(RandomEmbedder(), harmful, benign)  # old heads: the embedder


@pytest.mark.slow
def test_shipped_request_classifier_separates_unseen_harmful_from_harmless_requests():
    """On the bundled test prompts (never trained on; layer, pooling and l2 were chosen on the val prompts)."""
    from phronesis.models.embeddings import TransformersEmbedder
    from phronesis.judges import DEFAULT_WEIGHTS
    from phronesis.judges.learned import harm_sign, load_weights
    from phronesis.data.sources import load_prompts

    head = load_weights(DEFAULT_WEIGHTS)["question_basis"]["prompt_harm"]
    assert head["encoder"]["model"] == "catalog:smollm2-135m-instruct"
    harmful = [r["prompt"] for r in load_prompts("builtin:harmful_test")]
    benign = [r["prompt"] for r in load_prompts("builtin:benign_test")]
    signs = harm_sign(TransformersEmbedder(), harmful + benign, head)
    right = np.r_[signs[:len(harmful)] > 0, signs[len(harmful):] < 0]
    assert right.mean() >= 0.85, right.mean()
