"""Round 53 and the re-run of rounds 47-48: dead units in the weights the cell's own fit left.

Round 47's au05 (a healthy ECG slow starter: Dense 32-16-8-16-32 ReLU, MAE, Adam) ends its cell with a 3-epoch fit.
On some seeds that fit leaves 6 of the 8 code units dead; the probes start from those weights and reported AE304,
and AE304 then "explained" an AE405 that a longer run would have cleared (the model leaves the mean 4x later).
Dead units that the cell's fit left are now tested by the run rather than taken as a cause: when the model still
learns past the mean from those weights, AE304 is info; when every code unit is dead, the warnings stand.
"""

from __future__ import annotations

import pytest

import ae_magic

CELL = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(3)
z = rng.normal(size=(1000, 3))
x = z @ rng.normal(size=(3, 24)) + 0.1 * rng.normal(size=(1000, 24))
x_train = ((x - x.min(0)) / (x.max(0) - x.min(0))).astype("float32")
model = keras.Sequential([keras.Input(shape=(24,)), layers.Dense(16, activation="relu"),
                          layers.Dense(8, activation="relu", name="code"), layers.Dense(16, activation="relu"),
                          layers.Dense(24, activation="sigmoid")])
model.compile(optimizer="adam", loss="mse")
FIT
# the units a fit left dead: a bias no input overcomes
kernel, bias = model.get_layer("code").get_weights()
bias[:DEAD] = -50.0
model.get_layer("code").set_weights([kernel, bias])
"""
FIT = "model.fit(x_train, x_train, epochs=1, batch_size=64, verbose=0)"


def _check(dead: int, fit: str = FIT) -> ae_magic.Report:
    report = ae_magic.check(CELL.replace("FIT", fit).replace("DEAD", str(dead)), namespace={}, data="x_train", seed=0)
    assert report.internal_errors == [], report.internal_errors
    return report


def test_units_the_cells_fit_left_dead_that_do_not_stop_learning_are_info() -> None:
    report = _check(6)
    loud = [f for f in report.findings if f.severity in ("warning", "error")]
    assert loud == [], report.text()
    dead = report.get("AE304")
    assert dead is not None and dead.severity == "info", report.text()
    learned = dead.evidence["learned_after"]
    assert learned["mse_end"] <= 0.98 * learned["mean_baseline"] and learned["steps"] > 0
    assert "do not stop it learning" in dead.message


def test_a_code_the_cells_fit_left_all_dead_keeps_its_warnings() -> None:
    report = _check(8)
    dead = report.get("AE304")
    assert dead is not None and dead.severity == "warning", report.text()
    assert "learned_after" not in dead.evidence
    assert {f.code for f in report.findings if f.severity in ("warning", "error")} & {"AE404", "AE405"}, report.text()


@pytest.mark.parametrize("dead", [6, 8])
def test_units_dead_before_any_fit_are_not_judged_by_this_rule(dead: int) -> None:
    """Without a fit in the cell the dead units are the model as written (a bias initializer, a bad init): the
    rule for weights a fit left does not apply, and AE304 is judged as before."""
    report = _check(dead, fit="")
    dead_f = report.get("AE304")
    assert dead_f is not None and dead_f.severity == "warning" and "learned_after" not in dead_f.evidence, report.text()


# Round 53's bp04: l2(0.05) on every kernel of a tabular autoencoder, 7x the reconstruction loss at the start. The
# cell's 3-epoch fit already shrank the weights, so at the probes' initial weights the penalty no longer outweighs the
# loss, and the collapse (AE404) was named at the code layer. The penalty is now also read at fresh initial weights.
PENALISED = """\
import numpy as np
import keras
from keras import layers, regularizers

rng = np.random.default_rng(11)
n_rows, n_feat, n_seg = 2500, 30, 6
centers = rng.normal(0, 2.0, size=(n_seg, n_feat))
seg = rng.integers(0, n_seg, size=n_rows)
loadings = rng.normal(0, 1.0, size=(3, n_feat))
x = centers[seg] + rng.normal(size=(n_rows, 3)) @ loadings * 0.5 + 0.3 * rng.normal(size=(n_rows, n_feat))
x_train = ((x - x.mean(0)) / x.std(0)).astype("float32")

reg = regularizers.l2(FACTOR)
inp = keras.Input(shape=(n_feat,))
z = layers.Dense(64, activation="relu", kernel_regularizer=reg)(inp)
z = layers.Dense(32, activation="relu", kernel_regularizer=reg)(z)
z = layers.Dense(8, kernel_regularizer=reg, name="code")(z)
y = layers.Dense(32, activation="relu", kernel_regularizer=reg)(z)
y = layers.Dense(64, activation="relu", kernel_regularizer=reg)(y)
y = layers.Dense(n_feat, kernel_regularizer=reg)(y)
autoencoder = keras.Model(inp, y)
autoencoder.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
autoencoder.fit(x_train, x_train, epochs=3, batch_size=32, verbose=0)
"""


def test_a_weight_penalty_the_cells_fit_already_obeyed_is_named_from_fresh_weights() -> None:
    report = ae_magic.check(PENALISED.replace("FACTOR", "0.05"), namespace={}, data="x_train", seed=0)
    assert report.internal_errors == [], report.internal_errors
    hit = next((f for f in report.findings if f.code in ("AE404", "AE405") and f.severity in ("warning", "error")
                and "weight penalty" in f.message), None)
    assert hit is not None, report.text()
    assert hit.line == 13 and "regularizers.l2(0.05)" in (hit.source_line or ""), (hit.line, hit.source_line)
    # At the weights the fit left the penalty is below the loss; where the fit started it was several times it.
    assert "fresh initial weights" in hit.message, hit.message
    pen = hit.evidence["weight_penalty"]
    assert pen["at"] == "fresh initial weights" and pen["ratio"] >= 1.0


def test_a_light_weight_penalty_after_the_cells_fit_is_silent() -> None:
    report = ae_magic.check(PENALISED.replace("FACTOR", "1e-4"), namespace={}, data="x_train", seed=0)
    assert report.internal_errors == [], report.internal_errors
    assert not [f for f in report.findings if f.severity in ("warning", "error")], report.text()


# Round 53's bp05: a KL sparsity layer (Ng's notes) with each log ratio upside down, -KL, added with add_loss. The
# loss runs to -inf and fit reaches NaN by epoch 6; the probe run saw the outputs collapse first, and the flipped
# sign was told inside AE404. A loss with no lower bound diverges: AE401, at the KL line, with the symptom kept.
SPARSE = """\
import numpy as np
import keras
from keras import layers, ops

rng = np.random.default_rng(5)
n, side = 1200, 12
imgs = np.zeros((n, side, side), dtype="float32")
for i in range(n):
    for _ in range(rng.integers(1, 4)):
        k = rng.integers(0, side)
        if rng.random() < 0.5:
            imgs[i, k, :] = 1.0
        else:
            imgs[i, :, k] = 1.0
x_train = np.clip(imgs + 0.05 * rng.random(imgs.shape).astype("float32"), 0, 1).reshape(n, side * side)


class KLSparsity(layers.Layer):
    def __init__(self, rho=0.05, beta=3.0, **kwargs):
        super().__init__(**kwargs)
        self.rho = rho
        self.beta = beta

    def call(self, h):
        rho_hat = ops.mean(h, axis=0)
        kl = KL_FORMULA
        self.add_loss(self.beta * ops.sum(kl))
        return h


inputs = keras.Input(shape=(side * side,))
hidden = layers.Dense(64, activation="sigmoid", name="hidden")(inputs)
hidden = KLSparsity(rho=0.05, beta=0.01, name="kl_sparsity")(hidden)
outputs = layers.Dense(side * side, activation="sigmoid")(hidden)
sparse_ae = keras.Model(inputs, outputs)
sparse_ae.compile(optimizer=keras.optimizers.Adam(3e-3), loss="mse")
sparse_ae.fit(x_train, x_train, epochs=2, batch_size=64, verbose=0)
"""
FLIPPED = "self.rho * ops.log(rho_hat / self.rho) + (1 - self.rho) * ops.log((1 - rho_hat) / (1 - self.rho))"
RIGHT = "self.rho * ops.log(self.rho / rho_hat) + (1 - self.rho) * ops.log((1 - self.rho) / (1 - rho_hat))"


def test_a_sparsity_kl_with_its_ratios_upside_down_is_a_divergence_at_its_line() -> None:
    report = ae_magic.check(SPARSE.replace("KL_FORMULA", FLIPPED), namespace={}, data="x_train", seed=0)
    assert report.internal_errors == [], report.internal_errors
    hit = report.get("AE401")
    assert hit is not None and hit.severity == "error" and "sign is flipped" in hit.message, report.text()
    assert hit.line == 26 and "ops.log(rho_hat / self.rho)" in (hit.source_line or "")
    assert "ops.log(self.rho / rho_hat)" in (hit.fix or "")
    assert hit.evidence.get("negative_kl") is not None


def test_a_sparsity_kl_the_right_way_up_is_not_called_flipped() -> None:
    report = ae_magic.check(SPARSE.replace("KL_FORMULA", RIGHT), namespace={}, data="x_train", seed=0)
    assert report.internal_errors == [], report.internal_errors
    assert report.get("AE401") is None and "sign is flipped" not in report.text(), report.text()


# Round 53's bp09: the KL sparsity layer (mean activation to rho = 0.05) called on the reconstruction instead of the
# sigmoid hidden code; the data's mean is 0.19, so the penalty holds every output dim and the model settles on the
# mean (AE405, confirmed 4x longer), which was named at the model's line with no cause.
ON_OUTPUT = """\
import numpy as np
import keras
from keras import layers, ops

# 12x12 "tiles": two filled blocks per image with random size, position and grey level
rng = np.random.default_rng(33)
n, S = 1500, 12
x_train = np.zeros((n, S, S), dtype="float32")
for i in range(n):
    for _ in range(2):
        h, w = rng.integers(3, 7, 2)
        r, c = rng.integers(0, S - h + 1), rng.integers(0, S - w + 1)
        x_train[i, r:r + h, c:c + w] = np.maximum(x_train[i, r:r + h, c:c + w], rng.uniform(0.5, 1.0))
x_train = x_train.reshape(n, S * S)


def kl_divergence(rho, rho_hat):
    rho_hat = ops.clip(rho_hat, 1e-6, 1 - 1e-6)
    return rho * ops.log(rho / rho_hat) + (1 - rho) * ops.log((1 - rho) / (1 - rho_hat))


class SparsityRegularizer(layers.Layer):
    def __init__(self, rho=0.05, beta=0.05, **kwargs):
        super().__init__(**kwargs)
        self.rho, self.beta = rho, beta

    def call(self, activations):
        rho_hat = ops.mean(activations, axis=0)          # average activation of each unit over the batch
        self.add_loss(self.beta * ops.sum(kl_divergence(self.rho, rho_hat)))
        return activations


inputs = keras.Input(shape=(S * S,))
hidden = layers.Dense(64, activation="sigmoid", name="hidden")(inputs)
HIDDEN
recon = layers.Dense(S * S, activation="sigmoid", name="recon")(hidden)
TARGET

sparse_ae = keras.Model(inputs, recon)
sparse_ae.compile(optimizer=keras.optimizers.Adam(3e-3), loss="mse")
sparse_ae.fit(x_train, x_train, epochs=3, batch_size=64, verbose=0)
"""


def test_a_sparsity_penalty_on_the_reconstruction_is_named_at_its_call() -> None:
    cell = ON_OUTPUT.replace("HIDDEN\n", "").replace("TARGET", 'recon = SparsityRegularizer(name="sparsity")(recon)')
    # The code's tensor named as this cell names it: the fix moves the penalty onto `encoded`.
    cell = cell.replace("hidden = layers.Dense(64", "encoded = layers.Dense(64").replace(")(hidden)\n", ")(encoded)\n")
    assert "(encoded)" in cell and "hidden =" not in cell
    report = ae_magic.check(cell, namespace={}, data="x_train", seed=0)
    assert report.internal_errors == [], report.internal_errors
    hit = report.get("AE405")
    assert hit is not None and "on the model's output" in hit.message, report.text()
    assert hit.layer == "sparsity" and "SparsityRegularizer(" in (hit.source_line or ""), (hit.layer, hit.source_line)
    assert hit.evidence["penalty_on_output"]["class"] == "SparsityRegularizer"
    assert "encoded = SparsityRegularizer(...)(encoded)" in hit.fix, hit.fix


def test_the_same_penalty_on_the_hidden_code_is_not_blamed() -> None:
    cell = ON_OUTPUT.replace("HIDDEN", 'hidden = SparsityRegularizer(name="sparsity")(hidden)').replace("TARGET", "")
    report = ae_magic.check(cell, namespace={}, data="x_train", seed=0)
    assert report.internal_errors == [], report.internal_errors
    assert "on the model's output" not in report.text(), report.text()


# Round 54's bq09: the TF tutorial's subclassed autoencoder, its decoder ending ``Dense(784, activation=...)`` then
# ``Reshape``, ported with a softmax output under BinaryCrossentropy. The output layer found by the forward pass was
# the Reshape (no activation), so AE108 was never checked; it now looks through a shape-only last layer.
SUBCLASSED = """\
import numpy as np
import keras
from keras import layers, losses

rng = np.random.default_rng(0)
x_train = (rng.random((600, 12, 12)) < 0.2).astype("float32")


class Autoencoder(keras.Model):
    def __init__(self, latent_dim, shape):
        super().__init__()
        self.encoder = keras.Sequential([layers.Flatten(), layers.Dense(latent_dim, activation="relu")])
        self.decoder = keras.Sequential([
            layers.Dense(int(np.prod(shape)), activation="ACT"),
            layers.Reshape(shape),
        ])

    def call(self, x):
        return self.decoder(self.encoder(x))


autoencoder = Autoencoder(16, x_train.shape[1:])
autoencoder.compile(optimizer="adam", loss=losses.BinaryCrossentropy())
"""


def test_a_softmax_before_a_reshape_in_a_subclassed_decoder_is_ae108() -> None:
    report = ae_magic.check(SUBCLASSED.replace("ACT", "softmax"), namespace={}, data="x_train", seed=0, train=False)
    assert report.internal_errors == [], report.internal_errors
    hit = report.get("AE108")
    assert hit is not None and "softmax" in hit.message, report.text()
    assert hit.line == 14 and 'activation="softmax"' in (hit.source_line or ""), (hit.line, hit.source_line)
    # The edit changes that layer's activation, not the Sequential call around it.
    assert hit.edit is not None and hit.edit["start_line"] == 14, hit.edit
    assert 'activation="sigmoid"' in hit.edit["replacement"] and "Dense(" in hit.edit["replacement"], hit.edit


def test_a_sigmoid_before_a_reshape_in_a_subclassed_decoder_is_silent() -> None:
    report = ae_magic.check(SUBCLASSED.replace("ACT", "sigmoid"), namespace={}, data="x_train", seed=0, train=False)
    assert report.internal_errors == [], report.internal_errors
    assert report.get("AE108") is None and report.get("AE203") is None, report.text()


# The same decoder with its Dense on the statement's first line: the Sequential call shares the line, and the edit
# must still change the Dense (the call with the activation keyword), not the Sequential around it.
FIRST_LINE = SUBCLASSED.replace("""        self.decoder = keras.Sequential([
            layers.Dense(int(np.prod(shape)), activation="ACT"),
""", """        self.decoder = keras.Sequential([layers.Dense(int(np.prod(shape)), activation="ACT"),
""")


def test_ae108_edit_on_a_sequential_statement_s_first_line_changes_the_dense() -> None:
    assert FIRST_LINE != SUBCLASSED
    report = ae_magic.check(FIRST_LINE.replace("ACT", "softmax"), namespace={}, data="x_train", seed=0, train=False)
    assert report.internal_errors == [], report.internal_errors
    hit = report.get("AE108")
    assert hit is not None and hit.line == 13, report.text()
    assert hit.edit is not None and hit.edit["start_line"] == 13, hit.edit
    new = hit.edit["replacement"]
    assert new.strip().startswith("self.decoder = keras.Sequential([layers.Dense("), new
    assert 'activation="sigmoid"' in new and "softmax" not in new, new
