"""SIGKILL a stage at a chosen point, rerun it, and compare with an uninterrupted run."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def count_rows(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def run_cli(args: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "phronesis", *args], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, env=env, timeout=600)


def kill_when(args: list[str], checkpoint: Path, rows: int, timeout: float = 300) -> bool:
    """Start the CLI, SIGKILL it once `checkpoint` holds at least `rows` finished rows.

    Returns False if the process finished before the kill point was reached.
    """
    proc = subprocess.Popen([sys.executable, "-m", "phronesis", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            return False
        if count_rows(checkpoint) >= rows:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.02)
    proc.kill()
    raise TimeoutError(f"{args}: kill point {rows} not reached in {timeout}s")


def read_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
