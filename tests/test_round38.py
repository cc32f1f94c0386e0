"""Round 38: what fresh cells (VAEs, sequence anomaly detectors, conv image AEs, forum questions) found.

* A tanh code that stays unsaturated in a slow starter (round 37's f05: an expression AE with BatchNorm and
  SGD with momentum, 3-unit tanh code for a 3-D plot, 0.93x the mean's error after the probe run, well below
  it after a longer one): AE106 was a warning from the structure alone. The longer run the training check
  makes now judges it; a tanh code measured saturated keeps its warning (or error).
"""

from __future__ import annotations

import ae_magic


def _loud(report: ae_magic.Report) -> list:
    return [f for f in report.findings if f.severity in ("warning", "error")]


TANH_SLOW = """\
import numpy as np
import keras
from keras import layers

keras.utils.set_random_seed(0)
rng = np.random.default_rng(5)
n, d, k = 600, 200, 5
tissue = rng.integers(0, k, n)
programs = rng.normal(0, 1.5, size=(k, d)) * (rng.random((k, d)) < 0.4)
expr = programs[tissue] + 0.3 * rng.normal(size=(n, 1)) * rng.normal(size=d) + rng.normal(0, 0.5, (n, d))
x = ((expr - expr.mean(axis=0)) / expr.std(axis=0)).astype("float32")

inp = keras.Input(shape=(d,))
h = layers.Dense(64)(inp)
h = layers.BatchNormalization()(h)
h = layers.LeakyReLU(negative_slope=0.1)(h)
z = layers.Dense(3, activation="tanh", CODE_ARGS name="code3d")(h)
h = layers.Dense(64)(z)
h = layers.BatchNormalization()(h)
h = layers.LeakyReLU(negative_slope=0.1)(h)
out = layers.Dense(d)(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer=keras.optimizers.SGD(learning_rate=LR, momentum=0.9), loss="mse")
"""


def _tanh(code_args: str = "", lr: str = "0.003") -> str:
    return TANH_SLOW.replace("CODE_ARGS ", code_args).replace("LR", lr)


def test_an_unsaturated_tanh_code_in_a_slow_starter_is_info_after_the_longer_run():
    report = ae_magic.check(_tanh(), namespace={}, data="x")
    assert not report.internal_errors
    assert _loud(report) == [], [(f.code, f.title, f.message[:200]) for f in _loud(report)]
    f = report.get("AE106")
    assert f is not None and f.severity == "info", report.codes
    assert f.evidence["learned"]["mse_end"] < 0.9 * f.evidence["learned"]["mean_baseline"]
    assert f.evidence["measured_saturated_share"]["after_probe"] < 0.25


def test_a_tanh_code_driven_into_saturation_keeps_its_warning():
    # Pre-activations of about +-30: the code sits at +-1 from the start and carries no gradient.
    report = ae_magic.check(_tanh('kernel_initializer=keras.initializers.RandomNormal(stddev=3.0), '),
                            namespace={}, data="x")
    f = report.get("AE106")
    assert f is not None and f.severity in ("warning", "error"), report.codes


TWO_OPTIMIZERS = """\
import numpy as np
import tensorflow as tf
import keras
from keras import layers

keras.utils.set_random_seed(0)
rng = np.random.default_rng(99)
n, d, k = 1200, 20, 4
s = rng.normal(size=(n, k))
raw = s @ rng.normal(size=(k, d)) + 0.2 * rng.normal(size=(n, d))
x_train = ((raw - raw.mean(0)) / raw.std(0)).astype("float32")
latent_dim = 4

encoder = keras.Sequential([keras.Input(shape=(d,)), layers.Dense(32, activation="relu"), layers.Dense(2 * latent_dim)])
decoder = keras.Sequential([keras.Input(shape=(latent_dim,)), layers.Dense(32, activation="relu"), layers.Dense(d)])


class TabularVAE(keras.Model):
    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder

    def compile(self, encoder_optimizer, decoder_optimizer, **kwargs):
        super().compile(**kwargs)
        self.encoder_optimizer = encoder_optimizer
        self.decoder_optimizer = decoder_optimizer

    def encode(self, x):
        h = self.encoder(x)
        return h[:, :latent_dim], h[:, latent_dim:]

    def call(self, x):
        return self.decoder(self.encode(x)[0])

    def train_step(self, data):
        x = data[0] if isinstance(data, tuple) else data
        with tf.GradientTape(persistent=True) as tape:
            z_mean, z_log_var = self.encode(x)
            z = z_mean + tf.exp(0.5 * z_log_var) * tf.random.normal(tf.shape(z_mean))
            x_hat = self.decoder(z)
            rec_loss = tf.reduce_mean(tf.reduce_sum(tf.square(x - x_hat), axis=1))
            kl_loss = tf.reduce_mean(-0.5 * tf.reduce_sum(1 + z_log_var - tf.square(z_mean) - tf.exp(z_log_var), axis=1))
            total_loss = rec_loss + kl_loss
        enc_grads = tape.gradient(ENCODER_LOSS, self.encoder.trainable_weights)
        dec_grads = tape.gradient(rec_loss, self.decoder.trainable_weights)
        del tape
        self.encoder_optimizer.apply_gradients(zip(enc_grads, self.encoder.trainable_weights))
        self.decoder_optimizer.apply_gradients(zip(dec_grads, self.decoder.trainable_weights))
        return {"reconstruction": rec_loss, "kl": kl_loss}


vae = TabularVAE(encoder, decoder)
vae.compile(encoder_optimizer=keras.optimizers.Adam(1e-3), decoder_optimizer=keras.optimizers.Adam(1e-3), optimizer="adam")
"""


def _tf_only() -> None:
    import keras
    import pytest

    if keras.backend.backend() != "tensorflow":
        pytest.skip("the cell's train_step uses tf.GradientTape")


def test_an_encoder_trained_on_the_kl_alone_is_named_at_its_gradient_call():
    _tf_only()
    src = TWO_OPTIMIZERS.replace("ENCODER_LOSS", "kl_loss")
    report = ae_magic.check(src, namespace={}, data="x_train")
    assert not report.internal_errors, report.internal_errors
    hit = report.get("AE407")
    assert hit is not None and hit.severity in ("warning", "error"), report.codes
    assert "tape.gradient(kl_loss, self.encoder" in hit.source_line
    # The gradient is taken after the tape's block: the sum is made inside it, so the fix says so (no one-line edit).
    assert "total_loss = rec_loss + kl_loss" in hit.fix and "GradientTape" in hit.fix and hit.edit is None
    assert "outweighs" not in hit.message


def test_a_vae_with_a_custom_compile_of_two_optimizers_trains_through_fresh_copies_of_both():
    _tf_only()
    import numpy as np

    ns: dict = {}
    report = ae_magic.check(TWO_OPTIMIZERS.replace("ENCODER_LOSS", "total_loss"), namespace=ns, data="x_train")
    assert not report.internal_errors, report.internal_errors
    assert "training" in report.coverage["ran"], report.coverage
    assert _loud(report) == [], [(f.code, f.title, f.message[:200]) for f in _loud(report)]
    # The user's optimizers were never stepped nor built by the probes.
    vae = ns["vae"]
    for opt in (vae.encoder_optimizer, vae.decoder_optimizer):
        assert not opt.built or int(np.asarray(opt.iterations)) == 0


def test_a_step_that_logs_only_its_terms_has_their_sum_as_its_loss():
    from ae_magic.probes.updates import step_loss

    assert step_loss({"reconstruction": 2.0, "kl": 0.5}) == 2.5
    assert step_loss({"rec_loss": 2.0, "kl_loss": 0.5, "accuracy": 0.9}) == 2.5
    assert step_loss({"loss": 1.0, "kl": 3.0}) == 1.0
    assert step_loss({"reconstruction": 2.0, "kl": 0.5, "accuracy": 0.9}) == 2.5


RETURNS_VAE = """\
import numpy as np
import keras
from keras import layers, ops

keras.utils.set_random_seed(0)
rng = np.random.default_rng(2024)
n_days, n_assets = 1500, 24
factors = rng.normal(0, [0.010, 0.006, 0.004], size=(n_days, 3))
loadings = rng.normal(1.0, 0.4, size=(3, n_assets))
returns = (factors @ loadings + rng.normal(0, 0.004, size=(n_days, n_assets)) + 0.0003).astype("float32")
SCALE


class Sampling(layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(1337)  # JAX draws only from a generator

    def call(self, inputs):
        z_mean, z_log_var = inputs
        eps = keras.random.normal(shape=ops.shape(z_mean), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * eps


enc_in = keras.Input(shape=(n_assets,))
h = layers.Dense(32, activation="elu")(enc_in)
z_mean = layers.Dense(3, name="z_mean")(h)
z_log_var = layers.Dense(3, name="z_log_var")(h)
encoder = keras.Model(enc_in, [z_mean, z_log_var, Sampling()([z_mean, z_log_var])], name="encoder")
dec_in = keras.Input(shape=(3,))
decoder = keras.Model(dec_in, layers.Dense(n_assets)(layers.Dense(32, activation="elu")(dec_in)), name="decoder")


class ReturnsVAE(keras.Model):
    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder, self.decoder = encoder, decoder

    def call(self, x):
        return self.decoder(self.encoder(x)[2])

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        z_mean, z_log_var, z = self.encoder(x)
        rec = ops.mean(ops.sum(ops.square(x - self.decoder(z)), axis=1))
        kl = ops.mean(ops.sum(-0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var)), axis=1))
        return rec + kl


vae = ReturnsVAE(encoder, decoder)
vae.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3))
"""


def test_a_vae_whose_code_stays_at_the_prior_over_the_longer_run_is_ae407_not_a_slow_start():
    # Raw daily returns (std about 0.01) against a unit-variance Gaussian term: the reconstruction is worth almost
    # nothing next to the KL, so every code stays at the prior while the output never beats the mean.
    report = ae_magic.check(RETURNS_VAE.replace("SCALE", ""), namespace={}, data="returns")
    assert not report.internal_errors, report.internal_errors
    hit = report.get("AE407")
    assert hit is not None and hit.severity in ("warning", "error"), (report.codes, report.notes)
    assert not any("a slow start" in n for n in report.notes)


def test_the_same_vae_on_standardised_returns_is_silent():
    report = ae_magic.check(RETURNS_VAE.replace("SCALE", "returns = (returns - returns.mean(0)) / returns.std(0)"),
                            namespace={}, data="returns")
    assert not report.internal_errors, report.internal_errors
    assert _loud(report) == [], [(f.code, f.title, f.message[:200]) for f in _loud(report)]


STROKES = """\
import numpy as np
import keras
from keras import layers, ops

keras.utils.set_random_seed(42)
rng = np.random.default_rng(42)
n, side = 1200, 12
yy, xx = np.mgrid[0:side, 0:side].astype("float32")
cx, cy = rng.uniform(3, 9, size=(2, n))
theta = rng.uniform(0, np.pi, size=n)
dist = np.abs((xx[None] - cx[:, None, None]) * np.sin(theta)[:, None, None]
              - (yy[None] - cy[:, None, None]) * np.cos(theta)[:, None, None])
x = (np.exp(-(dist / 1.5) ** 2) * (np.hypot(xx[None] - cx[:, None, None], yy[None] - cy[:, None, None]) < 5))
x = x.reshape(n, side * side).astype("float32")


class ReconstructionLoss(keras.losses.Loss):
    def call(self, y_true, y_pred):
        y_true = ops.convert_to_tensor(y_true, dtype=y_pred.dtype)
        return LOSS_EXPR


inputs = keras.Input(shape=(side * side,))
h = layers.Dense(64, activation="relu")(inputs)
code = layers.Dense(12, activation="relu")(h)
h = layers.Dense(64, activation="relu")(code)
outputs = layers.Dense(side * side, activation="sigmoid")(h)
model = keras.Model(inputs, outputs)
model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=ReconstructionLoss())
"""


def test_a_loss_that_reads_only_each_samples_mean_is_named_at_its_return():
    report = ae_magic.check(STROKES.replace("LOSS_EXPR", "ops.square(ops.mean(y_true - y_pred, axis=-1))"),
                            namespace={}, data="x")
    assert not report.internal_errors
    hit = report.get("AE405")
    assert hit is not None and hit.severity == "warning", report.codes
    assert "ops.square(ops.mean(y_true - y_pred" in hit.source_line
    assert hit.evidence["blind_loss"]["scrambled"] < 0.5 * hit.evidence["blind_loss"]["mean"]
    assert "ops.mean(ops.square(" in hit.fix


def test_the_same_loss_subclass_squaring_first_is_silent():
    report = ae_magic.check(STROKES.replace("LOSS_EXPR", "ops.mean(ops.square(y_true - y_pred), axis=-1)"),
                            namespace={}, data="x")
    assert not report.internal_errors
    assert _loud(report) == [], [(f.code, f.title, f.message[:200]) for f in _loud(report)]
    assert (report.traces["training"]["baselines"]["loss_units"]["scrambled"]
            > report.traces["training"]["baselines"]["loss_units"]["mean"])


FROZEN_TIED = """\
import numpy as np
import keras
from keras import layers, ops

keras.utils.set_random_seed(0)
rng = np.random.default_rng(2024)
z = rng.normal(size=(1500, 6))
x_train = (1 / (1 + np.exp(-(z @ rng.normal(size=(6, 200))) / 2))).astype("float32")


class DenseTranspose(layers.Layer):
    def __init__(self, dense, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.dense = dense
        self.activation = keras.activations.get(activation)

    def build(self, batch_input_shape):
        self.kernel_t = ops.transpose(self.dense.kernel)  # a snapshot of the initial kernel
        self.biases = self.add_weight(name="bias", shape=(self.kernel_t.shape[-1],), initializer="zeros")

    def call(self, inputs):
        return self.activation(ops.matmul(inputs, self.kernel_t) + self.biases)


dense_1 = layers.Dense(64, activation="selu")
dense_2 = layers.Dense(16, activation="selu")
encoder = keras.models.Sequential([keras.Input(shape=(200,)), dense_1, dense_2])
decoder = keras.models.Sequential([keras.Input(shape=(16,)), DenseTranspose(dense_2, activation="selu"),
                                   DenseTranspose(dense_1, activation="sigmoid")])
tied_ae = keras.models.Sequential([encoder, decoder])
tied_ae.compile(loss="binary_crossentropy", optimizer=keras.optimizers.Adam(learning_rate=1e-3))
"""


def test_what_a_gradient_error_costs_is_reported_under_it():
    # Round 39: a tied decoder multiplying by a frozen copy of its kernel (AE301, an error) ended the run at 3x the
    # mean's error; the report said nothing of that cost.
    import keras

    report = ae_magic.check(FROZEN_TIED, namespace={}, data="x_train")
    if keras.backend.backend() == "torch":
        # A transpose of a torch parameter is a view of it: it follows the weight, so nothing is frozen there.
        assert report.get("AE301") is None and not _loud(report), report.codes
        return
    cause = report.get("AE301")
    assert cause is not None and cause.severity == "error", report.codes
    cost = report.get("AE405")  # no better than the mean, or far from PCA: shown under its cause
    assert cost is not None and cost.caused_by == "AE301", report.codes


def test_a_sparsity_target_regularizer_does_not_favour_a_zero_code_and_l1_does():
    import keras

    from ae_magic.checks.baseline import _favours_zero

    class KLTarget(keras.regularizers.Regularizer):  # Geron's KLDivergenceRegularizer
        def __call__(self, inputs):
            m = keras.ops.mean(inputs, axis=0)
            return 0.05 * (keras.losses.kl_divergence(0.1, m) + keras.losses.kl_divergence(0.9, 1.0 - m))

    inp = keras.Input(shape=(20,))
    kl = keras.layers.Dense(30, activation="sigmoid", activity_regularizer=KLTarget(), name="kl_code")(inp)
    l1 = keras.layers.Dense(30, activation="relu", activity_regularizer=keras.regularizers.l1(1e-2), name="l1_code")(kl)
    model = keras.Model(inp, l1)
    assert _favours_zero(model, "kl_code") is False
    assert _favours_zero(model, "l1_code") is True


NO_NOISE = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(0)
train_data = (rng.random((300, 16, 16, 1)) < 0.3).astype("float32")


def noise(array):
    noisy_array = array + 0.4 * rng.normal(size=array.shape)
    return np.clip(ARRAY, 0.0, 1.0).astype("float32")


noisy_train_data = noise(train_data)
inp = keras.Input(shape=(16, 16, 1))
h = layers.Conv2D(32, 3, activation="relu", padding="same")(inp)
h = layers.MaxPooling2D(2, padding="same")(h)
h = layers.Conv2D(32, 3, activation="relu", padding="same")(h)
h = layers.MaxPooling2D(2, padding="same")(h)
h = layers.Conv2DTranspose(32, 3, strides=2, activation="relu", padding="same")(h)
h = layers.Conv2DTranspose(32, 3, strides=2, activation="relu", padding="same")(h)
out = layers.Conv2D(1, 3, activation="sigmoid", padding="same")(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
"""


def test_a_denoising_input_equal_to_its_target_is_named_where_it_is_made():
    report = ae_magic.check(NO_NOISE.replace("ARRAY", "array"), namespace={}, data="noisy_train_data",
                            target="train_data", train=False)
    hit = report.get("AE104")
    assert hit is not None and hit.severity == "warning", report.codes
    assert hit.source_line.startswith("noisy_train_data = noise(") and hit.evidence["input_equals_target"]


def test_the_same_conv_denoiser_with_its_noise_gets_no_ae104():
    report = ae_magic.check(NO_NOISE.replace("ARRAY", "noisy_array"), namespace={}, data="noisy_train_data",
                            target="train_data", train=False)
    assert report.get("AE104") is None, report.codes
    plain = ae_magic.check(NO_NOISE.replace("ARRAY", "noisy_array"), namespace={}, data="train_data", train=False)
    assert plain.get("AE104") is not None and plain.get("AE104").severity == "info"  # the conv design, as before


TEXT_IDS = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(13)
words = ["turn", "on", "off", "the", "kitchen", "hall", "light", "fan"]
commands = [" ".join(rng.choice(words, size=int(rng.integers(3, 7)))) for _ in range(400)]
vectorizer = keras.layers.TextVectorization(standardize=None, output_mode="int")
vectorizer.adapt(commands)
x = keras.utils.pad_sequences(np.asarray(vectorizer(commands)), maxlen=8, padding="post", value=0)
unused = layers.Dense(4)
inputs = keras.Input(shape=(8,), dtype="int32")
h = layers.Embedding(vectorizer.vocabulary_size(), 16, mask_zero=True)(inputs)
h = layers.GRU(16)(h)
h = layers.RepeatVector(8)(h)
h = layers.GRU(16, return_sequences=True)(h)
outputs = layers.Dense(vectorizer.vocabulary_size())(h)
model = keras.Model(inputs, outputs)
model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
"""


def test_a_preprocessing_layer_called_on_the_data_is_not_a_layer_left_out():
    import pytest

    pytest.importorskip("tensorflow", reason="TextVectorization runs on TensorFlow only")
    report = ae_magic.check(TEXT_IDS, namespace={}, data="x", train=False)
    dangling = [f.evidence.get("variable") for f in report.findings if f.code == "AE102"]
    assert "vectorizer" not in dangling and "unused" in dangling, dangling


ONE_HOT_VAE = """\
import numpy as np
import keras
from keras import layers, ops

rng = np.random.default_rng(29)
x = np.eye(24, dtype="float32")[rng.integers(0, 24, size=(600, 10))]  # 96 % zeros
inputs = keras.Input(shape=(10, 24))
h = layers.Dense(32, activation="relu")(layers.Flatten()(inputs))
h = layers.Reshape((10, 24))(layers.Dense(240)(h))
outputs = HEAD
model = keras.Model(inputs, outputs)
model.compile(optimizer="adam", loss="mse")
"""


def test_one_hot_rows_under_a_softmax_head_are_not_the_independent_values_warning():
    soft = ae_magic.check(ONE_HOT_VAE.replace("HEAD", "layers.Softmax(axis=-1)(h)"), namespace={}, data="x",
                          train=False)
    assert soft.get("AE205") is None, soft.codes
    sig = ae_magic.check(ONE_HOT_VAE.replace("HEAD", 'layers.Activation("sigmoid")(h)'), namespace={}, data="x",
                         train=False)
    assert sig.get("AE205") is not None, sig.codes
