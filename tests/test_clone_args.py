"""keras.io's ``VAE(encoder, decoder)``: a subclassed model built from two Functional models is copied
(the models cloned with their weights), not probed in place."""

from __future__ import annotations

import numpy as np

import ae_magic

CELL = """\
import numpy as np
import keras
from keras import layers, ops
rng = np.random.default_rng(0)
x_train = (rng.random((512, 32)) > 0.6).astype("float32")


class Sampling(layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(1337)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        eps = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * eps


enc_in = keras.Input(shape=(32,))
h = layers.Dense(16, activation="relu")(enc_in)
z_mean = layers.Dense(4)(h)
z_log_var = layers.Dense(4)(h)
encoder = keras.Model(enc_in, [z_mean, z_log_var, Sampling()([z_mean, z_log_var])])
dec_in = keras.Input(shape=(4,))
decoder = keras.Model(dec_in, layers.Dense(32, activation="sigmoid")(layers.Dense(16, activation="relu")(dec_in)))


class VAE(keras.Model):
    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder

    def call(self, x):
        z_mean, z_log_var, z = self.encoder(x)
        self.add_loss(-0.5 * ops.mean(ops.sum(1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=-1)))
        return self.decoder(z)


vae = VAE(encoder, decoder)
vae.compile(optimizer="adam", loss="binary_crossentropy")
"""


def test_a_model_built_from_an_encoder_and_a_decoder_is_copied_and_left_as_it_was() -> None:
    ns: dict = {}
    session = ae_magic.Session.from_cell(CELL, namespace=ns, data="x_train")
    vae = ns["vae"]
    before = [np.array(w).tobytes() for w in vae.get_weights()] if vae.built else []
    enc_before = [np.array(w).tobytes() for w in ns["encoder"].get_weights()]
    report = session.run()
    assert report.internal_errors == [], report.internal_errors
    assert not any("probed in place" in n for n in report.notes), report.notes
    assert report.traces["training"].get("in_place") in (False, None)
    assert [np.array(w).tobytes() for w in ns["encoder"].get_weights()] == enc_before
    if before:
        assert [np.array(w).tobytes() for w in vae.get_weights()] == before
    session.close()
