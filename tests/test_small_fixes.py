"""Issue 12's small fixes: quiet TensorFlow start-up, the CLI's progress bar,
``%ae_probe``'s messages, and links and badges in the docs that work."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from ae_magic import backends, cli

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

HEALTHY = """\
import numpy as np
import keras
from keras import layers

x = np.random.default_rng(0).random((128, 16)).astype("float32")
inp = keras.Input(shape=(16,))
h = layers.Dense(8, activation="relu")(inp)
out = layers.Dense(16, activation="sigmoid")(h)
ae = keras.Model(inp, out)
ae.compile(optimizer="adam", loss="mse")
"""


# -- TensorFlow / CUDA start-up noise ------------------------------------------
def test_native_stderr_filter_drops_start_up_notices_and_keeps_the_rest(capfd: pytest.CaptureFixture[str]) -> None:
    with backends._native_stderr_filtered():
        os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n")
        os.write(2, b"I0000 00:00:1.5 42 cudart_stub.cc:31] Could not find cuda drivers on your machine\n")
        os.write(2, b"I0000 00:00:1.5 42 port.cc:153] oneDNN custom operations are on. TF_ENABLE_ONEDNN_OPTS=0\n")
        os.write(2, b"a real problem with the backend\n")
    err = capfd.readouterr().err
    assert "a real problem with the backend" in err
    assert "absl" not in err and "cuda" not in err and "oneDNN" not in err


def _python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    full.update(env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=full, cwd=ROOT)


def test_importing_keras_through_ae_magic_prints_no_start_up_noise() -> None:
    out = _python("from ae_magic.backends import import_keras\nk = import_keras()\nprint('ok', k.__version__)")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ok")
    noise = [line for line in out.stderr.splitlines() if re.search(r"oneDNN|absl|cuda|TF-TRT|computation placer|"
                                                                     r"This TensorFlow binary is optimized", line, re.I)]
    assert noise == []


def test_tf_log_level_is_set_only_when_the_user_has_not() -> None:
    code = "import os, ae_magic; print(os.environ.get('TF_CPP_MIN_LOG_LEVEL'))"
    assert _python(code).stdout.strip() == "2"
    assert _python(code, TF_CPP_MIN_LOG_LEVEL="0").stdout.strip() == "0"


# -- the command line's progress bar --------------------------------------------
@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "healthy.py"
    path.write_text(HEALTHY)
    return path


def test_forced_progress_goes_to_stderr_and_json_stdout_stays_clean(model_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = cli.main(["check", str(model_file), "--data", "x", "--json", "--epochs", "1", "--progress"])
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) == 1 and status in (0, 1)
    assert json.loads(lines[0])["file"] == str(model_file)
    # tqdm's bar: the phase, a step count and the total.
    assert re.search(r"healthy\.py: training:.*\d+/\d+", err), err
    assert "gradients" in err


def test_no_progress_without_a_terminal_or_when_turned_off(model_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cli.main(["check", str(model_file), "--data", "x", "--json", "--epochs", "1"])  # stderr is not a TTY under pytest
    assert capsys.readouterr().err == ""
    cli.main(["check", str(model_file), "--data", "x", "--epochs", "1", "--no-progress"])
    out, err = capsys.readouterr()
    assert err == "" and "ae_magic: model `ae`" in out


def test_progress_bar_follows_phases_and_survives_odd_events(capsys: pytest.CaptureFixture[str]) -> None:
    bar = cli._ProgressBar("m.py")
    bar({"phase": "gradients", "step": 1, "total": 4, "loss": 0.5})
    bar({"phase": "gradients", "step": 4, "total": 4, "loss": float("nan")})
    bar({"phase": "training", "step": 3, "total": 0, "loss": float("inf")})
    assert bar.phase == "training" and bar.bar.n == 3
    bar.close()
    assert bar.bar is None
    assert "m.py: gradients" in capsys.readouterr().err


# -- %ae_probe's messages -------------------------------------------------------
@pytest.fixture(scope="module")
def ip() -> InteractiveShell:
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "ae_magic")
    shell.run_cell(HEALTHY)
    return shell


BAD_PROBE_LINES = ["", "--data x", "nope --data x", "x --data x", "ae", "ae --data nope", "ae --data x --target nope",
                   "ae --data x --html a.html", "ae --data x --no-train --epochs 2", "ae x --data x"]


@pytest.mark.parametrize("line", BAD_PROBE_LINES)
def test_ae_probe_usage_errors_never_offer_a_model_option(ip: InteractiveShell, line: str) -> None:
    with pytest.raises(UsageError) as info:
        ip.run_line_magic("ae_probe", line)
    assert "--model" not in str(info.value)


@pytest.mark.parametrize("line", ["ae --model ae --data x", "--model=ae --data x"])
def test_ae_probe_with_model_flag_says_the_model_is_its_first_argument(ip: InteractiveShell, line: str) -> None:
    with pytest.raises(UsageError, match=r"first argument, not --model: %ae_probe MODEL --data NAME"):
        ip.run_line_magic("ae_probe", line)


# -- docs: links and badges -----------------------------------------------------
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)|<img [^>]*src=\"([^\"]+)\"")


def _tracked() -> set[str]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)
    return set(out.stdout.splitlines())


def _relative_links(path: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)  # code blocks are not links
    targets = [a or b for a, b in LINK.findall(text)]
    return [t for t in targets if not re.match(r"[a-z][a-z0-9+.-]*:|#", t)]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_relative_link_and_image_points_to_a_tracked_file(doc: Path) -> None:
    tracked = _tracked()
    broken = []
    for target in _relative_links(doc):
        rel = os.path.normpath(os.path.join(os.path.relpath(doc.parent, ROOT), target.split("#", 1)[0]))
        if rel not in tracked and not any(t.startswith(rel + "/") for t in tracked):
            broken.append(target)
    assert broken == [], f"{doc.name}: links to files git does not track: {broken}"


def test_the_link_checker_sees_links_and_images(tmp_path: Path) -> None:
    doc = tmp_path / "x.md"
    doc.write_text("![pic](images/a.png) [doc](faults.md#ae101) [web](https://example.org) [top](#x)\n"
                   "```\n[not](a/link.md)\n```\n")
    assert _relative_links(doc) == ["images/a.png", "faults.md#ae101"]


def test_no_owner_repo_placeholder_is_left() -> None:
    files = [*DOCS, *sorted((ROOT / "notebooks").glob("*.py")), *sorted((ROOT / "notebooks").glob("*.ipynb"))]
    assert [f.name for f in files if "OWNER/REPO" in f.read_text()] == []
