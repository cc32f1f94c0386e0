"""A subclassed model with no trainable weights once built (raw tf.Variable weights Keras 3 does not track): AE301."""

from __future__ import annotations

import keras
import pytest

import ae_magic

RAW = """\
import numpy as np
import keras
import tensorflow as tf
x_train = np.random.default_rng(0).random((256, 16)).astype("float32")


class Linear(keras.layers.Layer):
    def __init__(self, units, input_dim):
        super().__init__()
        self.w = tf.Variable(tf.random.normal((input_dim, units)), trainable=True)
        self.b = tf.Variable(tf.zeros((units,)), trainable=True)

    def call(self, inputs):
        return tf.matmul(inputs, self.w) + self.b


class AE(keras.Model):
    def __init__(self):
        super().__init__()
        self.enc = Linear(4, 16)
        self.dec = Linear(16, 4)

    def call(self, x):
        return keras.ops.sigmoid(self.dec(keras.ops.relu(self.enc(x))))


autoencoder = AE()
autoencoder.compile(optimizer="adam", loss="mse")
"""


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the cell uses tf.Variable (TensorFlow only)")
def test_raw_tf_variables_are_named_at_their_line() -> None:
    report = ae_magic.check(RAW, namespace={}, data="x_train")
    f = report.get("AE301")
    assert f is not None and f.severity == "error" and f.evidence["raw_variables"], report.text()
    assert f.line == 10 and "tf.Variable(" in f.source_line
    assert "add_weight" in f.fix


def test_a_model_with_add_weight_weights_trains() -> None:
    cell = RAW.replace("tf.Variable(tf.random.normal((input_dim, units)), trainable=True)",
                       'self.add_weight(shape=(input_dim, units), initializer="glorot_uniform")')
    cell = cell.replace("tf.Variable(tf.zeros((units,)), trainable=True)", 'self.add_weight(shape=(units,), initializer="zeros")')
    cell = cell.replace("import tensorflow as tf\n", "").replace("tf.matmul(inputs, self.w)", "keras.ops.matmul(inputs, self.w)")
    report = ae_magic.check(cell, namespace={}, data="x_train")
    assert not any(f.code == "AE301" and "trainable_weights" in f.evidence for f in report.findings), report.text()
