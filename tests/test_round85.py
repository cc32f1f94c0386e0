"""Round 85 (session 46): fresh cells written blind (image, sequence and variational/regularised autoencoders),
and round 84's left-overs; the fixes their misses asked for.

* ia06 (round 84: a contractive encoder, a sigmoid Dense layer whose ``call`` adds ``LAMBDA * ||dh/dx||^2`` with
  ``add_loss``, ``LAMBDA = 100`` where 1e-4..1e-3 is usual): on some draws of the cell's own fit the outputs
  collapsed and AE404 named the code layer, where the weight's line is what a fix changes. A penalty a layer adds
  with ``add_loss`` that is most of the first step's loss is now named at its weight. The healthy twin
  (``LAMBDA = 1e-3``) had an AE106 warning for its sigmoid code, measured unsaturated: the contractive term is
  written on the sigmoid's derivative, as a sparsity target is on its range, and the code layer that adds its own
  penalty counts as such a code.
"""

from __future__ import annotations

import ae_magic


def _line(src: str, text: str) -> int:
    return next(i for i, line in enumerate(src.splitlines(), 1) if text in line)


def _loud(report: ae_magic.Report, code: str | None = None) -> list[ae_magic.Finding]:
    return [f for f in report.findings if (code is None or f.code == code) and f.severity in ("warning", "error")]


CONTRACTIVE = """\
import numpy as np
import keras
from keras import layers, ops

keras.utils.set_random_seed(2)
rng = np.random.default_rng(0)
basis = rng.random((6, 64))
X = np.clip(rng.random((1800, 6)) @ basis / 3.0 + 0.05 * rng.normal(size=(1800, 64)), 0, 1).astype("float32")
X_train, X_val = X[:1600], X[1600:]

LAMBDA = WEIGHT   # weight of the contractive penalty


class ContractiveEncoder(layers.Dense):
    def call(self, inputs):
        h = super().call(inputs)
        dh = h * (1.0 - h)
        w_sq = ops.sum(ops.square(self.kernel), axis=0)
        contractive = ops.mean(ops.sum(ops.square(dh) * w_sq, axis=1))
        self.add_loss(LAMBDA * contractive)
        return h


inputs = keras.Input(shape=(64,))
hidden = ContractiveEncoder(24, activation="sigmoid", name="encoded")(inputs)
outputs = layers.Dense(64, activation="sigmoid")(hidden)
cae = keras.Model(inputs, outputs, name="contractive_ae")
cae.compile(optimizer="adam", loss="mse")
cae.fit(X_train, X_train, validation_data=(X_val, X_val), epochs=3, batch_size=64, verbose=0)
"""


def test_a_contractive_penalty_that_outweighs_the_reconstruction_is_named_at_its_weight() -> None:
    src = CONTRACTIVE.replace("WEIGHT", "100.0")
    report = ae_magic.check(src, namespace={}, data="X_train")
    named = [f for f in _loud(report) if f.code in ("AE404", "AE405")]
    assert named, [(f.code, f.line, f.title) for f in report.findings]
    assert named[0].line == _line(src, "LAMBDA = 100.0"), [(f.code, f.line) for f in named]
    assert "LAMBDA" in (named[0].fix or "")


def test_a_healthy_contractive_autoencoder_with_its_sigmoid_code_stays_silent() -> None:
    report = ae_magic.check(CONTRACTIVE.replace("WEIGHT", "1e-3"), namespace={}, data="X_train")
    assert not _loud(report), [(f.code, f.title) for f in _loud(report)]
