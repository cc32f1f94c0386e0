"""A learning-rate schedule that decays to nothing in the first epochs (decay_steps read as epochs): AE402."""

from __future__ import annotations

import pytest

import ae_magic

CELL = """\
import numpy as np
import keras
from keras import layers
rng = np.random.default_rng(0)
x_train = (rng.normal(size=(1500, 4)) @ rng.normal(size=(4, 16))).astype("float32")
model = keras.Sequential([keras.Input(shape=(16,)), layers.Dense(8, activation="relu"), layers.Dense(16)])
lr_schedule = {schedule}
model.compile(optimizer=keras.optimizers.Adam(learning_rate=lr_schedule), loss="mse")
"""


def test_a_schedule_that_halves_every_ten_batches_is_named_at_its_line() -> None:
    cell = CELL.format(schedule="keras.optimizers.schedules.ExponentialDecay(1e-3, decay_steps=10, decay_rate=0.5)")
    report = ae_magic.check(cell, namespace={}, data="x_train", train=False)
    f = report.get("AE402")
    assert f is not None and f.title == "The learning-rate schedule decays to almost nothing", report.text()
    assert f.line == 7 and f.source_line.startswith("lr_schedule = keras.optimizers.schedules.ExponentialDecay(")
    b = f.evidence["schedule"]
    assert b["steps_per_epoch"] == 47 and b["budget_epochs"] < 1 and b["after_1_epoch"] < 1e-4
    assert "decay_steps=470" in f.fix


@pytest.mark.parametrize("schedule", [
    "keras.optimizers.schedules.ExponentialDecay(1e-3, decay_steps=1000, decay_rate=0.9)",
    "keras.optimizers.schedules.CosineDecay(1e-3, decay_steps=940)",
    "keras.optimizers.schedules.PiecewiseConstantDecay([200, 500], [1e-3, 5e-4, 1e-4])",
    "1e-3",
])
def test_schedules_that_leave_a_rate_to_learn_with_are_silent(schedule: str) -> None:
    report = ae_magic.check(CELL.format(schedule=schedule), namespace={}, data="x_train", train=False)
    assert report.get("AE402") is None, report.text()
