"""`phronesis bench` runs end to end (on tiny random models); its figures are never asserted."""
from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from phronesis.bench import BENCHMARKS, parse_label
from phronesis.cli import app
from phronesis.cli.bench import parse_only


def test_bench_quick_runs_every_benchmark_with_the_machine(tmp_path):
    from tiny_models import save_tiny_causal_lm, save_tiny_encoder

    # the judge's hardened prompt is ~830 tokens of the tiny BPE: more than the usual tiny context
    model = save_tiny_causal_lm(tmp_path / "lm", context=2048)
    encoder = save_tiny_encoder(tmp_path / "encoder")
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(app, ["bench", "--quick", "--model", str(model),
                                      "--embedder", str(encoder), "--json", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["machine"]["cores"] >= 1 and report["sizes"]["repeats"] == 1
    assert list(report["benchmarks"]) == list(BENCHMARKS)
    for name, figures in report["benchmarks"].items():
        assert figures["naive"]["seconds"] > 0 and figures["ours"]["seconds"] > 0, name
        assert figures["ratio"] > 0 and isinstance(figures["met"], bool) and figures["target"], name
    reward = report["benchmarks"]["reward"]
    assert reward["scores_agree"] and reward["one_rm"]["peak_rss_mb"] > 0
    assert report["benchmarks"]["sage"]["max_score_difference"] < 1e-4


def test_only_selects_in_order_and_names_a_typo():
    assert parse_only("judging, generation") == ["judging", "generation"]
    assert parse_only(None) == list(BENCHMARKS)
    with pytest.raises(typer.BadParameter, match="did you mean 'judging'"):
        parse_only("judgin")


def test_naive_judge_parser_reads_the_first_standalone_label():
    assert parse_label(" B. Response A is") == "B"
    assert parse_label("Apples") is None
