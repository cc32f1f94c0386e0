"""Round 45: classes found by fresh cells (session 27).

* A cell whose ``model.fit(x, x)`` raised on the shapes of a Conv1D autoencoder (am08: the keras.io anomaly
  model at 30 time steps, 30 -> 15 -> 8 -> 16 -> 32). The model the failing line trains is the autoencoder even
  though its output is not the input's shape (``capture._trained_at_error``), and AE105 names the first
  Conv1DTranspose whose length departs from the mirrored encoder (``graph._divergence`` reads (B, T, C) as a
  sequence of positions when a layer on the path resizes T).
* Denoising pairs whose positions were scrambled (ak02: channels-first noisy images reshaped, the clean ones
  transposed): the rows do not pair, each row's mean still follows its target's (``pairing.order_scrambled``),
  and a run ending at 0.96x the mean's error, under AE405's bar, is AE405 at the reshape line.
* A healthy LSTM slow starter whose held-out curve is noisy on its plateau (aj04) is not AE403 when a smaller
  rate does no better and a longer run at the configured rate leaves the mean (``confirm_oscillation``'s
  ``leaves_mean``).
"""

from __future__ import annotations

import numpy as np

import ae_magic
from ae_magic.checks.loss_curve import confirm_oscillation
from ae_magic.checks.pairing import _measure
from ae_magic.context import Context
from ae_magic.report import Finding


def _loud(report: ae_magic.Report) -> list:
    return [f for f in report.findings if f.severity in ("warning", "error")]


def _line(src: str, text: str) -> int:
    return next(i for i, line in enumerate(src.splitlines(), start=1) if text in line)


CONV1D = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(3)
t = np.arange(1200)
temp = np.sin(2 * np.pi * t / 288) + 0.1 * rng.normal(size=t.size)
temp_norm = (temp - temp.mean()) / temp.std()
STEPS = WINDOW
x_train = np.stack([temp_norm[i:i + STEPS] for i in range(len(temp_norm) - STEPS + 1)])[..., None].astype("float32")

model = keras.Sequential([
    layers.Input(shape=(x_train.shape[1], x_train.shape[2])),
    layers.Conv1D(filters=32, kernel_size=7, padding="same", strides=2, activation="relu"),
    layers.Dropout(rate=0.2),
    layers.Conv1D(filters=16, kernel_size=7, padding="same", strides=2, activation="relu"),
    layers.Conv1DTranspose(filters=16, kernel_size=7, padding="same", strides=2, activation="relu"),
    layers.Dropout(rate=0.2),
    layers.Conv1DTranspose(filters=32, kernel_size=7, padding="same", strides=2, activation="relu"),
    layers.Conv1DTranspose(filters=1, kernel_size=7, padding="same"),
])
model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.001), loss="mse")
history = model.fit(x_train, x_train, epochs=1, batch_size=128, verbose=0)
"""


def test_a_conv1d_model_whose_fit_raised_on_shapes_is_ae105_at_the_first_transpose_that_departs():
    src = CONV1D.replace("WINDOW", "30")
    report = ae_magic.check(src, namespace={}, data="x_train", train=False)
    assert report.cell_error is not None and report.model is not None
    f = report.get("AE105")
    assert f is not None, report.text()
    # Named at the window length the cell chose (round 87's lb05), with the transpose that departs as the layer.
    assert f.line == _line(src, "STEPS = 30"), report.text()
    assert (f.layer or "").startswith("conv1d_transpose") and f"line {_line(src, 'Conv1DTranspose(filters=16')}" in f.message, report.text()
    assert "16 from 8" in f.message and "15" in f.message
    assert "Cropping1D((1, 1))" in (f.fix or "")


def test_the_same_conv1d_model_at_a_length_divisible_by_its_stride_has_no_shape_finding():
    report = ae_magic.check(CONV1D.replace("WINDOW", "32"), namespace={}, data="x_train", train=False)
    assert report.cell_error is None
    assert report.get("AE105") is None and report.get("AE100") is None, report.text()


def test_a_standalone_encoder_is_still_not_diagnosed_when_the_cell_raises_elsewhere():
    src = """\
import numpy as np
import keras
from keras import layers

x_train = np.random.default_rng(0).normal(size=(64, 20)).astype("float32")
inp = keras.Input(shape=(20,))
encoder = keras.Model(inp, layers.Dense(4)(inp))
raise RuntimeError("stopped before the decoder")
"""
    report = ae_magic.check(src, namespace={}, data="x_train", train=False)
    assert report.model is None and report.get("AE100") is not None


def _images(n: int = 300, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:12, 0:12]
    out = np.zeros((n, 3, 12, 12), dtype=np.float32)
    for i in range(n):
        cy, cx, r = rng.integers(3, 9), rng.integers(3, 9), rng.integers(2, 4)
        out[i][:, (yy - cy) ** 2 + (xx - cx) ** 2 <= r ** 2] = rng.uniform(0.3, 1.0, (3, 1))
    return out


def test_pairing_tells_scrambled_positions_from_rows_shuffled_apart():
    clean = _images()
    noisy = np.clip(clean + np.random.default_rng(1).normal(0, 0.2, clean.shape), 0, 1).astype("float32")
    target = np.transpose(clean, (0, 2, 3, 1))
    matched = _measure(np.transpose(noisy, (0, 2, 3, 1)), target)
    assert matched is not None and matched["paired"] and "order_scrambled" not in matched
    scrambled = _measure(noisy.reshape(-1, 12, 12, 3), target)
    assert scrambled is not None and not scrambled["paired"] and scrambled["order_scrambled"], scrambled
    shuffled = _measure(np.transpose(noisy, (0, 2, 3, 1))[np.random.default_rng(2).permutation(len(noisy))], target)
    assert shuffled is not None and not shuffled["paired"] and not shuffled["order_scrambled"], shuffled


DENOISER = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(0)
yy, xx = np.mgrid[0:32, 0:32]
clean = np.zeros((900, 3, 32, 32), dtype=np.float32)
for i in range(len(clean)):
    for _ in range(rng.integers(1, 3)):
        cy, cx, r = rng.integers(6, 26), rng.integers(6, 26), rng.integers(3, 7)
        clean[i][:, (yy - cy) ** 2 + (xx - cx) ** 2 <= r ** 2] = rng.uniform(0.3, 1.0, (3, 1))
noisy = np.clip(clean + rng.normal(0, 0.2, clean.shape), 0, 1).astype("float32")

x_train = np.transpose(clean, (0, 2, 3, 1))
x_train_noisy = NOISY

inp = keras.Input(shape=(32, 32, 3))
x = layers.Conv2D(32, 3, strides=2, padding="same", activation="relu")(inp)
x = layers.Conv2D(64, 3, strides=2, padding="same", activation="relu")(x)
x = layers.Conv2DTranspose(64, 3, strides=2, padding="same", activation="relu")(x)
x = layers.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu")(x)
out = layers.Conv2D(3, 3, padding="same", activation="sigmoid")(x)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
"""


def test_a_denoiser_fed_scrambled_positions_is_ae405_at_the_reshape_line():
    src = DENOISER.replace("NOISY", "noisy.reshape(-1, 32, 32, 3)")
    report = ae_magic.check(src, namespace={}, data="x_train_noisy", target="x_train", seed=0)
    f = report.get("AE405")
    assert f is not None, report.text()
    assert f.line == _line(src, "x_train_noisy = noisy.reshape"), report.text()
    assert "at other positions" in f.message and "transpose" in (f.fix or "")


def test_the_same_denoiser_fed_transposed_images_is_silent():
    src = DENOISER.replace("NOISY", "np.transpose(noisy, (0, 2, 3, 1))")
    report = ae_magic.check(src, namespace={}, data="x_train_noisy", target="x_train", seed=0)
    assert not _loud(report), report.text()


def _oscillating(leaves: bool) -> tuple[list, list[str]]:
    """confirm_oscillation on a noisy plateau near the mean, whose repeat at a third of the rate is no lower."""
    ctx = Context(source="", namespace={})
    curve = [0.367, 0.372, 0.368, 0.365, 0.370, 0.375, 0.368, 0.365, 0.362, 0.364, 0.372, 0.365, 0.369]
    tr = {"lr": 3e-3, "baselines": {"final": 0.362, "mean": 0.367, "pca": 0.05}, "val_curve": {"loss": curve}}
    osc = Finding(code="AE403", severity="warning", title="Loss oscillates", message="Up and down.",
                  evidence={"fix_lr": 1e-3})
    lower = {"val_curve": {"loss": [0.367, 0.362, 0.361, 0.360, 0.360, 0.360, 0.359, 0.359, 0.359, 0.358]}}
    return confirm_oscillation(ctx, tr, [osc], lambda lr: lower, lambda: leaves), ctx.notes


def test_bumps_on_a_plateau_that_a_longer_run_leaves_are_not_ae403():
    found, notes = _oscillating(True)
    assert found == [] and "slow start on a noisy plateau" in notes[-1]


def test_bumps_on_a_plateau_that_a_longer_run_does_not_leave_are_not_ae403_when_a_lower_rate_is_no_better():
    # A third of the rate ends 2 % lower, within a tail mean's noise: lowering the rate is not the advice that
    # helps (what keeps the model on the mean is AE405's to report), so AE403 is not given.
    found, notes = _oscillating(False)
    assert found == [] and "not reported" in notes[-1]
