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


STEP = """\
class VAE(keras.Model):
    def train_step(self, data):
        with tf.GradientTape() as tape:
            mu, sigma, z = self.encoder(data)
            reconstruction_loss = ops.mean(ops.square(data - self.decoder(z)))
            kl_loss = ops.sum(sigma**2 + mu**2 - ops.log(sigma) - 0.5, axis=1)
            kl_loss = ops.mean(kl_loss)
            total_loss = reconstruction_loss + kl_loss
        return {m.name: m.result() for m in self.metrics}
"""


def test_the_loss_term_that_went_nan_first_is_named_at_its_line() -> None:
    """Round 23: a linear sigma head under ops.log in the KL; the reconstruction term stays finite."""
    from ae_magic.checks.training import _name_nan_term
    from ae_magic.context import Context
    from ae_magic.report import Finding

    nan = float("nan")
    tr = {"loss_terms": {"total_loss": [nan, nan], "reconstruction_loss": [543.0, 538.0], "kl_loss": [nan, nan]}}
    f = Finding(code="AE401", severity="error", title="Loss diverged", message="NaN at step 0.")
    _name_nan_term(Context(source=STEP), tr, [f])
    assert f.line == 6 and "ops.log(sigma)" in f.source_line and f.evidence["nan_term"]["term"] == "kl_loss"
    both = {"total_loss": [nan], "reconstruction_loss": [nan], "kl_loss": [nan]}  # nothing tells them apart
    g = Finding(code="AE401", severity="error", title="Loss diverged", message="NaN at step 0.")
    _name_nan_term(Context(source=STEP), {"loss_terms": both}, [g])
    assert "nan_term" not in g.evidence and g.line is None
