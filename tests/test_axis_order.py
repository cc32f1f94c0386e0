"""AE204 for channels-first sequence data fed to a channels-last Conv1D/LSTM model (round 18's pump telemetry)."""

from __future__ import annotations

import ae_magic
from ae_magic.checks.axis_order import neighbour_correlation

CELL = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(3)
n, steps = 256, 96
t = np.arange(steps)[None, :]
f = rng.uniform(0.02, 0.06, size=(n, 1))
ph = rng.uniform(0, 2 * np.pi, size=(n, 1))
load = rng.uniform(0.5, 1.5, size=(n, 1))
temperature = 60 + 5 * load + 0.02 * t * load + rng.normal(0, 0.3, (n, steps))
vibration = load * np.sin(2 * np.pi * f * t + ph) + 0.1 * rng.normal(size=(n, steps))
pressure = 3 + 0.5 * load * np.cos(2 * np.pi * f * t + ph) + 0.05 * rng.normal(size=(n, steps))
sensors = [(s - s.mean()) / s.std() for s in (temperature, vibration, pressure)]
x = np.stack(sensors, axis=AXIS).astype("float32")

model = keras.Sequential([
    layers.Input(shape=x.shape[1:]),
    LAYER,
    layers.Conv1D(8, 5, padding="same", activation="relu"),
    layers.Conv1D(x.shape[2], 5, padding="same"),
])
model.compile(optimizer="adam", loss="mse")
"""

CONV = 'layers.Conv1D(16, 5, padding="same", activation="relu")'
LSTM = "layers.LSTM(16, return_sequences=True)"


def _check(axis: str, layer: str = CONV) -> ae_magic.Report:
    cell = CELL.replace("AXIS", axis).replace("LAYER", layer)
    return ae_magic.check(cell, namespace={}, data="x", seed=0, train=False)


def test_channels_first_sequence_data_is_named_at_the_stack_line() -> None:
    report = _check("1")
    f = report.get("AE204")
    assert f is not None and f.severity == "warning", report.text()
    assert f.line == 15 and "axis=1" in f.source_line, (f.line, f.source_line)
    assert f.evidence["neighbour_correlation_axis2"] >= 0.8 > 0.5 >= f.evidence["neighbour_correlation_axis1"]
    assert "axis=-1" in f.fix
    # The same mix-up under a recurrent model.
    assert "AE204" in _check("1", LSTM).codes


def test_channels_last_sequence_data_is_silent() -> None:
    for layer in (CONV, LSTM):
        report = _check("-1", layer)
        assert "AE204" not in report.codes, report.text()


def test_smooth_features_on_a_smooth_time_axis_are_silent() -> None:
    # A spectrum-like profile per time step (smooth along both axes) is not a swapped layout.
    # 6 time steps of a 40-bin profile: the layout the check looks at (a long axis 2), but smooth along axis 1 too.
    cell = CELL.replace("x = np.stack(sensors, axis=AXIS)",
                        "grid = np.linspace(0, 1, 40)[None, None, :]\n"
                        "k = np.arange(6)[None, :, None]\n"
                        "x = np.sin(2 * np.pi * (grid + 0.03 * k * load[..., None] + ph[..., None]))")
    cell = cell.replace("LAYER", CONV)
    ns: dict = {}
    report = ae_magic.check(cell, namespace=ns, data="x", seed=0, train=False)
    x = ns["x"]
    assert x.shape[1:] == (6, 40) and neighbour_correlation(x, 2) >= 0.8 and neighbour_correlation(x, 1) > 0.5
    assert "AE204" not in report.codes, report.text()
