"""Round 26: a table min-max scaled per row (``axis=1``) instead of per column, and a KL added
without its minus inside the sampling layer, in a run that blew up to NaN. Each fault is named at
its line; per-column scaling, per-row scaled homogeneous signals and a correct KL stay silent."""

from __future__ import annotations

import numpy as np
import pytest

import ae_magic
from ae_magic.checks.posterior import negative_added_kl
from ae_magic.checks.row_scaled import scaled_per_row

TABLE = """\
import numpy as np
import keras
from keras import layers
rng = np.random.default_rng(7)
latent = rng.normal(size=(1500, 4))
v = latent @ rng.normal(size=(4, 12)) + 0.3 * rng.normal(size=(1500, 12))
seconds = np.sort(rng.uniform(0, 170000, size=1500))
raw = np.column_stack([seconds, v, np.exp(3 + latent[:, 0])]).astype("float32")
{scale}
model = keras.Sequential([
    layers.Input(shape=(14,)),
    layers.Dense(8, activation="relu"),
    layers.Dense(3, activation="relu"),
    layers.Dense(8, activation="relu"),
    layers.Dense(14, activation="sigmoid"),
])
model.compile(optimizer="adam", loss="mae")
"""

PER_ROW = {
    "min-max": ("lo = raw.min(axis=1, keepdims=True)\nhi = raw.max(axis=1, keepdims=True)\n"
                "x = (raw - lo) / (hi - lo)"),
    "z-score": "x = (raw - raw.mean(axis=1, keepdims=True)) / raw.std(axis=1, keepdims=True)",
}


@pytest.mark.parametrize("kind", sorted(PER_ROW))
def test_a_table_scaled_per_row_is_named_at_the_axis_line(kind: str) -> None:
    report = ae_magic.check(TABLE.format(scale=PER_ROW[kind]), namespace={}, data="x", train=False)
    (f,) = [f for f in report.findings if f.code == "AE201" and "per_row" in f.evidence]
    assert f.severity == "warning" and f.evidence["per_row"] == kind
    assert f.evidence["dominant_column"] == 0 and f.evidence["dominant_share"] > 0.9
    assert f.line == 9 and "axis=1" in f.source_line and "axis=0" in f.fix


def test_a_table_scaled_per_column_is_silent() -> None:
    scale = "lo, hi = raw.min(axis=0), raw.max(axis=0)\nx = (raw - lo) / (hi - lo)"
    report = ae_magic.check(TABLE.format(scale=scale), namespace={}, data="x", train=False)
    assert not [f for f in report.findings if f.code == "AE201"], report.text()


def test_signals_normalised_per_row_are_silent() -> None:
    # Spectra or digit images min-max scaled one sample at a time: the peak moves between columns.
    rng = np.random.default_rng(0)
    centres = rng.uniform(5, 59, size=(600, 1))
    spectra = np.exp(-0.5 * ((np.arange(64)[None, :] - centres) / 3.0) ** 2) + 0.05 * rng.random((600, 64))
    lo, hi = spectra.min(axis=1, keepdims=True), spectra.max(axis=1, keepdims=True)
    assert scaled_per_row(((spectra - lo) / (hi - lo)).astype("float32")) is None
    z = (spectra - spectra.mean(axis=1, keepdims=True)) / spectra.std(axis=1, keepdims=True)
    assert scaled_per_row(z.astype("float32")) is None
    assert scaled_per_row(rng.random((600, 64)).astype("float32")) is None


def test_a_kl_below_zero_at_the_start_names_the_sign_when_the_run_ends_in_nan() -> None:
    tr = {"latent": {"layer": "sampling", "added_loss": float("nan"), "added_loss_before": -0.2}}
    assert negative_added_kl(tr) == ("sampling", -0.2, tr["latent"]["added_loss"], None)
    # A KL that started at or above zero says nothing about its sign when the run blew up.
    assert negative_added_kl({"latent": {"layer": "s", "added_loss": float("nan"), "added_loss_before": 0.3}}) is None
    assert negative_added_kl({"latent": {"layer": "s", "added_loss": float("nan"), "added_loss_before": None}}) is None


VAE = """\
import numpy as np
import keras
from keras import layers, ops
rng = np.random.default_rng(3)
raw = rng.normal(size=(2000, 4)) @ rng.normal(size=(4, 16)) + 0.2 * rng.normal(size=(2000, 16))
features = ((raw - raw.mean(axis=0)) / raw.std(axis=0)).astype("float32")

class Sampling(layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(1337)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        kl_loss = {sign}0.5 * ops.mean(1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
        self.add_loss(kl_loss)
        eps = keras.random.normal(shape=ops.shape(z_mean), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * eps

inp = keras.Input(shape=(16,))
h = layers.Dense(32, activation="relu")(inp)
z_mean = layers.Dense(4)(h)
z_log_var = layers.Dense(4)(h)
z = Sampling(name="sampling")([z_mean, z_log_var])
h = layers.Dense(32, activation="relu")(z)
vae = keras.Model(inp, layers.Dense(16)(h))
vae.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3), loss="mse")
"""


def test_a_kl_without_its_minus_in_the_sampling_layer_is_named_at_its_line() -> None:
    report = ae_magic.check(VAE.format(sign=""), namespace={}, data="features")
    f = next((f for f in report.findings if "negative_kl" in f.evidence), None)
    assert f is not None and f.code == "AE401" and f.severity == "error", report.text()
    assert f.line == 15 and f.source_line.startswith("kl_loss = 0.5")
    assert "not the learning rate" in f.message


def test_the_same_vae_with_its_minus_is_silent() -> None:
    report = ae_magic.check(VAE.format(sign="-"), namespace={}, data="features")
    assert not [f for f in report.findings if f.severity in ("warning", "error")], report.text()


BETA_VAE = """\
import numpy as np
import keras
from keras import layers, ops
rng = np.random.default_rng(5)
raw = rng.normal(size=(2000, 3)) @ rng.normal(size=(3, 20)) + 0.1 * rng.normal(size=(2000, 20))
x = ((raw - raw.mean(axis=0)) / raw.std(axis=0)).astype("float32")
kl_weight = {weight}

class Sampling(layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(7)

    def call(self, inputs):
        mu, log_var = inputs
        eps = keras.random.normal(ops.shape(mu), seed=self.seed_generator)
        return mu + ops.exp(0.5 * log_var) * eps

class VAELoss(layers.Layer):
    def __init__(self, beta=1.0, **kwargs):
        super().__init__(**kwargs)
        self.beta = beta

    def call(self, inputs):
        x, x_hat, mu, log_var = inputs
        rec = ops.sum(ops.square(x - x_hat), axis=1)
        kl = -0.5 * ops.sum(1 + log_var - ops.square(mu) - ops.exp(log_var), axis=-1)
        self.add_loss(ops.mean(rec + self.beta * kl))
        return x_hat

inp = keras.Input(shape=(20,))
h = layers.Dense(32, activation="relu")(inp)
mu = layers.Dense(4)(h)
log_var = layers.Dense(4)(h)
z = Sampling()([mu, log_var])
x_hat = layers.Dense(20)(layers.Dense(32, activation="relu")(z))
out = VAELoss(beta=kl_weight)([inp, x_hat, mu, log_var])
vae = keras.Model(inp, out)
vae.compile(optimizer=keras.optimizers.Adam(1e-3))
"""


def test_a_kl_weight_far_above_one_is_named_at_its_line() -> None:
    report = ae_magic.check(BETA_VAE.format(weight="200.0"), namespace={}, data="x")
    f = next((f for f in report.findings if f.code == "AE407"), None)
    assert f is not None, report.text()
    assert f.line == 7 and f.source_line == "kl_weight = 200.0"
    assert f.evidence["kl_weight"] == {"name": "kl_weight", "value": 200.0, "line": 7}
    assert "`kl_weight` = 200" in f.message


def test_the_same_vae_at_weight_one_is_silent() -> None:
    report = ae_magic.check(BETA_VAE.format(weight="1.0"), namespace={}, data="x")
    assert not [f for f in report.findings if f.severity in ("warning", "error")], report.text()


def test_a_kl_weight_held_by_a_layer_is_found_through_the_keyword_that_set_it() -> None:
    from ae_magic.checks.kl_weight import large_kl_weight
    from ae_magic.context import Context

    class Loss:
        def __init__(self, beta: float) -> None:
            self.beta = beta

    class Model:
        def __init__(self, layer: Loss) -> None:
            self.layer = layer

        def _flatten_layers(self, include_self: bool = True) -> list:
            return [self, self.layer]

    src = "b = 30\nvae = Model(Loss(beta=b))\n"
    ctx = Context(source=src, assign_lines={"b": 1, "vae": 2}, bound=["b", "vae"], namespace={"b": 30},
                  model=Model(Loss(30.0)))
    # `b` is no KL weight by its name; the layer's `beta`, set from it, is.
    assert large_kl_weight(ctx) == {"name": "b", "value": 30.0, "line": 1, "source_line": "b = 30"}
    ctx.model = Model(Loss(1.0))
    assert large_kl_weight(ctx) is None
