"""A subclassed model marked built by ``model.build(shape)`` whose nested models make their weights on the first call.

Keras 3 marks such a model built while it has no variables yet; ``fit``
makes them. Round 15 (a healthy deep autoencoder, two ``Sequential`` parts
in a subclassed model) got "AE301: no trainable weights" and no probes.
"""

from __future__ import annotations

import ae_magic
from ae_magic import keras_compat as kc

CELL = """\
import numpy as np
import keras
from keras import layers

x = np.random.default_rng(0).random((512, 32)).astype("float32")


class DeepAutoencoder(keras.Model):
    def __init__(self, code_size=8, **kwargs):
        super().__init__(**kwargs)
        self.encoder = keras.Sequential([layers.Dense(16, activation="relu"), layers.Dense(code_size, activation="relu")])
        self.decoder = keras.Sequential([layers.Dense(16, activation="relu"), layers.Dense(32, activation="sigmoid")])

    def call(self, x):
        return self.decoder(self.encoder(x))


model = DeepAutoencoder()
model.compile(optimizer="adam", loss="mse")
model.build((None, 32))
"""


def test_a_model_built_without_weights_is_probed_and_left_unbuilt() -> None:
    ns: dict = {}
    report = ae_magic.check(CELL, namespace=ns, data="x")
    assert report.internal_errors == [], report.text()
    assert report.get("AE301") is None, report.text()
    assert "gradients" in report.coverage["ran"] and "training" in report.coverage["ran"], report.coverage
    assert not report.coverage.get("skipped"), report.coverage
    # The user's model still makes its weights on its own first call: the probes built their copy.
    assert len(ns["model"].variables) == 0 and kc.builds_on_first_call(ns["model"])


def test_builds_on_first_call() -> None:
    keras = kc.keras
    inp = keras.Input((4,))
    functional = keras.Model(inp, keras.layers.Dense(2)(inp))
    assert not kc.builds_on_first_call(functional)
    frozen = keras.Model(inp, keras.layers.Dense(2, trainable=False)(inp))
    assert not kc.builds_on_first_call(frozen)  # built, with (frozen) weights: AE301's case
    assert kc.builds_on_first_call(keras.Sequential([keras.layers.Dense(2)]))


def test_a_nested_models_layer_is_found_in_the_probe_traces_by_its_own_name() -> None:
    """Round 15: AE106 named `decoder/dense_2`, the traces `dense_2`; the measurement that softens it was missed."""
    from ae_magic.checks.gradients import _in_trace

    by_name = {"dense_2": {}, "dense": {}}
    assert _in_trace("decoder/dense_2", by_name) == "dense_2"
    assert _in_trace("dense", by_name) == "dense"
    assert _in_trace("decoder/dense_9", by_name) is None and _in_trace(None, by_name) is None
