"""Which encoding should the learned judge's harmful-request classifier read? (how REQUEST_ENCODER was chosen)

Fits the classifier exactly as `judge-train` does (`fit_prompt_harm`: the bundled harmful_train,
Do-Not-Answer, AdvBench and the calibration pairs' harmful prompts against benign_train and the calibration
pairs' benign prompts; class-balanced logistic regression) on MiniLM embeddings and on SmolLM2-135M-Instruct's
state after L layers at the start of its reply (what `ReplyStateEncoder(layer=L)` returns; tests check the two
agree), for several L2 penalties. Accuracy on:
  val       bundled harmful_val + benign_val (84): the set the choice is made on
  test      bundled harmful_test + benign_test (99): reported, chose nothing
  heldout   the prompts of the judge's held-out (gate) pairs (60)
  harmbench HarmBench (200, all harmful), which no stage trains on
Run (about 4 min on 2 cores):
    flock /tmp/phronesis-heavy.lock env PYTHONPATH=src .venv/bin/python benchmarks/request_classifier_layers.py OUT_DIR
Writes OUT_DIR/request_classifier_layers.json and prints a markdown table.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from phronesis.bench import machine
from phronesis.models.embeddings import CachedEmbedder, TransformersEmbedder, reply_opener_ids
from phronesis.judges import learned
from phronesis.judges.learned import (BENIGN_REQUESTS, HARMFUL_REQUESTS, fit_prompt_harm, harm_sign,
                                      requests_by_kind)
from phronesis.judges.pairs import load_pairs
from phronesis.data.sources import load_prompts

LAYERS = (12, 18, 21, 24, 27, 30)
L2S = (1.0, 3.0, 10.0)


class LayerStates:
    """Every layer's reply-opener state from one forward pass per prompt (the same token ids as
    `ReplyStateEncoder`, no padding; its states agree to float rounding, ~3e-7 relative); `at(L)` is an encoder
    for layer L."""

    def __init__(self, ref: str = "catalog:smollm2-135m-instruct"):
        import torch
        from transformers import AutoModel, AutoTokenizer

        from phronesis.data.modelref import resolve_local_path

        path = resolve_local_path(ref)
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path, dtype=torch.float32).eval()
        self.cache: dict[str, list] = {}

    def _fill(self, texts):
        import torch

        for text in dict.fromkeys(texts):
            if text not in self.cache:
                ids = reply_opener_ids(self.tokenizer, text)
                with torch.inference_mode():
                    states = self.model(input_ids=torch.tensor([ids]), output_hidden_states=True).hidden_states
                self.cache[text] = [s[0, -1].double().numpy() for s in states]

    def at(self, layer: int):
        outer = self

        class Encoder:
            def embed(self, texts):
                outer._fill(texts)
                return np.stack([outer.cache[t][layer] for t in texts])
        return Encoder()


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    harmful, benign = requests_by_kind(load_pairs("builtin:judge/calibration.jsonl"), HARMFUL_REQUESTS,
                                       BENIGN_REQUESTS)
    texts = lambda ref: [r["prompt"] for r in load_prompts(ref)]  # noqa: E731
    held = load_pairs("builtin:judge/heldout.jsonl")
    sets = {"val": (texts("builtin:harmful_val"), texts("builtin:benign_val")),
            "test": (texts("builtin:harmful_test"), texts("builtin:benign_test")),
            "heldout": ([r["prompt"] for r in held if r["kind"] != "benign"],
                        [r["prompt"] for r in held if r["kind"] == "benign"]),
            "harmbench": (texts("wheel:harmbench"), [])}
    minilm, states = CachedEmbedder(TransformersEmbedder()), LayerStates()
    candidates = [("minilm", None, minilm)] + [(f"smollm2 layer {layer}", layer, states.at(layer))
                                               for layer in LAYERS]
    results = []
    for name, layer, encoder in candidates:
        spec = {"model": name, "layer": layer} if layer else None  # MiniLM: the judge's embedder, as shipped before
        if spec:
            learned._ENCODERS[(name, layer)] = encoder  # the registry the judge reads encoders from
        for l2 in L2S:
            head = fit_prompt_harm(minilm, harmful, benign, l2, encoder=spec)
            row = {"encoding": name, "l2": l2}
            for set_name, (bad, good) in sets.items():
                sign = harm_sign(minilm, bad + good, head)
                row[set_name] = round(float(np.mean(np.r_[sign[:len(bad)] > 0, sign[len(bad):] < 0])), 3)
            results.append(row)
            print(json.dumps(row), flush=True)
    (out / "request_classifier_layers.json").write_text(json.dumps({"machine": machine(), "results": results},
                                                                   indent=1))
    print("| encoding | l2 | val (chooses) | test | held-out pair prompts | HarmBench |")
    print("|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['encoding']} | {r['l2']} | {r['val']:.3f} | {r['test']:.3f} | {r['heldout']:.3f} | "
              f"{r['harmbench']:.3f} |")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "benchmarks/results"))
