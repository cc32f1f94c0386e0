"""Round 36: what fresh cells (forum questions, anomaly and sequence AEs, VAEs of every style) found.

* A VAE ported from tf.keras calls ``self.add_loss(kl)`` with one KL value per sample. Keras 3 sums every
  add_loss term, so the KL counts batch-size times and the posterior collapses. The probes crashed on the
  vector ("only 0-dimensional arrays can be converted", an internal error on every backend); they now sum
  each term as fit does, and AE407 names the ``add_loss`` line with ``ops.mean`` as the fix.
* A KL warm-up ``iterations / warmup_iters`` with no cap keeps growing after the warm-up (about 20x after
  20 epochs) and collapses the posterior; the probe run is too short to see it. AE407 at the weight's line.
"""

from __future__ import annotations

import pytest

import ae_magic


def _loud(report: ae_magic.Report) -> list:
    return [f for f in report.findings if f.severity in ("warning", "error")]


ADDED_KL = """\
import numpy as np
import keras
from keras import layers, ops

keras.utils.set_random_seed(0)
rng = np.random.default_rng(5)
t = np.linspace(0, 1, 48)[None, :]
freq, phase = rng.uniform(1.0, 3.0, (2000, 1)), rng.uniform(0, 2 * np.pi, (2000, 1))
amp = rng.uniform(0.5, 1.5, (2000, 1))
x = np.concatenate([amp * np.sin(2 * np.pi * freq * t + phase), 0.5 * amp * np.cos(2 * np.pi * freq * t + phase)], axis=1)
x = (x + 0.05 * rng.normal(size=x.shape)).astype("float32")


class VAE(keras.Model):
    def __init__(self, latent_dim=4, **kwargs):
        super().__init__(**kwargs)
        self.hidden = layers.Dense(64, activation="relu")
        self.z_mean = layers.Dense(latent_dim)
        self.z_log_var = layers.Dense(latent_dim)
        self.dec = layers.Dense(64, activation="relu")
        self.out = layers.Dense(96)
        self.seed_generator = keras.random.SeedGenerator(1)

    def call(self, inputs):
        h = self.hidden(inputs)
        z_mean, z_log_var = self.z_mean(h), self.z_log_var(h)
        eps = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
        z = z_mean + ops.exp(0.5 * z_log_var) * eps
        kl = -0.5 * ops.sum(1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=-1)
        self.add_loss(KL_TERM)
        return self.out(self.dec(z))


def reconstruction_loss(y_true, y_pred):
    return ops.sum(ops.square(y_true - y_pred), axis=-1)


model = VAE()
model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=reconstruction_loss)
"""
PER_SAMPLE = ADDED_KL.replace("KL_TERM", "kl")
MEAN = ADDED_KL.replace("KL_TERM", "ops.mean(kl)")


def test_a_per_sample_add_loss_kl_is_ae407_at_the_add_loss_line():
    report = ae_magic.check(PER_SAMPLE, namespace={}, data="x")
    assert not report.internal_errors, report.internal_errors
    assert "training" in report.coverage["ran"]
    hit = next(f for f in report.findings if f.code == "AE407")
    assert hit.severity == "warning"
    assert hit.source_line == "self.add_loss(kl)"
    assert hit.evidence["added_term_shape"][0] > 1
    assert "batch" in hit.message and "sums" in hit.message
    assert hit.edit and hit.edit["replacement"].strip() == "self.add_loss(ops.mean(kl))"


def test_the_same_vae_with_a_mean_kl_stays_silent():
    report = ae_magic.check(MEAN, namespace={}, data="x")
    assert not report.internal_errors, report.internal_errors
    assert "training" in report.coverage["ran"]
    assert _loud(report) == [], [(f.code, f.title) for f in _loud(report)]


def test_the_probe_loss_sums_a_per_sample_term_as_fit_does():
    """The probes' first loss is fit's: a per-sample term is summed over the batch, not rejected."""
    import numpy as np

    ns: dict = {}
    exec(PER_SAMPLE, ns)
    model, x = ns["model"], ns["x"]
    from ae_magic.probes.latent import per_sample_added

    model(x[:8])
    rows = per_sample_added(model, 8)
    assert rows and rows[0]["shape"] == [8] and rows[0]["class"] == "VAE"
    assert per_sample_added(model, 1) == []  # a batch of one can't tell a per-sample vector from a scalar
    assert np.isfinite(model.evaluate(x[:64], x[:64], batch_size=32, verbose=0))


WARMUP = """\
import numpy as np
import tensorflow as tf
import keras
from keras import layers, ops

rng = np.random.default_rng(3)
lat = rng.normal(size=(2000, 4))
x = np.tanh(lat @ rng.normal(size=(4, 20))).astype("float32")
x = (x - x.mean(0)) / x.std(0)

enc_in = keras.Input(shape=(20,))
h = layers.Dense(32, activation="relu")(enc_in)
z_mean = layers.Dense(4)(h)
z_log_var = layers.Dense(4)(h)
encoder = keras.Model(enc_in, [z_mean, z_log_var])
decoder = keras.Sequential([keras.Input((4,)), layers.Dense(32, activation="relu"), layers.Dense(20)])


class VAE(keras.Model):
    def __init__(self, encoder, decoder, warmup_iters, **kwargs):
        super().__init__(**kwargs)
        self.encoder, self.decoder = encoder, decoder
        self.warmup_iters = float(warmup_iters)

    def call(self, inputs):
        return self.decoder(self.encoder(inputs)[0])

    def train_step(self, data):
        if isinstance(data, tuple):
            data = data[0]
        WEIGHT_LINE
        with tf.GradientTape() as tape:
            z_mean, z_log_var = self.encoder(data, training=True)
            z = z_mean + tf.exp(0.5 * z_log_var) * tf.random.normal(tf.shape(z_mean))
            recon = self.decoder(z, training=True)
            recon_loss = tf.reduce_mean(tf.reduce_sum(tf.square(data - recon), axis=1))
            kl_loss = tf.reduce_mean(tf.reduce_sum(-0.5 * (1 + z_log_var - tf.square(z_mean) - tf.exp(z_log_var)), axis=1))
            loss = recon_loss + kl_weight * kl_loss
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        return {"loss": loss, "kl_loss": kl_loss}


model = VAE(encoder, decoder, warmup_iters=WARMUP_ITERS)
model.compile(optimizer=keras.optimizers.Adam(1e-3))
"""
RAW = "kl_weight = tf.cast(self.optimizer.iterations, tf.float32) / self.warmup_iters"
UNCAPPED = WARMUP.replace("WEIGHT_LINE", RAW).replace("WARMUP_ITERS", "len(x) // 128")
CAPPED = WARMUP.replace(
    "WEIGHT_LINE", "kl_weight = tf.minimum(1.0, tf.cast(self.optimizer.iterations, tf.float32) / self.warmup_iters)"
).replace("WARMUP_ITERS", "len(x) // 128")
CAPPED_LATER = WARMUP.replace(
    "WEIGHT_LINE", RAW + "\n        kl_weight = ops.minimum(kl_weight, 1.0)"
).replace("WARMUP_ITERS", "len(x) // 128")
VERY_SLOW = WARMUP.replace("WEIGHT_LINE", RAW).replace("WARMUP_ITERS", "200 * len(x) // 32")


def test_an_uncapped_kl_warmup_is_ae407_at_its_line():
    pytest.importorskip("tensorflow")
    report = ae_magic.check(UNCAPPED, namespace={}, data="x", train=False)
    hit = next(f for f in report.findings if f.code == "AE407")
    assert hit.severity == "warning" and hit.source_line == RAW
    assert hit.evidence["warmup_steps"] == 15 and hit.evidence["weight_after_epochs"] > 20
    assert "minimum(1.0" in hit.fix and hit.edit and "tf.minimum" not in hit.edit["replacement"]


@pytest.mark.parametrize("cell", [CAPPED, CAPPED_LATER, VERY_SLOW], ids=["capped", "capped-later", "very-slow"])
def test_a_capped_or_very_slow_warmup_stays_silent(cell):
    pytest.importorskip("tensorflow")
    report = ae_magic.check(cell, namespace={}, data="x", train=False)
    assert not any(f.code == "AE407" for f in report.findings)


MULTI_INPUT = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(5)
sig = rng.normal(size=(500, 16, 2)).astype("float32")
tab = rng.normal(size=(500, 10)).astype("float32")
x = [sig, tab]
sig_in, tab_in = keras.Input((16, 2)), keras.Input((10,))
code = layers.Dense(8, activation="relu")(layers.Concatenate()([layers.Flatten()(sig_in), tab_in]))
sig_out = layers.Reshape((16, 2))(layers.Dense(32)(code))
mm_ae = keras.Model([sig_in, tab_in], [sig_out, layers.Dense(10)(code)])
mm_ae.compile(optimizer="rmsprop", loss=["mse", "mse"], loss_weights=[1.0, 0.5])
"""


def test_a_multi_input_models_list_of_arrays_is_checked_and_says_what_did_not_run():
    """Round 36's healthy two-input autoencoder (x = [signal, table]) got a usage error blaming valid data.
    Now the structure checks run, and the report says the data checks and probes did not, and why."""
    report = ae_magic.check(MULTI_INPUT, namespace={}, data="x")
    assert not report.internal_errors
    assert "structure" in report.coverage["ran"]
    skipped = report.coverage["skipped"]
    assert {"data", "gradients", "training"} <= set(skipped)
    assert all("holds 2 arrays" in why for why in skipped.values())
    assert not report.complete and "not fully checked" in report.text().lower()
    assert "no problems found" not in report.text().lower()
    assert any("several inputs" in n for n in report.notes)


CONDITIONAL = """\
import numpy as np
import keras
from keras import layers, ops

rng = np.random.default_rng(3)
labels = rng.integers(0, 3, size=600)
x_train = (np.sin(np.linspace(0, 6, 24)[None] * (1 + labels[:, None])) + 0.05 * rng.normal(size=(600, 24))).astype("float32")
y_train = np.eye(3, dtype="float32")[labels]


class CondAE(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.enc = layers.Dense(4, activation="relu")
        self.dec = layers.Dense(24)

    def call(self, inputs):
        x, c = inputs
        return self.dec(ops.concatenate([self.enc(ops.concatenate([x, c], axis=-1)), c], axis=-1))

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        return ops.mean(ops.square(x[0] - y_pred))


model = CondAE()
model.compile(optimizer="adam")
model.fit([x_train, y_train], epochs=1, batch_size=64, verbose=0)
"""


def test_a_subclassed_model_the_cell_feeds_several_arrays_is_probed_through_its_own_loss_not_blamed():
    """Round 50's bd03 (a healthy conditional VAE fit on [x_train, y_train]) given --data x_train: the probes fed the
    model one array, its call failed to unpack it, and the report said AE100 "fit fails the same way". Then
    (session 36) it was skipped with the reason; since session 40 its own compute_loss gets each batch of both
    arrays, as fit gives them (tests/test_packed_own_step.py), and the healthy model is silent."""
    report = ae_magic.check(CONDITIONAL, namespace={}, data="x_train", seed=0)
    assert not report.internal_errors
    assert report.get("AE100") is None, report.text()
    skipped = report.coverage["skipped"]
    assert "training" in report.coverage["ran"] and "training" not in skipped, skipped
    assert not [f for f in report.findings if f.severity in ("warning", "error")], report.text()
    assert any("feeds the model 2 inputs (x_train, y_train)" in n for n in report.notes), report.notes
    # Per-layer gradients can't be read from a step of the model's own: still said, never "no problems found".
    assert "gradients" in skipped and "no problems found" not in report.text().lower()
