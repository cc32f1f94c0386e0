"""A model with its own training step that the cell's fit feeds several arrays (a conditional autoencoder:
``cae.fit([signals, onehot], signals)``) is probed through that step, not "probes skipped".

Before (session 39's note), such a model was skipped: the packed path (probes/packed.py) wraps a copy in a
functional model whose step is Keras' default, so it refused models with a step of their own, and a feed bound
to a name first (``inputs = [signals, onehot]``; ``fit(inputs, signals)``) was not read at all: the probes fed
``--data`` alone to a step that unpacks two inputs, and the report said "model.fit fails the same way", which
it does not. Now the session hands the model's own step each batch cut back into the inputs, in the structure
fit gives it (``([x, c], y)``, or ``([x, c],)`` when the fit passes no y), and judges the reconstruction against
the fit's y (else ``--data``).
"""

from __future__ import annotations

import numpy as np
import pytest

import ae_magic
from ae_magic import keras_compat as kc
from ae_magic.fit_calls import several_inputs
from ae_magic.probes.packed import fed_arrays, pack, splitter
from ae_magic.session import Session

DATA = """\
import numpy as np
import keras
from keras import layers, ops

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
n = 1024
labels = rng.integers(0, 4, size=n)
onehot = np.eye(4, dtype="float32")[labels]
t = np.linspace(0, 1, 24)
phase = rng.uniform(0, 2 * np.pi, size=(n, 1))
signals = (np.sin(2 * np.pi * (labels[:, None] + 1) * t + phase) * 0.5 + 0.5).astype("float32")
"""

# Portable: Keras' own train_step calls the model's compute_loss, which reads the signal from the inputs
# (the fit passes no y).
PORTABLE = DATA + """

class ConditionalAE(keras.Model):
    def __init__(self):
        super().__init__()
        self.enc = layers.Dense(16, activation="relu")
        self.code = layers.Dense(4)
        self.dec_hidden = layers.Dense(16, activation="relu")
        self.dec_out = layers.Dense(24, activation="sigmoid")

    def call(self, inputs):
        x, c = inputs
        z = CODE
        return self.dec_out(self.dec_hidden(ops.concatenate([z, c], axis=-1)))

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        signal, _ = x
        return ops.mean(ops.square(signal - y_pred))


cae = ConditionalAE()
cae.compile(optimizer=keras.optimizers.Adam(3e-3))
inputs = [signals, onehot]
cae.fit(inputs, epochs=3, batch_size=32, verbose=0)
"""
CODE = "self.code(self.enc(ops.concatenate([x, c], axis=-1)))"

# TensorFlow's tape, as the TensorFlow tutorials write a conditional AE's step (the fit passes a y).
TAPE = DATA + """

class ConditionalAE(keras.Model):
    def __init__(self):
        super().__init__()
        self.enc = layers.Dense(16, activation="relu")
        self.code = layers.Dense(4)
        self.dec_hidden = layers.Dense(16, activation="relu")
        self.dec_out = layers.Dense(24, activation="sigmoid")
        self.tracker = keras.metrics.Mean(name="loss")

    def call(self, inputs):
        x, c = inputs
        z = self.code(self.enc(ops.concatenate([x, c], axis=-1)))
        return self.dec_out(self.dec_hidden(ops.concatenate([z, c], axis=-1)))

    def train_step(self, data):
        import tensorflow as tf
        (x, c), target = data
        with tf.GradientTape() as tape:
            recon = self([x, c], training=True)
            loss = ops.mean(ops.square(target - recon))
        weights = WEIGHTS
        grads = tape.gradient(loss, weights)
        self.optimizer.apply_gradients(zip(grads, weights))
        self.tracker.update_state(loss)
        return {"loss": self.tracker.result()}

    @property
    def metrics(self):
        return [self.tracker]


cae = ConditionalAE()
cae.compile(optimizer=keras.optimizers.Adam(3e-3))
cae.fit([signals, onehot], signals, epochs=3, batch_size=32, verbose=0)
"""
ALL = "self.trainable_weights"
DECODER_ONLY = "self.dec_hidden.trainable_weights + self.dec_out.trainable_weights"


def _loud(report: ae_magic.Report) -> list[ae_magic.Finding]:
    return [f for f in report.findings if f.severity in ("warning", "error")]


def _line(src: str, text: str) -> int:
    return next(i for i, line in enumerate(src.splitlines(), 1) if text in line)


def test_a_conditional_ae_with_its_own_loss_fed_a_named_list_is_probed_and_silent() -> None:
    report = ae_magic.check(PORTABLE.replace("CODE", CODE), namespace={}, data="signals")
    assert not _loud(report), report.text()
    skipped = report.coverage.get("skipped") or {}
    assert "training" not in skipped and "probes" not in skipped, skipped
    assert any("feeds the model 2 inputs" in n for n in report.notes), report.notes
    assert not any("fails the same way" in n for n in report.notes), report.notes


def test_the_same_model_with_its_encoder_cut_off_is_ae301_at_the_layer() -> None:
    src = PORTABLE.replace("CODE", "ops.stop_gradient(" + CODE + ")")
    report = ae_magic.check(src, namespace={}, data="signals")
    found = [f for f in _loud(report) if f.code == "AE301"]
    assert found, report.text()
    assert found[0].line in (_line(src, "self.enc = "), _line(src, "self.code = ")), report.text()


def _tensorflow_only() -> None:
    if kc.keras.backend.backend() != "tensorflow":
        pytest.skip("the cell's train_step uses tf.GradientTape")


def test_a_tape_step_that_updates_the_decoder_only_is_ae301_and_the_model_is_untouched() -> None:
    _tensorflow_only()
    src = TAPE.replace("WEIGHTS", DECODER_ONLY)
    ns: dict = {}
    session = Session.from_cell(src, namespace=ns, data="signals")
    before = [w.copy() for w in ns["cae"].get_weights()]
    report = session.run()
    found = [f for f in _loud(report) if f.code == "AE301"]
    assert found and found[0].line == _line(src, "self.enc = "), report.text()
    after = ns["cae"].get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))


def test_the_same_tape_step_updating_every_weight_is_silent() -> None:
    _tensorflow_only()
    report = ae_magic.check(TAPE.replace("WEIGHTS", ALL), namespace={}, data="signals")
    assert not _loud(report), report.text()
    assert "training" not in (report.coverage.get("skipped") or {}), report.text()


def test_a_packed_batch_is_cut_back_into_each_input_with_its_shape_and_dtype() -> None:
    rng = np.random.default_rng(0)
    images = rng.random((6, 4, 4, 1)).astype("float32")
    ids = rng.integers(0, 9, size=(6,))
    packed = pack([images, ids])
    assert packed.shape == (6, 17)
    back = splitter([images, ids])(packed)
    assert np.array_equal(back[0], images) and back[1].dtype == ids.dtype and np.array_equal(back[1], ids)
    keyed = splitter([images, ids], ["image", "label"])(packed[:2])
    assert sorted(keyed) == ["image", "label"] and keyed["image"].shape == (2, 4, 4, 1)


def test_a_feed_bound_to_a_name_is_read_from_the_namespace() -> None:
    ctx = Session.from_cell(PORTABLE.replace("CODE", CODE).replace("cae.fit(", "pass  # cae.fit("),
                            namespace={}, data="signals")._base
    src = "inputs = [signals, onehot]\ncae.fit(inputs, epochs=1)\n"
    assert several_inputs(src, "cae", ctx.namespace) == "inputs"
    assert several_inputs(src, "cae", {}) is None  # nothing bound: nothing read
    arrays, names, y = fed_arrays(src, "cae", ctx.namespace, ctx.model)
    assert names == ["inputs[0]", "inputs[1]"] and y is None
    assert arrays[0] is ctx.namespace["signals"]
    # A name bound to something that is not a list of arrays is no feed of several inputs.
    assert several_inputs("cae.fit(signals, signals)\n", "cae", ctx.namespace) is None
