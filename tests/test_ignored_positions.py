"""AE111, third form: most of the input's positions never reach the output (round 21: a GRU code read
from the first step of its sequence, ``seq[:, 0, :]``). Healthy models with slices and pooling stay silent."""

from __future__ import annotations

import pytest

import ae_magic

GRU = """\
import numpy as np
import keras
from keras import layers
rng = np.random.default_rng(0)
t = np.linspace(0, 6.28, 40)
x_train = np.sin(t[None, :] * rng.uniform(0.5, 2.0, (300, 1)) + rng.uniform(0, 6.28, (300, 1)))[..., None]
x_train = x_train.astype("float32")
inputs = keras.Input(shape=(40, 1))
h = layers.GRU(16, return_sequences=True)(inputs)
last = layers.Lambda(lambda seq: seq[:, {step}, :])(h)
code = layers.Dense(8)(last)
d = layers.RepeatVector(40)(code)
d = layers.GRU(16, return_sequences=True)(d)
outputs = layers.TimeDistributed(layers.Dense(1))(d)
model = keras.Model(inputs, outputs)
model.compile(optimizer="adam", loss="mse")
"""

CONV = """\
import numpy as np
import keras
from keras import layers
rng = np.random.default_rng(0)
x_train = rng.random((200, 32, 2)).astype("float32")
inputs = keras.Input(shape=(32, 2))
h = layers.Conv1D(8, 3, padding="same", activation="relu")(inputs)
h = layers.MaxPooling1D(2)(h)
h = layers.Lambda(lambda t: t * 0.5)(h)
h = layers.UpSampling1D(2)(h)
outputs = layers.Conv1D(2, 3, padding="same")(h)
model = keras.Model(inputs, outputs)
model.compile(optimizer="adam", loss="mse")
"""


def test_a_code_read_from_the_first_step_is_named_at_the_slice() -> None:
    report = ae_magic.check(GRU.format(step=0), namespace={}, data="x_train", train=False)
    f = report.get("AE111")
    assert f is not None and f.severity == "error", report.text()
    assert f.title == "The output ignores most of the input"
    assert f.line == 10 and "seq[:, 0, :]" in f.source_line
    assert f.evidence["ignored"] == list(range(1, 40)) and "time steps 2-40 (of 40)" in f.message


@pytest.mark.parametrize("src", [GRU.format(step=-1), CONV])
def test_models_that_see_every_position_are_silent(src: str) -> None:
    report = ae_magic.check(src, namespace={}, data="x_train", train=False)
    assert report.get("AE111") is None, report.text()
