"""The report: escaping of model text, self-containment, Markdown/compare, and a headless Chromium render."""
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from phronesis.evaluation.model_specs import parse_models
from phronesis.evaluation.run import run_evaluation
from phronesis.evaluation.settings import EvalConfig
from phronesis.evaluation.suite import EvalResources
from phronesis.core.io import atomic_write_jsonl
from phronesis.report.build import build_report
from phronesis.report.compare import compare_runs
from test_eval_suite import LongerWinsJudge, OneHotEmbedder, RuleSafety

EVIL = "<script>alert('pwned')</script><img src=x onerror=alert(1)>"


class EchoGenerator:
    def __init__(self, text):
        self.text = text

    def generate(self, prompts, params):
        return [[self.text if isinstance(p, str) else "ok"] for p in prompts]


def make_eval(folder, aligned_text=EVIL):
    cfg = EvalConfig(harmful={"source": "builtin:harmful_test", "limit": 4},
                     benign={"source": "builtin:benign_test", "limit": 3}, jailbreak_prompts=2,
                     paraphrase_groups=2, paraphrases_per_group=3, bootstrap=200, permutations=200)
    models = parse_models(["base=catalog:smollm2-135m-instruct", "aligned=catalog:smollm2-135m-instruct"])
    res = EvalResources(generators={"base": EchoGenerator("Sure, here is how."),
                                    "aligned": EchoGenerator(aligned_text)},
                        judge=LongerWinsJudge(), safety=RuleSafety(), embedder=OneHotEmbedder())
    run_evaluation(models, cfg, folder, resources=res)
    atomic_write_jsonl(folder.parent / "03-rl" / "rewards.jsonl", [{"step": s, "reward": s / 10} for s in range(5)])
    return folder


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    make_eval(run / "05-evaluate")
    build_report(run)
    return run / "05-evaluate"


def test_model_text_is_escaped_and_page_is_self_contained(report_dir):
    page = (report_dir / "report.html").read_text()
    assert "<script" not in page.lower()
    assert "onerror=alert" not in page.replace("&quot;", '"').split("&lt;img")[0]  # only escaped copies remain
    assert "&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt;" in page
    assert "Content-Security-Policy" in page
    srcs = re.findall(r'src="([^"]*)"', page)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert not re.search(r"(href|src)=\"https?:", page)


def test_report_has_table_plots_samples_and_reward_curve(report_dir):
    page = (report_dir / "report.html").read_text()
    for text in ("harmful_refusal_rate", "benign_refusal_rate", "sage_consistency", "aligned − base",
                 "training rewards", "judge position bias", "SaGE per group", "Sample conversations"):
        assert text in page, text
    md = (report_dir / "report.md").read_text()
    assert "| harmful_refusal_rate |" in md and "p=" in md and "[" in md


def test_report_leads_with_the_conclusion_and_one_forest_plot(report_dir):
    page = (report_dir / "report.html").read_text()
    first_screen = page[:page.index("Models and method")]
    assert "<h1>aligned vs base</h1>" in first_screen and "Better than base with 95% confidence on:" in first_screen
    assert 'alt="differences vs base"' in first_screen and "[+0.500, +0.500]" in first_screen
    assert "fewer than 20 items" in first_screen  # small-n warning
    assert "p_holm" in first_screen  # multiplicity warning
    assert 'alt="harmful_refusal_rate' not in page  # no bar chart per metric


def write_stage(run, folder, section, counts=None, logs=None):
    from phronesis.core.io import atomic_write_json

    path = run / folder
    atomic_write_json(path / "manifest.json", {"status": "complete", "config": {"section": section},
                                               "counts": counts or {}})
    for name, rows in (logs or {}).items():
        atomic_write_jsonl(path / name, rows)
    return path


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A run whose evaluate stage compares base, sft and an RL model trained against an ensemble."""
    import json

    run = tmp_path_factory.mktemp("trained")
    write_stage(run, "02-sft", {"data": ["stage:best_of_n/sft.jsonl"]}, {"rows": 112, "steps": 3, "final_loss": 1.76},
                {"trainer/train_log.jsonl": [{"step": s, "loss": 2.0 - s / 10} for s in range(1, 4)],
                 ".work/train_log.jsonl": [{"step": 1, "loss": 99.0}]})
    write_stage(run, "03-train_reward", {"aggregator": {"name": "mean_minus_std", "k": 0.5}})
    write_stage(run, "04-rl", {"algorithm": "grpo", "prompt_sets": ["harmful_train"]}, {"prompts": 64},
                {"rewards.jsonl": [{"step": s, "reward": s / 10, "reward/rm_0": s / 5, "reward/rm_1": 0.0,
                                    "kl": s / 100} for s in range(1, 4)]})
    evaluate = make_eval(run / "05-evaluate")
    (run / "03-rl" / "rewards.jsonl").unlink()
    (run / "03-rl").rmdir()
    metrics = json.loads((evaluate / "metrics.json").read_text())
    metrics["models"]["aligned"] = f"{run}/04-rl/.work/init + adapter {run}/04-rl/adapter"
    (evaluate / "metrics.json").write_text(json.dumps(metrics))
    build_report(evaluate)  # pointed at the evaluate stage, as the README says: curves come from its siblings
    return run


def test_models_are_named_by_what_they_are(trained_run):
    from phronesis.report.run_context import model_labels

    models = {"base": "catalog:smollm2", "tuned": f"{trained_run}/02-sft/adapter",
              "rl": f"{trained_run}/02-sft/merged + adapter {trained_run}/04-rl/adapter",
              "tuned_prompted": f"{trained_run}/02-sft/adapter (system prompt: constitution)"}
    assert model_labels(models, trained_run) == {"base": "base", "tuned": "sft",
                                                 "rl": "rl (GRPO, ensemble mean−0.5·std)",
                                                 "tuned_prompted": "sft + system prompt"}


def test_training_curves_come_from_the_sibling_stages(trained_run):
    from phronesis.report.run_context import training_curves

    curves = training_curves(trained_run)
    assert curves["loss"] == {"02-sft": [(1.0, 1.9), (2.0, 1.8), (3.0, 1.7)]}  # scratch .work logs left out
    assert set(curves["reward"]) == {"04-rl aggregate", "04-rl rm_0", "04-rl rm_1"}
    assert curves["KL"]["04-rl"][-1] == (3.0, 0.03)


def test_report_of_a_trained_run_names_models_and_shows_curves(trained_run):
    page = (trained_run / "05-evaluate" / "report.html").read_text()
    assert "<h1>rl (GRPO, ensemble mean−0.5·std) vs base</h1>" in page
    assert "trained on harmful_train: 64 prompts" in page
    assert f"{trained_run}/04-rl/adapter" in page.split("Models and method")[1]  # full path in the details
    for caption in ("training loss", "training rewards", "KL to reference"):
        assert f'alt="{caption}"' in page


def test_empty_charts_are_left_out():
    from phronesis.report.build import build_images

    metrics = {"base": "base", "models": {"base": "b"}, "metrics": {"harmful_refusal_rate": {
        "kind": "rate", "per_model": {"base": {"mean": 0.0, "lo": 0.0, "hi": 0.1, "n": 30}}, "vs_base": {}}}}
    assert build_images(metrics, {}, Path("/nonexistent")) == {}


def test_compare_puts_two_runs_side_by_side(tmp_path):
    a = make_eval(tmp_path / "ethical", aligned_text="I can't help with that.")
    b = make_eval(tmp_path / "inverted", aligned_text="Sure, here is how.")
    table = compare_runs(a, b)
    row = next(line for line in table.splitlines() if line.startswith("| harmful_refusal_rate | aligned |"))
    assert "1.000" in row.split("|")[3] and "0.000" in row.split("|")[4]
    assert "aligned − base" in table
    # paired across runs on the same 4 harmful prompts: ethical aligned refuses all 4, inverted none
    paired = next(line for line in table.splitlines() if line.startswith("| harmful | aligned |"))
    assert "| 4 | -1.000 [-1.000, -1.000] p=0.125 (mcnemar-exact)" in paired  # 4 discordant pairs: p = 2/16
    assert "| harmful | base | 4 | +0.000" in table


CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
MARKER_SCRIPT = ("<script>window.addEventListener('load',function(){var imgs=Array.from(document.images);"
                 "var ok=imgs.length>0&&imgs.every(function(i){return i.complete&&i.naturalWidth>0;});"
                 "var d=document.createElement('div');d.id='check';d.textContent='IMAGES:'+(ok?'OK':'BAD')+"
                 "':'+imgs.length+':SCRIPTS:'+document.scripts.length;document.body.appendChild(d);});</script>")


@pytest.fixture(scope="module")
def chromium():
    from conftest import skip_or_fail

    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:  # never installed from inside a test: .ci/run installs it
        skip_or_fail("chromium is not on PATH (apt-get install chromium)")
    return found


def _chromium(binary, tmp_path, *args):
    cmd = [binary, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_chromium_renders_images_and_logs_no_errors(report_dir, chromium, tmp_path):
    from matplotlib.image import imread

    page = report_dir / "report.html"
    shot = tmp_path / "shot.png"
    logged = _chromium(chromium, tmp_path, "--enable-logging=stderr", "--v=0", f"--screenshot={shot}",
                       "--window-size=1200,2000", page.as_uri())
    pixels = imread(shot)
    assert pixels.std() > 0.01, "screenshot is blank"
    console = [line for line in logged.stderr.splitlines() if "CONSOLE" in line or "Refused to" in line]
    assert not console, console
    # A copy with a marker script (and without the CSP that would block it) checks image decoding.
    probe = tmp_path / "probe.html"
    html = page.read_text().replace('http-equiv="Content-Security-Policy"', 'name="csp-removed-for-probe"')
    probe.write_text(html.replace("</body>", MARKER_SCRIPT + "</body>"))
    dom = _chromium(chromium, tmp_path, "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()).stdout
    marker = re.search(r"IMAGES:(\w+):(\d+):SCRIPTS:(\d+)", dom)
    assert marker, dom[-500:]
    assert marker.group(1) == "OK" and int(marker.group(2)) >= 4  # forest, rewards, position bias, SaGE
    assert marker.group(3) == "1"  # only the probe's own script: the answer's <script> stayed text


def test_cells_with_fewer_than_20_items_are_flagged_and_others_are_not():
    from phronesis.report.tables import format_ci, format_diff

    assert format_ci({"mean": 0.5, "lo": 0.2, "hi": 0.8, "n": 6}).endswith("n=6 n<20")
    assert "n<20" not in format_ci({"mean": 0.5, "lo": 0.4, "hi": 0.6, "n": 20})
    assert format_diff({"diff": 0.1, "lo": -0.2, "hi": 0.4, "p": 0.5, "test": "mcnemar", "n": 19}).endswith("n<20")
    assert "n<20" not in format_diff({"diff": 0.1, "lo": 0.0, "hi": 0.2, "p": 0.05, "test": "mcnemar", "n": 50})


def test_the_report_stage_writes_the_runs_report_in_its_own_folder_and_redoes_it_when_a_stage_changes(
        trained_run, tmp_path, capsys):
    import json
    from types import SimpleNamespace

    from phronesis.pipeline import STAGES, PipelineContext
    from phronesis.core.runstore import Run
    from phronesis.stages.report import ReportConfig

    shutil.copytree(trained_run, tmp_path / "t")
    (tmp_path / "t" / "01-best_of_n").mkdir()
    for folder in ("01-best_of_n", "02-sft", "03-train_reward", "04-rl", "05-evaluate"):
        manifest = tmp_path / "t" / folder / "manifest.json"
        old = json.loads(manifest.read_text()) if manifest.exists() else {"status": "complete"}
        manifest.write_text(json.dumps({**old, "fingerprint": folder}))
    (tmp_path / "t" / "05-evaluate" / "report.html").unlink()  # built there by the fixture
    config = SimpleNamespace(stages=["best_of_n", "sft", "train_reward", "rl", "evaluate", "report"],
                             report=ReportConfig(), models={}, prompts={}, run=SimpleNamespace(seed=0))
    ctx = PipelineContext(config, Run(tmp_path, "t"))
    outcome = STAGES["report"].run(ctx)
    assert outcome.path.name == "06-report" and not outcome.skipped
    page = (outcome.path / "report.html").read_text()
    assert "<h1>rl (GRPO, ensemble mean−0.5·std) vs base</h1>" in page  # labels read off the earlier stages
    assert all(f'alt="{caption}"' in page for caption in ("training loss", "training rewards", "KL to reference"))
    assert json.loads((outcome.path / "metrics.json").read_text())["base"] == "base"
    assert not (tmp_path / "t" / "05-evaluate" / "report.html").exists()  # the report lives in its own stage
    from phronesis.report.build import conclude

    capsys.readouterr()
    conclude(outcome.path, built=True)  # how `phronesis run` ends: the headline, pointing at this stage's files
    printed = capsys.readouterr().out
    assert "held-out evaluation" in printed and "06-report/report.html" in printed.replace("\n", "")
    assert STAGES["report"].run(ctx).skipped
    manifest = tmp_path / "t" / "02-sft" / "manifest.json"  # an earlier stage reran: its curves may differ
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "fingerprint": "sft again"}))
    assert not STAGES["report"].run(ctx).skipped
