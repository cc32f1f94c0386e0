"""A denoiser's input clipped to a range its target is not in (the MNIST tutorial's clip on z-scores): AE205."""

from __future__ import annotations

import ae_magic

CELL = """\
import numpy as np
import keras
from keras import layers
rng = np.random.default_rng(7)
raw = rng.normal(size=(2000, 3)) @ rng.normal(size=(3, 12)) + 0.1 * rng.normal(size=(2000, 12))
x_train = {clean}
x_noisy = x_train + 0.3 * rng.normal(size=x_train.shape)
x_noisy = np.clip(x_noisy, 0.0, 1.0).astype("float32")
inputs = keras.Input(shape=(12,))
h = layers.Dense(16, activation="relu")(inputs)
code = layers.Dense(4, activation="relu")(h)
outputs = layers.Dense(12{act})(layers.Dense(16, activation="relu")(code))
denoiser = keras.Model(inputs, outputs)
denoiser.compile(optimizer="adam", loss="mse")
"""
STANDARDISED = '((raw - raw.mean(0)) / raw.std(0)).astype("float32")'
UNIT = '((raw - raw.min(0)) / (raw.max(0) - raw.min(0))).astype("float32")'


def test_a_clip_to_unit_range_on_standardised_features_is_named_at_its_line() -> None:
    report = ae_magic.check(CELL.format(clean=STANDARDISED, act=""), namespace={}, data="x_noisy", target="x_train",
                            train=False)
    f = next((f for f in report.findings if f.code == "AE205" and "target_share_outside" in f.evidence), None)
    assert f is not None, report.text()
    assert f.line == 8 and f.source_line.startswith("x_noisy = np.clip(")
    assert f.evidence["target_share_outside"] > 0.4 and f.evidence["input_range"] == [0.0, 1.0]


def test_a_clip_to_the_targets_own_range_is_silent() -> None:
    """Pixels (here features in [0, 1]) clipped to [0, 1]: the tutorial's case, which is right."""
    report = ae_magic.check(CELL.format(clean=UNIT, act=', activation="sigmoid"'), namespace={}, data="x_noisy",
                            target="x_train", train=False)
    assert not any("target_share_outside" in f.evidence for f in report.findings), report.text()


def test_a_plain_autoencoder_on_clipped_data_is_silent() -> None:
    report = ae_magic.check(CELL.format(clean=STANDARDISED, act=""), namespace={}, data="x_noisy", train=False)
    assert not any("target_share_outside" in f.evidence for f in report.findings), report.text()
