"""Round 35: what fresh cells (Keras 3 idioms, beginner tutorials, colour images) found.

* A hand-written Dense layer that keeps its kernel as ``ops.convert_to_tensor(np.random...)`` made in
  ``__init__`` (where ``add_weight`` was meant) trains only its biases. The probe run ended above the mean
  "while still falling", and four times the steps ended at 2x the mean's error: it was called a slow
  start and the report said nothing. Now: AE301 at the ``self.w = ...`` line, and a longer run that ends
  far above the mean is AE405 on its own ("this model has not started").
* A beginner's 2-unit code with ``activation="softmax"`` carries one number per sample: AE106.
"""

from __future__ import annotations

import ae_magic


def _loud(report: ae_magic.Report) -> list:
    return [f for f in report.findings if f.severity in ("warning", "error")]


HAND_DENSE = """\
import numpy as np
import keras
from keras import layers, ops
from ae_magic.datasets import load

keras.utils.set_random_seed(0)
x = load("digits").reshape(-1, 64)


class DenseLayer(layers.Layer):
    def __init__(self, units, input_dim, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.units, self.input_dim = units, input_dim
        self.activation = keras.activations.get(activation)
KERNEL_INIT

    def build(self, input_shape):
KERNEL_BUILD
        self.b = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")

    def call(self, inputs):
        return self.activation(ops.matmul(inputs, self.w) + self.b)


model = keras.Sequential([keras.Input((64,)), DenseLayer(32, 64, "relu"), DenseLayer(8, 32, "relu"),
                          DenseLayer(32, 8, "relu"), DenseLayer(64, 32, "sigmoid")])
model.compile(optimizer="adam", loss="mse")
"""
CONSTANT = HAND_DENSE.replace(
    "KERNEL_INIT",
    "        self.w = ops.convert_to_tensor(np.random.normal(0, np.sqrt(2 / input_dim), (input_dim, units)).astype('float32'))",
).replace("KERNEL_BUILD\n", "")
WEIGHT = HAND_DENSE.replace("KERNEL_INIT\n", "").replace(
    "KERNEL_BUILD",
    "        self.w = self.add_weight(shape=(self.input_dim, self.units), initializer='he_normal', name='kernel')",
)


def test_a_kernel_kept_as_a_constant_tensor_is_ae301_at_its_line():
    report = ae_magic.check(CONSTANT, namespace={}, data="x", train=False)
    f = next((f for f in report.findings if f.code == "AE301"), None)
    assert f is not None, [(g.code, g.message) for g in report.findings]
    assert f.severity == "error" and f.title == "A layer's kernel is a constant"
    assert f.source_line.startswith("self.w = ops.convert_to_tensor")
    assert len(f.evidence["constants"]) == 4


def test_a_kernel_made_with_add_weight_stays_silent():
    report = ae_magic.check(WEIGHT, namespace={}, data="x")
    assert not _loud(report), [(f.code, f.message) for f in _loud(report)]


def test_a_fixed_random_projection_without_weights_of_its_own_is_not_a_constant_kernel():
    # A layer with no trainable weight of its own is a deliberate projection; nothing to report.
    cell = CONSTANT.replace('        self.b = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")\n',
                            "        self.b = 0.0\n")
    report = ae_magic.check(cell, namespace={}, data="x", train=False)
    assert not [f for f in report.findings if f.title == "A layer's kernel is a constant"]


SOFTMAX_CODE = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(0)
z = rng.normal(size=(1500, 2))
x = np.tanh(z @ rng.normal(size=(2, 12))).astype("float32")

inp = keras.Input((12,))
h = layers.Dense(16, activation="relu")(inp)
code = layers.Dense(2, activation=ACT)(h)
h = layers.Dense(16, activation="relu")(code)
out = layers.Dense(12)(h)
model = keras.Model(inp, out)
model.compile(optimizer="adam", loss="mse")
"""


def test_a_softmax_code_is_ae106():
    report = ae_magic.check(SOFTMAX_CODE.replace("ACT", '"softmax"'), namespace={}, data="x")
    f = next((f for f in _loud(report) if f.code == "AE106"), None)
    assert f is not None, [(g.code, g.message) for g in report.findings]
    assert f.title == "Softmax in the bottleneck" and "1 free value" in f.message
    assert f.source_line.startswith("code = layers.Dense(2")


def test_a_linear_code_stays_silent():
    report = ae_magic.check(SOFTMAX_CODE.replace("ACT", "None"), namespace={}, data="x")
    assert not _loud(report), [(f.code, f.message) for f in _loud(report)]
