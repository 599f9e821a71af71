import subprocess
import sys


def test_import_phronesis_and_cli_do_not_import_torch():
    code = ("import sys, phronesis, phronesis.cli, phronesis.pipeline; "
            "heavy = [m for m in ('torch', 'transformers', 'trl', 'peft', 'vllm') if m in sys.modules]; "
            "print(heavy); sys.exit(1 if heavy else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_quiet_also_silences_third_party_tqdm_bars():
    # A fresh interpreter, as under the CLI: --quiet is set before transformers (and tqdm) are imported;
    # transformers' GGUF conversion bar is a plain tqdm like this one.
    code = ("from phronesis.core.progress import set_quiet; set_quiet(True)\n"
            "from tqdm.auto import tqdm\n"
            "for _ in tqdm(range(3), desc='Converting'): pass\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "Converting" not in proc.stderr
