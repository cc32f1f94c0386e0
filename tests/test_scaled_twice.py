"""Pixels divided by 255 in NumPy and again by a Rescaling(1/255) in the model: AE201 at the Rescaling line."""

from __future__ import annotations

import pytest

import ae_magic

CELL = """\
import numpy as np
import keras
from keras import layers
raw = np.random.default_rng(0).integers(0, 256, size=(300, 16, 16, 1))
x_train = raw.astype("float32"){scale}
inputs = keras.Input(shape=(16, 16, 1))
x = {first}
x = layers.Conv2D(8, 3, activation="relu", padding="same")(x)
outputs = layers.Conv2D(1, 3, activation="sigmoid", padding="same")(x)
autoencoder = keras.Model(inputs, outputs)
autoencoder.compile(optimizer="adam", loss="mse")
"""


def test_data_scaled_in_numpy_and_again_in_the_model_is_named_at_the_rescaling() -> None:
    cell = CELL.format(scale=" / 255.0", first="layers.Rescaling(1.0 / 255)(inputs)")
    report = ae_magic.check(cell, namespace={}, data="x_train", train=False)
    f = next((f for f in report.findings if f.title == "The data is scaled twice"), None)
    assert f is not None and f.code == "AE201", report.text()
    assert f.line == 7 and "Rescaling" in f.source_line


@pytest.mark.parametrize("scale,first", [
    ("", "layers.Rescaling(1.0 / 255)(inputs)"),  # raw pixels, scaled once by the model
    (" / 255.0", "inputs"),  # scaled once in NumPy
])
def test_data_scaled_once_is_silent(scale: str, first: str) -> None:
    report = ae_magic.check(CELL.format(scale=scale, first=first), namespace={}, data="x_train", train=False)
    assert report.get("AE201") is None, report.text()
