"""Round 88 (session 47): fresh cells written blind (Kaggle and Stack Overflow dense/conv autoencoders, VAEs,
sequence autoencoders); 15 of 15 healthy silent, 15 of 15 buggy named on first contact. What the reports got wrong
besides:

* mb07 (a conv VAE fed raw 0-255 pixels under a sigmoid and a summed BCE): its first root cause read "the loss
  cannot see the scale of the reconstruction" (AE108). The loss clips an output equal to a target of 255, and its
  halves and doubles, to the same probability, so any loss scores them alike there. With AE203 (targets the output
  cannot produce) that reading is not made; AE201/AE203 name the cast line.
* mb01 (keras.io's VAE with the KL's minus sign dropped, NaN by the cell's third epoch): two AE401s at the KL's
  line, one from the weights the cell's fit left NaN, one from the probe run. One fault, one finding: a repeat of
  a code at the same line and layer joins the first (``checks.merge_repeats``), its evidence under ``also``.
* ma02 (a fraud table with only Amount standardised) was named at the line that scaled Amount alone: the locator
  was written the same session from round 87's lc02 (``tests/test_partial_scaling.py``).
"""

from __future__ import annotations

import keras
import pytest

import ae_magic
from ae_magic.checks import merge_repeats
from ae_magic.report import Finding


def _line(src: str, text: str) -> int:
    return next(i for i, line in enumerate(src.splitlines(), 1) if text in line)


def _loud(report: ae_magic.Report, code: str | None = None) -> list[ae_magic.Finding]:
    return [f for f in report.findings if (code is None or f.code == code) and f.severity in ("warning", "error")]


RAW_PIXELS_VAE = """\
import numpy as np
import keras
from keras import layers, ops

rng = np.random.default_rng(7)
keras.utils.set_random_seed(7)

# 16x16 grayscale images with one filled square or disc each
n, size = 600, 16
yy, xx = np.mgrid[:size, :size]
images = np.zeros((n, size, size), dtype=np.uint8)
for i in range(n):
    cy, cx = rng.integers(4, 12, size=2)
    r = rng.integers(2, 5)
    level = rng.integers(150, 256)
    if rng.random() < 0.5:
        mask = (np.abs(yy - cy) <= r) & (np.abs(xx - cx) <= r)
    else:
        mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= r ** 2
    images[i][mask] = level

x = images.astype("float32")[..., None]   # (1500, 16, 16, 1)
latent_dim = 4


class Sampling(layers.Layer):
    # Reparameterisation trick; also adds the KL term to the model's losses.

    def call(self, inputs):
        z_mean, z_log_var = inputs
        kl = -0.5 * ops.sum(1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=1)
        self.add_loss(ops.mean(kl))
        eps = keras.random.normal(ops.shape(z_mean))
        return z_mean + ops.exp(0.5 * z_log_var) * eps


inputs = keras.Input(shape=(size, size, 1))
h = layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(inputs)
h = layers.Conv2D(32, 3, strides=2, padding="same", activation="relu")(h)
h = layers.Flatten()(h)
h = layers.Dense(64, activation="relu")(h)
z_mean = layers.Dense(latent_dim, name="z_mean")(h)
z_log_var = layers.Dense(latent_dim, name="z_log_var")(h)
z = Sampling()([z_mean, z_log_var])

h = layers.Dense(4 * 4 * 32, activation="relu")(z)
h = layers.Reshape((4, 4, 32))(h)
h = layers.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu")(h)
h = layers.Conv2DTranspose(16, 3, strides=2, padding="same", activation="relu")(h)
outputs = layers.Conv2D(1, 3, padding="same", activation="sigmoid")(h)

vae = keras.Model(inputs, outputs, name="conv_vae")


def reconstruction_loss(y_true, y_pred):
    return ops.sum(keras.losses.binary_crossentropy(y_true, y_pred), axis=(1, 2))


vae.compile(optimizer=keras.optimizers.Adam(1e-3), loss=reconstruction_loss)
history = vae.fit(x, x, epochs=2, batch_size=64, verbose=2)
"""


def test_raw_pixels_under_a_sigmoid_are_not_read_as_a_scale_blind_loss() -> None:
    report = ae_magic.check(RAW_PIXELS_VAE, namespace={}, data="x")
    assert not _loud(report, "AE108"), [(f.code, f.line, f.message[:120]) for f in report.findings]
    cast = _line(RAW_PIXELS_VAE, 'x = images.astype("float32")')
    assert any(f.line == cast for f in _loud(report, "AE201")), [(f.code, f.line) for f in report.findings]
    roots = [f for f in _loud(report) if f.caused_by is None]
    assert roots and roots[0].code in ("AE201", "AE203"), [(f.code, f.line, f.caused_by) for f in roots]


def test_the_same_cell_scaled_keeps_no_scale_finding() -> None:
    src = RAW_PIXELS_VAE.replace('x = images.astype("float32")[..., None]', 'x = (images.astype("float32") / 255.0)[..., None]')
    assert src != RAW_PIXELS_VAE
    report = ae_magic.check(src, namespace={}, data="x")
    assert not [f for f in _loud(report) if f.code in ("AE108", "AE201", "AE203")], [(f.code, f.line) for f in report.findings]


FLIPPED_KL_VAE = """\
import numpy as np
import tensorflow as tf
import keras
from keras import layers, ops
from sklearn.datasets import load_digits

np.random.seed(0)
keras.utils.set_random_seed(0)

# 8x8 handwritten digits, scaled to [0, 1]
digits = load_digits()
x = (digits.images / 16.0).astype("float32")[..., None]   # (1797, 8, 8, 1)
latent_dim = 2


class Sampling(layers.Layer):
    # Uses (z_mean, z_log_var) to sample z, the vector encoding a digit.

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(1337)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        batch = ops.shape(z_mean)[0]
        dim = ops.shape(z_mean)[1]
        epsilon = keras.random.normal(shape=(batch, dim), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon


# encoder
encoder_inputs = keras.Input(shape=(8, 8, 1))
h = layers.Conv2D(16, 3, activation="relu", strides=2, padding="same")(encoder_inputs)
h = layers.Conv2D(32, 3, activation="relu", strides=2, padding="same")(h)
h = layers.Flatten()(h)
h = layers.Dense(32, activation="relu")(h)
z_mean = layers.Dense(latent_dim, name="z_mean")(h)
z_log_var = layers.Dense(latent_dim, name="z_log_var")(h)
z = Sampling()([z_mean, z_log_var])
encoder = keras.Model(encoder_inputs, [z_mean, z_log_var, z], name="encoder")

# decoder
latent_inputs = keras.Input(shape=(latent_dim,))
h = layers.Dense(2 * 2 * 32, activation="relu")(latent_inputs)
h = layers.Reshape((2, 2, 32))(h)
h = layers.Conv2DTranspose(32, 3, activation="relu", strides=2, padding="same")(h)
h = layers.Conv2DTranspose(16, 3, activation="relu", strides=2, padding="same")(h)
decoder_outputs = layers.Conv2DTranspose(1, 3, activation="sigmoid", padding="same")(h)
decoder = keras.Model(latent_inputs, decoder_outputs, name="decoder")


class VAE(keras.Model):
    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.total_loss_tracker = keras.metrics.Mean(name="total_loss")
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")

    @property
    def metrics(self):
        return [
            self.total_loss_tracker,
            self.reconstruction_loss_tracker,
            self.kl_loss_tracker,
        ]

    def call(self, inputs):
        z_mean, z_log_var, z = self.encoder(inputs)
        return self.decoder(z)

    def train_step(self, data):
        with tf.GradientTape() as tape:
            z_mean, z_log_var, z = self.encoder(data)
            reconstruction = self.decoder(z)
            reconstruction_loss = ops.mean(
                ops.sum(keras.losses.binary_crossentropy(data, reconstruction), axis=(1, 2))
            )
            kl_loss = 0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
            kl_loss = ops.mean(ops.sum(kl_loss, axis=1))
            total_loss = reconstruction_loss + kl_loss
        grads = tape.gradient(total_loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        self.total_loss_tracker.update_state(total_loss)
        self.reconstruction_loss_tracker.update_state(reconstruction_loss)
        self.kl_loss_tracker.update_state(kl_loss)
        return {
            "loss": self.total_loss_tracker.result(),
            "reconstruction_loss": self.reconstruction_loss_tracker.result(),
            "kl_loss": self.kl_loss_tracker.result(),
        }


vae = VAE(encoder, decoder)
vae.compile(optimizer=keras.optimizers.Adam())
history = vae.fit(x, epochs=4, batch_size=64, verbose=2)
"""


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the cell's train_step uses tf.GradientTape")
def test_a_flipped_kl_that_left_nan_weights_is_one_ae401() -> None:
    pytest.importorskip("sklearn")
    report = ae_magic.check(FLIPPED_KL_VAE, namespace={}, data="x")
    kl = _line(FLIPPED_KL_VAE, "kl_loss = 0.5 * (1 + z_log_var")
    found = _loud(report, "AE401")
    assert len(found) == 1 and found[0].line == kl, [(f.code, f.line) for f in report.findings]
    assert found[0].evidence.get("also"), found[0].evidence.keys()


def _f(code: str, line: int | None, layer: str | None = None, severity: str = "error", msg: str = "m") -> Finding:
    return Finding(code=code, severity=severity, title="t", message=msg, line=line, layer=layer, evidence={"k": msg})


def test_merge_repeats_joins_one_code_at_one_line_and_layer_only() -> None:
    a, b = _f("AE401", 80, msg="weights"), _f("AE401", 80, msg="probe", severity="warning")
    other_line, other_layer = _f("AE401", 81), _f("AE301", 10, "dense")
    same_layer, no_line = _f("AE301", 10, "dense_1"), _f("AE402", None)
    no_line2 = _f("AE402", None)
    out = merge_repeats([b, a, other_line, other_layer, same_layer, no_line, no_line2])
    assert [f.code for f in out] == ["AE401", "AE401", "AE301", "AE301", "AE402", "AE402"]
    kept = next(f for f in out if f.line == 80)
    assert kept is a and "weights" in kept.message and "probe" in kept.message
    assert kept.evidence["also"] == [{"k": "probe"}]
