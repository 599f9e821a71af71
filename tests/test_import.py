import subprocess
import sys


def test_import_phronesis_and_cli_do_not_import_torch():
    code = ("import sys, phronesis, phronesis.cli, phronesis.pipeline; "
            "heavy = [m for m in ('torch', 'transformers', 'trl', 'peft', 'vllm') if m in sys.modules]; "
            "print(heavy); sys.exit(1 if heavy else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
