"""Sliding windows cut from a series shuffled first (order lost): AE205 at the shuffle line."""

from __future__ import annotations

import pytest

import ae_magic

CELL = """\
import numpy as np
import keras
from keras import layers
rng = np.random.default_rng(1)
t = np.arange(4000)
values = (np.sin(2 * np.pi * t / 96) + 0.3 * np.sin(2 * np.pi * t / 17) + 0.05 * rng.normal(size=t.shape)).reshape(-1, 1)
{before}
windows = np.stack([values[i:i + 64] for i in range(0, len(values) - 64 + 1, 2)]).astype("float32")
{after}
model = keras.Sequential([
    layers.Input(shape=(64, 1)),
    layers.Conv1D(8, 5, strides=2, padding="same", activation="relu"),
    layers.Conv1DTranspose(8, 5, strides=2, padding="same", activation="relu"),
    layers.Conv1D(1, 5, padding="same"),
])
model.compile(optimizer="adam", loss="mse")
"""


def test_a_series_shuffled_before_windowing_is_named_at_the_shuffle() -> None:
    cell = CELL.format(before="rng.shuffle(values)", after="")
    report = ae_magic.check(cell, namespace={}, data="windows", train=False)
    f = next((f for f in report.findings if f.code == "AE205" and "lag1_correlation" in f.evidence), None)
    assert f is not None, report.text()
    assert f.line == 7 and f.source_line == "rng.shuffle(values)"
    assert f.evidence["shift"] == 2 and max(f.evidence["lag1_correlation"]) < 0.2


@pytest.mark.parametrize("before,after", [("", "rng.shuffle(windows)"), ("", "")])
def test_windows_cut_in_time_order_are_silent(before: str, after: str) -> None:
    report = ae_magic.check(CELL.format(before=before, after=after), namespace={}, data="windows", train=False)
    assert not any("lag1_correlation" in f.evidence for f in report.findings), report.text()
