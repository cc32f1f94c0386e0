"""Round 75 (session 40): fresh cells written blind (structural mistakes that still run; training-dynamics and data
faults on tabular and signal data); the fixes its misses asked for.

* dl07 (``layers.Rescaling(1 // 255)`` in a conv autoencoder fed raw pixels: integer division, a scale of 0): every
  input became zeros, and the report blamed the dead ReLUs and cut-off weights that follow (AE304, AE301, AE404),
  never AE111. A model of built-in layers was taken to depend on its input unless a kernel is all zeros; a
  Rescaling whose scale is 0 is now read too, and AE111 names it, with the division as the fix.
* dl01 (``encoded = Dense(32, name="code")(h)``, then the decoder ``d = Dense(64)(h)``: the code is computed and
  skipped): AE102 named the code's line; the line a fix changes is the decoder's, which reads ``h`` beside it.
  When the dangling call is narrower than anything on the model's path and a later call of the model reads its
  input, AE102 names that call, with the call rewritten to read the code as the fix.
* dl05 (``init = keras.initializers.Zeros()`` handed to four layers as ``kernel_initializer=init``): AE110 named
  the first layer's line; the binding is named now (``locate.initializer_line`` stopped at any line that says
  "initializer", though this one only names it).
"""

from __future__ import annotations

import ae_magic


def _line(src: str, text: str) -> int:
    return next(i for i, line in enumerate(src.splitlines(), 1) if text in line)


def _loud(report: ae_magic.Report, code: str) -> list[ae_magic.Finding]:
    return [f for f in report.findings if f.code == code and f.severity in ("warning", "error")]


RESCALED = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(0)
x_raw = (255 * rng.random((128, 16, 16, 1))).astype("float32")
x_target = x_raw / 255.0
inputs = keras.Input(shape=(16, 16, 1))
x = layers.Rescaling(SCALE)(inputs)
x = layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)
x = layers.Conv2DTranspose(8, 3, strides=2, padding="same", activation="relu")(x)
outputs = layers.Conv2D(1, 3, padding="same", activation="sigmoid")(x)
conv_ae = keras.Model(inputs, outputs)
conv_ae.compile(optimizer="adam", loss="binary_crossentropy")
"""


def test_a_rescaling_by_integer_division_is_ae111_at_its_line_with_the_division_fixed() -> None:
    src = RESCALED.replace("SCALE", "1 // 255")
    report = ae_magic.check(src, namespace={}, data="x_raw", target="x_target", train=False)
    found = _loud(report, "AE111")
    assert found and found[0].line == _line(src, "layers.Rescaling(1 // 255)"), report.text()
    assert found[0].evidence.get("zero_scale") and "Rescaling(1 / 255)" in (found[0].fix or "")


def test_a_rescaling_by_true_division_is_silent_about_the_input() -> None:
    report = ae_magic.check(RESCALED.replace("SCALE", "1 / 255"), namespace={}, data="x_raw", target="x_target",
                            train=False)
    assert not _loud(report, "AE111"), report.text()


SKIPPED = """\
import numpy as np
import keras
from keras import layers

x_train = np.random.default_rng(0).random((128, 64)).astype("float32")
inputs = keras.Input(shape=(64,))
h = layers.Dense(32, activation="relu")(inputs)
encoded = layers.Dense(WIDTH, activation="relu", name="code")(h)
d = layers.Dense(32, activation="relu")(h)
decoded = layers.Dense(64, activation="sigmoid")(d)
autoencoder = keras.Model(inputs, decoded)
autoencoder.compile(optimizer="adam", loss="mse")
"""


def test_a_code_computed_and_skipped_by_the_decoder_is_named_at_the_decoder_line() -> None:
    src = SKIPPED.replace("WIDTH", "8")
    report = ae_magic.check(src, namespace={}, data="x_train", train=False)
    found = _loud(report, "AE102")
    assert found and found[0].line == _line(src, "d = layers.Dense(32"), report.text()
    assert found[0].fix == 'd = layers.Dense(32, activation="relu")(encoded)'
    assert "line 8" in found[0].message  # the code's own line is still said


def test_a_dangling_call_no_narrower_than_the_model_keeps_its_own_line() -> None:
    # A side call as wide as the model's path is no skipped code: AE102 names it where it is.
    src = SKIPPED.replace("WIDTH", "48")
    report = ae_magic.check(src, namespace={}, data="x_train", train=False)
    found = _loud(report, "AE102")
    assert found and found[0].line == _line(src, "encoded = layers.Dense(48"), report.text()


ZEROS = """\
import numpy as np
import keras
from keras import layers

signals = np.random.default_rng(0).normal(size=(256, 32)).astype("float32")
INIT_LINE
model = keras.Sequential([
    keras.Input(shape=(32,)),
    layers.Dense(16, activation="relu", kernel_initializer=INIT_ARG),
    layers.Dense(4, activation="relu", kernel_initializer=INIT_ARG),
    layers.Dense(32, kernel_initializer=INIT_ARG),
])
model.compile(optimizer="adam", loss="mse")
"""


def test_a_zeros_initializer_bound_to_a_name_is_named_where_it_is_bound() -> None:
    src = ZEROS.replace("INIT_LINE", "init = keras.initializers.Zeros()").replace("INIT_ARG", "init")
    report = ae_magic.check(src, namespace={}, data="signals", train=False)
    found = _loud(report, "AE110")
    assert found and found[0].line == _line(src, "init = keras.initializers.Zeros()"), report.text()


def test_a_zeros_initializer_written_on_the_layer_is_named_at_the_layer() -> None:
    src = ZEROS.replace("INIT_LINE", "").replace("INIT_ARG", '"zeros"')
    report = ae_magic.check(src, namespace={}, data="signals", train=False)
    found = _loud(report, "AE110")
    assert found and found[0].line == _line(src, 'layers.Dense(16, activation="relu", kernel_initializer="zeros")')


def test_a_he_initializer_bound_to_a_name_is_silent() -> None:
    src = ZEROS.replace("INIT_LINE", 'init = keras.initializers.HeNormal(seed=0)').replace("INIT_ARG", "init")
    report = ae_magic.check(src, namespace={}, data="signals", train=False)
    assert not _loud(report, "AE110"), report.text()
