"""AE401 from the weights the cell left (NaN/Inf: its own fit diverged), and a loss summed over the batch named.

Round 48's av08: ``MeanSquaredError(reduction="sum")`` kept from a custom-training-loop tutorial, under ``fit``
with SGD(0.01, momentum 0.9) and batches of 128: every step is 128x the mean's. The cell's three epochs left NaN
weights; the probes copied them, and the report blamed "a log, division or square root of 0" at the initial
weights. Now the copy starts from fresh initial weights, and the NaN weights are the finding.
"""

from __future__ import annotations

import numpy as np

import ae_magic

CELL = """\
import numpy as np
import keras
from keras import layers

keras.utils.set_random_seed(4)
rng = np.random.default_rng(2024)
x_train = (rng.normal(size=(1200, 5)) @ rng.normal(size=(5, 40))).astype("float32")
x_train = (x_train - x_train.mean(0)) / x_train.std(0)

inputs = keras.Input(shape=(40,))
h = layers.Dense(64, activation="relu")(inputs)
code = layers.Dense(10, name="code")(h)
h = layers.Dense(64, activation="relu")(code)
model = keras.Model(inputs, layers.Dense(40)(h))
loss_object = keras.losses.MeanSquaredError(REDUCTION)
model.compile(optimizer=OPTIMIZER, loss=loss_object)
FIT
"""


def _cell(reduction='reduction="sum"', optimizer="keras.optimizers.SGD(learning_rate=0.05, momentum=0.9)",
          fit="model.fit(x_train, x_train, batch_size=128, epochs=2, verbose=0)"):
    return CELL.replace("REDUCTION", reduction).replace("OPTIMIZER", optimizer).replace("FIT", fit)


def _loud(report):
    return [f for f in report.findings if f.severity in ("warning", "error")]


def test_nan_weights_from_the_cells_fit_are_ae401_blamed_on_the_summed_loss():
    ns: dict = {}
    report = ae_magic.check(_cell(), namespace=ns, data="x_train", seed=0)
    f = next((f for f in _loud(report) if f.code == "AE401" and "nonfinite_values" in f.evidence), None)
    assert f is not None and f.severity == "error", report.text()
    assert f.evidence["reduction"] == "sum" and 'reduction="sum"' in f.source_line
    assert "no problems found" not in report.text().lower()
    assert any("fresh initial weights" in n for n in report.notes), report.notes
    # The user's model keeps its NaN weights: the probes ran on a fresh copy.
    assert not all(np.all(np.isfinite(w)) for w in ns["model"].get_weights())


def test_nan_weights_without_a_summed_loss_are_ae401_at_the_fit_line():
    report = ae_magic.check(_cell(reduction="", optimizer="keras.optimizers.SGD(learning_rate=20.0)"),
                            namespace={}, data="x_train", seed=0)
    f = next((f for f in _loud(report) if f.code == "AE401" and "nonfinite_values" in f.evidence), None)
    assert f is not None and f.source_line.startswith("model.fit("), report.text()
    assert "reduction" not in f.evidence


def test_a_summed_loss_under_adam_and_a_healthy_cell_are_silent():
    for src in (_cell(optimizer="keras.optimizers.Adam(1e-3)"), _cell(reduction="", optimizer="keras.optimizers.Adam(1e-3)")):
        report = ae_magic.check(src, namespace={}, data="x_train", seed=0)
        assert _loud(report) == [], report.text()


def test_a_summed_loss_that_destabilises_the_probe_run_is_named():
    # No fit in the cell: the probes' own steps (batch-size times too long) show it.
    report = ae_magic.check(_cell(fit=""), namespace={}, data="x_train", seed=0)
    f = next((f for f in _loud(report) if f.code == "AE401" and f.evidence.get("reduction") == "sum"), None)
    assert f is not None and 'reduction="sum"' in f.source_line, report.text()


def test_dead_units_at_weights_the_cells_fit_left_say_so():
    from types import SimpleNamespace

    from ae_magic.checks.gradients import _dead_units, cell_steps

    ns: dict = {}
    fit = "model.fit(x_train, x_train, batch_size=128, epochs=1, verbose=0)"
    exec(_cell(reduction="", optimizer="keras.optimizers.Adam(1e-3)", fit=fit), ns)
    steps = cell_steps(SimpleNamespace(model=ns["model"]))
    assert steps == 10  # 1200 samples in batches of 128
    text = _dead_units("at the initial weights", {"dense": 0.97}, steps)
    assert "the cell's own training left (10 steps)" in text
    assert "own training" not in _dead_units("at the initial weights", {"dense": 0.97}, 0)
    assert "own training" not in _dead_units("after the probe run", {"dense": 0.97}, steps)
