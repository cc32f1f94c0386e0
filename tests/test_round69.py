"""Round 69 (session 38): fresh sequence, VAE and denoising cells written blind; the fixes each miss asked for.

* da05 (a dense VAE whose KL layer adds ``0.5 * sum(1 + log_var - mu^2 - exp(log_var))``, the KL without its
  leading minus): the loss fell below zero and ended in NaN; AE401 blamed the learning rate at the compile line.
  ``loss_sign.reversed_kl`` reads the formula's sign through the cell's assignments to the loss, and AE401 (the
  probe's and the one read from the cell's NaN weights) names that line, with the line negated as the fix. An
  AE303 measured on the weights such a loss drove out goes under it.
* cz07 (a Conv1D autoencoder compiled with ``categorical_crossentropy``): AE108 named the output layer, though the
  loss is what is wrong; it now names the line that sets the loss.
* da03 (the keras blog's dense denoiser, fitted ``fit(x_train_noisy, x_train_noisy)``): AE104 named the 1024-unit
  code; the cell made the noisy copy from ``x_train`` and fitted it onto itself, so the fit line (with the clean
  target as the fix) is named.
* cz05 (a subclassed Conv1D autoencoder with ``bits = ops.round(ops.sigmoid(logits))`` in its ``call``): AE301 had
  no line (no layer graph); ``gradient_cut.cut_in_call`` reads the cut from the call. Its layers were named as
  the probe copy's (``conv1d_2`` for the user's ``conv1d``): a fresh instance's layers now take the user's names
  (``keras_compat._carry_layer_names``).
"""

from __future__ import annotations

import pytest

import ae_magic
from ae_magic.checks.gradient_cut import cut_in_call
from ae_magic.checks.loss_sign import reversed_kl


def _line(src: str, text: str) -> int:
    return next(i for i, line in enumerate(src.splitlines(), 1) if text in line)


# -- the sign of a Gaussian KL -----------------------------------------------------------------------------
KERAS_IO_STEP = """\
def train_step(self, data):
    with tf.GradientTape() as tape:
        z_mean, z_log_var, z = self.encoder(data)
        reconstruction = self.decoder(z)
        reconstruction_loss = ops.mean(ops.sum(keras.losses.binary_crossentropy(data, reconstruction), axis=(1, 2)))
        kl_loss = FACTOR * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
        kl_loss = ops.mean(ops.sum(kl_loss, axis=1))
        total_loss = reconstruction_loss + kl_loss
    return {"loss": total_loss}
"""

OLD_KERAS = """\
reconstruction_loss = mse(inputs, outputs) * original_dim
kl_loss = 1 + z_log_var - K.square(z_mean) - K.exp(z_log_var)
kl_loss = K.sum(kl_loss, axis=-1)
kl_loss *= FACTOR
vae_loss = K.mean(reconstruction_loss + kl_loss)
vae.add_loss(vae_loss)
"""

ELBO = """\
def compute_loss(x):
    kl = FACTOR * tf.reduce_sum(1 + logvar - mean**2 - tf.exp(logvar), axis=1)
    elbo = logpx - kl
    return -tf.reduce_mean(elbo)
"""


@pytest.mark.parametrize("src", [KERAS_IO_STEP, OLD_KERAS, ELBO], ids=["keras_io_step", "old_keras_add_loss", "elbo"])
def test_a_kl_written_without_its_minus_is_found_and_the_right_sign_is_not(src: str) -> None:
    found = reversed_kl(src.replace("FACTOR", "0.5"))
    assert found is not None and found[0] == _line(src, "FACTOR" if "kl_loss *=" not in src else "1 + z_log_var")
    assert reversed_kl(src.replace("FACTOR", "-0.5")) is None


def test_the_kl_in_its_positive_form_and_an_inline_add_loss_are_read_both_ways() -> None:
    positive = """\
class KL(layers.Layer):
    def call(self, inputs):
        mu, lv = inputs
        kl = 0.5 * ops.sum(ops.exp(lv) + ops.square(mu) - 1.0 - lv, axis=-1)
        self.add_loss(beta * ops.mean(kl))
        return inputs
"""
    assert reversed_kl(positive) is None
    assert reversed_kl(positive.replace("0.5 *", "-0.5 *")) == (4, "kl")
    inline = "vae.add_loss(SIGN0.5 * ops.mean(ops.sum(1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=-1)))\n"
    assert reversed_kl(inline.replace("SIGN", "")) is not None
    assert reversed_kl(inline.replace("SIGN", "-")) is None


KL_LAYER_VAE = """\
import numpy as np
import keras
from keras import layers, ops

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
x_train = (rng.random((600, 64)) < 0.3).astype("float32")


class KLDivergenceLayer(layers.Layer):
    def call(self, inputs):
        mu, log_var = inputs
        kl_batch = FACTOR * ops.sum(1 + log_var - ops.square(mu) - ops.exp(log_var), axis=-1)
        self.add_loss(ops.mean(kl_batch) / 64)
        return inputs


class Sampling(layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(1)

    def call(self, inputs):
        mu, log_var = inputs
        eps = keras.random.normal(shape=ops.shape(mu), seed=self.seed_generator)
        return mu + ops.exp(0.5 * log_var) * eps


inputs = keras.Input(shape=(64,))
h = layers.Dense(32, activation="relu")(inputs)
z_mu = layers.Dense(4)(h)
z_log_var = layers.Dense(4)(h)
z_mu, z_log_var = KLDivergenceLayer()([z_mu, z_log_var])
z = Sampling()([z_mu, z_log_var])
h2 = layers.Dense(32, activation="relu")(z)
x_pred = layers.Dense(64, activation="sigmoid")(h2)
vae = keras.Model(inputs, x_pred)
vae.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy")
"""


def test_a_vae_whose_kl_layer_adds_minus_the_kl_is_ae401_at_the_formula() -> None:
    src = KL_LAYER_VAE.replace("FACTOR", "0.5")
    report = ae_magic.check(src, namespace={}, data="x_train")
    f = report.get("AE401")
    assert f is not None and f.caused_by is None, report.text()
    assert f.line == _line(src, "kl_batch = ") and "learning rate" in f.message
    assert "-0.5 * ops.sum(1 + log_var" in (f.fix or "")
    assert all(g.line == f.line for g in report.findings if g.code == "AE401")


def test_the_same_vae_with_the_kl_minus_has_no_ae401() -> None:
    report = ae_magic.check(KL_LAYER_VAE.replace("FACTOR", "-0.5"), namespace={}, data="x_train")
    assert "AE401" not in report.codes, report.text()


def test_an_ae303_beside_an_unbounded_loss_goes_under_its_ae401() -> None:
    from ae_magic.report import Finding, Report

    blowup = Finding(code="AE303", severity="warning", title="t", message="m", line=3)
    sign = Finding(code="AE401", severity="error", title="t", message="m", line=9, evidence={"reversed_kl": "kl"})
    report = Report(findings=[blowup, sign])
    report.sort()
    assert sign.caused_by is None and blowup.caused_by == "AE401"
    plain = Finding(code="AE401", severity="error", title="t", message="m", line=9, evidence={"lr": 0.1})
    blowup2 = Finding(code="AE303", severity="warning", title="t", message="m", line=3)
    report = Report(findings=[blowup2, plain])
    report.sort()
    assert plain.caused_by == "AE303" and blowup2.caused_by is None


# -- a classification loss on a reconstruction --------------------------------------------------------------
CONV1D = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(0)
beats = rng.random((64, 96, 1)).astype("float32")
inp = keras.Input(shape=(96, 1))
x = layers.Conv1D(8, 7, strides=2, padding="same", activation="relu")(inp)
x = layers.Conv1D(4, 7, strides=2, padding="same", activation="relu")(x)
x = layers.Conv1DTranspose(8, 7, strides=2, padding="same", activation="relu")(x)
out = layers.Conv1DTranspose(1, 7, strides=2, padding="same", activation="sigmoid")(x)
conv_ae = keras.Model(inp, out)
total_loss = 0.0
conv_ae.compile(optimizer="adam",
                loss=LOSS)
"""


def test_a_categorical_loss_on_a_reconstruction_is_named_at_the_loss_argument() -> None:
    src = CONV1D.replace("LOSS", '"categorical_crossentropy"')
    f = ae_magic.check(src, namespace={}, data="beats", train=False).get("AE108")
    assert f is not None and f.line == _line(src, "loss=") and "conv_ae.compile(" in (f.fix or "")
    assert ae_magic.check(CONV1D.replace("LOSS", '"mse"'), namespace={}, data="beats", train=False).get("AE108") is None


# -- a denoiser fitted onto its own noisy input -------------------------------------------------------------
DENOISER = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(0)
x_train = rng.random((256, 64)).astype("float32")
x_train_noisy = x_train + 0.4 * rng.normal(0.0, 1.0, size=x_train.shape).astype("float32")
x_train_noisy = np.clip(x_train_noisy, 0.0, 1.0).astype("float32")
input_img = keras.Input(shape=(64,))
encoded = layers.Dense(WIDTH, activation="relu")(input_img)
decoded = layers.Dense(64, activation="sigmoid")(encoded)
denoiser = keras.Model(input_img, decoded)
denoiser.compile(optimizer="adam", loss="binary_crossentropy")
denoiser.fit(x_train_noisy, TARGET, epochs=1, batch_size=128, verbose=0)
"""


def test_a_wide_denoiser_fitted_onto_its_noisy_input_is_named_at_the_fit_with_the_clean_target() -> None:
    src = DENOISER.replace("WIDTH", "128").replace("TARGET", "x_train_noisy")
    f = ae_magic.check(src, namespace={}, data="x_train_noisy", train=False).get("AE104")
    assert f is not None and f.line == _line(src, "denoiser.fit(")
    assert f.evidence["noisy_target"] == {"input": "x_train_noisy", "clean": "x_train"}
    assert f.fix.startswith("denoiser.fit(x_train_noisy, x_train,")


def test_a_wide_denoiser_fitted_onto_the_clean_target_and_a_narrow_one_keep_their_readings() -> None:
    clean = DENOISER.replace("WIDTH", "128").replace("TARGET", "x_train")
    assert ae_magic.check(clean, namespace={}, data="x_train_noisy", target="x_train", train=False).get("AE104") is None
    narrow = DENOISER.replace("WIDTH", "16").replace("TARGET", "x_train_noisy")
    assert ae_magic.check(narrow, namespace={}, data="x_train_noisy", train=False).get("AE104") is None
    # A plain wide autoencoder of data made without noise stays at its code layer.
    plain = DENOISER.replace("WIDTH", "128").replace("TARGET", "x_train_noisy").replace(
        "0.4 * rng.normal(0.0, 1.0, size=x_train.shape)", "0.0 * x_train")
    f = ae_magic.check(plain, namespace={}, data="x_train_noisy", train=False).get("AE104")
    assert f is not None and f.line == _line(plain, "encoded = ") and "noisy_target" not in f.evidence


# -- a rounding step in a subclassed model's call -------------------------------------------------------------
BINARY_CODE = """\
import numpy as np
import keras
from keras import layers, ops

keras.utils.set_random_seed(0)
signals = np.random.default_rng(0).random((128, 32, 1)).astype("float32")


class BinaryCodeAE(keras.Model):
    def __init__(self):
        super().__init__()
        self.encoder = keras.Sequential([layers.Conv1D(8, 5, strides=2, padding="same", activation="relu"),
                                         layers.Flatten(), layers.Dense(8)])
        self.decoder = keras.Sequential([layers.Dense(16 * 8, activation="relu"), layers.Reshape((16, 8)),
                                         layers.Conv1DTranspose(1, 5, strides=2, padding="same")])

    def call(self, x):
        logits = self.encoder(x)
        bits = CODE
        return self.decoder(bits)


model = BinaryCodeAE()
model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
"""


def test_the_source_reading_of_a_cut_in_call_passes_a_straight_through_rounding() -> None:
    assert cut_in_call(BINARY_CODE.replace("CODE", "ops.round(ops.sigmoid(logits))"), "BinaryCodeAE") == 19
    assert cut_in_call(BINARY_CODE.replace("CODE", "ops.cast(logits > 0, 'int32')"), "BinaryCodeAE") == 19
    soft = "ops.sigmoid(logits) + ops.stop_gradient(ops.round(ops.sigmoid(logits)) - ops.sigmoid(logits))"
    assert cut_in_call(BINARY_CODE.replace("CODE", soft), "BinaryCodeAE") is None
    assert cut_in_call(BINARY_CODE.replace("CODE", "ops.cast(logits, 'float32')"), "BinaryCodeAE") is None


def test_a_rounded_code_in_a_subclassed_call_is_ae301_at_that_line() -> None:
    src = BINARY_CODE.replace("CODE", "ops.round(ops.sigmoid(logits))")
    report = ae_magic.check(src, namespace={}, data="signals")
    f = report.get("AE301")
    assert f is not None and f.line == _line(src, "bits = "), report.text()
    healthy = ae_magic.check(BINARY_CODE.replace("CODE", "ops.sigmoid(logits)"), namespace={}, data="signals")
    assert "AE301" not in healthy.codes, healthy.text()


# -- a subclassed model's copy carries the user's layer names -------------------------------------------------
TUTORIAL_AE = """\
import numpy as np
import keras
from keras import layers

keras.utils.set_random_seed(0)
x_train = np.random.default_rng(0).random((256, 64)).astype("float32")


class Autoencoder(keras.Model):
    def __init__(self, latent_dim):
        super().__init__()
        self.encoder = keras.Sequential([layers.Dense(32, activation="relu"), layers.Dense(latent_dim, activation="relu")])
        self.decoder = keras.Sequential([layers.Dense(64, activation="sigmoid")])

    def call(self, x):
        return self.decoder(self.encoder(x))


autoencoder = Autoencoder(8)
autoencoder.compile(optimizer="adam", loss="mse")
autoencoder.fit(x_train, x_train, epochs=1, batch_size=64, verbose=0)
"""


def test_the_probes_of_a_subclassed_model_name_the_users_layers_and_leave_them_alone() -> None:
    ns: dict = {}
    report = ae_magic.check(TUTORIAL_AE, namespace=ns, data="x_train", epochs=1)
    model = ns["autoencoder"]
    mine = [la.name for part in (model.encoder, model.decoder) for la in part.layers]
    probed = [ly["layer"] for ly in report.traces["gradients"]["layers"]]
    assert probed == mine, (probed, mine)
    # The user's layers keep their names and their variables' paths.
    assert all(v.path.split("/")[-2] in mine for v in model.trainable_variables)
