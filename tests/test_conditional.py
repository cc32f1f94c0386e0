"""A conditional autoencoder's label joins the decoder by design: no AE103 for it (round 16).

The bottleneck and its bypasses are read on the paths from the input shaped
like the output (the data being reconstructed); a side input's path (a
one-hot class, a condition) is neither the code nor a way around it. A real
skip connection from the data input stays AE103.
"""

from __future__ import annotations

import ae_magic

CVAE = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(0)
x_train = rng.random((400, 64)).astype("float32")
c_train = np.eye(10, dtype="float32")[rng.integers(0, 10, 400)]

x_in = keras.Input(shape=(64,))
c_in = keras.Input(shape=(10,))
h = layers.Dense(32, activation="relu")(layers.Concatenate()([x_in, c_in]))
z = layers.Dense(4)(h)
d = layers.Dense(32, activation="relu")(layers.Concatenate()([z, c_in]))
out = layers.Dense(64, activation="sigmoid")(d)
cae = keras.Model([x_in, c_in], out)
cae.compile("adam", "mse")
"""

SKIP = CVAE.replace("layers.Concatenate()([z, c_in])", "layers.Concatenate()([z, x_in])")


def _codes(cell: str) -> dict[str, ae_magic.Finding]:
    report = ae_magic.check(cell, namespace={}, data="x_train", train=False)
    assert report.internal_errors == [], report.text()
    return {f.code: f for f in report.findings}


def test_a_label_joining_the_decoder_is_no_bypass() -> None:
    codes = _codes(CVAE)
    assert "AE103" not in codes and "AE104" not in codes, sorted(codes)


def test_the_data_input_around_the_code_is_still_a_bypass() -> None:
    assert SKIP != CVAE
    f = _codes(SKIP).get("AE103")
    assert f is not None and f.evidence["code_width"] == 4, f
