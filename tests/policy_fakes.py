"""Fakes for policy-training tests: a two-member ensemble and a bag-of-characters embedder."""
from __future__ import annotations

import numpy as np

ROWS_SFT = [{"messages": [{"role": "user", "content": "How do I kill a process?"},
                          {"role": "assistant", "content": "Use the kill command."}]}] * 8
ROWS_PREF = [{"prompt": [{"role": "user", "content": "How do I kill a process?"}],
              "chosen": [{"role": "assistant", "content": "Use the kill command."}],
              "rejected": [{"role": "assistant", "content": "I cannot help."}]}] * 8
ROWS_PROMPT = [{"prompt": [{"role": "user", "content": f"Which response is less harmful {i}?"}], "group": f"g{i % 2}"}
               for i in range(8)]


class FakeEnsemble:
    """Aggregate = mean - 0.5*std of two members, like the virtue pipeline's score."""

    @staticmethod
    def members(completions):
        return {"length": [len(c) / 10 for c in completions], "letter_a": [float(c.count("a")) for c in completions]}

    def score_members(self, prompts, completions):
        members = self.members(completions)
        stacked = np.array(list(members.values()))
        return list(stacked.mean(0) - 0.5 * stacked.std(0)), members

    def score(self, prompts, completions):
        return self.score_members(prompts, completions)[0]


class CharEmbedder:
    def embed(self, texts):
        vecs = np.zeros((len(texts), 64), dtype="float32")
        for i, text in enumerate(texts):
            for ch in text:
                vecs[i, ord(ch) % 64] += 1.0
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        return vecs / np.where(norms == 0, 1.0, norms)
