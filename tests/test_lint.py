"""ruff, as configured in pyproject.toml, finds nothing in the repository."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _ruff() -> list[str]:
    """The ruff of this environment: the binary next to the interpreter, else ``python -m ruff``."""
    exe = Path(sys.executable).parent / ("ruff.exe" if sys.platform == "win32" else "ruff")
    if exe.is_file():
        return [str(exe)]
    probe = subprocess.run([sys.executable, "-m", "ruff", "--version"], capture_output=True, text=True, check=False)
    if probe.returncode == 0:
        return [sys.executable, "-m", "ruff"]
    found = shutil.which("ruff")
    if found:
        return [found]
    pytest.fail("ruff is not installed in this environment: pip install -e '.[test]'")


def test_ruff_check_is_clean() -> None:
    cmd = [*_ruff(), "check", "--no-cache", "--output-format=concise", "."]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    output = (proc.stdout + proc.stderr).strip()
    assert proc.returncode == 0, f"`ruff check .` found problems (run it from {ROOT}):\n{output}"
