"""Round 61 (fresh cells, written blind): named at first contact, but not at the line the fix goes.

- ck08: a standalone decoder whose first layer reads the encoder's ``z`` instead of ``latent_inputs``: Keras
  raises at ``keras.Model(latent_inputs, outputs)``; AE101 now names the departing call (capture._departure)
  with the argument swapped as the fix.
- ck06: a VAE's own train_step takes ``tape.gradient(kl_loss, ...)`` beside ``total_loss = recon_loss +
  kl_loss``: AE301 (the decoder never moves) now names the gradient call, with ``total_loss`` as the edit.
"""

from __future__ import annotations

import pytest

import ae_magic
from ae_magic.keras_compat import keras

DISCONNECTED = """\
import numpy as np
import keras
from keras import layers

x_train = np.random.default_rng(0).random((64, 20)).astype("float32")
inputs = keras.Input(shape=(20,))
h = layers.Dense(8, activation="relu")(inputs)
z = layers.Dense(2, name="z")(h)
encoder = keras.Model(inputs, z, name="encoder")

latent_inputs = keras.Input(shape=(2,))
d = layers.Dense(8, activation="relu")(z)
outputs = layers.Dense(20, activation="sigmoid")(d)
decoder = keras.Model(latent_inputs, outputs, name="decoder")
"""

ONE_TERM = """\
import numpy as np
import keras
import tensorflow as tf
from keras import layers, ops

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
X_train = (rng.normal(size=(800, 3)) @ rng.normal(size=(3, 16))).astype("float32")
X_train = (X_train - X_train.mean(0)) / X_train.std(0)

inputs = keras.Input(shape=(16,))
h = layers.Dense(32, activation="relu")(inputs)
mu = layers.Dense(2)(h)
log_var = layers.Dense(2)(h)
encoder = keras.Model(inputs, [mu, log_var])
code_in = keras.Input(shape=(2,))
out = layers.Dense(32, activation="relu")(code_in)
out = layers.Dense(16)(out)
decoder = keras.Model(code_in, out)


class VAE(keras.Model):
    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder, self.decoder = encoder, decoder
        self.seed = keras.random.SeedGenerator(1)

    def call(self, x):
        mu, log_var = self.encoder(x)
        return self.decoder(mu)

    def train_step(self, data):
        x = data[0] if isinstance(data, tuple) else data
        with tf.GradientTape() as tape:
            mu, log_var = self.encoder(x)
            z = mu + ops.exp(0.5 * log_var) * keras.random.normal(ops.shape(mu), seed=self.seed)
            x_hat = self.decoder(z)
            recon_loss = ops.mean(ops.sum(ops.square(x - x_hat), axis=-1))
            kl_loss = ops.mean(-0.5 * ops.sum(1.0 + log_var - ops.square(mu) - ops.exp(log_var), axis=-1))
            total_loss = recon_loss + kl_loss
        grads = tape.gradient(TERM, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        return {"loss": total_loss}


vae = VAE(encoder, decoder)
vae.compile(optimizer=keras.optimizers.Adam(1e-3))
vae.fit(X_train, epochs=1, batch_size=64, verbose=0)
"""


def _line(cell: str, text: str) -> int:
    return next(i for i, line in enumerate(cell.splitlines(), 1) if text in line)


def test_a_decoder_reading_the_encoders_z_is_ae101_at_the_departing_call():
    report = ae_magic.check(DISCONNECTED, namespace={}, data="x_train", train=False)
    f = report.get("AE101")
    assert f is not None, report.text()
    assert f.line == _line(DISCONNECTED, "d = layers.Dense(8"), (f.line, f.source_line)
    assert f.evidence["departs_at_line"] == f.line and f.evidence["reads"] == "z", f.evidence
    assert f.fix == 'd = layers.Dense(8, activation="relu")(latent_inputs)', f.fix
    assert "keras.Model(latent_inputs, outputs" in f.message  # the line Keras raised at is still named


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the cell's train_step uses tf.GradientTape")
def test_a_train_step_taking_the_gradient_of_one_term_is_ae301_at_that_call():
    cell = ONE_TERM.replace("TERM", "kl_loss")
    report = ae_magic.check(cell, namespace={}, data="X_train")
    assert not report.internal_errors, report.internal_errors
    f = report.get("AE301")
    assert f is not None and f.severity == "error", report.text()
    assert f.line == _line(cell, "grads = tape.gradient(kl_loss"), (f.line, f.source_line)
    assert f.evidence["gradient_of"] == "kl_loss" and f.evidence["total_loss"] == "total_loss"
    assert f.edit is not None and "tape.gradient(total_loss," in f.edit["replacement"], f.edit


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the cell's train_step uses tf.GradientTape")
def test_the_same_step_taking_the_gradient_of_the_total_is_silent():
    report = ae_magic.check(ONE_TERM.replace("TERM", "total_loss"), namespace={}, data="X_train")
    assert not report.internal_errors, report.internal_errors
    assert report.get("AE301") is None, report.text()
