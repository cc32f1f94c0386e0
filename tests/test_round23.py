"""Round 23: an inpainting mask applied the wrong way round, and augmentation inside an autoencoder whose
target is its own input (AE205, each named at its line). Healthy set-ups stay silent."""

from __future__ import annotations

import pytest

import ae_magic

INPAINT = """\
import numpy as np
import keras
from keras import layers
rng = np.random.default_rng(0)
x_train = np.zeros((300, 16, 16), dtype="float32")
for img in x_train:
    r = rng.integers(2, 8)
    img[r:r + 6, 3:13] = rng.uniform(0.5, 1.0)
masks = np.zeros_like(x_train)
masks[:, {hole}] = 1.0
x_masked = {masked}
model = keras.Sequential([keras.Input(shape=(16, 16)), layers.Flatten(), layers.Dense(32, activation="relu"),
                          layers.Dense(256, activation="sigmoid"), layers.Reshape((16, 16))])
model.compile(optimizer="adam", loss="mse")
"""

AUGMENTED = """\
import numpy as np
import keras
from keras import layers
rng = np.random.default_rng(0)
x_train = rng.random((200, 16, 16, 1)).astype("float32")
augment = keras.Sequential([{layers}])
inputs = keras.Input(shape=(16, 16, 1))
x = augment(inputs)
x = layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)
x = layers.Conv2DTranspose(8, 3, strides=2, padding="same", activation="relu")(x)
outputs = layers.Conv2D(1, 3, padding="same", activation="sigmoid")(x)
model = keras.Model(inputs, outputs)
model.compile(optimizer="adam", loss="mse")
"""


def _check(src: str, data: str, target: str | None = None) -> ae_magic.Report:
    return ae_magic.check(src, namespace={}, data=data, target=target, train=False)


def _titled(report: ae_magic.Report, title: str) -> list:
    return [f for f in report.findings if f.title == title]


def test_a_mask_that_keeps_only_the_hole_is_named_at_its_line() -> None:
    report = _check(INPAINT.format(hole="4:8, 4:8", masked="x_train * masks"), "x_masked", "x_train")
    (f,) = _titled(report, "The input blanks out most of what the target holds")
    assert f.code == "AE205" and f.line == 11 and f.source_line == "x_masked = x_train * masks"
    assert "x_train * (1 - mask)" in f.fix


@pytest.mark.parametrize("masked", ["x_train * (1 - masks)", "x_train * (rng.random(x_train.shape) > 0.5)"])
def test_holes_and_masking_noise_are_silent(masked: str) -> None:
    report = _check(INPAINT.format(hole="4:8, 4:8", masked=masked), "x_masked", "x_train")
    assert not _titled(report, "The input blanks out most of what the target holds"), report.text()


def test_geometric_augmentation_inside_an_autoencoder_is_named() -> None:
    report = _check(AUGMENTED.format(layers='layers.RandomFlip("horizontal"), layers.RandomRotation(0.1)'), "x_train")
    (f,) = _titled(report, "The input is augmented but the target is not")
    assert f.code == "AE205" and f.line == 6 and f.evidence["augmentation"][0].startswith("random_flip")


@pytest.mark.parametrize("layers", ["layers.RandomContrast(0.2)", "layers.GaussianNoise(0.1)"])
def test_jitter_that_keeps_the_content_in_place_is_silent(layers: str) -> None:
    report = _check(AUGMENTED.format(layers=layers), "x_train")
    assert not _titled(report, "The input is augmented but the target is not"), report.text()


def test_augmentation_with_a_target_of_its_own_is_silent_and_a_copy_is_not() -> None:
    src = AUGMENTED.format(layers='layers.RandomFlip("horizontal")') + "y = x_train[:, ::-1].copy()\nz = x_train.copy()\n"
    assert not _titled(_check(src, "x_train", "y"), "The input is augmented but the target is not")
    assert _titled(_check(src, "x_train", "z"), "The input is augmented but the target is not")
