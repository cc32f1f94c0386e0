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
