"""Round 37: what fresh cells (non-image tables, sequence AEs, a learner's first autoencoders) found.

* A tied-weights tanh autoencoder under SGD(0.1, Nesterov) drives most of its code units to +-1 while the
  held-out error falls far below the mean's: AE305 "they barely learn" was a false alarm. After a run that
  learned it is info.
* DeepLearning.AI's denoising CNN has an ``encoder_visualization`` conv on its bottleneck for a second model.
  With every hidden layer wider than the input (legitimate when denoising), that narrow side head was taken
  for a code the decoder skipped (AE103). Denoising set-ups no longer read it so.
* Pump sensors on very different offsets, stacked into windows and divided by one global maximum: every
  channel is a near-constant. AE201 "The features barely vary" at the scaling line.
"""

from __future__ import annotations

import pytest

import ae_magic


def _loud(report: ae_magic.Report) -> list:
    return [f for f in report.findings if f.severity in ("warning", "error")]


TIED_TANH = """\
import numpy as np
import keras
from keras import layers, ops

keras.utils.set_random_seed(0)
rng = np.random.default_rng(11)
yy, xx = np.mgrid[:16, :16].astype("float32")
c = rng.uniform(5, 11, (1500, 2, 1, 1))
r, w = rng.uniform(2, 5, (1500, 1, 1)), rng.uniform(1.0, 2.0, (1500, 1, 1))
x = (np.exp(-(np.hypot(yy - c[:, 0], xx - c[:, 1]) - r) ** 2 / (2 * w ** 2)).reshape(-1, 256) * 2 - 1).astype("float32")


class DenseTranspose(layers.Layer):
    def __init__(self, dense, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.dense = dense
        self.activation = keras.activations.get(activation)

    def build(self, input_shape):
        self.biases = self.add_weight(name="bias", shape=(self.dense.kernel.shape[0],), initializer="zeros")

    def call(self, inputs):
        return self.activation(ops.matmul(inputs, ops.transpose(self.dense.kernel)) + self.biases)


class TiedAutoencoder(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense_1 = layers.Dense(96, activation="tanh")
        self.dense_2 = layers.Dense(24, activation="tanh")
        self.dense_1.build((None, 256))
        self.dense_2.build((None, 96))
        self.tied_2 = DenseTranspose(self.dense_2, activation="tanh")
        self.tied_1 = DenseTranspose(self.dense_1, activation="tanh")

    def call(self, inputs):
        return self.tied_1(self.tied_2(self.dense_2(self.dense_1(inputs))))


model = TiedAutoencoder()
model.compile(loss="mse", optimizer=keras.optimizers.SGD(learning_rate=0.1, momentum=0.9, nesterov=True))
"""


def test_units_saturated_by_a_run_that_learned_are_info_not_a_warning():
    report = ae_magic.check(TIED_TANH, namespace={}, data="x")
    assert not report.internal_errors
    assert "training" in report.coverage["ran"]
    assert _loud(report) == [], [(f.code, f.title, f.message[:200]) for f in _loud(report)]
    for f in report.findings:
        if f.code == "AE305":  # where the run saturated them: said, with what the run learned
            assert f.severity == "info" and f.evidence["learned"]["mse_end"] < f.evidence["learned"]["mean_baseline"]


SIDE_HEAD = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(21)
x = (rng.random((300, 16, 16, 1)) < 0.3).astype("float32")
x_noisy = np.clip(x + 0.4 * rng.normal(size=x.shape), 0.0, 1.0).astype("float32")

inputs = layers.Input(shape=(16, 16, 1))
h = layers.Conv2D(8, 3, activation="relu", padding="same")(inputs)
h = layers.MaxPooling2D(2)(h)
h = layers.Conv2D(16, 3, activation="relu", padding="same")(h)
h = layers.MaxPooling2D(2)(h)
bottle_neck = layers.Conv2D(32, 3, activation="relu", padding="same")(h)
encoder_visualization = layers.Conv2D(1, 3, activation="sigmoid", padding="same")(bottle_neck)
d = layers.Conv2D(16, 3, activation="relu", padding="same")(bottle_neck)
d = layers.UpSampling2D(2)(d)
d = layers.Conv2D(8, 3, activation="relu", padding="same")(d)
d = layers.UpSampling2D(2)(d)
out = layers.Conv2D(1, 3, activation="sigmoid", padding="same")(d)
model = keras.Model(inputs, out)
encoder_model = keras.Model(inputs, encoder_visualization)
model.compile(optimizer="adam", loss="binary_crossentropy")
"""


def test_a_denoisers_side_head_on_its_bottleneck_is_not_a_skipped_code():
    report = ae_magic.check(SIDE_HEAD, namespace={}, data="x_noisy", target="x", train=False)
    assert not any(f.code in ("AE103", "AE104") for f in report.findings), [f.title for f in report.findings]


def test_the_same_model_as_a_plain_autoencoder_still_gets_its_missing_compression():
    report = ae_magic.check(SIDE_HEAD, namespace={}, data="x", train=False)
    assert any(f.code in ("AE103", "AE104") and f.severity == "warning" for f in report.findings)


SENSORS = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(21)
t = np.arange(30)[None, :]
state, speed = rng.uniform(0, 2 * np.pi, (600, 1)), rng.uniform(0.15, 0.35, (600, 1))
flow = 45 + 4 * np.sin(speed * t + state) + rng.normal(0, 0.5, (600, 30))
pressure = 2400 + 60 * np.cos(speed * t + state) + rng.normal(0, 5, (600, 30))
temp = 70 + 3 * np.sin(speed * t + state + 1) + rng.normal(0, 0.3, (600, 30))
windows = np.stack([flow, pressure, temp], axis=-1)
SCALING
model = keras.Sequential([keras.Input((30, 3)), layers.LSTM(16), layers.RepeatVector(30),
                          layers.LSTM(16, return_sequences=True), layers.TimeDistributed(layers.Dense(3))])
model.compile(optimizer="adam", loss="mae")
"""
GLOBAL = SENSORS.replace("SCALING", "x = (windows / windows.max()).astype('float32')")
PER_CHANNEL = SENSORS.replace(
    "SCALING", "lo, hi = windows.min(axis=(0, 1)), windows.max(axis=(0, 1))\nx = ((windows - lo) / (hi - lo)).astype('float32')")


def test_windows_divided_by_one_global_maximum_are_ae201_at_that_line():
    report = ae_magic.check(GLOBAL, namespace={}, data="x", train=False)
    hit = next(f for f in report.findings if f.code == "AE201")
    assert hit.severity == "warning" and "barely vary" in hit.title
    assert hit.source_line == "x = (windows / windows.max()).astype('float32')"
    assert "axis=(0, 1)" in hit.fix


def test_windows_scaled_per_channel_stay_silent():
    report = ae_magic.check(PER_CHANNEL, namespace={}, data="x", train=False)
    assert not any(f.code == "AE201" for f in report.findings)


ROWS = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(8)
x = (rng.random((600, 16, 16)) < 0.3).astype("float32")


class Autoencoder(keras.Model):
    def __init__(self, latent_dim, shape):
        super().__init__()
        self.encoder = keras.Sequential([FLATTEN layers.Dense(latent_dim, activation="relu")])
        self.decoder = keras.Sequential([layers.Dense(RECON_UNITS, activation="sigmoid") RESHAPE])

    def call(self, x):
        return self.decoder(self.encoder(x))


autoencoder = Autoencoder(32, x.shape[1:])
autoencoder.compile(optimizer="adam", loss="mse")
"""
NO_FLATTEN = ROWS.replace("FLATTEN ", "").replace("RECON_UNITS", "shape[-1]").replace(" RESHAPE", "")
WITH_FLATTEN = ROWS.replace("FLATTEN ", "layers.Flatten(), ").replace("RECON_UNITS", "256").replace(
    " RESHAPE", ", layers.Reshape(shape)")


def test_a_subclassed_ae_whose_dense_layers_act_on_rows_is_ae104_from_the_measured_width():
    report = ae_magic.check(NO_FLATTEN, namespace={}, data="x")
    hit = next(f for f in report.findings if f.code == "AE104")
    assert hit.severity == "warning" and hit.evidence["code_width"] == 16 * 32 and hit.evidence["measured"]
    assert hit.layer and "Flatten" in hit.fix


def test_the_tutorials_subclassed_ae_with_flatten_stays_silent():
    report = ae_magic.check(WITH_FLATTEN, namespace={}, data="x")
    assert "training" in report.coverage["ran"]
    assert not any(f.code == "AE104" for f in report.findings)


SIGMOID_STACK = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(0)
x = rng.random((800, 64)).astype("float32") ** 3


class DeepAutoencoder(keras.Model):
    def __init__(self):
        super().__init__()
        self.encoder = keras.Sequential([layers.Dense(48, activation="ACT"), layers.Dense(32, activation="ACT"),
                                         layers.Dense(8, activation="ACT")])
        self.decoder = keras.Sequential([layers.Dense(32, activation="ACT"), layers.Dense(48, activation="ACT"),
                                         layers.Dense(64, activation="sigmoid")])

    def call(self, inputs):
        return self.decoder(self.encoder(inputs))


model = DeepAutoencoder()
model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05), loss="mse")
"""


def test_a_subclassed_sigmoid_stack_that_does_not_learn_is_ae107():
    report = ae_magic.check(SIGMOID_STACK.replace("ACT", "sigmoid"), namespace={}, data="x")
    hit = next(f for f in report.findings if f.code == "AE107")
    assert hit.severity == "warning" and hit.evidence["measured"] and len(hit.evidence["layers"]) == 5


def test_the_same_subclassed_ae_with_relu_gets_no_ae107():
    report = ae_magic.check(SIGMOID_STACK.replace("ACT", "relu"), namespace={}, data="x")
    assert "training" in report.coverage["ran"]
    assert not any(f.code == "AE107" for f in report.findings)


def _oscillation(there_end: float) -> tuple[list, list[str]]:
    """confirm_oscillation on a run far from a good fit, whose repeat at the fix's rate ends at ``there_end``."""
    from ae_magic.checks.loss_curve import confirm_oscillation
    from ae_magic.context import Context
    from ae_magic.report import Finding

    ctx = Context(source="", namespace={})
    curve = [1.05, 0.9, 0.8, 0.68, 0.6, 0.66, 0.53, 0.59, 0.6]
    tr = {"lr": 1e-3, "baselines": {"final": 0.65, "mean": 1.0, "pca": 0.1}, "val_curve": {"loss": curve}}
    osc = Finding(code="AE403", severity="warning", title="Loss oscillates", message="Up and down.",
                  evidence={"fix_lr": 1e-3 / 3})
    lower = {"val_curve": {"loss": [1.05, 0.99, 0.95, 0.92, 0.88, 0.84, there_end, there_end, there_end]}}
    return confirm_oscillation(ctx, tr, [osc], lambda lr: lower), ctx.notes


@pytest.mark.parametrize("end", [0.77, 0.61])  # 34 % and (round 38's masked LSTM) 6 % above the configured 0.573
def test_bumps_far_from_a_fit_are_not_ae403_when_a_smaller_rate_learns_slower(end: float):
    found, notes = _oscillation(end)
    assert found == [] and any("not reported" in n for n in notes)


@pytest.mark.parametrize("end", [0.55, 0.53])  # 4 % and 8 % below the configured 0.573
def test_bumps_far_from_a_fit_keep_ae403_when_a_smaller_rate_ends_lower(end: float):
    found, _ = _oscillation(end)
    assert [f.code for f in found] == ["AE403"]


@pytest.mark.parametrize("end", [0.573, 0.59])  # the same end, or within a tail mean's noise (3 %)
def test_bumps_far_from_a_fit_are_not_ae403_when_a_smaller_rate_is_no_better(end: float):
    # Round 61's cj07 (a healthy masked LSTM at 0.8x the mean, a third of the rate 1 % higher): advice to lower
    # the rate that the same steps at the lower rate don't bear out is not given.
    found, notes = _oscillation(end)
    assert found == [] and any("not reported" in n for n in notes)
