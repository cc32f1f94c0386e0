"""What the cell's fit is given beside the data (``checks/fit_settings.py``), round 49's az04 and az06.

* ``EarlyStopping(monitor="val_loss", mode="max", restore_best_weights=True)``: stopped after improving for
  ``patience`` epochs and restored the first epoch's weights (0.999x the mean's error; 0.26x with "min").
* ``fit(..., sample_weight=1 / counts[modes])`` under SGD: weights averaging 1.6e-3 make every step that much
  shorter; the loss froze near the mean. The probes train without the weights, so both were silent.
"""

from __future__ import annotations

import ae_magic

CELL = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(0)
x_train = (rng.normal(size=(600, 4)) @ rng.normal(size=(4, 24))).astype("float32")
x_train = (x_train - x_train.mean(0)) / x_train.std(0)
modes = rng.integers(0, 3, size=600)
weights = 1.0 / np.bincount(modes)[modes]

inp = keras.Input(shape=(24,))
h = layers.Dense(16, activation="relu")(inp)
code = layers.Dense(4)(h)
model = keras.Model(inp, layers.Dense(24)(layers.Dense(16, activation="relu")(code)))
model.compile(optimizer=OPTIMIZER, loss="mse")
callback = CALLBACK
model.fit(x_train, x_train, epochs=1, batch_size=64, verbose=0, validation_split=0.1, callbacks=[callback]FIT)
"""


def _found(callback="keras.callbacks.History()", optimizer="keras.optimizers.SGD(0.01, momentum=0.9)", fit="", weights=""):
    src = CELL.replace("CALLBACK", callback).replace("OPTIMIZER", optimizer).replace("FIT", fit)
    src = src.replace("np.bincount(modes)[modes]", "np.bincount(modes)[modes]" + weights)
    report = ae_magic.check(src, namespace={}, data="x_train", train=False)
    assert report.internal_errors == [], report.text()
    return [f for f in report.findings if f.severity in ("warning", "error")]


def test_early_stopping_that_maximises_a_loss_is_ae405_at_its_mode():
    found = _found('keras.callbacks.EarlyStopping(monitor="val_loss", mode="max", patience=3, restore_best_weights=True)')
    f = next(f for f in found if f.evidence.get("callback") == "EarlyStopping")
    assert f.code == "AE405" and f.evidence["restore_best_weights"] is True and f.fix.startswith("mode='min'")


def test_a_plateau_callback_that_maximises_the_loss_is_ae402():
    found = _found('keras.callbacks.ReduceLROnPlateau(monitor="loss", mode="max")')
    assert [f.code for f in found if f.evidence.get("callback")] == ["AE402"]


def test_callbacks_that_read_their_quantity_the_right_way_are_silent(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the cell's ModelCheckpoint writes best.weights.h5 where it runs
    for cb in ('keras.callbacks.EarlyStopping(monitor="val_loss", mode="min", restore_best_weights=True)',
               'keras.callbacks.EarlyStopping(monitor="val_loss", patience=3)',
               'keras.callbacks.ModelCheckpoint("best.weights.h5", monitor="val_accuracy", mode="max", save_weights_only=True)'):
        assert not [f for f in _found(cb) if f.evidence.get("callback")], cb


def test_tiny_sample_weights_under_sgd_are_ae402_at_the_fit_line():
    found = _found(fit=", sample_weight=weights")
    f = next(f for f in found if f.title == "Sample weights shrink every step")
    assert f.code == "AE402" and f.source_line.startswith("model.fit(") and f.evidence["mean"] < 0.01
    assert f.fix == "weights = weights / weights.mean()  # the same ratios, averaging 1"


def test_weights_that_average_one_or_an_adaptive_optimizer_are_silent():
    normalised = " * len(modes) / 3"  # (1 / count) * n / classes: the same ratios, averaging 1
    assert not [f for f in _found(fit=", sample_weight=weights", weights=normalised) if "Sample weights" in f.title]
    assert not [f for f in _found(optimizer='"adam"', fit=", sample_weight=weights") if "Sample weights" in f.title]
