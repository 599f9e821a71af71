"""Regenerate docs/images: how a run's console ends (console-end.txt) and the report's first screen (report.png).

    PYTHONPATH=src:tests python docs/images/make_images.py

A tiny run with no downloads: an sft stage on a tiny random model (tests/tiny_models.py), then an evaluate
stage with the fake generators, judge and embedder of tests/test_report.py, then the end the CLI prints.
The numbers are the fakes', not a result; the layout is the real one.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run_tiny(workdir: Path) -> str:
    """The console of `phronesis run` on the tiny run, as the user would see it."""
    from policy_fakes import ROWS_SFT
    from test_report import EchoGenerator, LongerWinsJudge, OneHotEmbedder, RuleSafety
    from tiny_models import save_tiny_causal_lm

    from phronesis.core.config import validate
    from phronesis.evaluation.model_specs import parse_models
    from phronesis.evaluation.run import run_evaluation
    from phronesis.evaluation.settings import EvalConfig
    from phronesis.evaluation.suite import EvalResources
    from phronesis.pipeline import PipelineConfig, run_pipeline
    from phronesis.core.progress import info
    from phronesis.report.build import conclude
    from phronesis.core.runstore import Run, run_stage
    from phronesis.report.stage_summary import stage_summary

    model = save_tiny_causal_lm(workdir / "tiny-lm")
    (workdir / "sft.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS_SFT))
    config = validate(PipelineConfig, {
        "run": {"name": "demo", "dir": "runs"}, "models": {"policy": str(model)}, "stages": ["sft"],
        "sft": {"data": ["sft.jsonl"], "lora": {"r": 4, "alpha": 8},
                "trl": {"max_steps": 4, "max_length": 128}}}, source="make_images")
    console = io.StringIO()
    with contextlib.redirect_stderr(console), contextlib.redirect_stdout(console):
        run_pipeline(config)
        cfg = EvalConfig(harmful={"source": "builtin:harmful_test", "limit": 24},
                         benign={"source": "builtin:benign_test", "limit": 24}, jailbreak_prompts=8,
                         paraphrase_groups=2, paraphrases_per_group=3, bootstrap=500, permutations=500)
        models = parse_models(["base=catalog:smollm2-135m-instruct", "aligned=runs/demo/01-sft/adapter"])
        resources = EvalResources(generators={"base": EchoGenerator("Sure, here is how."),
                                              "aligned": EchoGenerator("I can't help with that.")},
                                  judge=LongerWinsJudge(), safety=RuleSafety(), embedder=OneHotEmbedder())

        def evaluate(stage):
            stage.counts.update(metrics=len(run_evaluation(models, cfg, stage.path, resources=resources)["metrics"]),
                                models=len(models))

        outcome = run_stage(Run("runs", "demo"), 2, "evaluate", {}, {}, evaluate)
        info(stage_summary(outcome.path.name, outcome.manifest))
        conclude(outcome.path)
    return console.getvalue()


def screenshot(page: Path, png: Path, profile: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    f"--user-data-dir={profile}", f"--screenshot={png}", "--window-size=1280,900", page.as_uri()],
                   check=True, capture_output=True, timeout=120)


def main() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        os.chdir(workdir)  # paths print as runs/demo/..., as in a real checkout
        text = run_tiny(workdir)
        (HERE / "console-end.txt").write_text(text)
        screenshot(workdir / "runs/demo/02-evaluate/report.html", HERE / "report.png", workdir / "profile")
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
