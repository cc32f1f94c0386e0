"""A VAE's log-variance head with a non-negative activation keeps every posterior as wide as the prior: AE407."""

from __future__ import annotations

import pytest

import ae_magic
from ae_magic.checks.log_variance import bounded_log_variance

VAE = """\
import numpy as np
import keras
from keras import layers, ops
rng = np.random.default_rng(0)
x_train = rng.random((256, 32)).astype("float32")


class Sampling(layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(3)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        self.add_loss(-0.5 * ops.mean(ops.sum(1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=-1)))
        eps = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * eps


x = keras.Input(shape=(32,))
h = layers.Dense(16, activation="relu")(x)
z_mean = layers.Dense(4)(h)
z_log_var = layers.Dense(4{act})(h)
z = Sampling()([z_mean, z_log_var])
out = layers.Dense(32, activation="sigmoid")(layers.Dense(16, activation="relu")(z))
vae = keras.Model(x, out)
vae.compile(optimizer="adam", loss="binary_crossentropy")
"""


@pytest.mark.parametrize("act", ["softplus", "relu", "exponential"])
def test_a_non_negative_log_variance_head_is_named_at_its_line(act: str) -> None:
    report = ae_magic.check(VAE.format(act=f', activation="{act}"'), namespace={}, data="x_train", train=False)
    f = report.get("AE407")
    assert f is not None and f.title == "The log-variance can't go below zero", report.text()
    assert f.line == 23 and f.source_line.startswith("z_log_var = layers.Dense(")
    assert f.evidence == {"head": "z_log_var", "activation": act}


def test_a_linear_log_variance_head_is_silent() -> None:
    report = ae_magic.check(VAE.format(act=""), namespace={}, data="x_train", train=False)
    assert report.get("AE407") is None, report.text()


@pytest.mark.parametrize("src", [
    'z_sigma = layers.Dense(4, activation="softplus")(h)\n',  # a standard deviation itself: positive is right
    'self.z_var = layers.Dense(4, activation="softplus")\n',
    'z_log_var = layers.Dense(4, activation="linear")(h)\n',
    'z_log_var = layers.Dense(4, activation="tanh")(h)\n',  # bounded, but free to go negative
])
def test_positive_scales_and_signed_log_heads_are_silent(src: str) -> None:
    assert bounded_log_variance(src) is None


def test_a_subclassed_head_is_found() -> None:
    assert bounded_log_variance('self.fc_logvar = layers.Dense(8, activation="softplus")\n') == (1, "fc_logvar", "softplus")
