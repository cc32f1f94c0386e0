"""A Gaussian-output AE: the output holds a mean and a variance per feature, side by side, and the cell's own
loss reads them apart (round 58's ce10, ``Concatenate()([x_mean, x_var])`` under a hand-written NLL).

AE105 called it a broken shape and the probes did not run. A built-in loss on the same output fails in fit,
so there AE105 stays.
"""

from __future__ import annotations

import ae_magic

GAUSSIAN = """\
import numpy as np
import keras
from keras import layers, ops

keras.utils.set_random_seed(0)
rng = np.random.default_rng(1)
n, d = 800, 12
x_train = (rng.normal(size=(n, 3)) @ rng.normal(size=(3, d)) + 0.1 * rng.normal(size=(n, d))).astype("float32")
x_train = (x_train - x_train.mean(0)) / x_train.std(0)

inp = keras.Input(shape=(d,))
h = layers.Dense(32, activation="relu")(inp)
z = layers.Dense(3)(h)
g = layers.Dense(32, activation="relu")(z)
x_mean = layers.Dense(d, name="x_mean")(g)
x_var = layers.Dense(d, activation="softplus", name="x_var")(g)
out = layers.Concatenate()([x_mean, x_var])
ae = keras.Model(inp, out)


def gaussian_nll(y_true, y_pred):
    mu, var = y_pred[:, :d], y_pred[:, d:]
    return 0.5 * ops.sum(ops.log(var + 1e-6) + ops.square(y_true - mu) / (var + 1e-6), axis=-1)


ae.compile(optimizer=keras.optimizers.Adam(1e-3), loss=LOSS)
"""


def test_a_gaussian_head_read_by_the_cells_own_loss_is_probed_not_ae105():
    report = ae_magic.check(GAUSSIAN.replace("LOSS", "gaussian_nll"), namespace={}, data="x_train")
    assert not report.internal_errors, report.internal_errors
    assert report.get("AE105") is None, report.text()
    assert {"gradients", "training"} <= set(report.coverage["ran"]), report.coverage
    # The reconstruction is read from the mean block: it learns, and nothing is reported.
    assert [f.code for f in report.findings if f.severity in ("warning", "error")] == [], report.text()
    b = report.traces["training"]["baselines"]
    assert b["final"] < 0.5 * b["mean"], b


def test_a_builtin_loss_on_the_doubled_output_is_still_ae105():
    report = ae_magic.check(GAUSSIAN.replace("LOSS", '"mse"'), namespace={}, data="x_train", train=False)
    assert not report.internal_errors, report.internal_errors
    f = report.get("AE105")
    assert f is not None and f.severity == "error", report.text()


def test_a_relu_variance_under_a_variance_nll_is_ae108_at_the_variance_layer():
    # Round 58's ce10: relu variances are exactly 0 for half the units; the NLL divides by var + 1e-6.
    cell = GAUSSIAN.replace("LOSS", "gaussian_nll").replace('activation="softplus", name="x_var"',
                                                           'activation="relu", name="x_var"')
    report = ae_magic.check(cell, namespace={}, data="x_train", train=False)
    assert not report.internal_errors, report.internal_errors
    f = report.get("AE108")
    assert f is not None and f.severity == "warning", report.text()
    assert f.layer == "x_var" and f.line == 16 and "relu" in f.source_line, (f.layer, f.line, f.source_line)
    assert "softplus" in f.fix


def test_a_linear_log_variance_read_with_exp_is_silent():
    cell = (GAUSSIAN.replace("LOSS", "gaussian_nll")
            .replace('activation="softplus", name="x_var"', 'name="x_var"')
            .replace("mu, var = y_pred[:, :d], y_pred[:, d:]", "mu, var = y_pred[:, :d], ops.exp(y_pred[:, d:])"))
    report = ae_magic.check(cell, namespace={}, data="x_train", train=False)
    assert not report.internal_errors, report.internal_errors
    assert report.get("AE108") is None, report.text()
