"""AE205: floats written into an integer array are truncated (``checks/int_buffer.py``).

Round 48's aw05: heat maps in [0, 1] written into ``np.zeros(..., dtype=np.uint8)``: every value below 1
became 0, each image kept one pixel, and the check said nothing (BCE on mostly-zero data is left to the probes).
"""

from __future__ import annotations

import ae_magic

CELL = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(11)
yy, xx = np.mgrid[0:12, 0:12]
images = np.zeros((600, 12, 12), dtype=DTYPE)
for i in range(600):
    cx, cy = rng.uniform(3, 9, size=2)
    blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 6.0)
    images[i] = SCALE
x_train = images.reshape(600, -1)[:500]

model = keras.Sequential([keras.Input(shape=(144,)), layers.Dense(32, activation="relu"), layers.Dense(8, activation="relu"),
                          layers.Dense(32, activation="relu"), layers.Dense(144, activation="sigmoid")])
model.compile(optimizer="adam", loss="binary_crossentropy")
"""


def _check(dtype: str, scale: str):
    return ae_magic.check(CELL.replace("DTYPE", dtype).replace("SCALE", scale), namespace={}, data="x_train", train=False)


def test_heat_maps_written_into_uint8_are_ae205_at_the_arrays_line():
    report = _check("np.uint8", "blob / blob.max()")
    f = next((f for f in report.findings if f.code == "AE205" and "truncated" in f.title), None)
    assert f is not None and f.severity == "warning", report.text()
    assert f.source_line.startswith("images = np.zeros(") and f.evidence["distinct_values"] == [0.0, 1.0]
    assert "float32" in f.fix


def test_a_float_array_and_0_255_values_in_uint8_are_silent():
    for dtype, scale in (("np.float32", "blob / blob.max()"), ("np.uint8", "255 * blob / blob.max()")):
        report = _check(dtype, scale)
        assert not any("truncated" in f.title for f in report.findings), report.text()
