"""Round 24: what the fresh round's cells found, each named at its line; healthy set-ups stay silent."""

from __future__ import annotations

import ae_magic

CONSTANT = """\
import numpy as np
import keras
from keras import layers
rng = np.random.default_rng(0)
yy, xx = np.mgrid[:12, :12]
c = rng.uniform(3, 9, size=(200, 2, 1, 1))
imgs = (np.exp(-((xx - c[:, 0]) ** 2 + (yy - c[:, 1]) ** 2) / 8.0) * 255).astype("uint8")
x = (imgs {op} 255).reshape(-1, 144).astype("float32")
inp = keras.Input((144,))
h = layers.Dense(32, activation="relu")(inp)
h = layers.Dense(8, activation="relu")(h)
h = layers.Dense(32, activation="relu")(h)
out = layers.Dense(144, activation="sigmoid")(h)
model = keras.Model(inp, out)
model.compile("adam", "binary_crossentropy")
"""


def test_constant_data_is_the_root_and_the_dead_units_it_causes_are_shown_under_it() -> None:
    # ``// 255`` on pixels that never reach 255: all zeros. Every ReLU is then dead and every
    # gradient zero, which used to read as two root causes pointing at the initialiser.
    report = ae_magic.check(CONSTANT.format(op="//"), namespace={}, data="x", epochs=1)
    (root,) = [f for f in report.findings if f.caused_by is None and f.severity != "info"]
    assert root.code == "AE205" and root.severity == "error" and root.line == 8
    consequences = {f.code for f in report.findings if f.caused_by == "AE205"}
    assert consequences & {"AE301", "AE304"}, report.text()


def test_the_same_pixels_divided_are_silent() -> None:
    report = ae_magic.check(CONSTANT.format(op="/"), namespace={}, data="x", train=False)
    assert not [f for f in report.findings if f.code == "AE205"], report.text()


SIZED = """\
import numpy as np
import keras
from keras import layers
x = np.random.default_rng(0).random((64, 20)).astype("float32")
shape = x.shape
inp = keras.Input((20,))
{line}
model = keras.Model(inp, layers.Dense(20)(code))
"""


def _cell_error(line: str) -> ae_magic.Finding:
    report = ae_magic.check(SIZED.format(line=line), namespace={}, data="x", train=False)
    (f,) = [f for f in report.findings if f.code == "AE100"]
    assert f.line == 7 and f.source_line == line
    return f


def test_a_numpy_integer_size_is_named_with_its_fix() -> None:
    # PyImageSearch's ConvAutoencoder: ``Dense(np.prod(volumeSize[1:]))``, fine under Keras 2.
    f = _cell_error("code = layers.Dense(np.prod(shape[1:]) // 4)(inp)")
    assert f.title == "A layer size is not a Python int" and "NumPy integer" in f.message
    assert "int(np.prod(shape[1:]))" in f.fix


def test_a_float_size_from_true_division_is_named() -> None:
    f = _cell_error("code = layers.Dense(shape[1] / 2)(inp)")
    assert f.title == "A layer size is not a Python int" and "float" in f.message and "shape[1] // 2" in f.fix


def test_a_zero_size_keeps_the_plain_cell_error() -> None:
    f = _cell_error("code = layers.Dense(0)(inp)")
    assert f.title == "The cell raised an exception"
