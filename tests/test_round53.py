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
