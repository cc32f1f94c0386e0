"""A denoising target changed in place by a noise function that aliases its argument (round 15)."""

from __future__ import annotations

import ae_magic
from ae_magic.checks.inplace import changed_in_place

CELL = """\
import numpy as np
import keras

rng = np.random.default_rng(0)
x_train = rng.random((600, 24)).astype("float32")


def add_noise(x):
    noisy = x
    noisy += 0.8 * rng.normal(size=x.shape)
    return np.clip(noisy, 0.0, 1.0).astype("float32")


x_train_noisy = add_noise(x_train)
inp = keras.Input((24,))
h = keras.layers.Dense(8, activation="relu")(inp)
out = keras.layers.Dense(24, activation="sigmoid")(h)
model = keras.Model(inp, out)
model.compile("adam", "binary_crossentropy")
"""


def test_the_writing_line_is_named_on_ae203_with_a_copy_as_the_fix() -> None:
    report = ae_magic.check(CELL, namespace={}, data="x_train_noisy", target="x_train")
    assert report.internal_errors == [], report.text()
    f = report.get("AE203")
    assert f is not None, report.text()
    assert f.line == CELL.splitlines().index("    noisy += 0.8 * rng.normal(size=x.shape)") + 1
    assert "in place" in f.message and "add_noise(x_train)" in f.message
    assert "noisy = x.copy()" in f.fix and "x_train" in f.fix  # the target's own name, not the input's
    assert f.evidence["changed_in_place"]["function"] == "add_noise"


def test_a_copy_or_a_new_array_is_no_in_place_change() -> None:
    copied = CELL.replace("noisy = x\n", "noisy = x.copy()\n")
    rebound = CELL.replace("    noisy = x\n    noisy += 0.8", "    noisy = x\n    noisy = noisy + 0.8")
    assert changed_in_place(CELL, "x_train") is not None
    assert changed_in_place(copied, "x_train") is None
    assert changed_in_place(rebound, "x_train") is None
    assert changed_in_place(CELL, "x_train_noisy") is None  # not passed to the function
    direct = CELL.replace("    noisy = x\n    noisy += 0.8 * rng.normal(size=x.shape)\n    return np.clip(noisy,",
                          "    x[:, :4] = 0.0\n    return np.clip(x,")
    hit = changed_in_place(direct, "x_train")
    assert hit is not None and hit.alias is None and hit.function == "add_noise"
