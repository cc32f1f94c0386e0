"""A fresh virtual environment built from exactly binder/ runs the quickstart.

mybinder.org can't be reached from CI, so this rebuilds what repo2docker does
for this repository: a Python 3.11 environment, ``pip install -r
binder/requirements.txt``, then ``binder/postBuild`` from the repository root,
and executes ``notebooks/00-quickstart.ipynb`` in a kernel of that
environment. The only additions are the kernel machinery that Binder's base
image already has (ipykernel, nbclient, nbformat), pinned to the versions of
the running test environment.

pip's cache is reused (no ``--no-cache-dir``), so after the first run this
takes a couple of minutes, mostly unpacking TensorFlow.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import re
import shutil
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"
QUICKSTART = ROOT / "notebooks" / "00-quickstart.ipynb"
# What the Binder base image provides around our requirements.
KERNEL_TOOLS = ("ipykernel", "nbclient", "nbformat")

RUN_NOTEBOOK = """
import sys, nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
# Prove the kernel is this environment's Python with this environment's ae_magic.
nb.cells.append(nbformat.v4.new_code_cell("import sys, ae_magic; print('KERNEL', sys.executable, ae_magic.__file__)"))
NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": sys.argv[2]}}).execute()
errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]
assert not errors, errors
print(nb.cells[-1].outputs[0]["text"])
"""


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep, f"binder/requirements.txt: {raw!r} is not an exact pin"
            pins[name.lower()] = version
    return pins


def test_binder_files_are_consistent() -> None:
    """Cheap checks that the slow test can't replace: exact pins, Python version, postBuild."""
    pins = _pins(BINDER / "requirements.txt")
    assert "tensorflow-cpu" in pins
    assert "tensorflow" not in pins  # two TF wheels would overwrite each other's files
    assert (BINDER / "runtime.txt").read_text().strip() == "python-3.11"
    post = (BINDER / "postBuild").read_text()
    assert post.startswith("#!/bin/bash")
    assert "set -e" in post
    assert "--no-deps ." in post
    assert os.access(BINDER / "postBuild", os.X_OK)
    # repo2docker reads only binder/ when it exists; a second config folder is an error.
    assert not (ROOT / ".binder").exists()


def test_binder_pins_every_core_dependency() -> None:
    """postBuild installs ae-magic with --no-deps, so each of its dependencies must be pinned here."""
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {re.match(r"[A-Za-z0-9_.-]+", d).group(0).lower().replace("_", "-") for d in deps}  # type: ignore[union-attr]
    pins = _pins(BINDER / "requirements.txt")
    assert sorted(names - set(pins)) == []


@pytest.mark.slow
def test_fresh_venv_from_binder_pins_runs_quickstart(tmp_path: Path) -> None:
    if sys.version_info[:2] != (3, 11):
        pytest.fail(f"binder/runtime.txt asks for Python 3.11; this test runs on {sys.version.split()[0]}")
    env_dir = tmp_path / "binder-venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    py = env_dir / "bin" / "python"
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env.pop("VIRTUAL_ENV", None)
    env["PATH"] = f"{env_dir / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"

    def run(*cmd: str | os.PathLike[str], timeout: int = 900, cwd: Path = ROOT) -> str:
        out = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
        assert out.returncode == 0, f"{cmd} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
        return out.stdout

    tools = [f"{name}=={md.version(name)}" for name in KERNEL_TOOLS]
    run(py, "-m", "pip", "install", "-q", "-r", BINDER / "requirements.txt", *tools)
    run(shutil.which("bash") or "/bin/bash", BINDER / "postBuild")

    # The package came from the wheel postBuild built, with its data files,
    # not from this checkout (run outside it: the cwd comes first on sys.path).
    where = run(py, "-c", "import ae_magic.datasets as d; print(d.__file__); print(d.load().shape)", cwd=tmp_path)
    assert str(env_dir) in where
    assert "(5000, 28, 28)" in where
    # postBuild must not have pulled the full tensorflow wheel on top.
    freeze = run(py, "-m", "pip", "freeze").lower().replace("_", "-").splitlines()
    assert "tensorflow-cpu==" + _pins(BINDER / "requirements.txt")["tensorflow-cpu"] in freeze
    assert not [line for line in freeze if line.startswith("tensorflow==")]

    result = run(py, "-c", RUN_NOTEBOOK, QUICKSTART, QUICKSTART.parent, timeout=900)
    kernel_line = next(line for line in result.splitlines() if line.startswith("KERNEL"))
    _, kernel_python, kernel_pkg = kernel_line.split()
    assert kernel_python.startswith(str(env_dir)), kernel_line
    assert kernel_pkg.startswith(str(env_dir)), kernel_line
