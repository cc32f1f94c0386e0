"""Round 55: what fresh cells (denoisers and anomaly detectors, Keras 3 VAEs, beginner notebooks) found.

* bu07: ``compile(loss="binary_crossentropy")`` on 784-value rows with a Sampling layer adding the KL summed over
  the latent dimensions. Keras averages the compiled loss over every value, so the KL weighs 784x its share; the
  measured collapse (AE407) was named at the sampling layer with generic advice. It now names the compile line.
* bu08: a Sampling layer returning ``std * epsilon`` (z_mean dropped). Its broken contract (AE407 at the return
  line) was dropped with the retracted AE405 when the longer run showed a slow start; only the measured collapse
  is judged again on the longer run now.
* bu09: ``self.decoder(epsilon)`` in a ``train_step`` (noise decoded instead of ``z``): the probes measured the
  collapse but no finding pointed at the line. AE111 now does, from the step's dataflow.
"""

from __future__ import annotations

import ast
import re

import pytest

import ae_magic
from ae_magic.checks.step_dataflow import _from_data, decoder_fed_without_data
from ae_magic.context import Context
from tests.test_train_step import BACKEND, vae_cell


def _loud(report: ae_magic.Report) -> list:
    return [f for f in report.findings if f.severity in ("warning", "error")]


ADDED_KL = """\
import numpy as np
import keras
from keras import layers, ops

keras.utils.set_random_seed(0)
rng = np.random.default_rng(21)
n = 1500
yy, xx = np.mgrid[0:20, 0:20] - 9.5
cy, cx = rng.uniform(-5, 5, (n, 1, 1)), rng.uniform(-5, 5, (n, 1, 1))
r = rng.uniform(2, 6, (n, 1, 1))
x_train = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r ** 2)).astype("float32").reshape(n, 400)


class Sampling(layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(3)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        kl = -0.5 * ops.sum(1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=1)
        self.add_loss(KL_TERM)
        eps = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * eps


inputs = keras.Input(shape=(400,))
h = layers.Dense(128, activation="relu")(inputs)
z_mean = layers.Dense(4, name="z_mean")(h)
z_log_var = layers.Dense(4, name="z_log_var")(h)
z = Sampling()([z_mean, z_log_var])
h = layers.Dense(128, activation="relu")(z)
outputs = layers.Dense(400, activation="sigmoid")(h)
vae = keras.Model(inputs, outputs)
vae.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
"""
SUMMED_KL = ADDED_KL.replace("KL_TERM", "ops.mean(kl)")
BALANCED_KL = ADDED_KL.replace("KL_TERM", "ops.mean(kl) / 400.0")


def test_a_per_value_compiled_loss_beside_a_summed_kl_is_named_at_the_compile_line():
    report = ae_magic.check(SUMMED_KL, namespace={}, data="x_train")
    assert not report.internal_errors, report.internal_errors
    hit = next(f for f in _loud(report) if f.code == "AE407")
    assert "vae.compile(" in (hit.source_line or ""), (hit.line, hit.source_line)
    assert hit.evidence["mean_compiled_loss"]["values"] == 400
    assert "400" in hit.fix and "binary_crossentropy" in hit.fix


def test_the_kl_scaled_to_the_per_value_loss_is_not_blamed():
    report = ae_magic.check(BALANCED_KL, namespace={}, data="x_train")
    assert not report.internal_errors, report.internal_errors
    assert not any("mean_compiled_loss" in f.evidence for f in report.findings), report.text()
    assert not any(f.code == "AE407" for f in _loud(report)), report.text()


# -- bu09: the train_step decodes noise --------------------------------------------------------------
def _decoding_noise(cell: str, seed: str = ", seed=7") -> str:
    """``cell`` with its step decoding fresh noise instead of ``z`` (at the decoder line's own indentation)."""
    return re.sub(r"( *)reconstruction = self\.decoder\(z",
                  lambda m: f"{m[1]}eps = keras.random.normal(ops.shape(z_mean){seed})\n{m[1]}reconstruction = self.decoder(eps",
                  cell)


HEALTHY = vae_cell(BACKEND)
NOISE = _decoding_noise(HEALTHY)


def test_the_noise_cell_differs():
    assert NOISE != HEALTHY and "self.decoder(eps" in NOISE


def test_a_step_decoding_noise_is_ae111_at_the_decoder_call():
    report = ae_magic.check(NOISE, namespace={}, data="x")
    assert not report.internal_errors, report.internal_errors
    hit = report.get("AE111")
    assert hit is not None and hit.severity == "error", report.text()
    assert "self.decoder(eps" in (hit.source_line or ""), hit.source_line
    assert any(f.caused_by == "AE111" for f in report.findings), report.text()


def test_the_keras_io_step_is_not_ae111():
    report = ae_magic.check(HEALTHY, namespace={}, data="x")
    assert not report.internal_errors, report.internal_errors
    assert report.get("AE111") is None and not _loud(report), report.text()


@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
def test_the_dataflow_reads_every_backend_s_step(backend):
    # Source only: each backend's spelling of the keras.io step feeds the decoder from the batch.
    assert decoder_fed_without_data(Context(source=vae_cell(backend))) is None
    noise = _decoding_noise(vae_cell(backend), seed="")
    assert "self.decoder(eps" in noise
    hit = decoder_fed_without_data(Context(source=noise))
    assert hit is not None and hit[1] == "eps"


def test_a_shape_is_not_a_value_but_a_slice_is():
    fn = ast.parse("def train_step(self, data):\n"
                   "    x, y = data\n"
                   "    n = ops.shape(x)[0]\n"
                   "    noise = keras.random.normal((n, 4))\n"
                   "    h = x[:, :4] + noise\n").body[0]
    tainted = _from_data(fn)
    assert {"x", "y", "h"} <= tainted and "n" not in tainted and "noise" not in tainted


# -- bu08: a sampling layer that drops z_mean, on a VAE that starts slowly ----------------------------
DROPS_MEAN = """\
import numpy as np
import keras

keras.utils.set_random_seed(0)
from keras import layers, ops

# 20x20 images: a bright square whose position and size vary, plus a faint gradient background
rng = np.random.default_rng(8)
N, S = 1000, 20
yy, xx = np.mgrid[0:S, 0:S]
cx, cy = rng.uniform(5, 15, (2, N, 1, 1))
half = rng.uniform(2, 5, (N, 1, 1))
square = (np.abs(xx - cx) < half) & (np.abs(yy - cy) < half)
background = 0.2 * (xx + yy) / (2 * S)
x_train = np.clip(square * 0.8 + background, 0, 1).astype("float32")[..., None]

class Sampling(layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(42)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        std = ops.exp(0.5 * z_log_var)
        epsilon = keras.random.normal(ops.shape(std), seed=self.seed_generator)
        return std * epsilon

class KLLoss(layers.Layer):
    def call(self, inputs):
        z_mean, z_log_var = inputs
        kl = -0.5 * ops.sum(1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=-1)
        self.add_loss(ops.mean(kl))
        return z_mean, z_log_var

latent_dim = 4
inp = keras.Input(shape=(S, S, 1))
x = layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(inp)   # 10x10
x = layers.Conv2D(32, 3, strides=2, padding="same", activation="relu")(x)     # 5x5
x = layers.Flatten()(x)
x = layers.Dense(32, activation="relu")(x)
z_mean = layers.Dense(latent_dim, name="z_mean")(x)
z_log_var = layers.Dense(latent_dim, name="z_log_var")(x)
z_mean, z_log_var = KLLoss(name="kl")([z_mean, z_log_var])
z = Sampling(name="z")([z_mean, z_log_var])
x = layers.Dense(5 * 5 * 32, activation="relu")(z)
x = layers.Reshape((5, 5, 32))(x)
x = layers.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu")(x)  # 10x10
x = layers.Conv2DTranspose(16, 3, strides=2, padding="same", activation="relu")(x)  # 20x20
out = layers.Conv2D(1, 3, padding="same", activation="sigmoid")(x)
vae = keras.Model(inp, out)

def bce_sum(y_true, y_pred):
    return ops.sum(keras.losses.binary_crossentropy(y_true, y_pred), axis=(1, 2))

vae.compile(optimizer="adam", loss=bce_sum)
"""


def test_a_sample_that_ignores_z_mean_stays_reported_after_a_slow_start():
    report = ae_magic.check(DROPS_MEAN, namespace={}, data="x_train")
    assert not report.internal_errors, report.internal_errors
    hit = next((f for f in _loud(report) if f.code == "AE407" and "sampling" in f.evidence), None)
    assert hit is not None, report.text()
    assert (hit.source_line or "").strip() == "return std * epsilon", hit.source_line
    # The z_mean head, looked up through the KLLoss layer that passes it on, gets no gradient from the
    # reconstruction (round 57's ca06 and this cell's author both named it AE301).
    cut = next((f for f in _loud(report) if f.code == "AE301" and "sampling_layer" in f.evidence), None)
    assert cut is not None and cut.layer == "z_mean", report.text()
    assert (cut.source_line or "").strip().startswith("z_mean = layers.Dense(latent_dim")


def test_the_sampling_layer_with_z_mean_is_not_reported():
    report = ae_magic.check(DROPS_MEAN.replace("return std * epsilon", "return z_mean + std * epsilon"),
                            namespace={}, data="x_train")
    assert not report.internal_errors, report.internal_errors
    assert not any(f.code == "AE407" and "sampling" in f.evidence for f in report.findings), report.text()
    assert not any("sampling_layer" in f.evidence for f in report.findings), report.text()
