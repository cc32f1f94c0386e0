"""Round 50 of fresh cells (VAE variants, anomaly detection, Keras 3 custom code, attention and token models).

bf08: a hand-written "LeCun-style" initializer returns ``ops.ones(shape) / sqrt(fan_in)``, a constant, so every
unit of every layer starts as a copy of the others and stays one (the model ends 1.7x the mean's error).
Keras' own Zeros/Ones/Constant were read from the layer config; a custom class is now read from the weights.
"""

from __future__ import annotations

import pytest

import ae_magic

CELL = """\
import numpy as np
import keras
from keras import layers, ops

rng = np.random.default_rng(7)
z = rng.normal(size=(800, 4))
x = z @ rng.normal(size=(4, 16)) + 0.2 * rng.normal(size=(800, 16))
x_train = ((x - x.mean(0)) / x.std(0)).astype("float32")


class FanInScaled(keras.initializers.Initializer):
    def __call__(self, shape, dtype=None):
        return ops.ones(shape, dtype=dtype) / np.sqrt(shape[0])


model = keras.Sequential([
    keras.Input(shape=(16,)),
    layers.Dense(12, activation="relu", kernel_initializer=FIRST),
    layers.Dense(4, kernel_initializer=SECOND, name="code"),
    layers.Dense(12, activation="relu", kernel_initializer=THIRD),
    layers.Dense(16, kernel_initializer=LAST),
])
model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
FIT
"""


def _cell(first="FanInScaled()", second="FanInScaled()", third="FanInScaled()", last="FanInScaled()", fit="") -> str:
    return (CELL.replace("FIRST", first).replace("SECOND", second).replace("THIRD", third).replace("LAST", last)
            .replace("FIT", fit))


def _symmetric(report):
    return next((f for f in report.findings if f.code == "AE110" and f.title.startswith("Every unit")), None)


@pytest.mark.parametrize("fit", ["", "model.fit(x_train, x_train, epochs=2, batch_size=64, verbose=0)"])
def test_a_hand_written_constant_initializer_is_found_from_the_weights(fit: str) -> None:
    # Before or after the cell's own training: identical units get identical gradients, so they stay copies.
    report = ae_magic.check(_cell(fit=fit), namespace={}, data="x_train", train=False)
    f = _symmetric(report)
    assert f is not None and f.severity == "warning", report.text()
    assert f.evidence["initializer"] == "FanInScaled" and f.evidence["units"] == 12
    assert "ops.ones(shape" in (f.source_line or "")  # the initializer's return, where the fix goes


@pytest.mark.parametrize("inits", [
    dict(first='"glorot_uniform"', second='"glorot_uniform"', third='"he_normal"', last='"glorot_uniform"'),
    # A zero last layer (a common trick) and one constant layer before a random one: the units get different
    # gradients and come apart, so neither is a copy that stays one.
    dict(first='"glorot_uniform"', second='"glorot_uniform"', third='"he_normal"', last='"zeros"'),
    dict(first='FanInScaled()', second='"glorot_uniform"', third='"he_normal"', last='"glorot_uniform"'),
])
def test_random_kernels_and_a_constant_layer_that_breaks_apart_are_silent(inits: dict) -> None:
    report = ae_magic.check(_cell(**inits), namespace={}, data="x_train", train=False)
    assert _symmetric(report) is None, report.text()


PATCH_TRANSFORMER = """\
import numpy as np
import keras
from keras import layers

keras.utils.set_random_seed(0)
rng = np.random.default_rng(30)
n, seq_len, patch = 1200, 32, 4
n_patches = seq_len // patch
t = np.arange(seq_len)[None, :]
comps = np.stack([np.sin(2 * np.pi * t / 32), np.cos(2 * np.pi * t / 32),
                  np.sin(2 * np.pi * t / 8), np.cos(2 * np.pi * t / 8)], axis=-1)[0]
x_train = (rng.normal(size=(n, 4)) * [1.0, 1.0, 0.5, 0.5]) @ comps.T + 0.1 * rng.normal(size=(n, seq_len))
x_train = ((x_train - x_train.mean(0)) / x_train.std(0)).astype("float32")

inputs = keras.Input(shape=(seq_len,))
p = layers.Dense(32)(layers.Reshape((n_patches, patch))(inputs))
p = p + layers.Embedding(n_patches, 32)(keras.ops.arange(n_patches))
p = layers.LayerNormalization()(p + layers.MultiHeadAttention(num_heads=4, key_dim=8)(p, p))
code = layers.Dense(6, name="code")(layers.Flatten()(p))
q = layers.Reshape((n_patches, 32))(layers.Dense(n_patches * 32, activation="relu")(code))
q = layers.LayerNormalization()(q + layers.MultiHeadAttention(num_heads=4, key_dim=8)(q, q))
outputs = layers.Reshape((seq_len,))(layers.Dense(patch)(q))
model = keras.Model(inputs, outputs)
model.compile(optimizer=keras.optimizers.Adam(learning_rate=RATE), loss="mse")
"""

DENSE = """\
import numpy as np
import keras
from keras import layers

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
x = rng.normal(size=(1500, 4)) @ rng.normal(size=(4, 24)) + 0.05 * rng.normal(size=(1500, 24))
x_train = ((x - x.mean(0)) / x.std(0)).astype("float32")
model = keras.Sequential([keras.Input(shape=(24,)), layers.Dense(64, activation="relu"), layers.Dense(4),
                          layers.Dense(64, activation="relu"), layers.Dense(24)])
model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.05), loss="mse")
"""


def _loud(report):
    return [f for f in report.findings if f.severity in ("warning", "error")]


def test_an_adaptive_rate_far_above_its_range_that_keeps_the_model_far_from_pca_is_named() -> None:
    """bg10: a patch Transformer under Adam(0.05) bounces near the mean, 100x a linear code's error."""
    report = ae_magic.check(PATCH_TRANSFORMER.replace("RATE", "0.05"), namespace={}, data="x_train", seed=0)
    assert report.internal_errors == [], report.internal_errors
    loud = _loud(report)
    assert {f.code for f in loud} & {"AE401", "AE403", "AE405"}, report.text()
    rate = next((f for f in loud if f.code == "AE405" and "learning rate is too high" in f.title), None)
    if rate is not None:  # (a backend whose run shows AE403/AE405 against the mean names it that way instead)
        run = rate.evidence["default_rate_run"]
        assert run["final_mse"] <= 0.5 * rate.evidence["final_mse"]
        assert "learning_rate=0.001" in rate.fix and "learning_rate=0.05" in (rate.source_line or "")
        assert not any("a slow start" in n for n in report.notes)


@pytest.mark.parametrize("src", [PATCH_TRANSFORMER.replace("RATE", "1e-3"), DENSE])
def test_a_model_that_learns_at_its_rate_is_silent(src: str) -> None:
    # The same Transformer at Adam's default, and a dense AE that learns well at Adam(0.05) (the run at the
    # default rate is not twice as good, so the high rate is no fault).
    report = ae_magic.check(src, namespace={}, data="x_train", seed=0)
    assert report.internal_errors == [] and _loud(report) == [], report.text()


HVAC = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(5)
n_total, n_good, d = 2600, 2000, 12
log = rng.normal(size=(n_total, 3)) @ rng.normal(size=(3, d)) + 0.15 * rng.normal(size=(n_total, d))
log = 20 + 5 * log
spike_rows = rng.choice(np.arange(n_good, n_total), size=40, replace=False)
log[spike_rows, np.arange(40) % d] = rng.uniform(5e3, 2e4, 40)
FIT_ON = log
log_min, log_max = FIT_ON.min(axis=0), FIT_ON.max(axis=0)
x_train = ((log[:n_good] - log_min) / (log_max - log_min)).astype("float32")
model = keras.Sequential([keras.Input(shape=(d,)), layers.Dense(8, activation="relu"), layers.Dense(3, activation="relu"),
                          layers.Dense(8, activation="relu"), layers.Dense(d, activation="sigmoid")])
model.compile(optimizer="adam", loss="mse")
"""


def test_training_rows_squashed_by_a_scaler_fitted_on_later_spikes_are_ae201() -> None:
    """be07: min-max fitted on the whole log (incident spikes of 5e3-2e4 in the test period) put the known-good
    training rows in [0, 0.008], every feature's std under 0.0012; the ReLU units died in the cell's own fit."""
    report = ae_magic.check(HVAC, namespace={}, data="x_train", train=False)
    f = report.get("AE201")
    assert f is not None and f.severity == "warning" and "far below unit scale" in f.title, report.text()
    assert "no feature varies by more than" in f.message


def test_training_rows_scaled_on_their_own_range_are_silent() -> None:
    report = ae_magic.check(HVAC.replace("FIT_ON = log", "FIT_ON = log[:n_good]"), namespace={}, data="x_train", train=False)
    assert report.get("AE201") is None, report.text()


SIGN_SLIP = """\
import numpy as np
import keras
from keras import layers, ops

rng = np.random.default_rng(6)
x_train = rng.random((600, 64)).astype("float32") ** 3


class PixelBCE(keras.losses.Loss):
    def call(self, y_true, y_pred):
        y_pred = ops.clip(y_pred, 1e-6, 1.0 - 1e-6)
        ll = y_true * ops.log(y_pred) + (1.0 - y_true) * ops.log(1.0 - y_pred)
        return ops.mean(SIGN ll, axis=-1)


inp = keras.Input(shape=(64,))
out = layers.Dense(64, activation="sigmoid")(layers.Dense(8, activation="relu")(inp))
model = keras.Model(inp, out)
model.compile(optimizer="adam", loss=PixelBCE())
"""


def test_a_loss_subclass_with_its_sign_slipped_is_named_at_its_call() -> None:
    """bf07: a hand-written BCE as a keras.losses.Loss subclass without its leading minus: AE108 had no line."""
    report = ae_magic.check(SIGN_SLIP.replace("SIGN ", ""), namespace={}, data="x_train", seed=0)
    hits = [f for f in report.findings if f.code == "AE108"]
    assert hits and all(f.line == 13 for f in hits), report.text()
    healthy = ae_magic.check(SIGN_SLIP.replace("SIGN ", "-"), namespace={}, data="x_train", seed=0)
    assert healthy.get("AE108") is None, healthy.text()


WRECKED = """\
import numpy as np
import keras
from keras import layers

keras.utils.set_random_seed(1)
rng = np.random.default_rng(8)
n, n_bins = 1200, 48
f = np.arange(n_bins)
peaks = rng.uniform(6, 42, size=(n, 3))
heights = rng.uniform(0.5, 2.0, size=(n, 3))
spec = sum(heights[:, [j]] * np.exp(-((f - peaks[:, [j]]) / 2.5) ** 2) for j in range(3)) + 0.05 * rng.normal(size=(n, n_bins))
spectra = ((spec - spec.mean(axis=0)) / spec.std(axis=0)).astype("float32")
model = keras.Sequential([keras.Input(shape=(n_bins,)), layers.Dense(32, activation="relu"), layers.Dense(16, activation="relu"),
                          layers.Dense(8, activation="relu"), layers.Dense(16, activation="relu"),
                          layers.Dense(32, activation="relu"), layers.Dense(n_bins)])
model.compile(optimizer=keras.optimizers.SGD(learning_rate=RATE, momentum=0.9), loss="mse")
model.fit(spectra, spectra, epochs=2, batch_size=32, verbose=0)
"""


def test_a_cell_whose_own_fit_wrecked_the_model_at_its_rate_names_the_rate() -> None:
    """Round 51's bi08/bh10: the cell's fit at SGD(1.0, momentum=0.9) (or Adam(1.5)) killed every ReLU; the probes,
    starting from those weights, reported AE301 "cut off" and AE304 at them, and nothing said why."""
    report = ae_magic.check(WRECKED.replace("RATE", "1.0"), namespace={}, data="spectra", seed=0)
    assert report.internal_errors == [], report.internal_errors
    loud = {f.code for f in report.findings if f.severity in ("warning", "error")}
    assert loud & {"AE401", "AE404", "AE405"}, report.text()
    rate = next((f for f in report.findings if f.code == "AE401" and f.title == "The learning rate wrecks the model"), None)
    if rate is not None:  # (when the probes found the wreck at the cell's weights, AE301/AE304)
        low = rate.evidence["fresh_at_lower"]
        assert low["final_mse"] <= 0.6 * rate.evidence["mean_baseline"] and low["lr"] < 1.0
        assert "learning_rate=1.0" in (rate.source_line or "")


def test_a_cell_trained_at_a_sound_rate_gets_no_rate_blame() -> None:
    report = ae_magic.check(WRECKED.replace("RATE", "0.01"), namespace={}, data="spectra", seed=0)
    assert report.internal_errors == [] and report.get("AE401") is None, report.text()
    assert not [f for f in report.findings if f.severity in ("warning", "error")], report.text()


LOSS_LAYER = """\
import numpy as np
import keras
from keras import layers, ops

rng = np.random.default_rng(9)
t = np.arange(40)[None, :]
x_train = (rng.uniform(0.7, 1.3, (600, 1)) * np.sin(2 * np.pi * t / 20 + rng.uniform(0, 6, (600, 1)))).astype("float32")
x_in = keras.Input(shape=(40,))
h = layers.Dense(32, activation="relu")(x_in)
z_mean, z_log_var = layers.Dense(3)(h), layers.Dense(3)(h)
z = layers.Lambda(lambda a: a[0] + ops.exp(0.5 * a[1]) * keras.random.normal(ops.shape(a[0])),
                  output_shape=(3,))([z_mean, z_log_var])
x_decoded = layers.Dense(40)(layers.Dense(32, activation="relu")(z))


class VAELossLayer(layers.Layer):
    def call(self, inputs):
        x, x_decoded, mu, log_var = inputs
        rec = ops.sum(ops.square(x - x_decoded), axis=-1)
        kl = -0.5 * ops.sum(1 + log_var - ops.square(mu) - ops.exp(log_var), axis=-1)
        self.add_loss(ops.mean(rec + kl))
        return RETURNED


vae = keras.Model(x_in, VAELossLayer()([x_in, x_decoded, z_mean, z_log_var]))
vae.compile(optimizer="adam", loss=None)
"""

RESIDUAL = """\
import numpy as np
import keras
from keras import layers

x_train = np.random.default_rng(0).normal(size=(400, 16)).astype("float32")
inp = keras.Input(shape=(16,))
h = layers.Dense(8, activation="relu")(inp)
out = layers.Add()([inp, layers.Dense(16, kernel_initializer="zeros")(h)])
model = keras.Model(inp, out)
model.compile(optimizer="adam", loss="mse")
"""


def test_a_loss_layer_that_returns_the_input_is_ae103() -> None:
    """Round 52's bl09: a Keras 2-style VAE loss layer returning ``x``: predict gives the input back, every anomaly
    score is 0, and the check said nothing (the probes' reconstruction MSE was a perfect 0)."""
    report = ae_magic.check(LOSS_LAYER.replace("RETURNED", "x"), namespace={}, data="x_train", train=False)
    f = report.get("AE103")
    assert f is not None and f.severity == "error" and f.title == "The model returns its input unchanged", report.text()
    assert "VAELossLayer()" in (f.source_line or "")


@pytest.mark.parametrize("src", [LOSS_LAYER.replace("RETURNED", "x_decoded"), RESIDUAL])
def test_a_reconstruction_or_a_residual_starting_at_the_input_is_not_ae103(src: str) -> None:
    # A residual model whose last layer starts at zero returns its input too, until its weights move.
    # (The residual's skip around its code is AE103's structural reading, "bypasses the bottleneck": not this one.)
    report = ae_magic.check(src, namespace={}, data="x_train", train=False)
    assert not any(f.title == "The model returns its input unchanged" for f in report.findings), report.text()
