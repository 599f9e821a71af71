import json

import pytest

from phronesis.core.errors import DataError, UserError
from phronesis.core.io import read_jsonl
from phronesis.core.resumable import map_resumable
from phronesis.core.runstore import RowCheckpoint, Run, run_stage


def test_stage_is_skipped_when_fingerprint_matches_and_rerun_with_force(tmp_path):
    run = Run(tmp_path, "r")
    calls = []

    def body(stage):
        calls.append(1)
        (stage.path / "out.txt").write_text("x")
        stage.counts["rows"] = 1

    first = run_stage(run, 1, "s", {"a": 1}, {}, body)
    again = run_stage(run, 1, "s", {"a": 1}, {}, body)
    changed = run_stage(run, 1, "s", {"a": 2}, {}, body)
    forced = run_stage(run, 1, "s", {"a": 2}, {}, body, force=True)
    assert [first.skipped, again.skipped, changed.skipped, forced.skipped] == [False, True, False, False]
    assert len(calls) == 3
    manifest = json.loads((first.path / "manifest.json").read_text())
    assert manifest["counts"] == {"rows": 1} and manifest["status"] == "complete"
    assert {"python", "torch", "transformers"} <= set(manifest["versions"])


def test_upstream_change_invalidates_downstream(tmp_path):
    run = Run(tmp_path, "r")
    up = run_stage(run, 1, "up", {"v": 1}, {}, lambda s: None)
    down = run_stage(run, 2, "down", {}, {"up": up.path}, lambda s: None)
    up2 = run_stage(run, 1, "up", {"v": 2}, {}, lambda s: None)
    down2 = run_stage(run, 2, "down", {}, {"up": up2.path}, lambda s: None)
    assert not down2.skipped and down2.manifest["fingerprint"] != down.manifest["fingerprint"]


def test_crash_mid_stage_resumes_without_redoing_rows(tmp_path):
    run = Run(tmp_path, "r")
    rows = [{"id": str(i), "x": i} for i in range(10)]
    seen = []

    def make_body(crash_after):
        def body(stage):
            def work(chunk):
                if crash_after is not None and len(seen) >= crash_after:
                    raise KeyboardInterrupt  # simulated kill between chunks
                seen.extend(r["id"] for r in chunk)
                return [{"id": r["id"], "y": r["x"] * 2} for r in chunk]
            out = map_resumable(rows, work, stage.checkpoint("rows"), 3, "t")
            (stage.path / "out.json").write_text(json.dumps(out))
        return body

    with pytest.raises(KeyboardInterrupt):
        run_stage(run, 1, "s", {}, {}, make_body(crash_after=6))
    assert not (run.stage_path(1, "s") / "manifest.json").exists()
    run_stage(run, 1, "s", {}, {}, make_body(crash_after=None))
    out = json.loads((run.stage_path(1, "s") / "out.json").read_text())
    assert [r["id"] for r in out] == [str(i) for i in range(10)]
    assert sorted(seen, key=int) == [str(i) for i in range(10)]  # each row processed exactly once


def test_checkpoint_drops_torn_tail(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text('{"id": "1"}\n{"id": "2"}\n{"id": "3", "te')
    cp = RowCheckpoint(path)
    assert len(cp) == 2 and "3" not in cp
    cp.append([{"id": "3"}, {"id": "2"}])
    assert [r["id"] for r in read_jsonl(path)] == ["1", "2", "3"]


def test_bad_run_names_are_refused(tmp_path):
    for name in ["../x", "a/b", "", ".hidden", "a..b"]:
        with pytest.raises(UserError):
            Run(tmp_path, name)


def test_read_jsonl_errors_name_file_and_line(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"prompt": "a"}\n{"nope": 1}\n')
    with pytest.raises(DataError, match=r"d.jsonl: line 2: missing column 'prompt'"):
        read_jsonl(path, required=["prompt"])
    path.write_bytes(b'{"prompt": "a"}\n{"prompt": "\xff"}\n')
    with pytest.raises(DataError, match="line 2: not UTF-8"):
        read_jsonl(path)
    path.write_text('{"prompt": "a"}\n{"prompt": "b')
    with pytest.raises(DataError, match="line 2: truncated JSON"):
        read_jsonl(path)
    path.write_text("")
    with pytest.raises(DataError, match="empty"):
        read_jsonl(path)


def test_gzipped_jsonl_reads_and_names_the_bad_line_or_the_cut(tmp_path):
    import gzip

    path = tmp_path / "d.jsonl.gz"
    data = gzip.compress(b'{"prompt": "a"}\n\n{"prompt": "b"}\n')
    path.write_bytes(data)
    assert read_jsonl(path) == [{"prompt": "a"}, {"prompt": "b"}]
    path.write_bytes(gzip.compress(b'{"prompt": "a"}\n[1, 2]\n'))
    with pytest.raises(DataError, match=r"d.jsonl.gz: line 2: expected a JSON object, got list"):
        read_jsonl(path)
    path.write_bytes(data[: len(data) // 2])  # a download cut off mid-stream
    with pytest.raises(DataError, match=r"d.jsonl.gz: cannot read as gzipped JSONL"):
        read_jsonl(path)


def test_trim_log_keeps_steps_up_to_the_checkpoint(tmp_path):
    from phronesis.core.io import trim_log

    path = tmp_path / "log.jsonl"
    path.write_text('{"step": 1}\n{"step": 2}\n{"step": 3}\n{"step": 4, "lo')
    trim_log(path, 2)
    assert path.read_text() == '{"step": 1}\n{"step": 2}\n'


def test_last_complete_checkpoint_skips_one_torn_by_a_kill(tmp_path):
    from phronesis.training.trl_adapter import last_complete_checkpoint

    for step in (1, 2, 3):
        (tmp_path / f"checkpoint-{step}").mkdir()
    (tmp_path / "checkpoint-1" / "trainer_state.json").write_text("{}")
    (tmp_path / "checkpoint-2" / "trainer_state.json").write_text('{"global_step": 2}')
    (tmp_path / "checkpoint-3" / "adapter_model.safetensors").write_text("half")  # killed mid-save
    assert last_complete_checkpoint(tmp_path) == str(tmp_path / "checkpoint-2")
    assert last_complete_checkpoint(tmp_path / "missing") is None


def test_failed_rerun_with_new_settings_keeps_the_finished_result(tmp_path):
    run = Run(tmp_path, "r")

    def write(stage):
        stage.file("out.txt").write_text("finished")

    def broken(stage):
        raise ValueError("bad setting found halfway")

    run_stage(run, 1, "s", {"x": 1}, inputs={}, body=write)
    with pytest.raises(ValueError):
        run_stage(run, 1, "s", {"x": 2}, inputs={}, body=broken)
    folder = run.stage_path(1, "s")
    assert (folder / "out.txt").read_text() == "finished" and (folder / "manifest.json").is_file()
    assert run_stage(run, 1, "s", {"x": 1}, inputs={}, body=broken).skipped  # still up to date


def test_killed_rerun_resumes_or_gives_the_old_result_back(tmp_path):
    run = Run(tmp_path, "r")
    def writes(text):
        return lambda stage: stage.file("out.txt").write_text(text) and None

    run_stage(run, 1, "s", {"x": 1}, inputs={}, body=writes("old"))

    class Killed(BaseException):  # stands for SIGKILL/Ctrl-C: not an error the stage can clean up after
        pass

    def killed(stage):
        stage.file("partial.txt").write_text("half")
        raise Killed()

    with pytest.raises(Killed):
        run_stage(run, 1, "s", {"x": 2}, inputs={}, body=killed)
    folder = run.stage_path(1, "s")
    assert (folder / "partial.txt").exists() and not (folder / "manifest.json").exists()
    back = run_stage(run, 1, "s", {"x": 1}, inputs={}, body=killed)  # the old settings again: nothing to redo
    assert back.skipped and (folder / "out.txt").read_text() == "old"
    done = run_stage(run, 1, "s", {"x": 2}, inputs={}, body=writes("new"))
    assert not done.skipped and (folder / "out.txt").read_text() == "new"
    assert not any(p.name.endswith(".previous") for p in run.root.iterdir())


def test_a_failed_stage_with_nothing_to_resume_leaves_no_folder(tmp_path):
    run = Run(tmp_path, "r")

    def broken(stage):
        raise ValueError("fails before any row is done")

    def half_done(stage):
        stage.checkpoint("rows").append([{"id": "1"}])
        raise ValueError("fails after one row")

    with pytest.raises(ValueError):
        run_stage(run, 1, "s", {"x": 1}, inputs={}, body=broken)
    assert not run.stage_path(1, "s").exists()
    with pytest.raises(ValueError):
        run_stage(run, 1, "s", {"x": 1}, inputs={}, body=half_done)
    assert (run.stage_path(1, "s") / ".work" / "rows.jsonl").is_file()  # kept: a rerun resumes from it


def test_editing_a_stage_s_code_redoes_it_and_unrelated_code_does_not(tmp_path, monkeypatch):
    import importlib

    module = tmp_path / "stage_under_edit.py"
    module.write_text("def body(stage):\n    (stage.path / 'out.txt').write_text('v1')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    stage_module = importlib.import_module("stage_under_edit")
    run = Run(tmp_path / "runs", "r")
    first = run_stage(run, 1, "s", {}, {}, stage_module.body)
    assert run_stage(run, 1, "s", {}, {}, stage_module.body).skipped  # same code: resumed, not redone
    module.write_text("def body(stage):\n    (stage.path / 'out.txt').write_text('v2')\n")
    stage_module = importlib.reload(stage_module)
    edited = run_stage(run, 1, "s", {}, {}, stage_module.body)
    assert not edited.skipped and (edited.path / "out.txt").read_text() == "v2"
    assert edited.manifest["code"] != first.manifest["code"]


def test_a_stage_s_code_covers_what_it_imports_from_phronesis_even_inside_functions():
    from phronesis.core.code_fingerprint import import_closure

    sft = import_closure("phronesis.stages.sft")
    # trl_adapter is imported inside sft's functions (heavy import); the report is not sft's code
    assert {"phronesis.stages.sft", "phronesis.training.trl_adapter", "phronesis.core.runstore", "phronesis"} <= set(sft)
    assert not any(name.startswith(("phronesis.report", "phronesis.cli")) for name in sft)
    assert "phronesis.stages.evaluate" in import_closure("phronesis.stages.evaluate")
