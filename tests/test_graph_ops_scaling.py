"""Scaling done with keras.ops inside the model's graph (round 49's ba06).

A table in raw units, standardised inside a nested encoder (``(raw_in - mu) / sigma``) and brought back at the
decoder's end (``y * sigma + mu``): the layers see unit-scale values and the output reaches raw units by design.
AE201 fired twice on it: on the data (the walk to the first weighted layer stopped at the nested encoder) and
on the target (the output's last layer is linear). The first weighted layer's input and the output's rescaling
are now read from a forward pass of the copy.
"""

from __future__ import annotations

import ae_magic

CELL = """\
import numpy as np
import keras
from keras import layers, ops

rng = np.random.default_rng(2)
n, d = 1200, 20
z = rng.normal(size=(n, 3))
x_train = ((z @ rng.normal(size=(3, d)) + 0.2 * rng.normal(size=(n, d))) * rng.uniform(1, 50, size=d)
           + rng.uniform(-100, 300, size=d)).astype("float32")
mu, sigma = x_train.mean(axis=0), x_train.std(axis=0)

raw_in = keras.Input(shape=(d,))
x = IN_SCALING
x = layers.Dense(32, activation="relu")(x)
encoder = keras.Model(raw_in, layers.Dense(3)(x))
dec_in = keras.Input(shape=(3,))
y = layers.Dense(d)(layers.Dense(32, activation="relu")(dec_in))
y = OUT_SCALING
decoder = keras.Model(dec_in, y)
ae_in = keras.Input(shape=(d,))
autoencoder = keras.Model(ae_in, decoder(encoder(ae_in)))
autoencoder.compile(optimizer=keras.optimizers.Adam(2e-3), loss="mse")
"""


def _ae201(in_scaling: str, out_scaling: str):
    src = CELL.replace("IN_SCALING", in_scaling).replace("OUT_SCALING", out_scaling)
    report = ae_magic.check(src, namespace={}, data="x_train", train=False)
    return [f for f in report.findings if f.code == "AE201"], report


def test_standardised_in_the_graph_and_brought_back_at_the_output_is_silent():
    found, report = _ae201("ops.divide(ops.subtract(raw_in, mu), sigma)", "ops.add(ops.multiply(y, sigma), mu)")
    assert found == [], report.text()


def test_standardised_in_the_graph_against_a_raw_target_is_the_targets_ae201():
    found, report = _ae201("ops.divide(ops.subtract(raw_in, mu), sigma)", "y")
    assert [f.title for f in found] == ["The target is not normalised"], report.text()


def test_raw_units_all_the_way_are_the_datas_ae201():
    found, report = _ae201("raw_in", "y")
    assert found and found[0].title != "The target is not normalised", report.text()
