"""Models compiled without a loss, whose loss comes from ``add_loss`` (the Keras 3 VAE pattern).

``fit`` trains them on their added losses, so the probes must too: they are
never "skipped" for want of a compiled loss. A loss layer that reads the
model's input as its target is no bottleneck bypass.
"""

from __future__ import annotations

import ae_magic

_HEAD = """\
import numpy as np
import keras
from keras import layers, ops

rng = np.random.default_rng(0)
z = rng.normal(size=(1000, 4))
x = (1.0 / (1.0 + np.exp(-(z @ rng.normal(size=(4, 32))) / 2.0))).astype("float32")


class ReconstructionLoss(layers.Layer):
    def call(self, inputs):
        target, recon = inputs
        self.add_loss(ops.mean(ops.square(target - recon)))
        return recon


inp = keras.Input(shape=(32,))
h = layers.Dense(16, activation="relu")(inp)
code = layers.Dense(4)(h)
h = layers.Dense(16, activation="relu")(code)
out = layers.Dense(32, activation="sigmoid")(h)
"""

HEALTHY_ADDED = _HEAD + """\
out = ReconstructionLoss()([inp, out])
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer=keras.optimizers.Adam(3e-3))
"""

NOTHING_TO_TRAIN = _HEAD + """\
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer="adam")
"""


def test_a_model_trained_by_its_added_losses_is_probed_and_silent() -> None:
    report = ae_magic.check(HEALTHY_ADDED, namespace={}, data="x", seed=0)
    assert report.internal_errors == []
    assert not report.coverage.get("skipped"), report.coverage
    assert {"gradients", "training"} <= set(report.coverage["ran"])
    assert [f.code for f in report.findings if f.severity != "info"] == [], report.text()
    assert any("add_loss" in n for n in report.notes)
    # The training probe's loss is the added loss, and it fell.
    loss = report.traces["training"]["loss"]
    assert loss[-1] < loss[0]
    assert report.traces["training"]["loss_name"] == "add_loss"


def test_a_loss_layer_reading_the_input_is_no_bypass() -> None:
    report = ae_magic.check(HEALTHY_ADDED, namespace={}, data="x", train=False)
    assert "AE103" not in report.codes and "AE104" not in report.codes, report.text()
    assert report.model["graph"]["code_width"] == 4


def test_no_loss_and_no_added_loss_says_why_the_probes_did_not_run() -> None:
    report = ae_magic.check(NOTHING_TO_TRAIN, namespace={}, data="x", seed=0)
    assert report.internal_errors == []
    skipped = report.coverage.get("skipped", {})
    assert "training" in skipped and "nothing to train" in skipped["training"], report.coverage
    assert not report.ok and "no problems found" not in report.text()
