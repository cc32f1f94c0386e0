"""A per-sample normalisation over one or two values (checks/narrow_norm.py).

Round 56's by10: a subclassed MLP AE keeps a 2-unit code "to plot it" and puts a LayerNormalization after it.
Over two values LayerNormalization leaves +-1: one bit reaches the decoder (40 epochs: 0.84x the mean's error
where PCA-2 reaches 0.55x). Over one value it leaves beta, the same for every input. Read from the layers' built
shapes, so subclassed and nested models are covered; no forward pass.
"""

from __future__ import annotations

import pytest

import ae_magic

SUBCLASSED = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(0)
x_train = rng.random((64, 20)).astype("float32")


class SpotAE(keras.Model):
    def __init__(self, latent_dim=2):
        super().__init__()
        self.encoder = keras.Sequential([
            layers.Dense(16), layers.LayerNormalization(), layers.Activation("gelu"),
            layers.Dense(latent_dim), CODE_NORM,
        ], name="encoder")
        self.decoder = keras.Sequential([layers.Dense(16, activation="relu"), layers.Dense(20, activation="sigmoid")])

    def call(self, x):
        return self.decoder(self.encoder(x))


ae = SpotAE(latent_dim=LATENT)
ae.compile(optimizer="adam", loss="mse")
ae(x_train[:2])
"""

FUNCTIONAL = """\
import numpy as np
import keras
from keras import layers

inputs = keras.Input(shape=(20,))
h = layers.Dense(16, activation="relu")(inputs)
code = layers.Dense(WIDTH)(h)
code = NORM(code)
h = layers.Dense(16, activation="relu")(code)
outputs = layers.Dense(20, activation="sigmoid")(h)
model = keras.Model(inputs, outputs)
model.compile(optimizer="adam", loss="mse")
"""


def _narrow(report: ae_magic.Report) -> list:
    assert not report.internal_errors, report.internal_errors
    return [f for f in report.findings if "normalised_values" in f.evidence]


def test_layer_norm_after_a_two_unit_code_in_a_subclassed_model_is_named_at_its_line():
    src = SUBCLASSED.replace("CODE_NORM", "layers.LayerNormalization()").replace("LATENT", "2")
    hits = _narrow(ae_magic.check(src, namespace={}))
    assert [(f.code, f.severity) for f in hits] == [("AE106", "warning")]
    assert hits[0].line == 14 and "leaves only a sign" in hits[0].title
    assert hits[0].evidence["free_values_left"] == 0


@pytest.mark.parametrize("norm, width, code, severity", [
    ("layers.LayerNormalization()", 1, "AE111", "error"),  # beta for every input
    ("layers.LayerNormalization()", 2, "AE106", "warning"),  # a sign
    ("layers.UnitNormalization()", 1, "AE106", "warning"),  # x / |x|: a sign
    ("layers.GroupNormalization(groups=2)", 4, "AE106", "warning"),  # two groups of two
])
def test_degenerate_normalisations_in_a_functional_model(norm: str, width: int, code: str, severity: str):
    src = FUNCTIONAL.replace("WIDTH", str(width)).replace("NORM", norm)
    hits = _narrow(ae_magic.check(src, namespace={}))
    assert [(f.code, f.severity, f.line) for f in hits] == [(code, severity, 8)]


@pytest.mark.parametrize("norm, width", [
    ("layers.LayerNormalization()", 3),  # one free value left: a narrower code, not a dead one
    ("layers.BatchNormalization()", 2),  # over the batch: each sample keeps its values
    ("layers.UnitNormalization()", 2),  # a direction on the circle: one free value
    ("layers.GroupNormalization(groups=2)", 8),
    ("layers.LayerNormalization(axis=1)", 16),
])
def test_normalisations_that_leave_values_stay_silent(norm: str, width: int):
    src = FUNCTIONAL.replace("WIDTH", str(width)).replace("NORM", norm)
    assert _narrow(ae_magic.check(src, namespace={})) == []


def test_wide_layer_norms_in_a_subclassed_model_stay_silent():
    # by10's own hidden LayerNormalizations (over 16 values) and a code of 8 without one.
    src = SUBCLASSED.replace("CODE_NORM", "layers.Activation('linear')").replace("LATENT", "8")
    assert _narrow(ae_magic.check(src, namespace={})) == []


def test_an_unbuilt_subclassed_model_is_read_without_error():
    src = (SUBCLASSED.replace("CODE_NORM", "layers.LayerNormalization()").replace("LATENT", "2")
           .replace("ae(x_train[:2])\n", ""))
    report = ae_magic.check(src, namespace={})
    assert not report.internal_errors
    # Unbuilt: no shapes to read yet, so nothing is claimed from this check without data.
    assert _narrow(report) == []


def test_an_unbuilt_subclassed_model_is_read_from_its_built_copy_when_data_is_given():
    src = (SUBCLASSED.replace("CODE_NORM", "layers.LayerNormalization()").replace("LATENT", "2")
           .replace("ae(x_train[:2])\n", ""))
    ns: dict = {}
    report = ae_magic.check(src, namespace=ns, data="x_train", train=False)
    hits = _narrow(report)
    assert [(f.code, f.line) for f in hits] == [("AE106", 14)]
    assert not ns["ae"].built  # the user's model stays as the cell left it
