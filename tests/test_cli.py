"""The ``ae-magic`` command line: JSON per file, exit statuses, batches."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import zoo

from ae_magic.cli import main
from ae_magic.report import SCHEMA_VERSION

BROKEN_DECODER = """\
import keras
from keras.layers import Input, Dense
input_img = Input(shape=(64,))
encoded = Dense(8, activation='relu')(input_img)
decoded = Dense(64, activation='sigmoid')(encoded)
autoencoder = keras.Model(input_img, decoded)
autoencoder.compile(optimizer='adam', loss='mse')
encoded_input = Input(shape=(8,))
decoder = keras.Model(encoded_input, decoded)
"""


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    paths = {
        "healthy": zoo.HEALTHY["dense"],
        "broken": BROKEN_DECODER,
        "syntax": "def f(:\n    pass\n",
        "nomodel": "x = 1\n",
        # What notebook cells do: print, model.summary(), and C-level writes to stdout.
        "chatty": zoo.HEALTHY["dense"] + 'print("hello from the cell")\nautoencoder.summary()\n'
        'import os\nos.write(1, b"raw bytes on fd 1\\n")\n',
    }
    out = {}
    for name, src in paths.items():
        p = tmp_path / f"{name}.py"
        p.write_text(src)
        out[name] = str(p)
    return out


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_batch_json_one_object_per_file_in_order(files: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    order = [files["healthy"], files["broken"], files["syntax"], files["nomodel"]]
    status = main(["check", *order, "--json", "--no-train"])
    objs = _json_lines(capsys.readouterr().out)
    assert [o["file"] for o in objs] == order
    assert all(o["schema_version"] == SCHEMA_VERSION for o in objs)
    healthy, broken, syntax, nomodel = objs
    # No data: the data checks were skipped, so not "ok" (never a false OK), yet no finding.
    assert healthy["findings"] == [] and healthy["model"]["variable"] == "autoencoder"
    assert not healthy["ok"] and "data" in healthy["coverage"]["skipped"]
    assert [f["code"] for f in broken["findings"] if f["severity"] == "error"] == ["AE101"]
    assert broken["findings"][0]["line"] == 9
    # a cell that fails still gets its object
    assert syntax["findings"][0]["code"] == "AE100" and syntax["cell_error"]["type"] == "SyntaxError"
    assert nomodel["findings"] == [] and nomodel["model"] is None
    assert status == 1  # some finding is an error


def test_exit_zero_when_no_error(files: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", files["healthy"], "--json", "--no-train", "--data", "x"]) == 0
    assert _json_lines(capsys.readouterr().out)[0]["ok"] is True


def test_a_file_without_a_model_fails_the_batch(files: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", files["healthy"], files["nomodel"], "--json", "--no-train"]) == 3
    assert len(_json_lines(capsys.readouterr().out)) == 2


def test_text_output_names_code_and_line(files: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", files["broken"], "--no-train"]) == 1
    out = capsys.readouterr().out
    assert "AE101" in out and "(line 9)" in out and "input_img" in out


def test_missing_file_is_usage_error(files: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", files["healthy"], "/nonexistent/model.py", "--json"]) == 2
    assert "no such file" in capsys.readouterr().err


def test_bad_flag_is_usage_error(files: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["check", files["healthy"], "--bogus"])
    assert exc.value.code == 2
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_unknown_data_name_gets_usage_object(files: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["check", files["healthy"], files["nomodel"], "--json", "--no-train", "--data", "x"])
    objs = _json_lines(capsys.readouterr().out)
    assert len(objs) == 2
    assert objs[0]["ok"] is True and objs[0]["data"]["name"] == "x"
    assert "x" in objs[1]["usage_error"] and objs[1]["file"] == files["nomodel"]
    assert status == 2


def test_non_model_named_by_model_flag(files: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", files["healthy"], "--json", "--no-train", "--model", "x"]) == 2
    obj = _json_lines(capsys.readouterr().out)[0]
    assert "not a Keras model" in obj["usage_error"]


def test_html_written(files: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report.html"
    main(["check", files["broken"], "--no-train", "--html", str(out)])
    html = out.read_text()
    assert "AE101" in html and "<html" in html.lower()


def test_console_script_runs_in_a_subprocess(files: dict[str, str]) -> None:
    """The installed entry point works as a real process: stdout is one JSON line, exit 0.

    The cell prints, shows its model's summary and writes to file descriptor 1:
    with --json all of that goes to stderr, so a CI script can parse stdout.
    """
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run(
        [sys.executable, "-m", "ae_magic.cli", "check", files["chatty"], "--json", "--no-train", "--data", "x"],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    objs = _json_lines(proc.stdout)
    assert len(objs) == 1 and objs[0]["ok"] is True
    assert len(proc.stdout.splitlines()) == 1  # (the JSON holds the cell's source, so its words are in it)
    for text in ("hello from the cell", "Total params", "raw bytes on fd 1"):
        assert text in proc.stderr
