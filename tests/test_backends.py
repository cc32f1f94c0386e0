"""Every Keras backend gets the same diagnosis, and the backend is visible.

``scripts/test_all.py`` runs this file under TensorFlow, JAX and PyTorch,
each in its own venv. The agreement test compares each backend's report on
models with pinned weights to ``tests/data/backend_agreement.json``, written
on TensorFlow (``python tests/test_backends.py --write`` in the TF venv):
the codes must be equal, and the evidence numbers (per-layer gradient norms
and the gradient probe's losses) within ``RTOL`` (docs/probes.md says so).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import zoo

import ae_magic
from ae_magic import backends
from ae_magic.keras_compat import keras

BACKEND = keras.backend.backend()
GOLDEN = Path(__file__).parent / "data" / "backend_agreement.json"
# Relative tolerance of the evidence numbers between backends: float32
# reductions run in another order on each (XLA, Eigen, ATen).
RTOL = 2e-3

# Pinned weights: every backend draws Keras' initialisers differently, so each
# cell overwrites them from NumPy (the check copies the user's weights).
_PIN = """
_rng = np.random.default_rng(1)
autoencoder.set_weights([(_rng.normal(0.0, {scale}, w.shape) + {shift}).astype("float32") for w in autoencoder.get_weights()])
"""
_DATA = """\
import numpy as np
import keras
from keras import layers
rng = np.random.default_rng(0)
z = rng.normal(size=(600, 4))
x = (1.0 / (1.0 + np.exp(-(z @ rng.normal(size=(4, 24))) / 2.0))).astype("float32")
inp = keras.Input((24,))
"""

CASES: dict[str, str] = {
    # healthy: nothing above info
    "healthy": _DATA + """\
h = layers.Dense(12, activation="relu")(inp)
code = layers.Dense(4)(h)
h = layers.Dense(12, activation="relu")(code)
out = layers.Dense(24, activation="sigmoid")(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer=keras.optimizers.Adam(3e-3), loss="mse")
""" + _PIN.format(scale=0.3, shift=0.0),
    # AE111/AE301: the decoder never sees a gradient from the encoder side
    "stop_gradient": _DATA + """\
h = layers.Dense(12, activation="relu")(inp)
code = layers.Dense(4)(h)
cut = layers.Lambda(lambda t: keras.ops.stop_gradient(t))(code)
h = layers.Dense(12, activation="relu")(cut)
out = layers.Dense(24, activation="sigmoid")(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer="adam", loss="mse")
""" + _PIN.format(scale=0.3, shift=0.0),
    # AE304: every hidden relu starts dead (large negative weights)
    "dead_relu": _DATA + """\
h = layers.Dense(12, activation="relu")(inp)
code = layers.Dense(4, activation="relu")(h)
h = layers.Dense(12, activation="relu")(code)
out = layers.Dense(24)(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer="adam", loss="mse")
""" + _PIN.format(scale=0.05, shift=-1.0),
    # AE401: a learning rate of 5 with SGD on unit-scale weights
    "diverging": _DATA + """\
h = layers.Dense(12, activation="tanh")(inp)
code = layers.Dense(4)(h)
h = layers.Dense(12, activation="tanh")(code)
out = layers.Dense(24)(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer=keras.optimizers.SGD(5.0), loss="mse")
""" + _PIN.format(scale=1.0, shift=0.0),
    # AE305/AE106: a saturated sigmoid code
    "saturated_code": _DATA + """\
h = layers.Dense(12, activation="relu")(inp)
code = layers.Dense(4, activation="sigmoid")(h)
h = layers.Dense(12, activation="relu")(code)
out = layers.Dense(24, activation="sigmoid")(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer="adam", loss="mse")
""" + _PIN.format(scale=3.0, shift=0.0),
}
OPTIONS = {"data": "x", "epochs": 2, "subset": 256, "seed": 0}


def _summary(report: ae_magic.Report) -> dict:
    grads = report.traces.get("gradients") or {}
    return {
        "codes": sorted({f"{f.code}:{f.severity}" for f in report.findings}),
        # In layer order: Keras' auto names depend on what the process built before.
        "grad_norm": [[row["class"], row["grad_norm"]] for row in grads.get("layers", []) if row.get("grad_norm") is not None],
        "probe_loss": list(grads.get("loss", [])),
        "skipped": sorted(report.coverage.get("skipped", {})),
    }


def _run(name: str) -> dict:
    report = ae_magic.check(CASES[name], namespace={}, **OPTIONS)
    assert report.internal_errors == [], report.internal_errors
    return _summary(report)


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= RTOL * max(abs(a), abs(b)) + 1e-7


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_codes_and_evidence_as_tensorflow(name: str) -> None:
    golden = json.loads(GOLDEN.read_text())[name]
    got = _run(name)
    assert got["codes"] == golden["codes"], (BACKEND, got["codes"], golden["codes"])
    assert got["skipped"] == golden["skipped"]
    assert [c for c, _ in got["grad_norm"]] == [c for c, _ in golden["grad_norm"]]
    for i, ((_, a), (_, ref)) in enumerate(zip(got["grad_norm"], golden["grad_norm"], strict=True)):
        assert _close(a, ref), (i, a, ref)
    assert len(got["probe_loss"]) == len(golden["probe_loss"])
    for a, b in zip(got["probe_loss"], golden["probe_loss"], strict=True):
        assert _close(a, b), (got["probe_loss"], golden["probe_loss"])


def test_the_cases_mean_what_they_say() -> None:
    """The golden codes themselves: each case has its fault, the healthy one none."""
    golden = json.loads(GOLDEN.read_text())
    assert not [c for c in golden["healthy"]["codes"] if not c.endswith(":info")]
    assert any(c.startswith(("AE301", "AE111")) for c in golden["stop_gradient"]["codes"])
    assert not golden["healthy"]["skipped"] and not golden["dead_relu"]["skipped"]
    assert any(c.startswith("AE304") for c in golden["dead_relu"]["codes"])
    assert any(c.startswith("AE401") for c in golden["diverging"]["codes"])
    assert any(c.startswith(("AE305", "AE106")) for c in golden["saturated_code"]["codes"])


def test_every_rendering_names_the_backend() -> None:
    report = ae_magic.check(zoo.HEALTHY["dense"], namespace={}, data="x", train=False)
    env = report.environment
    assert env["backend"] == BACKEND and env["keras"] == keras.__version__
    assert env["backend_version"] == backends.current().version() != "unknown"
    line = f"on {BACKEND} {env['backend_version']}"
    assert line in report.text()
    assert line in report._repr_html_()
    assert json.loads(report.to_json())["environment"]["backend"] == BACKEND
    assert ae_magic.Report.from_json(report.to_json()).environment == env


def test_no_backend_is_a_hard_dependency() -> None:
    requires = importlib.metadata.requires("ae-magic") or []
    hard = [r for r in requires if "extra ==" not in r]
    assert not [r for r in hard if r.split()[0].split(">")[0].split("=")[0] in ("tensorflow", "jax", "torch")], hard
    extras = {r.split("extra ==")[1].strip().strip("'\"") for r in requires if "extra ==" in r}
    assert {"tensorflow", "jax", "torch"} <= extras


def test_only_the_chosen_backend_is_installed_in_a_backend_venv() -> None:
    """In scripts/test_all.py's JAX and torch venvs TensorFlow is not importable."""
    if os.environ.get("AE_MAGIC_ISOLATED") != "1":
        pytest.skip("only in scripts/test_all.py's per-backend venvs (AE_MAGIC_ISOLATED=1)")
    for other in ("tensorflow", "jax", "torch"):
        if other != BACKEND:
            assert importlib.util.find_spec(other) is None, f"{other} is installed beside {BACKEND}"


def _cli(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    cell = tmp_path / "cell.py"
    cell.write_text(zoo.HEALTHY["dense"])
    return subprocess.run([sys.executable, "-m", "ae_magic", "check", str(cell), "--data", "x", "--no-train", *args],
                          capture_output=True, text=True, env=env, timeout=300)


def test_a_missing_backend_is_one_sentence_naming_the_extra(tmp_path: Path) -> None:
    missing = next((n for n, p in backends.PACKAGES.items() if importlib.util.find_spec(p) is None), None)
    if missing is None:
        pytest.skip("every backend is installed here")
    env = {**os.environ, "KERAS_BACKEND": missing}
    proc = _cli(tmp_path, env)
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert f'pip install "ae-magic[{missing}]"' in err


def test_a_missing_backend_in_the_magics_and_the_api_is_a_usage_error() -> None:
    missing = next((n for n, p in backends.PACKAGES.items() if importlib.util.find_spec(p) is None), None)
    if missing is None:
        pytest.skip("every backend is installed here")
    code = (
        "from IPython.testing.globalipapp import start_ipython\n"
        "ip = start_ipython()\n"
        "ip.run_line_magic('load_ext', 'ae_magic')\n"
        "r = ip.run_cell('%%ae_check\\nx = 1\\n')\n"
        "print('MAGIC', type(r.error_in_exec).__name__)\n"
        "import ae_magic\n"
        "try:\n"
        "    ae_magic.check('x = 1')\n"
        "except ae_magic.UsageError as exc:\n"
        "    print('API', exc)\n"
    )
    env = {**os.environ, "KERAS_BACKEND": missing}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    text = out.stdout + out.stderr
    assert "MAGIC UsageError" in text and "Traceback" not in text, text
    assert f'API Keras is set to the {missing} backend' in text and f'pip install "ae-magic[{missing}]"' in text


def test_without_keras_backend_an_installed_backend_is_chosen(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env["KERAS_HOME"] = str(tmp_path / "keras-home")  # no keras.json: Keras would pick TensorFlow
    code = "from ae_magic.keras_compat import keras; print(keras.backend.backend())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    first = next(n for n, p in backends.PACKAGES.items() if importlib.util.find_spec(p) is not None)
    assert out.stdout.strip().splitlines()[-1] == first


def test_tensorflow_code_under_another_backend_is_explained() -> None:
    src = zoo.HEALTHY["dense"].replace("import keras", "import keras\nimport tensorflow as tf", 1)
    src += "\nscaled = tf.constant(x) * 2.0\n"
    report = ae_magic.check(src, namespace={}, data="x", train=False)
    assert report.internal_errors == []
    if BACKEND == "tensorflow":
        assert "AE100" not in report.codes
        return
    if importlib.util.find_spec("tensorflow") is not None:
        pytest.skip("TensorFlow is installed beside this backend: the cell runs")
    f = report.get("AE100")
    assert f is not None and "TensorFlow" in f.title and BACKEND in f.title, report.text()
    assert f.line is not None and "tensorflow" in (f.source_line or "")
    assert "KERAS_BACKEND=tensorflow" in (f.fix or "")
    assert not report.ok


def test_tensorflow_only_zoo_cells_get_the_mismatch_finding() -> None:
    if BACKEND == "tensorflow":
        assert not zoo.TF_ONLY  # on TensorFlow every cell runs as written
        return
    if importlib.util.find_spec("tensorflow") is not None:
        pytest.skip("the zoo's TensorFlow-only cells run where TensorFlow is installed")
    assert zoo.TF_ONLY, "the zoo should keep a few cells that call TensorFlow itself"
    for name in sorted(zoo.TF_ONLY):
        src, kwargs, _ = zoo.FAULTY.get(name) or zoo.CATALOGUE[name]
        report = ae_magic.check(src, namespace={}, train=False, **kwargs)
        assert report.internal_errors == [], name
        f = report.get("AE100")
        assert f is not None and BACKEND in f.title, (name, report.text())


def _write_golden() -> None:
    assert BACKEND == "tensorflow", "the reference is written on TensorFlow"
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_text(json.dumps({name: _run(name) for name in sorted(CASES)}, indent=1) + "\n")
    print(f"wrote {GOLDEN}")


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        np.seterr(all="ignore")
        _write_golden()
