"""Round 86 (session 46): fresh cells written blind (hand-written losses, layers and training settings; data
pipelines; recurrent and convolutional VAEs); the fixes their misses asked for.

* ka02 (a conv autoencoder whose SSIM loss returns the similarity, not ``1 - ssim``): AE108 came twice at the
  loss's line, "not lowest at a perfect reconstruction" and "falls without bound past the target", the second
  blaming a signed error that is not there. A loss not lowest at its target gets the first only.
* ka04 (``ExponentialDecay(1e-3, decay_steps=1, decay_rate=0.9)`` meant as 10 % an epoch, its arguments one per
  line): AE402 named the schedule's first line. It names the ``decay_steps=`` line when that is shorter than an
  epoch (else ``decay_rate=``).
"""

from __future__ import annotations

import ae_magic


def _line(src: str, text: str) -> int:
    return next(i for i, line in enumerate(src.splitlines(), 1) if text in line)


def _loud(report: ae_magic.Report, code: str | None = None) -> list[ae_magic.Finding]:
    return [f for f in report.findings if (code is None or f.code == code) and f.severity in ("warning", "error")]


SSIM = """\
import numpy as np
import tensorflow as tf
import keras
from keras import layers

rng = np.random.default_rng(0)
frames = np.zeros((600, 16, 16), dtype="float32")
yy, xx = np.mgrid[:16, :16]
for i in range(len(frames)):
    cx, cy, r = rng.uniform(4, 12), rng.uniform(4, 12), rng.uniform(2, 5)
    frames[i] = ((xx - cx) ** 2 + (yy - cy) ** 2 < r ** 2) * rng.uniform(0.5, 1.0)
x_train = frames[..., np.newaxis]


def ssim_loss(y_true, y_pred):
    return RETURNED


inputs = keras.Input(shape=(16, 16, 1))
h = layers.Conv2D(8, 3, activation="relu", padding="same")(inputs)
h = layers.MaxPooling2D(2)(h)
h = layers.Conv2DTranspose(8, 3, strides=2, activation="relu", padding="same")(h)
decoded = layers.Conv2D(1, 3, activation="sigmoid", padding="same")(h)
conv_ae = keras.Model(inputs, decoded)
conv_ae.compile(optimizer=keras.optimizers.Adam(1e-3), loss=ssim_loss)
"""


def test_a_similarity_returned_as_the_loss_gets_one_ae108() -> None:
    src = SSIM.replace("RETURNED", "tf.reduce_mean(tf.image.ssim(y_true, y_pred, max_val=1.0))")
    report = ae_magic.check(src, namespace={}, data="x_train")
    found = _loud(report, "AE108")
    assert [f.title for f in found] == ["The loss is not lowest at a perfect reconstruction"], [f.title for f in found]
    assert found[0].line == _line(src, "tf.image.ssim")


def test_one_minus_the_similarity_is_not_ae108() -> None:
    src = SSIM.replace("RETURNED", "1.0 - tf.reduce_mean(tf.image.ssim(y_true, y_pred, max_val=1.0))")
    report = ae_magic.check(src, namespace={}, data="x_train")
    assert not _loud(report, "AE108"), [(f.code, f.title) for f in _loud(report)]


SCHEDULE = """\
import numpy as np
import keras
from keras import layers

x = np.random.default_rng(0).random((1400, 64)).astype("float32")
inp = keras.Input(shape=(64,))
out = layers.Dense(64, activation="sigmoid")(layers.Dense(16, activation="relu")(inp))
ae = keras.Model(inp, out)
lr_schedule = keras.optimizers.schedules.ExponentialDecay(
    initial_learning_rate=1e-3,
    decay_steps=STEPS,
    decay_rate=RATE,
)
ae.compile(optimizer=keras.optimizers.Adam(learning_rate=lr_schedule), loss="mse")
"""


def test_a_schedule_decaying_every_step_is_named_at_decay_steps() -> None:
    src = SCHEDULE.replace("STEPS", "1").replace("RATE", "0.9")
    found = _loud(ae_magic.check(src, namespace={}, data="x", train=False), "AE402")
    assert [f.line for f in found] == [_line(src, "decay_steps=1")], [(f.code, f.line) for f in found]


def test_a_schedule_decaying_by_too_much_an_epoch_is_named_at_decay_rate() -> None:
    src = SCHEDULE.replace("STEPS", "44").replace("RATE", "0.001")
    found = _loud(ae_magic.check(src, namespace={}, data="x", train=False), "AE402")
    assert [f.line for f in found] == [_line(src, "decay_rate=0.001")], [(f.code, f.line) for f in found]


def test_an_epoch_long_schedule_is_not_ae402() -> None:
    src = SCHEDULE.replace("STEPS", "440").replace("RATE", "0.9")
    assert not _loud(ae_magic.check(src, namespace={}, data="x", train=False), "AE402")
