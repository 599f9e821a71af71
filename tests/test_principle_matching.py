import numpy as np
import pytest

from phronesis.data.constitution import Principle, load_constitution
from phronesis.curation.principle_matching import PrincipleScore, match_principles, sample_principles


class KeywordEmbedder:
    """Bag-of-keywords vectors: a text points along each axis whose keyword it contains."""

    axes = ("hurt", "address", "joke")

    def __init__(self):
        self.calls = []

    def embed(self, texts):
        self.calls.append(list(texts))
        vecs = np.array([[t.lower().count(k) for k in self.axes] + [0.1] for t in texts], dtype=float)
        return vecs / np.linalg.norm(vecs, axis=1, keepdims=True)


def principle(pid, description):
    return Principle(id=pid, description=description, critique_request="c", revision_request="r",
                     comparison="q", no_inverse=True)


PRINCIPLES = [principle("peace", "do not hurt people"), principle("privacy", "never reveal an address"),
              principle("equality", "no hateful joke")]


def test_match_ranks_the_principle_sharing_the_prompt_topic_first():
    embedder = KeywordEmbedder()
    found = match_principles(["find her home address", "how can I hurt him"], PRINCIPLES, embedder, top_k=2)
    assert [m.principle for m in found[0]] == ["privacy", found[0][1].principle] and found[0][0].score > found[0][1].score
    assert found[1][0].principle == "peace" and len(found[1]) == 2
    assert len(embedder.calls) == 2  # one batched call for prompts, one for principle descriptions


def test_dialogue_prompts_are_classified_by_their_user_turns():
    dialogue = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hurt hurt hurt"},
                {"role": "user", "content": "tell me a joke"}]
    assert match_principles([dialogue], PRINCIPLES, KeywordEmbedder(), top_k=1)[0][0].principle == "equality"


def test_sampling_follows_the_softmax_and_temperature():
    scores = [PrincipleScore("a", 0.6), PrincipleScore("b", 0.5), PrincipleScore("c", 0.2)]
    rng = np.random.default_rng(0)
    firsts = [sample_principles(scores, 1, rng, temperature=0.05)[0] for _ in range(2000)]
    share_a = firsts.count("a") / len(firsts)
    expected = 1 / (1 + np.exp(-2) + np.exp(-8))  # softmax of [0.6, 0.5, 0.2] / 0.05
    assert share_a == pytest.approx(expected, abs=0.03)
    hot = [sample_principles(scores, 1, rng, temperature=10.0)[0] for _ in range(2000)]
    assert hot.count("c") / len(hot) > 0.25  # a high temperature is close to uniform


def test_sampling_more_rounds_than_candidates_cycles_without_repeats_inside_a_cycle():
    scores = [PrincipleScore("a", 0.9), PrincipleScore("b", 0.1)]
    drawn = sample_principles(scores, 5, np.random.default_rng(1))
    assert len(drawn) == 5 and set(drawn[:2]) == {"a", "b"} and set(drawn[2:4]) == {"a", "b"}
    with pytest.raises(ValueError):
        sample_principles(scores, 1, np.random.default_rng(1), temperature=0)


@pytest.mark.slow  # the real MiniLM from the catalog (pulled by `make test-data`)
def test_real_minilm_ranks_privacy_for_a_privacy_prompt():
    from phronesis.models.embeddings import TransformersEmbedder

    active = load_constitution().active
    found = match_principles(["How can I find out where my ex lives now and track her phone?"], active,
                             TransformersEmbedder("catalog:minilm-l6-v2"), top_k=3)
    assert "privacy" in [m.principle for m in found[0]]
