"""Round 50 of fresh cells (VAE variants, anomaly detection, Keras 3 custom code, attention and token models).

bf08: a hand-written "LeCun-style" initializer returns ``ops.ones(shape) / sqrt(fan_in)``, a constant, so every
unit of every layer starts as a copy of the others and stays one (the model ends 1.7x the mean's error).
Keras' own Zeros/Ones/Constant were read from the layer config; a custom class is now read from the weights.
"""

from __future__ import annotations

import pytest

import ae_magic

CELL = """\
import numpy as np
import keras
from keras import layers, ops

rng = np.random.default_rng(7)
z = rng.normal(size=(800, 4))
x = z @ rng.normal(size=(4, 16)) + 0.2 * rng.normal(size=(800, 16))
x_train = ((x - x.mean(0)) / x.std(0)).astype("float32")


class FanInScaled(keras.initializers.Initializer):
    def __call__(self, shape, dtype=None):
        return ops.ones(shape, dtype=dtype) / np.sqrt(shape[0])


model = keras.Sequential([
    keras.Input(shape=(16,)),
    layers.Dense(12, activation="relu", kernel_initializer=FIRST),
    layers.Dense(4, kernel_initializer=SECOND, name="code"),
    layers.Dense(12, activation="relu", kernel_initializer=THIRD),
    layers.Dense(16, kernel_initializer=LAST),
])
model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
FIT
"""


def _cell(first="FanInScaled()", second="FanInScaled()", third="FanInScaled()", last="FanInScaled()", fit="") -> str:
    return (CELL.replace("FIRST", first).replace("SECOND", second).replace("THIRD", third).replace("LAST", last)
            .replace("FIT", fit))


def _symmetric(report):
    return next((f for f in report.findings if f.code == "AE110" and f.title.startswith("Every unit")), None)


@pytest.mark.parametrize("fit", ["", "model.fit(x_train, x_train, epochs=2, batch_size=64, verbose=0)"])
def test_a_hand_written_constant_initializer_is_found_from_the_weights(fit: str) -> None:
    # Before or after the cell's own training: identical units get identical gradients, so they stay copies.
    report = ae_magic.check(_cell(fit=fit), namespace={}, data="x_train", train=False)
    f = _symmetric(report)
    assert f is not None and f.severity == "warning", report.text()
    assert f.evidence["initializer"] == "FanInScaled" and f.evidence["units"] == 12
    assert "ops.ones(shape" in (f.source_line or "")  # the initializer's return, where the fix goes


@pytest.mark.parametrize("inits", [
    dict(first='"glorot_uniform"', second='"glorot_uniform"', third='"he_normal"', last='"glorot_uniform"'),
    # A zero last layer (a common trick) and one constant layer before a random one: the units get different
    # gradients and come apart, so neither is a copy that stays one.
    dict(first='"glorot_uniform"', second='"glorot_uniform"', third='"he_normal"', last='"zeros"'),
    dict(first='FanInScaled()', second='"glorot_uniform"', third='"he_normal"', last='"glorot_uniform"'),
])
def test_random_kernels_and_a_constant_layer_that_breaks_apart_are_silent(inits: dict) -> None:
    report = ae_magic.check(_cell(**inits), namespace={}, data="x_train", train=False)
    assert _symmetric(report) is None, report.text()
