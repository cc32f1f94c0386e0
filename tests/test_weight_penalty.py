"""A weight penalty that outweighs the reconstruction is named as the cause of the collapse it makes."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import ae_magic
from ae_magic.checks.weight_penalty import weight_penalties
from ae_magic.context import Context

CELL = """\
import numpy as np
import keras
from keras import layers, regularizers
keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
z = rng.normal(size=(2000, 5))
x_train = np.tanh(z @ rng.normal(size=(5, 30))) + 0.05 * rng.normal(size=(2000, 30))
x_train = ((x_train - x_train.mean(0)) / x_train.std(0)).astype("float32")
reg = regularizers.{reg}
inp = keras.Input(shape=(30,))
h = layers.Dense(64, activation="relu", kernel_regularizer=reg)(inp)
code = layers.Dense(8, activation="relu", kernel_regularizer=reg)(h)
h = layers.Dense(64, activation="relu", kernel_regularizer=reg)(code)
out = layers.Dense(30, kernel_regularizer=reg)(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer="adam", loss="mse")
"""


# Measured with plain fit (20 epochs, batch 64): l2(0.5), l2(0.05) and l1(0.01) end at 1.00x the mean's
# error; l2(1e-2) at 0.23x, l2(1e-4) at 0.08x.
@pytest.mark.parametrize("reg", ["l2(0.5)", "l2(0.05)", "l1(0.01)"])
def test_a_penalty_that_outweighs_the_reconstruction_is_named_at_its_line(reg: str) -> None:
    report = ae_magic.check(CELL.format(reg=reg), namespace={}, data="x_train", seed=0)
    f = report.get("AE404") or report.get("AE405")
    assert f is not None, report.text()
    assert "weight_penalty" in f.evidence and f.evidence["weight_penalty"]["ratio"] >= 1, report.text()
    assert f.line == 9 and f.source_line.startswith("reg = regularizers."), report.text()
    assert "weight penalty" in f.message and "kernel_regularizer=keras.regularizers.l2(1e-4)" in f.fix


@pytest.mark.parametrize("reg", ["l2(1e-4)", "l2(1e-2)"])
def test_a_penalty_the_model_trains_under_is_silent(reg: str) -> None:
    report = ae_magic.check(CELL.format(reg=reg), namespace={}, data="x_train", seed=0)
    assert not [f for f in report.findings if f.severity in ("warning", "error")], report.text()


def test_reading_the_penalty_leaves_the_model_as_it_was() -> None:
    inp = keras.Input(shape=(6,))
    out = keras.layers.Dense(6, kernel_regularizer=keras.regularizers.l2(0.5))(inp)
    model = keras.Model(inp, out)
    before = [np.array(keras.ops.convert_to_numpy(v)).tobytes() for v in model.weights]
    ctx = Context(model=model)
    pen = weight_penalties(ctx)
    kernel = keras.ops.convert_to_numpy(model.layers[-1].kernel)
    assert pen is not None and pen["total"] == pytest.approx(0.5 * float(np.sum(kernel ** 2)), rel=1e-5)
    assert [np.array(keras.ops.convert_to_numpy(v)).tobytes() for v in model.weights] == before
