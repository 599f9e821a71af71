import subprocess
import sys


def test_import_phronesis_and_cli_do_not_import_torch():
    code = ("import sys, phronesis, phronesis.cli, phronesis.pipeline; "
            "heavy = [m for m in ('torch', 'transformers', 'trl', 'peft', 'vllm') if m in sys.modules]; "
            "print(heavy); sys.exit(1 if heavy else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_quiet_also_silences_third_party_tqdm_bars(monkeypatch, capsys):
    import phronesis.progress as progress

    for name in ("HF_HUB_DISABLE_PROGRESS_BARS", "TQDM_DISABLE", "TRANSFORMERS_VERBOSITY", "PHRONESIS_QUIET"):
        monkeypatch.delenv(name, raising=False)  # restored after the test
    monkeypatch.setattr(progress, "_quiet", False)
    progress.set_quiet(True)
    from tqdm.auto import tqdm  # transformers' GGUF conversion bar is a plain tqdm like this one

    for _ in tqdm(range(3), desc="Converting"):
        pass
    assert "Converting" not in capsys.readouterr().err
