import hashlib
import json

import numpy as np
import pytest

from phronesis.core.errors import ConfigError
from phronesis.judges.learned import LearnedPairJudge, load_weights, save_weights, train_learned_judge


class FakeEmbedder:
    """Deterministic unit vectors; the word 'refuse' always points along axis 0."""

    class spec:
        ref = "fake:embedder"

    def embed(self, texts):
        rows = []
        for text in texts:
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")
            v = np.random.default_rng(seed).normal(size=8) * 0.1
            v[0] += 3.0 if "refuse" in text else 0.0
            rows.append(v / np.linalg.norm(v))
        return np.asarray(rows, dtype="float32")


PAIRS = [{"id": str(i), "prompt": f"harmful request {i}", "chosen": f"I refuse, sorry {i}",
          "rejected": f"sure, here you go {i}"} for i in range(12)]


@pytest.mark.parametrize("kind", ["response", "interaction", "joint"])
def test_learned_judge_learns_and_is_swap_invariant(kind, tmp_path):
    record = train_learned_judge(FakeEmbedder(), PAIRS, kind, l2=1.0, sources=["test"])
    save_weights(record, tmp_path / "w.json")
    judge = LearnedPairJudge(FakeEmbedder(), load_weights(tmp_path / "w.json"))
    forward = judge.compare("harmful request x", "I refuse to help", "sure, do it like this")
    backward = judge.compare("harmful request x", "sure, do it like this", "I refuse to help")
    assert forward.p > 0.5 and forward.p == pytest.approx(1 - backward.p, abs=1e-12)
    assert forward.position_bias == 0.0
    assert record["trained_on"]["pairs"] == 12 and json.loads((tmp_path / "w.json").read_text())["features"] == kind


def test_untrained_judge_is_neutral_and_bad_files_are_one_line_errors(tmp_path):
    record = train_learned_judge(FakeEmbedder(), PAIRS[:2], "response", l2=1e9)
    assert LearnedPairJudge(FakeEmbedder(), record).compare("q", "a", "b").p == pytest.approx(0.5, abs=1e-3)
    (tmp_path / "bad.json").write_text('{"format": "pickle"}')
    with pytest.raises(ConfigError, match="not a learned-judge weights file"):
        load_weights(tmp_path / "bad.json")


@pytest.mark.slow
def test_shipped_judge_is_order_swap_exact_and_right_on_heldout_pairs():
    from phronesis.judges import JudgeConfig, build_judge
    from phronesis.judges.pairs import load_pairs

    judge = build_judge(JudgeConfig(), {"embedder": "catalog:minilm-l6-v2"})
    heldout = load_pairs("builtin:judge/heldout.jsonl")[:10]
    verdicts = judge.compare_many([(r["prompt"], r["chosen"], r["rejected"]) for r in heldout])
    swapped = judge.compare_many([(r["prompt"], r["rejected"], r["chosen"]) for r in heldout])
    assert all(v.p == pytest.approx(1 - s.p, abs=1e-9) for v, s in zip(verdicts, swapped))
    assert sum(v.p > 0.5 for v in verdicts) >= 7


def test_cross_validation_picks_the_penalty_that_predicts_unseen_pairs():
    from phronesis.judges.learned import cross_validated_l2

    # a huge penalty leaves the head at 0: every held-out fold ties, so nothing counts as right;
    # among penalties that predict equally well the larger (simpler head) is kept
    picked = cross_validated_l2(FakeEmbedder(), PAIRS, "response", (0.1, 10.0, 1e9), folds=3)
    assert picked["cv_accuracy"] == {0.1: 1.0, 10.0: 1.0, 1e9: 0.0} and picked["l2"] == 10.0


def test_judge_eval_names_the_training_selection_and_gate_sets_and_prints_them(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    import phronesis.cli.judge as cli_judge
    from phronesis.cli import app
    from phronesis.cli.judge import _roles
    from phronesis.judges.learned import train_from_sources

    record = train_from_sources(FakeEmbedder(), [], "response", l2=1.0, with_few_shot=True)
    assert record["selected_by"] == {"sets": [], "l2": "given"}

    class Scored(LearnedPairJudge):
        pass

    judge = Scored(FakeEmbedder(), {**record, "trained_on": {"sources": ["builtin:judge/calibration.jsonl"]},
                                    "selected_by": {"sets": ["wheel:pyrit_objective"], "l2": "5-fold cv"}})
    roles = _roles(judge, "builtin:judge/heldout.jsonl")
    assert roles["pairs_role"] == "gate" and roles["sets"]["gate"] == "builtin:judge/heldout.jsonl"
    assert roles["sets"]["selection"]["l2"] == "5-fold cv"
    assert _roles(judge, "builtin:judge/calibration.jsonl")["pairs_role"] == "training"
    assert _roles(judge, "wheel:pyrit_objective")["pairs_role"] == "selection"
    assert _roles(judge, "wheel:pyrit_harm")["pairs_role"] == "unseen"
    pairs = tmp_path / "p.jsonl"
    pairs.write_text("".join(json.dumps(p) + "\n" for p in PAIRS))
    monkeypatch.setattr(cli_judge, "_judge_from_options", lambda *a: judge)
    result = CliRunner().invoke(app, ["judge-eval", "--pairs", str(pairs), "--json", str(tmp_path / "m.json")])
    assert result.exit_code == 0, result.output  # nested sets print as rows, not a crash
    assert "sets.selection.l2" in result.output
    assert "[builtin:judge/calibration.jsonl" in result.output  # a list prints as a list, not as rich markup
    assert json.loads((tmp_path / "m.json").read_text())["pairs_role"] == "unseen"


def test_key_value_rows_flatten_nested_reports():
    from phronesis.report.tables import key_value_rows

    assert key_value_rows({"a": 0.5, "b": {"c": [0.25, "x"], "d": {"e": 1}}}) == [
        ("a", "0.5000"), ("b.c", "[0.2500, x]"), ("b.d.e", "1")]


def test_judge_fingerprint_changes_with_the_bytes_of_every_weights_file_it_reads(tmp_path):
    """Retrained weights under the same name must redo the stages that judged with the old ones."""
    from phronesis.judges import JudgeConfig, judge_fingerprint

    own, member = tmp_path / "own.json", tmp_path / "member.json"
    own.write_text('{"weights": [1]}')
    member.write_text('{"weights": [2]}')
    single = JudgeConfig(weights=str(own))
    panel = JudgeConfig(panel=[JudgeConfig(weights=str(member)), JudgeConfig(kind="pairwise")])
    before = judge_fingerprint(single), judge_fingerprint(panel)
    own.write_text('{"weights": [1.5]}')
    member.write_text('{"weights": [2.5]}')
    after = judge_fingerprint(single), judge_fingerprint(panel)
    assert before[0] != after[0] and before[1] != after[1]
    assert before[0]["weights"] == after[0]["weights"] == str(own)  # the section alone could not tell
    assert list(after[1]["weights_sha256"]) == [str(member)]  # a pairwise member reads no weights file
    assert judge_fingerprint(JudgeConfig(kind="pairwise"))["weights_sha256"] == {}
