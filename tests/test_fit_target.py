"""AE204: the cell's fit trains the autoencoder against an array that broadcasts against its output.

Round 48's aw07: ``autoencoder.fit(x_train, y_train)`` with the class labels, shape (n, 1), kept from a
classification tutorial. Keras broadcast them across the 256 outputs without a word; the check, given
``x_train``, probed the reconstruction and found nothing.
"""

from __future__ import annotations

import ae_magic

CELL = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(3)
x_train = (rng.normal(size=(800, 4)) @ rng.normal(size=(4, 64))).astype("float32")
x_train = (x_train - x_train.mean(0)) / x_train.std(0)
y_train = rng.integers(0, 3, size=(800, 1)).astype("float32")
x_noisy = x_train + 0.3 * rng.normal(size=x_train.shape).astype("float32")

inp = keras.Input(shape=(64,))
h = layers.Dense(32, activation="relu")(inp)
code = layers.Dense(8)(h)
h = layers.Dense(32, activation="relu")(code)
autoencoder = keras.Model(inp, layers.Dense(64)(h))
autoencoder.compile(optimizer="adam", loss="mse")
autoencoder.fit(FIT, epochs=1, batch_size=64, verbose=0)
"""


def _ae204(report):
    return [f for f in report.findings if f.code == "AE204"]


def test_labels_as_fits_target_are_ae204_at_the_fit_line():
    src = CELL.replace("FIT", "x_train, y_train")
    report = ae_magic.check(src, namespace={}, data="x_train", train=False)
    found = _ae204(report)
    assert len(found) == 1 and found[0].severity == "warning", report.text()
    f = found[0]
    assert f.source_line.startswith("autoencoder.fit(x_train, y_train") and f.evidence["target_shape"] == [800, 1]
    assert f.fix.startswith("autoencoder.fit(x_train, x_train)")


def test_the_input_as_its_own_target_and_a_denoising_pair_are_silent():
    for fit, data in (("x_train, x_train", "x_train"), ("x_noisy, x_train", "x_noisy"), ("x=x_train, y=x_train", "x_train")):
        report = ae_magic.check(CELL.replace("FIT", fit), namespace={}, data=data, train=False)
        assert _ae204(report) == [], report.text()
