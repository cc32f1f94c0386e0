"""Round 22: data a preprocessing default or the loss quietly spoils (checks/data_loss.py), and a Dropout rate
read as a keep probability (training._name_heavy_dropout). Each on a faulty cell and on healthy ones."""

from __future__ import annotations

import keras
import pytest

import ae_magic
from ae_magic.checks.training import _name_heavy_dropout
from ae_magic.context import Context
from ae_magic.report import Finding

PADDED = """\
import numpy as np
import keras
from keras import layers
rng = np.random.default_rng(0)
seqs = [np.sin(np.linspace(0, 6, n)) * rng.uniform(0.8, 2.5) for n in rng.integers(20, 40, 200)]
x_train = keras.utils.pad_sequences(seqs, maxlen=40, padding="post"{dtype})[..., None]
inputs = keras.Input(shape=(40, 1))
h = layers.GRU(8)(inputs)
outputs = layers.TimeDistributed(layers.Dense(1))(layers.GRU(8, return_sequences=True)(layers.RepeatVector(40)(h)))
model = keras.Model(inputs, outputs)
model.compile(optimizer="adam", loss="mse")
"""

DENSE = """\
import numpy as np
import keras
from keras import layers
rng = np.random.default_rng(0)
x_train = (rng.standard_normal((500, 3)) @ rng.standard_normal((3, 16))).astype("float32")
x_train = {scale}
inputs = keras.Input(shape=(16,))
x = {noise}(inputs)
code = layers.Dense(4, activation="relu")(layers.Dense(12, activation="relu")(x))
outputs = layers.Dense(16)(layers.Dense(12, activation="relu")(code))
model = keras.Model(inputs, outputs)
model.compile(optimizer="adam",
              loss="{loss}")
"""
Z = "(x_train - x_train.mean(0)) / x_train.std(0)"
MINMAX = "(x_train - x_train.min(0)) / (x_train.max(0) - x_train.min(0))"
POSITIVE = "1.0 + np.abs(x_train)"


def _check(src: str) -> ae_magic.Report:
    return ae_magic.check(src, namespace={}, data="x_train", train=False)


def test_pad_sequences_without_a_dtype_is_named_at_its_line() -> None:
    f = _check(PADDED.format(dtype="")).get("AE205")
    assert f is not None and f.title == "pad_sequences made the data integers"
    assert f.line == 6 and "pad_sequences(" in f.source_line and f.evidence["dtype"] == "int32"
    assert _check(PADDED.format(dtype=', dtype="float32"')).get("AE205") is None


def test_a_percentage_loss_on_z_scores_is_ae108_at_the_loss_line() -> None:
    report = _check(DENSE.format(scale=Z, noise="layers.Identity()", loss="mape"))
    f = report.get("AE108")
    assert f is not None and f.title == "A percentage loss on targets that cross zero", report.text()
    assert f.line == 13 and "loss=" in f.source_line
    assert f.edit is not None and "mse" in f.edit["replacement"]
    for scale, loss in ((POSITIVE, "mape"), (Z, "mse"), (Z, "mae")):
        assert _check(DENSE.format(scale=scale, noise="layers.Identity()", loss=loss)).get("AE108") is None


def test_input_noise_that_swamps_the_signal_is_named_at_its_layer() -> None:
    report = _check(DENSE.format(scale=MINMAX, noise="layers.GaussianNoise(1.0)", loss="mse"))
    f = next((f for f in report.findings if f.title == "The input noise swamps the signal"), None)
    assert f is not None and f.code == "AE205" and f.line == 8, report.text()
    assert f.evidence["ratio"] > 3
    for scale, noise in ((Z, "layers.GaussianNoise(0.5)"), (MINMAX, "layers.GaussianNoise(0.05)")):
        report = _check(DENSE.format(scale=scale, noise=noise, loss="mse"))
        assert not [f for f in report.findings if f.title == "The input noise swamps the signal"], report.text()


@pytest.mark.parametrize("rate, named", [(0.8, True), (0.2, False)])
def test_a_dropout_rate_read_as_keep_probability_is_named_on_a_collapse(rate: float, named: bool) -> None:
    inputs = keras.Input(shape=(8,))
    h = keras.layers.Dropout(rate)(keras.layers.Dense(8, activation="relu")(inputs))
    model = keras.Model(inputs, keras.layers.Dense(8)(h))
    ctx = Context(model=model)
    f = Finding(code="AE404", severity="error", title="Output collapse", message="Same output.")
    _name_heavy_dropout(ctx, [f])
    assert ("heavy_dropout" in f.evidence) == named
    if named:
        assert "Dropout(0.2)" in f.fix and "drops 80%" in f.message
