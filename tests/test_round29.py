"""Round 29: what earlier rounds left and fresh cells found.

A sparsity penalty added with ``add_loss`` in a model with no sampling layer (the UFLDL sparse
autoencoder's KL(rho || rho_hat)) whose log ratio is inverted is -KL: the optimiser drives it below
zero without bound and the code saturates. The collapse it causes is named at the KL line, not at
the first Dense layer with He-init advice. The correct sign stays silent.
"""

from __future__ import annotations

import pytest

import ae_magic

SPARSE = """\
import numpy as np
import keras
from keras import layers, ops

rng = np.random.default_rng(17)
state = rng.normal(size=(1500, 4))
raw = np.tanh(state @ rng.normal(size=(4, 24))) + 0.05 * rng.normal(size=(1500, 24))
x_train = ((raw - raw.min(axis=0)) / (raw.max(axis=0) - raw.min(axis=0))).astype("float32")


class SparseCode(layers.Layer):
    def __init__(self, units, rho=0.05, beta=0.1, **kwargs):
        super().__init__(**kwargs)
        self.dense = layers.Dense(units, activation="sigmoid")
        self.rho, self.beta = rho, beta

    def call(self, x):
        h = self.dense(x)
        rho_hat = ops.clip(ops.mean(h, axis=0), 1e-7, 1 - 1e-7)
        kl = {kl}
        self.add_loss(self.beta * ops.sum(kl))
        return h


inp = keras.Input(shape=(24,))
z = layers.Dense(32, activation="relu")(inp)
code = SparseCode(48, name="sparse_code")(z)
z = layers.Dense(32, activation="relu")(code)
out = layers.Dense(24, activation="sigmoid")(z)
model = keras.Model(inp, out)
model.compile(optimizer="adam", loss="mse")
"""
FLIPPED = "self.rho * ops.log(rho_hat / self.rho) + (1 - self.rho) * ops.log((1 - rho_hat) / (1 - self.rho))"
RIGHT = "self.rho * ops.log(self.rho / rho_hat) + (1 - self.rho) * ops.log((1 - self.rho) / (1 - rho_hat))"


def _loud(report: ae_magic.Report) -> list:
    return [f for f in report.findings if f.severity in ("warning", "error")]


def test_a_flipped_sparsity_kl_is_named_at_its_line() -> None:
    report = ae_magic.check(SPARSE.format(kl=FLIPPED), namespace={}, data="x_train")
    named = [f for f in _loud(report) if "negative_kl" in f.evidence]
    assert named, report.text()
    (f,) = named
    assert f.code in ("AE401", "AE404", "AE405"), report.text()
    assert f.source_line.strip().startswith("kl = self.rho * ops.log(rho_hat"), report.text()
    ev = f.evidence["negative_kl"]
    assert ev["term"] == "add_loss of sparse_code" and ev["value"] < ev["before"] < 0
    assert "rho / rho_hat" in f.fix


def test_the_right_sparsity_kl_is_silent() -> None:
    report = ae_magic.check(SPARSE.format(kl=RIGHT), namespace={}, data="x_train")
    assert not _loud(report), report.text()
    assert "probes" not in str(report.coverage.get("skipped") or {}), report.text()


OVERCOMPLETE = """\
import numpy as np
import keras
from keras import layers, regularizers
rng = np.random.default_rng(3)
x = rng.uniform(size=(600, 16)).astype("float32")
inp = keras.Input(shape=(16,))
h = layers.Dense(64, activation="relu"{reg})(inp)
out = layers.Dense(16, activation="sigmoid")(h)
model = keras.Model(inp, out)
model.compile(optimizer="adam", loss="mse")
"""


@pytest.mark.parametrize(("reg", "severity"), [
    ("", "warning"),  # nothing stops the identity
    (", activity_regularizer=regularizers.l1(1e-4)", "info"),  # a sparse autoencoder: the penalty does
])
def test_an_overcomplete_code_with_a_sparsity_penalty_is_a_design(reg: str, severity: str) -> None:
    report = ae_magic.check(OVERCOMPLETE.format(reg=reg), namespace={}, data="x", train=False)
    (f,) = [f for f in report.findings if f.code == "AE104"]
    assert f.severity == severity, report.text()
    if severity == "info":
        assert f.line == 7 and f.evidence["penalty_layer"] == f.layer
