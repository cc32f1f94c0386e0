"""Round 72 (session 39): fresh cells written blind (symptom-first Stack Overflow questions; code ported from
PyTorch, Keras 2 and scikit-learn habits); the fix its one miss of a line asked for.

* dg07 (a PyTorch port: ``def sum_mse(y_true, y_pred): return ops.sum(ops.square(y_true - y_pred))``, the
  ``nn.MSELoss(reduction='sum')`` habit, under SGD(0.01)): the weights went NaN in the cell's fit, and the AE401s
  named the fit and compile lines under an AE303 at a Dense layer. Keras averages what a loss function returns per
  sample; a function that sums over the batch is not averaged again, so every step is batch-size times too long.
  Measured on the function alone (its value doubles when the same samples come twice), it is the root now: AE401 at
  the function's return, with the AE303 it causes under it.
"""

from __future__ import annotations

import ae_magic
from ae_magic.checks.diverged_weights import summed_function
from ae_magic.session import Session


def _line(src: str, text: str) -> int:
    return next(i for i, line in enumerate(src.splitlines(), 1) if text in line)


PORT = """\
import numpy as np
import keras
from keras import layers, ops

rng = np.random.default_rng(0)
n, win = 1000, 64
t = np.arange(win)
period = rng.uniform(8, 32, size=(n, 1))
offset = rng.uniform(0, 2 * np.pi, size=(n, 1))
windows = (np.sin(2 * np.pi * t / period + offset) + 0.1 * rng.normal(size=(n, win))).astype("float32")


def sum_mse(y_true, y_pred):
    return REDUCED


autoencoder = keras.Sequential([
    keras.Input(shape=(win,)),
    layers.Dense(32, activation="relu"),
    layers.Dense(8),
    layers.Dense(32, activation="relu"),
    layers.Dense(win),
])
autoencoder.compile(optimizer=keras.optimizers.SGD(learning_rate=0.01), loss=sum_mse)
FIT
"""

SUMMED = "ops.sum(ops.square(y_true - y_pred))"
PER_SAMPLE = "ops.mean(ops.square(y_true - y_pred), axis=-1)"
FIT = "autoencoder.fit(windows, windows, epochs=2, batch_size=64, verbose=0)"


def test_a_loss_function_summed_over_the_batch_is_measured_and_one_per_sample_is_not() -> None:
    src = PORT.replace("REDUCED", SUMMED).replace("FIT", "")
    ctx = Session.from_cell(src, namespace={}, data="windows")._base
    name, line, text = summed_function(ctx)
    assert name == "sum_mse" and line == _line(src, "return ops.sum") and "ops.sum" in text
    for reduced in (PER_SAMPLE, "ops.mean(ops.square(y_true - y_pred))", "ops.sum(ops.square(y_true - y_pred), axis=-1)"):
        healthy = PORT.replace("REDUCED", reduced).replace("FIT", "")
        assert summed_function(Session.from_cell(healthy, namespace={}, data="windows")._base) is None, reduced


def test_a_port_whose_summed_loss_wrecked_the_cells_fit_is_ae401_at_the_loss_as_the_root() -> None:
    src = PORT.replace("REDUCED", SUMMED).replace("FIT", FIT)
    report = ae_magic.check(src, namespace={}, data="windows")
    roots = [f for f in report.findings if f.code == "AE401" and f.caused_by is None]
    assert roots and roots[0].line == _line(src, "return ops.sum"), report.text()
    assert roots[0].evidence.get("reduction") == "sum"
    assert "axis=-1" in (roots[0].fix or "")
    # The exploding gradients it causes go under it.
    assert all(f.caused_by is not None for f in report.findings if f.code == "AE303"), report.text()


def test_the_same_port_averaged_per_sample_is_silent() -> None:
    # The healthy port: a loss per sample under Adam (plain SGD at 0.01 on a mean loss is too slow a start for the
    # probe run to beat the mean's error, a separate matter).
    src = (PORT.replace("REDUCED", PER_SAMPLE).replace("FIT", FIT)
           .replace("keras.optimizers.SGD(learning_rate=0.01)", "keras.optimizers.Adam(learning_rate=0.003)"))
    report = ae_magic.check(src, namespace={}, data="windows")
    assert not [f for f in report.findings if f.severity in ("warning", "error")], report.text()
