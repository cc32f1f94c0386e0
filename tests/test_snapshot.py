"""A layer computing with a copy of a weight taken once in build() (a tied decoder's transpose) is AE301."""

from __future__ import annotations

import keras
import numpy as np

import ae_magic

TIED = """\
import numpy as np
import keras
from keras import layers, ops
rng = np.random.default_rng(7)
x_train = (rng.normal(size=(1500, 4)) @ rng.normal(size=(4, 16))).astype("float32")
x_train = (x_train - x_train.mean(0)) / x_train.std(0)


class TiedDense(layers.Layer):
    def __init__(self, tied_to, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.tied_to = tied_to
        self.activation = keras.activations.get(activation)

    def build(self, input_shape):
{build}
        self.bias = self.add_weight(name="bias", shape=(self.tied_to.kernel.shape[0],), initializer="zeros")

    def call(self, inputs):
        return self.activation(ops.matmul(inputs, {use}) + self.bias)


enc_1 = layers.Dense(8, activation="tanh")
enc_2 = layers.Dense(4)
inputs = keras.Input(shape=(16,))
code = enc_2(enc_1(inputs))
h = TiedDense(enc_2, activation="tanh")(code)
outputs = TiedDense(enc_1)(h)
tied = keras.Model(inputs, outputs)
tied.compile(optimizer=keras.optimizers.Adam(learning_rate=3e-3), loss="mse")
"""
SNAPSHOT = TIED.format(build="        self.kernel_t = ops.transpose(self.tied_to.kernel)", use="self.kernel_t")
LIVE = TIED.format(build="        pass", use="ops.transpose(self.tied_to.kernel)")


def test_a_transpose_taken_in_build_is_a_frozen_copy_named_at_its_line() -> None:
    report = ae_magic.check(SNAPSHOT, namespace={}, data="x_train", train=False)
    f = next((f for f in report.findings if f.code == "AE301" and "copies" in f.evidence), None)
    if keras.backend.backend() == "torch":
        # PyTorch's transpose is a view that follows the parameter: the layer is tied, and trains.
        assert f is None, report.text()
        return
    assert f is not None and f.severity == "error", report.text()
    assert f.line == 16 and f.source_line == "self.kernel_t = ops.transpose(self.tied_to.kernel)"
    assert {c["transposed"] for c in f.evidence["copies"]} == {True} and len(f.evidence["copies"]) == 2
    assert "ops.transpose(self.tied_to.kernel)" in f.fix


def test_a_transpose_taken_in_call_is_silent() -> None:
    report = ae_magic.check(LIVE, namespace={}, data="x_train")
    assert not any("copies" in f.evidence for f in report.findings), report.text()
    assert not [f for f in report.findings if f.severity in ("warning", "error")], report.text()


def test_a_fixed_random_projection_is_no_copy() -> None:
    """A constant a layer means to keep (a random projection) equals no weight: nothing to report."""
    ns: dict = {}
    exec(LIVE, ns)
    layer = ns["tied"].layers[-1]
    layer.projection = keras.ops.convert_to_tensor(np.random.default_rng(0).normal(size=(8, 16)).astype("float32"))
    from ae_magic.checks.snapshot import frozen_copies

    assert frozen_copies(ns["tied"]) == []


FIT = "tied.fit(x_train, x_train, epochs=2, batch_size=64, verbose=0)\n"


def test_a_copy_the_cell_trained_past_is_still_a_frozen_copy() -> None:
    """Round 45's al04 ended its cell with ``fit``: the kernel moved on, the copy no longer equals it, but they
    still correlate far beyond chance (0.97 there)."""
    report = ae_magic.check(SNAPSHOT + FIT, namespace={}, data="x_train", train=False)
    f = next((f for f in report.findings if f.code == "AE301" and "copies" in f.evidence), None)
    if keras.backend.backend() == "torch":
        assert f is None, report.text()  # (a view: it follows the parameter)
        return
    assert f is not None and f.line == 16, report.text()
    assert all(0.5 <= c["correlation"] < 1 for c in f.evidence["copies"]), f.evidence
    assert "The cell trained since" in f.message


def test_the_live_transpose_after_the_cells_fit_is_silent() -> None:
    report = ae_magic.check(LIVE + FIT, namespace={}, data="x_train")
    assert not any("copies" in f.evidence for f in report.findings), report.text()
    assert not [f for f in report.findings if f.severity in ("warning", "error")], report.text()


def test_an_unrelated_constant_of_a_weights_shape_is_no_copy() -> None:
    """A constant of the kernel's transposed shape but its own values (|r| ~ 0.1 for 128 values) is not a copy."""
    ns: dict = {}
    exec(LIVE, ns)
    layer = ns["tied"].layers[-1]
    layer.mixing = keras.ops.convert_to_tensor(np.random.default_rng(1).normal(size=(8, 16)).astype("float32"))
    from ae_magic.checks.snapshot import frozen_copies

    assert frozen_copies(ns["tied"]) == []
