"""Round 29: what earlier rounds left and fresh cells found.

A sparsity penalty added with ``add_loss`` in a model with no sampling layer (the UFLDL sparse
autoencoder's KL(rho || rho_hat)) whose log ratio is inverted is -KL: the optimiser drives it below
zero without bound and the code saturates. The collapse it causes is named at the KL line, not at
the first Dense layer with He-init advice. The correct sign stays silent.
"""

from __future__ import annotations

import pytest

import ae_magic

SPARSE = """\
import numpy as np
import keras
from keras import layers, ops

rng = np.random.default_rng(17)
state = rng.normal(size=(1500, 4))
raw = np.tanh(state @ rng.normal(size=(4, 24))) + 0.05 * rng.normal(size=(1500, 24))
x_train = ((raw - raw.min(axis=0)) / (raw.max(axis=0) - raw.min(axis=0))).astype("float32")


class SparseCode(layers.Layer):
    def __init__(self, units, rho=0.05, beta=0.1, **kwargs):
        super().__init__(**kwargs)
        self.dense = layers.Dense(units, activation="sigmoid")
        self.rho, self.beta = rho, beta

    def call(self, x):
        h = self.dense(x)
        rho_hat = ops.clip(ops.mean(h, axis=0), 1e-7, 1 - 1e-7)
        kl = {kl}
        self.add_loss(self.beta * ops.sum(kl))
        return h


inp = keras.Input(shape=(24,))
z = layers.Dense(32, activation="relu")(inp)
code = SparseCode(48, name="sparse_code")(z)
z = layers.Dense(32, activation="relu")(code)
out = layers.Dense(24, activation="sigmoid")(z)
model = keras.Model(inp, out)
model.compile(optimizer="adam", loss="mse")
"""
FLIPPED = "self.rho * ops.log(rho_hat / self.rho) + (1 - self.rho) * ops.log((1 - rho_hat) / (1 - self.rho))"
RIGHT = "self.rho * ops.log(self.rho / rho_hat) + (1 - self.rho) * ops.log((1 - self.rho) / (1 - rho_hat))"


def _loud(report: ae_magic.Report) -> list:
    return [f for f in report.findings if f.severity in ("warning", "error")]


def test_a_flipped_sparsity_kl_is_named_at_its_line() -> None:
    report = ae_magic.check(SPARSE.format(kl=FLIPPED), namespace={}, data="x_train")
    named = [f for f in _loud(report) if "negative_kl" in f.evidence]
    assert named, report.text()
    (f,) = named
    assert f.code in ("AE401", "AE404", "AE405"), report.text()
    assert f.source_line.strip().startswith("kl = self.rho * ops.log(rho_hat"), report.text()
    ev = f.evidence["negative_kl"]
    assert ev["term"] == "add_loss of sparse_code" and ev["value"] < ev["before"] < 0
    assert "rho / rho_hat" in f.fix


def test_the_right_sparsity_kl_is_silent() -> None:
    report = ae_magic.check(SPARSE.format(kl=RIGHT), namespace={}, data="x_train")
    assert not _loud(report), report.text()
    assert "probes" not in str(report.coverage.get("skipped") or {}), report.text()


OVERCOMPLETE = """\
import numpy as np
import keras
from keras import layers, regularizers
rng = np.random.default_rng(3)
x = rng.uniform(size=(600, 16)).astype("float32")
inp = keras.Input(shape=(16,))
h = layers.Dense(64, activation="relu"{reg})(inp)
out = layers.Dense(16, activation="sigmoid")(h)
model = keras.Model(inp, out)
model.compile(optimizer="adam", loss="mse")
"""


@pytest.mark.parametrize(("reg", "severity"), [
    ("", "warning"),  # nothing stops the identity
    (", activity_regularizer=regularizers.l1(1e-4)", "info"),  # a sparse autoencoder: the penalty does
])
def test_an_overcomplete_code_with_a_sparsity_penalty_is_a_design(reg: str, severity: str) -> None:
    report = ae_magic.check(OVERCOMPLETE.format(reg=reg), namespace={}, data="x", train=False)
    (f,) = [f for f in report.findings if f.code == "AE104"]
    assert f.severity == severity, report.text()
    if severity == "info":
        assert f.line == 7 and f.evidence["penalty_layer"] == f.layer


AUTOREC = """\
import numpy as np
import keras
from keras import layers, ops

rng = np.random.default_rng(7)
U, V = rng.normal(size=(800, 5)), rng.normal(size=(120, 5))
stars = np.clip(np.rint(3.2 + 0.45 * U @ V.T + rng.normal(0, 0.3, (800, 120))), 1, 5)
seen = rng.random((800, 120)) < 0.08
R = np.where(seen, stars, 0.0).astype("float32")


def masked_mse(y_true, y_pred):
    mask = ops.cast(ops.not_equal({masked}, 0.0), "float32")
    se = ops.square(y_true - y_pred) * mask
    return ops.sum(se) / ops.maximum(ops.sum(mask), 1.0)


inp = keras.Input(shape=(120,))
h = layers.Dense(96, activation="sigmoid", kernel_regularizer=keras.regularizers.l2(1e-4))(inp)
out = layers.Dense(120)(h)
autorec = keras.Model(inp, out)
autorec.compile(optimizer=keras.optimizers.Adam(1e-3), loss=masked_mse)
"""


def test_a_mask_computed_from_the_prediction_is_named_with_the_target_as_the_fix() -> None:
    report = ae_magic.check(AUTOREC.format(masked="y_pred"), namespace={}, data="R", train=False)
    (f,) = [f for f in report.findings if f.title.startswith("The loss's mask")]
    assert f.code == "AE108" and f.severity == "error" and f.line == 13, report.text()
    assert f.evidence["code"] == 0.0 and f.evidence["target_share_equal_to_code"] > 0.9
    assert f.fix == 'mask = ops.cast(ops.not_equal(y_true, 0.0), "float32")'


def test_autorec_masked_by_its_target_with_a_sigmoid_hidden_layer_is_silent() -> None:
    """U-AutoRec's sigmoid layer is the paper's design; measured unsaturated in a run whose masked loss fell
    below the mean's, AE106 is a note. Its MSE over the whole matrix counts the missing entries and means nothing."""
    report = ae_magic.check(AUTOREC.format(masked="y_true"), namespace={}, data="R")
    assert not _loud(report), report.text()
    (f,) = [f for f in report.findings if f.code == "AE106"]
    assert f.severity == "info" and "loss_end" in f.evidence["learned"]


MIXED = """\
import numpy as np
import keras
from keras import layers, ops

rng = np.random.default_rng(32)
f = rng.normal(size=(2000, 3))
num = np.column_stack([f[:, 0], f[:, 1], f[:, 0] + f[:, 2], f[:, 2] - f[:, 1]]) + 0.1 * rng.normal(size=(2000, 4))
cats = [np.eye(k)[np.argmax(f[:, :1] * rng.normal(size=(1, k)) + rng.gumbel(size=(2000, k)), axis=1)] for k in (3, 4)]
X = np.concatenate([num] + cats, axis=1).astype("float32")
n_num, cat_sizes = 4, [3, 4]


def mixed_loss(y_true, y_pred):
    loss = ops.mean(ops.square(y_true[:, :n_num] - y_pred[:, :n_num]), axis=-1)
    start = n_num
    for k in cat_sizes:
        loss += keras.losses.categorical_crossentropy(y_true[:, start:start + k], y_pred[:, start:start + k])
        start += k
    return loss


inp = keras.Input(shape=(X.shape[1],))
h = layers.Dense(16, activation="relu")(inp)
code = layers.Dense({code})(h)
h = layers.Dense(16, activation="relu")(code)
num_out = layers.Dense(n_num)(h)
cat_outs = [layers.Dense(k, activation="softmax")(h) for k in cat_sizes]
recon = layers.Concatenate()([num_out] + cat_outs)
model = keras.Model(inp, recon)
model.compile(optimizer="adam", loss=mixed_loss)
"""


@pytest.mark.parametrize(("code", "width"), [(5, 5), (2, 2)])
def test_heads_concatenated_into_the_output_are_not_the_code(code: int, width: int) -> None:
    """A 3-unit softmax head is part of the reconstruction: the code is the Dense the heads share."""
    report = ae_magic.check(MIXED.format(code=code), namespace={}, data="X", train=False)
    assert not [f for f in report.findings if f.code in ("AE103", "AE104")], report.text()
    assert report.model["graph"]["code_width"] == width


BYPASS = MIXED.replace("recon = layers.Concatenate()([num_out] + cat_outs)",
                       "recon = layers.Concatenate()([layers.Dense(n_num)(inp)] + cat_outs)")


def test_a_head_fed_from_the_input_around_the_code_is_still_a_bypass() -> None:
    report = ae_magic.check(BYPASS.format(code=3), namespace={}, data="X", train=False)
    assert "AE103" in report.codes, report.text()


INPAINT = """\
import numpy as np
import keras
from keras import layers
from ae_magic.datasets import load

x = load("digits").reshape(-1, 8, 8, 1).astype("float32")
rng = np.random.default_rng(0)
x = x[rng.permutation(len(x))]
x_masked = x.copy()
for i, (r, c) in enumerate(zip(rng.integers(0, 6, len(x)), rng.integers(0, 6, len(x)))):
    x_masked[i, r:r + 3, c:c + 3, 0] = 0.0


def conv_block(t, filters):
    return layers.SeparableConv2D(filters, 3, padding="same", activation="relu")(t)


inp = keras.Input(shape=(8, 8, 1))
h = layers.Conv2D(32, 3, padding="same", activation="relu")(inp)
h = layers.MaxPooling2D(2)(h)
h = conv_block(h, 32)
h = layers.MaxPooling2D(2)(h)
code = conv_block(h, 16)
h = layers.UpSampling2D(2)(code)
h = conv_block(h, 32)
h = layers.UpSampling2D(2)(h)
h = conv_block(h, 32)
out = layers.Conv2D(1, 3, padding="same", activation="sigmoid")(h)
inpainter = keras.Model(inp, out)
inpainter.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
"""


def test_a_slow_starter_with_small_initial_gradients_is_silent() -> None:
    """Separable convs give the first layer a gradient thousands of times weaker than the last at the initial
    weights; Adam trains it anyway. The probe run ends near the mean, the longer run leaves it: no AE302."""
    report = ae_magic.check(INPAINT, namespace={}, data="x_masked", target="x")
    assert not _loud(report), report.text()
    assert any("AE302" in n and "slow start" in n for n in report.notes), report.notes


# -- round 30 ------------------------------------------------------------------

STEP_ONLY_LAYER = """\
import keras
import tensorflow as tf
from keras import layers, ops
from ae_magic.datasets import load

x = load("digits").reshape(-1, 64)
body = keras.Sequential([keras.Input(shape=(64,)), layers.Dense(32, activation="relu")])
to_mean, to_log_var = layers.Dense(4), layers.Dense(4)
decoder = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(32, activation="relu"),
                            layers.Dense(64, activation="sigmoid")])


class VAE(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.body, self.to_mean, self.to_log_var, self.decoder = body, to_mean, to_log_var, decoder

    def call(self, inputs):
        return self.decoder(self.to_mean(self.body(inputs)))

    def train_step(self, data):
        with tf.GradientTape() as tape:
            h = self.body(data)
            z_mean, z_log_var = self.to_mean(h), self.to_log_var(h)
            z = z_mean + ops.exp(0.5 * z_log_var) * keras.random.normal(ops.shape(z_mean))
            rec = ops.mean(ops.sum(ops.square(data - self.decoder(z)), axis=-1))
            kl = ops.mean(-0.5 * ops.sum(1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=-1))
            loss = rec + 0.1 * kl
        grads = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        return {"loss": loss}


vae = VAE()
vae.compile(optimizer=keras.optimizers.Adam(1e-3))
"""


def test_a_layer_that_only_the_train_step_builds_is_trained_as_fit_trains_it() -> None:
    """``to_log_var`` is not used by ``call()``: fit builds its optimizer on the first step, with it. The probes
    used to build theirs before, without it, and reported "model.fit fails the same way"."""
    pytest.importorskip("tensorflow")
    ns: dict = {}
    report = ae_magic.check(STEP_ONLY_LAYER, namespace=ns, data="x")
    assert "training" not in (report.coverage.get("skipped") or {}), report.text()
    assert not report.internal_errors and not _loud(report), report.text()
    assert not ns["to_log_var"].built  # the user's layer is left as it was


SALT_PEPPER = """\
import numpy as np
import keras
from keras import layers
from ae_magic.datasets import load

x_train = load("mnist")[:2000, ..., None]
rng = np.random.default_rng(0)
amount = 0.1
hit = rng.random(x_train.shape) {op} amount
x_noisy = x_train.copy()
x_noisy[hit] = rng.integers(0, 2, size=int(hit.sum())).astype("float32")
autoencoder = keras.Sequential([
    keras.Input(shape=(28, 28, 1)),
    layers.Conv2D(32, 3, strides=2, padding="same", activation="relu"),
    layers.Conv2D(16, 3, strides=2, padding="same", activation="relu"),
    layers.Conv2DTranspose(16, 3, strides=2, padding="same", activation="relu"),
    layers.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu"),
    layers.Conv2D(1, 3, padding="same", activation="sigmoid"),
])
autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
"""


@pytest.mark.parametrize(("op", "faulty"), [(">", True), ("<", False)])
def test_a_denoiser_whose_input_is_mostly_noise_is_judged_on_the_longer_run(op: str, faulty: bool) -> None:
    """A code as wide as the input has no PCA bar: a probe run ending a little above the mean's error (the
    corruption replaced 90 % of the pixels) is judged on the longer run. 10 % salt and pepper stays silent."""
    report = ae_magic.check(SALT_PEPPER.format(op=op), namespace={}, data="x_noisy", target="x_train")
    if faulty:
        assert "AE405" in {f.code for f in _loud(report)}, report.text()
    else:
        assert not _loud(report), report.text()


def test_a_copy_never_shares_the_layers_the_cell_made_at_module_level() -> None:
    """Calling the class again hands the "copy" the cell's own layer objects (``self.decoder = decoder``): the
    probes trained the user's layers. Each shared layer is now copied with its weights; the user's stay put."""
    pytest.importorskip("tensorflow")
    import numpy as np

    ns: dict = {}
    exec(STEP_ONLY_LAYER, ns)
    before = [w.copy() for name in ("body", "decoder") for w in ns[name].get_weights()]
    report = ae_magic.probe(ns["vae"], data=ns["x"])
    after = [w for name in ("body", "decoder") for w in ns[name].get_weights()]
    assert "training" in report.coverage["ran"], report.text()
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))
    assert not ns["to_mean"].built and not ns["to_log_var"].built and not ns["vae"].built


MODULE_LAYERS = """\
import keras
from keras import layers
from ae_magic.datasets import load

x = load("digits").reshape(-1, 64)
enc = layers.Dense(8, activation="relu")
dec = layers.Dense(64, activation="sigmoid")


class AE(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.enc, self.dec = enc, dec

    def call(self, inputs):
        return self.dec(self.enc(inputs))


model = AE()
model(x[:2])
model.compile(optimizer="adam", loss="mse")
"""


def test_a_subclassed_copy_gets_its_own_module_level_layers_on_every_backend() -> None:
    import numpy as np

    ns: dict = {}
    exec(MODULE_LAYERS, ns)
    before = [w.copy() for w in ns["enc"].get_weights() + ns["dec"].get_weights()]
    report = ae_magic.probe(ns["model"], data=ns["x"])
    assert "training" in report.coverage["ran"], report.text()
    after = ns["enc"].get_weights() + ns["dec"].get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))
