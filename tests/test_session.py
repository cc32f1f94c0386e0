"""One engine, one Session: the same answer from every door, and nothing of the user's touched.

The doors are ``check()``, the CLI, ``%%ae_check`` and ``Session.rerun()``
(cells), and ``probe()`` / ``%ae_probe`` (existing models).
"""

from __future__ import annotations

import json
import random
from typing import Any

import keras
import numpy as np
import pytest
import zoo
from IPython.core.interactiveshell import InteractiveShell

import ae_magic
from ae_magic import Session
from ae_magic.cli import main
from ae_magic.options import Options

# Cells with structural findings on named layers and lines, a cell that
# raises, and a healthy one (no findings at all).
DOOR_CELLS = {
    "healthy": (zoo.HEALTHY["dense"], "x"),
    "bypass": (zoo.FAULTY["000_ex1_decoder_reads_input"][0], "x_train"),
    "unbuilt": (zoo.FAULTY["002_ex2_no_input_shape"][0], "x_train"),
    "raises": (zoo.HEALTHY["dense"] + "raise ValueError('the cell fails here')\n", "x"),
}


def _key(report_dict: dict[str, Any], offset: int = 0) -> list[tuple[Any, ...]]:
    return sorted(
        (f["code"], f["severity"], None if f["line"] is None else f["line"] - offset, f["layer"])
        for f in report_dict["findings"]
    )


@pytest.fixture(scope="module")
def ip() -> InteractiveShell:
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "ae_magic")
    return shell


def _clean() -> None:
    # The same auto layer names (dense, dense_1, ...) at every door.
    keras.backend.clear_session()


@pytest.mark.parametrize("name", sorted(DOOR_CELLS))
def test_every_door_gives_the_same_findings_and_lines(name, ip, tmp_path, capsys) -> None:
    src, data = DOOR_CELLS[name]
    _clean()
    api = ae_magic.check(src, data=data, train=False).to_dict()

    _clean()
    f = tmp_path / "cell.py"
    f.write_text(src)
    main(["check", str(f), "--data", data, "--no-train", "--json"])
    cli = json.loads(capsys.readouterr().out.strip().splitlines()[-1])

    _clean()
    ip.reset(new_session=False)
    ip.run_cell_magic("ae_check", f"--data {data} --no-train --json", src)
    out = capsys.readouterr().out
    magic = json.loads(out[out.index("{\n"):])

    _clean()
    session = Session.from_cell(src, data=data, options=Options(train=False))
    session.run()
    again = session.rerun().to_dict()
    session.close()

    assert _key(api) == _key(cli) == _key(again)
    # A notebook cell counts the magic line as line 1.
    assert _key(api) == _key(magic, offset=1)
    if name == "healthy":
        assert api["findings"] == []
    else:
        assert api["findings"] and any(f["line"] is not None for f in api["findings"])


def test_probe_and_ae_probe_give_the_same_model_codes(ip, capsys) -> None:
    _clean()
    ns: dict[str, Any] = {}
    exec(zoo.HEALTHY["dense"] + "autoencoder.compile(optimizer=keras.optimizers.Adam(0.5), loss='mse')\n", ns)
    a = ae_magic.probe(ns["autoencoder"], ns["x"], epochs=1)
    ip.reset(new_session=False)
    ip.user_ns.update(ns)
    ip.run_line_magic("ae_probe", "autoencoder --data x --epochs 1 --json")
    out = capsys.readouterr().out
    b = json.loads(out[out.index("{\n"):])
    assert sorted(a.codes) == sorted(f["code"] for f in b["findings"])
    assert all(f.line is None for f in a.findings)


def test_the_cell_runs_exactly_once() -> None:
    x = np.random.default_rng(0).random((64, 28, 28, 1)).astype("float32")
    for src in (zoo.HEALTHY["dense"], zoo.FAULTY["002_ex2_no_input_shape"][0]):
        runs: list[int] = []
        ns = {"runs": runs, "x_train": x}
        ae_magic.check(src + "\nruns.append(1)\n", namespace=ns, data="x_train" if "x_train" in src else "x",
                       train=False)
        assert runs == [1]


def test_the_cell_runs_once_when_it_raises_on_an_unbuilt_model() -> None:
    src, kw, _ = zoo.FAULTY["003_ex1_latent_and_loss"]
    runs: list[int] = []
    report = ae_magic.check("runs.append(1)\n" + src, namespace={"runs": runs}, train=False, **kw)
    assert runs == [1]
    assert "AE112" in report.codes and report.model["variable"] == "autoencoder"


def test_a_rerun_keeps_its_structural_findings() -> None:
    src, kw, codes = zoo.FAULTY["002_ex2_no_input_shape"]
    session = Session.from_cell(src, options=Options(train=False), **kw)
    first = session.run()
    assert "AE112" in first.codes
    for changes in ({"lr": 1e-3, "train": True, "epochs": 1, "subset": 64}, {"seed": 3}):
        again = session.rerun(**changes)
        assert codes <= set(again.codes), (changes, again.codes)
    session.close()


def test_latent_is_applied_and_reported(tmp_path, capsys) -> None:
    src = zoo.HEALTHY["dense"]
    report = ae_magic.check(src, data="x", latent=3, epochs=1, subset=64)
    assert report.params["latent"] == 3
    assert report.model["latent"]["applied"] == 3 and report.model["latent"]["user"] == 8
    assert report.model["graph"]["code_width"] == 3
    f = tmp_path / "cell.py"
    f.write_text(src)
    main(["check", str(f), "--data", "x", "--latent", "3", "--epochs", "1", "--subset", "64", "--json"])
    cli = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert cli["params"]["latent"] == 3 and cli["model"]["graph"]["code_width"] == 3
    # Without --latent the applied width is the model's own.
    plain = ae_magic.check(src, data="x", train=False)
    assert plain.params["latent"] == 8


def _draws() -> tuple[float, ...]:
    draws = [random.random(), float(np.random.rand()), float(keras.ops.convert_to_numpy(keras.random.uniform(())))]
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        # TF's op-seed counter has no public getter; the check must still leave it where it was.
        draws.append(float(tf.random.uniform(())))
    if keras.backend.backend() == "torch":
        import torch

        # torch's default generator is global state the user's own torch code draws from.
        draws.append(float(torch.rand(())))
    return tuple(draws)


def _seed_all() -> None:
    random.seed(11)
    np.random.seed(11)
    keras.utils.set_random_seed(11)


@pytest.mark.parametrize("how", ["check", "check_train", "probe_latent", "rerun"])
def test_the_random_state_is_untouched(how) -> None:
    src = zoo.HEALTHY["dense"]
    _seed_all()
    ns: dict[str, Any] = {}
    exec(src, ns)
    expected = _draws()

    _seed_all()
    ns = {}
    if how == "check":
        ae_magic.check(src, namespace=ns, data="x", train=False)
    elif how == "check_train":
        ae_magic.check(src, namespace=ns, data="x", epochs=1, subset=64)
    elif how == "probe_latent":
        exec(src, ns)
        ae_magic.probe(ns["autoencoder"], ns["x"], latent=4, epochs=1, subset=64)
    else:
        s = Session.from_cell(src, namespace=ns, data="x", options=Options(epochs=1, subset=64))
        s.run()
        s.rerun(latent=2)
        s.close()
    assert _draws() == expected


COUNTING_CELL = """
import numpy as np
import keras
from keras import layers

class Counting(layers.Layer):
    def build(self, shape):
        self.seen = self.add_weight(shape=(), initializer="zeros", trainable=False, name="seen")

    def call(self, x):
        self.calls = getattr(self, "calls", 0) + 1
        self.seen.assign_add(1.0)
        return x

x = np.random.default_rng(0).random((96, 16)).astype("float32")
inp = keras.Input(shape=(16,))
h = layers.Dense(4, activation="relu")(inp)
h = Counting()(h)
out = layers.Dense(16, activation="sigmoid")(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer="adam", loss="mse")
"""


def test_no_forward_pass_on_the_users_model_and_nothing_changes() -> None:
    ns: dict[str, Any] = {}
    ae_magic.check(COUNTING_CELL, namespace=ns, train=False)  # warm-up: Keras traces once symbolically
    ns = {}
    exec(COUNTING_CELL, ns)
    model = ns["autoencoder"]
    counting = next(layer for layer in model.layers if type(layer).__name__ == "Counting")
    calls = counting.calls
    before = [np.array(v).tobytes() for v in model.variables] + [np.array(v).tobytes() for v in model.optimizer.variables]
    report = ae_magic.check(None, namespace=ns, model="autoencoder", data="x", epochs=1, subset=64)
    after = [np.array(v).tobytes() for v in model.variables] + [np.array(v).tobytes() for v in model.optimizer.variables]
    assert report.internal_errors == []
    assert counting.calls == calls
    assert before == after
    seen = next(v for v in model.variables if "seen" in v.path)
    assert float(np.array(seen)) == 0.0


def test_report_is_plain_data() -> None:
    report = ae_magic.check(zoo.HEALTHY["dense"], data="x", epochs=1, subset=64)
    d = report.to_dict()
    assert ae_magic.Report.from_dict(d).to_dict() == d
    assert json.loads(report.to_json()) == d
    assert not any(hasattr(report, a) for a in ("context", "session"))
    assert d["coverage"]["ran"] == ["cell", "structure", "data", "gradients", "training"]
    assert d["coverage"]["off"] == ["range_test"]
