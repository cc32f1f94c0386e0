"""Round 86 (session 46): fresh cells written blind (hand-written losses, layers and training settings; data
pipelines; recurrent and convolutional VAEs); the fixes their misses asked for.

* ka02 (a conv autoencoder whose SSIM loss returns the similarity, not ``1 - ssim``): AE108 came twice at the
  loss's line, "not lowest at a perfect reconstruction" and "falls without bound past the target", the second
  blaming a signed error that is not there. A loss not lowest at its target gets the first only.
* ka04 (``ExponentialDecay(1e-3, decay_steps=1, decay_rate=0.9)`` meant as 10 % an epoch, its arguments one per
  line): AE402 named the schedule's first line. It names the ``decay_steps=`` line when that is shorter than an
  epoch (else ``decay_rate=``).
* kb07 (RGB thumbnails normalised one by one into ``images = np.empty_like(thumbs)``, uint8, then
  ``x_flat = images.reshape(n, -1)``): AE205's truncated store was looked for in the data's own name only, and the
  check was silent. The store into the array the data is a view of, or is assigned from, counts; the finding names
  the line that makes the buffer (its dtype is what the fix changes).
* kb09 (a denoiser whose ``add_noise`` adds in place and returns its argument: ``x_noisy`` *is* ``x_train``): two
  names bound to one array were taken for "no target given". It is a denoising set-up whose clean target carries
  the noise: AE104 at the noisy array's line, with that cause.
* kb03 (an adapted Normalization inside an LSTM autoencoder, the raw hPa windows as target): AE201 named the
  output layer while its fix changes the fit's target; it names the fit line.
* kc05 (a Conv1D VAE whose NLL layer takes ``ops.log(x_logvar)`` of a linear head): the loss was NaN at step 2 and
  AE401 said the steps overshoot, at the compile line. A NaN within the first steps where the loss's code takes a
  log of a bare variable is named at that line. Its twin, the head used as a log-variance, had "The KL term's sign
  is flipped" (AE401): a Gaussian likelihood layer (``exp`` beside a square) was taken for a KL layer, and its
  loss rightly goes below zero as the variance shrinks. A layer named for a likelihood is not a KL layer by its
  formula.
"""

from __future__ import annotations

import keras
import pytest

import ae_magic

# The SSIM cells call tf.image.ssim inside the loss: TensorFlow's own op, which the other backends can't trace.
tf_only = pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the cell's loss calls tf.image.ssim")


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


@tf_only
def test_a_similarity_returned_as_the_loss_gets_one_ae108() -> None:
    src = SSIM.replace("RETURNED", "tf.reduce_mean(tf.image.ssim(y_true, y_pred, max_val=1.0))")
    report = ae_magic.check(src, namespace={}, data="x_train")
    found = _loud(report, "AE108")
    assert [f.title for f in found] == ["The loss is not lowest at a perfect reconstruction"], [f.title for f in found]
    assert found[0].line == _line(src, "tf.image.ssim")


@tf_only
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


THUMBS = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(8)
thumbs = rng.integers(30, 200, size=(600, 8, 8, 3)).astype(np.uint8)
thumbs[rng.random(thumbs.shape) < 0.05] = 255
images = np.empty_like(thumbs{DTYPE})
for i, img in enumerate(thumbs):
    images[i] = img / 255.0
x_flat = images.reshape(len(images), -1)

inp = keras.Input(shape=(192,))
out = layers.Dense(192, activation="sigmoid")(layers.Dense(32, activation="relu")(inp))
thumb_ae = keras.Model(inp, out)
thumb_ae.compile(optimizer="adam", loss="binary_crossentropy")
"""


def test_floats_stored_into_the_uint8_buffer_the_data_is_made_from_are_named() -> None:
    src = THUMBS.replace("{DTYPE}", "")
    found = _loud(ae_magic.check(src, namespace={}, data="x_flat", train=False), "AE205")
    assert [f.line for f in found] == [_line(src, "np.empty_like")], [(f.code, f.line) for f in found]
    assert found[0].evidence["store_line"] == _line(src, "images[i] = img / 255.0")


def test_floats_stored_into_a_float_buffer_are_not_ae205() -> None:
    src = THUMBS.replace("{DTYPE}", ", dtype='float32'")
    assert not _loud(ae_magic.check(src, namespace={}, data="x_flat", train=False), "AE205")


IN_PLACE_NOISE = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(1)


def add_noise(batch, factor=0.4):
    NOISE_BODY
    return batch


x_train = rng.random((400, 16, 16, 1)).astype("float32")
x_noisy = add_noise(x_train)

inp = keras.Input(shape=(16, 16, 1))
h = layers.Conv2D(32, 3, activation="relu", padding="same")(inp)
encoded = layers.MaxPooling2D(2)(h)
h = layers.UpSampling2D(2)(layers.Conv2D(32, 3, activation="relu", padding="same")(encoded))
decoded = layers.Conv2D(1, 3, activation="sigmoid", padding="same")(h)
denoising_ae = keras.Model(inp, decoded)
denoising_ae.compile(optimizer="adam", loss="binary_crossentropy")
"""


def test_noise_added_in_place_to_the_clean_target_is_named() -> None:
    src = IN_PLACE_NOISE.replace("NOISE_BODY", "batch += factor * rng.normal(size=batch.shape).astype('float32')")
    report = ae_magic.check(src, namespace={}, data="x_noisy", target="x_train", train=False)
    found = _loud(report, "AE104")
    assert [f.line for f in found] == [_line(src, "x_noisy = add_noise")], [(f.code, f.line) for f in report.findings]
    assert found[0].evidence["same_array"] is True and "x_train.copy()" in (found[0].fix or "")


def test_noise_added_to_a_copy_is_a_denoiser() -> None:
    src = IN_PLACE_NOISE.replace("NOISE_BODY", "batch = batch + factor * rng.normal(size=batch.shape).astype('float32')")
    report = ae_magic.check(src, namespace={}, data="x_noisy", target="x_train", train=False)
    assert not _loud(report, "AE104"), [(f.code, f.title) for f in _loud(report)]


PRESSURE = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(3)
series = 1013 + np.cumsum(rng.normal(0, 0.3, size=1600))
windows = np.stack([series[i:i + 24] for i in range(0, 1560, 2)])[..., None].astype("float32")
norm = layers.Normalization(axis=-1)
norm.adapt(windows)

seq_in = keras.Input(shape=(24, 1))
z = layers.LSTM(16)(norm(seq_in))
z = layers.LSTM(16, return_sequences=True)(layers.RepeatVector(24)(z))
seq_out = layers.TimeDistributed(layers.Dense(1))(z)
lstm_ae = keras.Model(seq_in, seq_out)
lstm_ae.compile(optimizer="adam", loss="mse")
lstm_ae.fit(windows, windows, epochs=1, batch_size=64, verbose=0)
"""


def test_a_raw_target_behind_an_adapted_normalization_is_named_at_the_fit() -> None:
    found = _loud(ae_magic.check(PRESSURE, namespace={}, data="windows", train=False), "AE201")
    assert [f.line for f in found] == [_line(PRESSURE, "lstm_ae.fit(")], [(f.code, f.line) for f in found]
    assert found[0].layer is not None and "norm(windows)" in (found[0].fix or "")


GAUSSIAN_NLL = """\
import numpy as np
import keras
from keras import layers, ops

rng = np.random.default_rng(0)
t = np.linspace(0, 1, 32)
beats = (np.sin(2 * np.pi * rng.uniform(1, 3, (800, 1)) * t) + 0.1 * rng.normal(size=(800, 32)))[..., None]
beats = beats.astype("float32")


class GaussianNLL(layers.Layer):
    def call(self, inputs):
        x, x_mu, x_logvar = inputs
        nll = NLL_EXPR
        self.add_loss(ops.mean(ops.sum(nll, axis=(1, 2))))
        return x_mu


inp = keras.Input(shape=(32, 1))
h = layers.Conv1D(16, 5, strides=2, padding="same", activation="relu")(inp)
h = layers.Conv1DTranspose(16, 5, strides=2, padding="same", activation="relu")(h)
x_mu = layers.Conv1D(1, 3, padding="same")(h)
x_logvar = layers.Conv1D(1, 3, padding="same")(h)
recon = GaussianNLL()([inp, x_mu, x_logvar])
nll_ae = keras.Model(inp, recon)
nll_ae.compile(optimizer=keras.optimizers.Adam(1e-3))
"""


def test_a_log_of_a_linear_head_in_the_loss_is_named_where_it_is_taken() -> None:
    src = GAUSSIAN_NLL.replace("NLL_EXPR", "0.5 * ops.log(x_logvar) + 0.5 * ops.square(x - x_mu) / x_logvar")
    report = ae_magic.check(src, namespace={}, data="beats")
    found = _loud(report, "AE401")
    assert found and found[0].line == _line(src, "ops.log(x_logvar)"), [(f.code, f.line) for f in report.findings]
    assert "overshoot" not in found[0].message


def test_the_same_head_used_as_a_log_variance_trains() -> None:
    src = GAUSSIAN_NLL.replace("NLL_EXPR", "0.5 * x_logvar + 0.5 * ops.square(x - x_mu) * ops.exp(-x_logvar)")
    report = ae_magic.check(src, namespace={}, data="beats")
    assert not _loud(report, "AE401"), [(f.code, f.title) for f in _loud(report)]
