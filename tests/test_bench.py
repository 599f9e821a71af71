"""`phronesis bench` runs end to end (on a tiny random model); its figures are never asserted."""
from __future__ import annotations

import json

from typer.testing import CliRunner

from phronesis.cli import app


def test_bench_smoke_writes_both_comparisons_with_the_machine(tiny_model_dir, tmp_path):
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(app, ["bench", "--model", str(tiny_model_dir), "--prompts", "2", "--new-tokens", "4",
                                      "--n", "2", "--repeats", "1", "--json", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["machine"]["cores"] >= 1
    for name in ("generation", "best_of_n"):
        assert set(report[name]) == {"naive", "ours", "speedup"}
        assert report[name]["naive"]["seconds"] > 0 and report[name]["ours"]["seconds"] > 0
