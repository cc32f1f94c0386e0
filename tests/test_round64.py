"""Round 64 (session 36): fresh cells written blind; the fixes each miss asked for.

* cp02 (keras.io's denoising tutorial re-typed): ``preprocess()`` computes ``array.astype("float32") / 255.0`` on a
  line of its own and returns ``array`` unscaled. AE203 named the call of ``preprocess``, and the clip in
  ``noise()`` (AE205) and the exploding gradients (AE303) came first as roots of their own. The data findings now
  name a scaling whose result is thrown away (``locate.discarded_scaling``), and AE205/AE303 go under AE203 when
  the target is raw values.
* cp03 (keras.io's VAE re-arranged): ``z_mean, z_log_var, z = self.encoder(data)`` above ``with tf.GradientTape()``.
  AE301 (measured from update ratios) was read as zero gradients and put under the AE407 it causes; it is now
  named at that call (``updates._called_outside_tape``), with AE407 under it.
* cp06 (keras.io's timeseries anomaly detector): ``create_sequences(values)`` slices the global ``readings``, not
  ``values``; AE201 named the call. It now names the slice (``locate.ignored_argument``).
* cp08: ``build_decoder()`` feeds ``RepeatVector`` the global ``encoded`` instead of its local ``latent_inputs``;
  AE101 named the ``keras.Model(...)`` line that raised. The departing call is now found for a function's local
  input too (``capture._local_input``).
"""

from __future__ import annotations

import keras
import pytest

import ae_magic

DENOISE = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(0)
raw = (rng.random((256, 28, 28)) * 255).astype("uint8")


def preprocess(array):
    PREPROCESS
    array = np.reshape(array, (len(array), 28, 28, 1))
    return array


def noise(array, noise_factor=0.5):
    return np.clip(array + noise_factor * rng.normal(size=array.shape), 0.0, 1.0)


train_data = preprocess(raw)
noisy_train_data = noise(train_data)
inputs = keras.Input(shape=(28, 28, 1))
x = layers.Conv2D(8, 3, activation="relu", padding="same")(inputs)
x = layers.MaxPooling2D(2, padding="same")(x)
x = layers.Conv2DTranspose(8, 3, strides=2, activation="relu", padding="same")(x)
x = layers.Conv2D(1, 3, activation="sigmoid", padding="same")(x)
autoencoder = keras.Model(inputs, x)
autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
"""


def _line(src: str, text: str) -> int:
    return next(i for i, line in enumerate(src.splitlines(), start=1) if text in line)


def _check(src: str) -> ae_magic.Report:
    return ae_magic.check(src, namespace={}, data="noisy_train_data", target="train_data", train=False)


def test_a_helper_that_throws_its_scaling_away_is_named_at_that_line() -> None:
    src = DENOISE.replace("PREPROCESS", 'array.astype("float32") / 255.0')
    report = _check(src)
    f = report.findings[0]
    assert f.code == "AE203", report.text()
    assert f.line == _line(src, '/ 255.0'), report.text()
    assert f.evidence["discarded_scaling"] == f.line
    assert f.fix.startswith('array = array.astype("float32") / 255.0'), f.fix
    clip = report.get("AE205")
    assert clip is None or clip.caused_by == "AE203", report.text()


def test_a_helper_that_keeps_its_scaling_is_silent_about_scale() -> None:
    report = _check(DENOISE.replace("PREPROCESS", 'array = array.astype("float32") / 255.0'))
    assert not {"AE201", "AE203", "AE205"} & set(report.codes), report.text()


UNSCALED = """\
import numpy as np
import keras
from keras import layers

x_train = np.random.default_rng(0).integers(0, 256, size=(256, 64)).astype("float32")
x_train / 255.0
inp = keras.Input(shape=(64,))
h = layers.Dense(16, activation="relu")(inp)
out = layers.Dense(64, activation="linear")(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer="adam", loss="mse")
LAST
"""


def test_a_cell_line_that_scales_and_keeps_nothing_is_where_ae201_points() -> None:
    src = UNSCALED.replace("LAST", "")
    report = ae_magic.check(src, namespace={}, data="x_train", train=False)
    f = report.get("AE201")
    assert f is not None and f.line == _line(src, "x_train / 255.0"), report.text()
    assert f.fix.startswith("x_train = x_train / 255.0"), f.fix


def test_the_cells_last_line_is_displayed_not_discarded() -> None:
    # Without the discarded line: AE201 stays at the line that made the array, and a last line that shows a
    # scaled view (a notebook displays it) is not read as a lost scaling.
    src = UNSCALED.replace("x_train / 255.0\n", "").replace("LAST", "x_train / 255.0")
    report = ae_magic.check(src, namespace={}, data="x_train", train=False)
    f = report.get("AE201")
    assert f is not None and f.line == _line(src, "x_train = np.random"), report.text()
    assert "discarded_scaling" not in f.evidence


# -- cp03: a VAE's train_step encodes before its GradientTape opens ---------------------------------------------

TAPE_VAE = """\
import numpy as np
import tensorflow as tf
import keras
from keras import layers, ops

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
x_train = (rng.random((512, 4)) @ rng.random((4, 32))).astype("float32")
x_train = (x_train - x_train.min()) / (x_train.max() - x_train.min())


class Sampling(layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(1)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        eps = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * eps


enc_in = keras.Input((32,))
h = layers.Dense(16, activation="relu")(enc_in)
z_mean = layers.Dense(2, name="z_mean")(h)
z_log_var = layers.Dense(2, name="z_log_var")(h)
encoder = keras.Model(enc_in, [z_mean, z_log_var, Sampling()([z_mean, z_log_var])], name="encoder")
dec_in = keras.Input((2,))
decoder = keras.Model(dec_in, layers.Dense(32, activation="sigmoid")(layers.Dense(16, activation="relu")(dec_in)),
                      name="decoder")


class VAE(keras.Model):
    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder

    def call(self, inputs):
        return self.decoder(self.encoder(inputs)[0])

    def train_step(self, data):
STEP
        grads = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        return {"loss": loss}


vae = VAE(encoder, decoder)
vae.compile(optimizer=keras.optimizers.Adam(1e-3))
vae.fit(x_train, epochs=2, batch_size=64, verbose=0)
"""

OUTSIDE = """\
        z_mean, z_log_var, z = self.encoder(data)
        with tf.GradientTape() as tape:
            recon = self.decoder(z)
            kl = -0.5 * ops.mean(ops.sum(1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=1))
            loss = ops.mean(ops.sum(ops.square(data - recon), axis=1)) + kl"""
INSIDE = """\
        with tf.GradientTape() as tape:
            z_mean, z_log_var, z = self.encoder(data)
            recon = self.decoder(z)
            kl = -0.5 * ops.mean(ops.sum(1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=1))
            loss = ops.mean(ops.sum(ops.square(data - recon), axis=1)) + kl"""

tf_only = pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the cells' train_step uses tf.GradientTape")


@tf_only
def test_an_encoder_called_before_the_tape_is_ae301_at_that_call() -> None:
    src = TAPE_VAE.replace("STEP", OUTSIDE)
    report = ae_magic.check(src, namespace={}, data="x_train", seed=0)
    f = report.findings[0]
    assert f.code == "AE301" and f.evidence.get("outside_tape"), report.text()
    assert f.line == _line(src, "z_mean, z_log_var, z = self.encoder(data)"), report.text()
    assert "GradientTape" in f.fix and "self.encoder(data)" in f.fix, f.fix
    collapse = report.get("AE407")
    assert collapse is None or collapse.caused_by == "AE301", report.text()


@tf_only
def test_the_encoder_called_inside_the_tape_is_not_ae301() -> None:
    report = ae_magic.check(TAPE_VAE.replace("STEP", INSIDE), namespace={}, data="x_train", seed=0)
    assert report.get("AE301") is None, report.text()


# -- cp06: the windowing helper slices the raw global instead of its argument -------------------------------

WINDOWS = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(0)
TIME_STEPS = 32
readings = 4200.0 + 650.0 * np.sin(np.arange(3000) / 8.0) + rng.normal(0, 35.0, 3000)
normalized = (readings - readings.mean()) / readings.std()


def create_sequences(values, time_steps=TIME_STEPS):
    output = []
    for i in range(len(values) - time_steps + 1):
        output.append(SOURCE[i : (i + time_steps)])
    return np.stack(output)


x_train = create_sequences(normalized)[..., np.newaxis].astype("float32")
model = keras.Sequential([
    layers.Input(shape=(TIME_STEPS, 1)),
    layers.Conv1D(8, 7, padding="same", strides=2, activation="relu"),
    layers.Conv1DTranspose(8, 7, padding="same", strides=2, activation="relu"),
    layers.Conv1DTranspose(1, 7, padding="same"),
])
model.compile(optimizer="adam", loss="mse")
"""


def test_a_helper_that_reads_the_raw_global_instead_of_its_argument_is_named_there() -> None:
    src = WINDOWS.replace("SOURCE", "readings")
    report = ae_magic.check(src, namespace={}, data="x_train", train=False)
    f = report.get("AE201")
    assert f is not None and f.line == _line(src, "output.append(readings"), report.text()
    assert f.evidence["ignored_argument"] == {"parameter": "values", "reads": "readings"}
    assert f.fix.startswith("output.append(values[i"), f.fix


def test_a_helper_that_reads_its_argument_is_silent_about_scale() -> None:
    report = ae_magic.check(WINDOWS.replace("SOURCE", "values"), namespace={}, data="x_train", train=False)
    assert report.get("AE201") is None, report.text()


# -- cp08: a decoder built inside a function reads the encoder's global output ------------------------------

BUILDERS = """\
import keras
from keras import layers

timesteps, latent_dim = 20, 8


def build_encoder():
    inputs = keras.Input(shape=(timesteps, 1), name="beat")
    code = layers.LSTM(latent_dim, name="code")(inputs)
    return keras.Model(inputs, code, name="encoder")


encoder = build_encoder()
encoded = encoder.output


def build_decoder():
    latent_inputs = keras.Input(shape=(latent_dim,), name="z")
    h = layers.RepeatVector(timesteps)(READ)
    outputs = layers.TimeDistributed(layers.Dense(1))(layers.LSTM(16, return_sequences=True)(h))
    return keras.Model(latent_inputs, outputs, name="decoder")


decoder = build_decoder()
autoencoder = keras.Model(encoder.input, decoder(encoder.output))
autoencoder.compile(optimizer="adam", loss="mse")
"""


def test_a_decoder_function_reading_a_global_tensor_is_ae101_at_that_call() -> None:
    src = BUILDERS.replace("READ", "encoded")
    report = ae_magic.check(src, namespace={}, train=False)
    f = report.findings[0]
    assert f.code == "AE101", report.text()
    assert f.line == _line(src, "layers.RepeatVector(timesteps)(encoded)"), report.text()
    assert f.fix == "h = layers.RepeatVector(timesteps)(latent_inputs)", f.fix
    assert "`latent_inputs`" in f.message


def test_the_decoder_function_reading_its_own_input_builds() -> None:
    report = ae_magic.check(BUILDERS.replace("READ", "latent_inputs"), namespace={}, train=False)
    assert report.get("AE101") is None, report.text()


# -- cp10: a beta-VAE whose compiled loss function averages every pixel beside an added, summed KL -----------

BETA_VAE = """\
import numpy as np
import keras
from keras import layers, ops

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
codes = rng.normal(size=(1024, 4))
x_train = (1 / (1 + np.exp(-2.0 * codes @ rng.normal(size=(4, 64))))).astype("float32")
BETA = 4.0


class KLDivergenceLayer(layers.Layer):
    def __init__(self, beta=1.0, **kwargs):
        super().__init__(**kwargs)
        self.beta = beta

    def call(self, inputs):
        z_mean, z_log_var = inputs
        kl = -0.5 * ops.sum(1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=-1)
        self.add_loss(self.beta * ops.mean(kl))
        return inputs


class Sampling(layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(2025)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        return z_mean + ops.exp(0.5 * z_log_var) * keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)


def reconstruction_loss(y_true, y_pred):
    bce = keras.losses.binary_crossentropy(y_true[..., None], y_pred[..., None])
    return REDUCE


inputs = keras.Input(shape=(64,))
h = layers.Dense(32, activation="relu")(inputs)
z_mean = layers.Dense(4, name="z_mean")(h)
z_log_var = layers.Dense(4, name="z_log_var")(h)
z_mean, z_log_var = KLDivergenceLayer(beta=BETA, name="kl")([z_mean, z_log_var])
z = Sampling(name="z")([z_mean, z_log_var])
outputs = layers.Dense(64, activation="sigmoid")(layers.Dense(32, activation="relu")(z))
beta_vae = keras.Model(inputs, outputs)
beta_vae.compile(optimizer=keras.optimizers.Adam(1e-3), loss=reconstruction_loss)
beta_vae.fit(x_train, x_train, epochs=3, batch_size=64, verbose=0)
"""


def test_a_loss_function_that_averages_every_value_beside_an_added_kl_is_where_ae407_points() -> None:
    src = BETA_VAE.replace("REDUCE", "ops.mean(bce, axis=-1)")
    report = ae_magic.check(src, namespace={}, data="x_train", seed=0)
    f = report.findings[0]
    assert f.code == "AE407", report.text()
    assert f.line == _line(src, "return ops.mean(bce, axis=-1)"), report.text()
    assert "ops.sum(bce, axis=-1)" in f.fix, f.fix
    # The sampling layer draws at inference too: outputs that differ run to run are no evidence of a cut.
    assert report.get("AE111") is None, report.text()


def test_the_loss_function_summing_every_value_keeps_the_code() -> None:
    report = ae_magic.check(BETA_VAE.replace("REDUCE", "ops.sum(bce, axis=-1)").replace("BETA = 4.0", "BETA = 1.0"),
                            namespace={}, data="x_train", seed=0)
    assert report.get("AE407") is None, report.text()
    assert not [g for g in report.findings if g.severity in ("warning", "error")], report.text()


def test_outputs_that_differ_only_by_the_sampling_noise_are_no_gradient_cut() -> None:
    # Every encoder unit dead (zero kernel, negative bias): the output follows the sampling noise only, and the
    # Jacobian is zero because the units are dead. AE111 "a stop_gradient or a non-differentiable op" was wrong.
    src = BETA_VAE.replace("REDUCE", "ops.sum(bce, axis=-1)").replace(
        'h = layers.Dense(32, activation="relu")(inputs)',
        'h = layers.Dense(32, activation="relu", kernel_initializer="zeros", bias_initializer=keras.initializers.Constant(-1.0))(inputs)',
    ).replace("beta_vae.fit(", "0 and beta_vae.fit(")
    report = ae_magic.check(src, namespace={}, data="x_train", train=False)
    assert report.get("AE111") is None, report.text()


# -- round 65's cr02: a scaler's mean taken over the whole array --------------------------------------------

SENSORS = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(0)
level = np.array([5.0, 120.0, 3000.0, 0.5, 60.0, 900.0])
X_train = (level * (1 + 0.1 * rng.normal(size=(1500, 6)))).astype("float32")
train_mean = MEAN
train_std = X_train.std(axis=0)
X_train_scaled = ((X_train - train_mean) / train_std).astype("float32")
model = keras.Sequential([keras.Input(shape=(6,)), layers.Dense(4, activation="elu"), layers.Dense(6)])
model.compile(optimizer="adam", loss="mse")
"""


def test_a_scaler_mean_over_the_whole_array_is_where_ae201_points() -> None:
    src = SENSORS.replace("MEAN", "X_train.mean()")
    report = ae_magic.check(src, namespace={}, data="X_train_scaled", train=False)
    f = report.get("AE201")
    assert f is not None and f.line == _line(src, "train_mean = X_train.mean()"), report.text()
    assert f.fix.startswith("train_mean = X_train.mean(axis=0)"), f.fix


def test_a_scaler_mean_per_feature_is_silent() -> None:
    report = ae_magic.check(SENSORS.replace("MEAN", "X_train.mean(axis=0)"), namespace={}, data="X_train_scaled",
                            train=False)
    assert report.get("AE201") is None, report.text()


# -- round 65's cr08: a code penalty's square root without an epsilon ---------------------------------------

L21 = """\
import numpy as np
import keras
from keras import layers, ops

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
X_train = rng.normal(size=(512, 16)).astype("float32")


def l21_code_penalty(code):
    row_norms = ops.sqrt(NORM)
    return 1e-3 * ops.sum(row_norms)


inputs = keras.Input(shape=(16,))
h = layers.Dense(32, activation="relu", bias_initializer=keras.initializers.Constant(-3.0))(inputs)
code = layers.Dense(6, activation="relu", activity_regularizer=l21_code_penalty, name="sparse_code")(h)
outputs = layers.Dense(16)(layers.Dense(32, activation="relu")(code))
model = keras.Model(inputs, outputs)
model.compile(optimizer="adam", loss="mse")
"""


@pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                    reason="JAX's and torch's ReLU gradients select 0 for dead units, so sqrt's infinite slope at 0 "
                           "never becomes NaN there: no NaN gradient to explain")
def test_a_penalty_taking_a_bare_square_root_is_where_the_nan_gradients_point() -> None:
    src = L21.replace("NORM", "ops.sum(ops.square(code), axis=1)")
    report = ae_magic.check(src, namespace={}, data="X_train", seed=0)
    f = report.get("AE303")
    assert f is not None and f.evidence.get("before_any_step"), report.text()
    assert f.line == _line(src, "row_norms = ops.sqrt("), report.text()
    assert "1e-8 + ops.sum" in f.fix, f.fix


def test_the_same_penalty_with_an_epsilon_has_finite_gradients() -> None:
    report = ae_magic.check(L21.replace("NORM", "ops.sum(ops.square(code), axis=1) + 1e-8"), namespace={},
                            data="X_train", seed=0)
    assert not any(f.code == "AE303" and f.evidence.get("before_any_step") for f in report.findings), report.text()


# -- round 65's cr10: the encoder loop stops one entry short of the code -----------------------------------

LOOP = """\
import numpy as np
import keras
from keras import layers

X_scaled = np.random.default_rng(0).random((600, 12)).astype("float32")
encoder_units = [64, 32, 3]
enc_in = keras.Input(shape=(12,))
h = enc_in
for i in ITER:
    h = layers.Dense(encoder_units[i], activation="relu")(h)
g = h
for units in reversed(encoder_units[:-1]):
    g = layers.Dense(units, activation="relu")(g)
autoencoder = keras.Model(enc_in, layers.Dense(12, activation="sigmoid")(g))
autoencoder.compile(optimizer="adam", loss="mse")
"""


def test_a_layer_loop_that_stops_before_the_code_is_where_ae104_points() -> None:
    src = LOOP.replace("ITER", "range(len(encoder_units) - 1)")
    report = ae_magic.check(src, namespace={}, data="X_scaled", train=False)
    f = report.get("AE104")
    assert f is not None and f.line == _line(src, "for i in range(len(encoder_units) - 1)"), report.text()
    assert f.evidence["loop_skips"] == {"list": "encoder_units", "skipped": [3]}
    assert f.fix.startswith("for i in range(len(encoder_units)):"), f.fix


def test_the_loop_over_every_entry_builds_the_code() -> None:
    report = ae_magic.check(LOOP.replace("ITER", "range(len(encoder_units))"), namespace={}, data="X_scaled",
                            train=False)
    assert report.get("AE104") is None, report.text()


def test_a_loss_function_returning_a_keras_mean_loss_beside_an_added_kl_is_where_ae407_points() -> None:
    # Round 65's cs06: `return keras.losses.mean_squared_error(y_true, y_pred)` on 784-pixel rows.
    src = BETA_VAE.replace("REDUCE", "keras.losses.mean_squared_error(y_true, y_pred)")
    report = ae_magic.check(src, namespace={}, data="x_train", seed=0)
    f = report.findings[0]
    assert f.code == "AE407", report.text()
    assert f.line == _line(src, "return keras.losses.mean_squared_error(y_true, y_pred)"), report.text()
    assert "return 64 * keras.losses.mean_squared_error" in f.fix, f.fix


# -- round 65's cs09: a soft-threshold code that no unit gets past ------------------------------------------

SHRINK = """\
import numpy as np
import keras
from keras import layers, ops

keras.utils.set_random_seed(0)
x_train = np.random.default_rng(0).random((256, 32)).astype("float32")


class SoftThreshold(layers.Layer):
    def __init__(self, threshold=1.0, **kwargs):
        super().__init__(**kwargs)
        self.threshold = threshold

    def call(self, x):
        return BODY


inputs = keras.Input(shape=(32,))
h = layers.Dense(8, kernel_initializer=keras.initializers.RandomUniform(-0.01, 0.01))(inputs)
code = SoftThreshold(threshold=THRESHOLD, name="sparse_code")(h)
outputs = layers.Dense(32, activation="sigmoid")(code)
model = keras.Model(inputs, outputs)
model.compile(optimizer="adam", loss="mse")
"""
SHRINKAGE = "ops.sign(x) * ops.relu(ops.abs(x) - self.threshold)"


def test_a_threshold_no_unit_reaches_is_dead_units_at_that_layer() -> None:
    src = SHRINK.replace("BODY", SHRINKAGE).replace("THRESHOLD", "0.5")
    report = ae_magic.check(src, namespace={}, data="x_train", train=False)
    f = report.findings[0]
    assert f.code == "AE304" and f.evidence["dead_share"] == {"sparse_code": 1.0}, report.text()
    assert f.line == _line(src, "code = SoftThreshold("), report.text()
    assert report.get("AE111") is None, report.text()


def test_a_threshold_the_units_pass_is_silent_and_a_constant_layer_stays_ae111() -> None:
    report = ae_magic.check(SHRINK.replace("BODY", SHRINKAGE).replace("THRESHOLD", "0.001"), namespace={},
                            data="x_train", train=False)
    assert not {"AE111", "AE304"} & set(report.codes), report.text()
    report = ae_magic.check(SHRINK.replace("BODY", "ops.zeros_like(x)").replace("THRESHOLD", "0.5"), namespace={},
                            data="x_train", train=False)
    assert report.get("AE111") is not None and report.get("AE304") is None, report.text()
