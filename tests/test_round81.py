"""Round 81 (session 44): fresh cells written blind (image and denoising autoencoders; VAEs; sequence and anomaly
models); the fixes its misses asked for.

* fa06 (the Keras blog's sparse autoencoder with ``activity_regularizer=regularizers.l1(1e-1)`` written on its own
  line): AE404 named the code layer's call line with a generic "live code" fix, and AE304 (units the cell's own
  fit left dead) blamed nothing. A code killed by its own activity penalty is the penalty's doing: both name the
  ``activity_regularizer=`` line with the penalty's fix.
* fb10 (a tabular anomaly VAE whose decoder reads ``z_mean`` instead of the sampled ``z``): AE102 named the
  ``Sampling`` line. The fix is the decoder call's: AE102 names the later call that reads an input of the unused
  layer where its output belongs, with that line rewritten.
* fb02 (a subclassed VAE taking an encoder and a decoder, whose cell fit went to NaN): the probe copy got the NaN
  weights (a fresh copy was made for functional and Sequential models only), and the probe reported its NaN KL
  "at step 0" beside the real cause. A subclassed copy starts from fresh weights too.
* fc05 (keras.io's Conv1D anomaly detector at ``Adam(learning_rate=0.1)``): the cell's fit blew up (epoch losses
  about 8,500, then the mean's) and left every ReLU dead, while the probes' run from fresh weights at 0.1 came
  through; only a note said the cell's fit left the model so. The cell's ``History`` is the evidence: AE401 at the
  optimizer line.
* fc07 (an hourly series split with ``train_test_split`` before windowing): AE205 was named at the windowing line;
  ``train_test_split`` shuffles unless told not to, and that line is the fix.
* fc08 (a masked GRU model with its own ``train_step``): every validation pass ran the model's call eagerly (0.8 s
  each, 60 s of a 140 s check). TensorFlow compiles that forward pass now, with the eager call kept for Python a
  trace can't take; and a model compiled with ``run_eagerly=True`` has its own step run eagerly, as fit runs it
  (before, the probes compiled it and reported "model.fit fails the same way", which it does not).
"""

from __future__ import annotations

import numpy as np
import pytest

import ae_magic
from ae_magic import keras_compat as kc


def _line(src: str, text: str) -> int:
    return next(i for i, line in enumerate(src.splitlines(), 1) if text in line)


def _loud(report: ae_magic.Report, code: str | None = None) -> list[ae_magic.Finding]:
    return [f for f in report.findings if (code is None or f.code == code) and f.severity in ("warning", "error")]


SPARSE = """\
import numpy as np
import keras
from keras import layers, regularizers

rng = np.random.default_rng(0)
n_images, side = 600, 12
bars = np.zeros((n_images, side, side), dtype="float32")
for i in range(n_images):
    for r in rng.choice(side, size=2, replace=False):
        bars[i, r, :] = rng.uniform(0.5, 1.0)
    c = rng.integers(side)
    bars[i, :, c] = np.maximum(bars[i, :, c], rng.uniform(0.5, 1.0))
x_train = bars.reshape(n_images, side * side)

inputs = keras.Input(shape=(side * side,))
encoded = layers.Dense(32, activation="relu",
                       activity_regularizer=regularizers.l1(STRENGTH))(inputs)
decoded = layers.Dense(side * side, activation="sigmoid")(encoded)
sparse_ae = keras.Model(inputs, decoded)
sparse_ae.compile(optimizer="adam", loss="binary_crossentropy")
sparse_ae.fit(x_train, x_train, epochs=3, batch_size=32, verbose=0)
"""


def test_collapse_under_a_strong_activity_penalty_names_the_penalty_line() -> None:
    src = SPARSE.replace("STRENGTH", "1e-1")
    report = ae_magic.check(src, namespace={}, data="x_train")
    line = _line(src, "activity_regularizer=")
    collapse = _loud(report, "AE404")
    assert collapse, [(f.code, f.severity) for f in report.findings]
    assert collapse[0].line == line
    assert "activity_regularizer=keras.regularizers.l1(1e-5)" in collapse[0].fix
    for dead in _loud(report, "AE304"):
        assert dead.line == line
        assert "activity regularizer" in dead.message


def test_sparse_autoencoder_with_a_small_penalty_stays_silent() -> None:
    src = SPARSE.replace("STRENGTH", "1e-5")
    report = ae_magic.check(src, namespace={}, data="x_train")
    assert not _loud(report), [(f.code, f.severity, f.message[:200]) for f in _loud(report)]


VAE = """\
import numpy as np
import keras
from keras import layers, ops

rng = np.random.default_rng(21)
n_samples, n_features = 800, 30
latent_true = rng.normal(size=(n_samples, 5))
mixing = rng.normal(size=(5, n_features)) / np.sqrt(5)
X = latent_true @ mixing + 0.1 * rng.normal(size=(n_samples, n_features))
X_train = ((X - X.mean(axis=0)) / X.std(axis=0)).astype("float32")
latent_dim = 5


class Sampling(layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(5)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        epsilon = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon


class KLDivergence(layers.Layer):
    def call(self, inputs):
        z_mean, z_log_var = inputs
        kl = -0.5 * ops.mean(ops.sum(1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=1))
        self.add_loss(kl / 30.0)
        return inputs


inputs = keras.Input(shape=(n_features,))
x = layers.Dense(32, activation="relu")(inputs)
z_mean = layers.Dense(latent_dim, name="z_mean")(x)
z_log_var = layers.Dense(latent_dim, name="z_log_var")(x)
z_mean, z_log_var = KLDivergence(name="kl")([z_mean, z_log_var])
z = Sampling(name="z")([z_mean, z_log_var])
decoder = keras.Sequential([keras.Input(shape=(latent_dim,)), layers.Dense(32, activation="relu"),
                            layers.Dense(n_features)], name="decoder")
reconstruction = decoder(FED)
anomaly_vae = keras.Model(inputs, reconstruction)
anomaly_vae.compile(optimizer="adam", loss="mse")
"""


def test_decoder_fed_the_mean_instead_of_the_sample_is_named_at_the_decoder_call() -> None:
    src = VAE.replace("FED", "z_mean")
    report = ae_magic.check(src, namespace={}, data="X_train", train=False)
    dangling = _loud(report, "AE102")
    assert dangling, [(f.code, f.severity) for f in report.findings]
    assert dangling[0].line == _line(src, "reconstruction = decoder(")
    assert dangling[0].fix == "reconstruction = decoder(z)"
    assert "`z_mean`" in dangling[0].message


def test_decoder_fed_the_sample_has_no_dangling_layer() -> None:
    src = VAE.replace("FED", "z")
    report = ae_magic.check(src, namespace={}, data="X_train", train=False)
    assert not _loud(report, "AE102")


SUBCLASSED = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(0)
X = (1 / (1 + np.exp(-rng.normal(size=(512, 3)) @ rng.normal(size=(3, 16))))).astype("float32")

encoder = keras.Sequential([keras.Input(shape=(16,)), layers.Dense(8, activation="relu"), layers.Dense(4)])
decoder = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(8, activation="relu"),
                            layers.Dense(16, activation="sigmoid")])


class PairAE(keras.Model):
    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder

    def call(self, x):
        return self.decoder(self.encoder(x))


model = PairAE(encoder, decoder)
model.compile(optimizer="adam", loss="mse")
model(X[:2])
# what a diverged fit leaves behind
encoder.layers[0].kernel.assign(np.full((16, 8), np.nan, dtype="float32"))
"""


def test_a_subclassed_copy_of_nan_weights_starts_from_fresh_weights() -> None:
    ns: dict = {}
    exec(SUBCLASSED, ns)
    model = ns["model"]
    kc._remember_plain_constructor_args(model, (ns["encoder"], ns["decoder"]), {})  # as a checked cell records it
    before = [np.array(w) for w in model.get_weights()]
    clone, in_place = kc.clone_model(model, ns["X"][:4])
    assert not in_place and clone is not model
    assert getattr(clone, "_ae_fresh_init", False)
    assert kc.all_finite_arrays(clone.get_weights())
    assert not any(c is u for c in clone.weights for u in model.weights)
    after = model.get_weights()
    assert all(np.array_equal(a, b, equal_nan=True) for a, b in zip(before, after, strict=True))


def test_check_of_a_subclassed_model_with_nan_weights_probes_fresh_weights() -> None:
    report = ae_magic.check(SUBCLASSED, namespace={}, data="X")
    losses = (report.traces.get("training") or {}).get("loss") or []
    assert losses and np.isfinite(losses[0]), losses[:3]
    assert not [f for f in _loud(report, "AE401") if "step 0" in f.message]
    # Before: the probes trained the NaN weights, and AE301/AE404/AE402 described them instead of the model.
    assert {f.code for f in _loud(report)} == {"AE401"}, [(f.code, f.message[:120]) for f in _loud(report)]
    assert any("fresh initial weights" in n for n in report.notes)


SPLIT = """\
import numpy as np
import keras
from keras import layers


def train_test_split(a, test_size=0.2, shuffle=True, random_state=0):  # sklearn's, shuffling by default
    idx = np.random.default_rng(random_state).permutation(len(a)) if shuffle else np.arange(len(a))
    cut = int(len(a) * (1 - test_size))
    return a[idx[:cut]], a[idx[cut:]]


hours = np.arange(2400)
power = (1.5 + 0.8 * np.sin(2 * np.pi * hours / 24) + 0.05 * np.random.default_rng(3).normal(size=2400)).reshape(-1, 1)
train_values, test_values = train_test_split(power, test_size=0.2SPLIT_ARGS)
train_scaled = (train_values - train_values.mean()) / train_values.std()
trainX = np.array([train_scaled[i:i + 32] for i in range(len(train_scaled) - 32)], dtype="float32")
model = keras.Sequential([layers.Input(shape=(32, 1)), layers.LSTM(16), layers.RepeatVector(32),
                          layers.LSTM(16, return_sequences=True), layers.TimeDistributed(layers.Dense(1))])
model.compile(optimizer="adam", loss="mse")
"""


def test_a_series_split_with_shuffling_before_windowing_is_named_at_the_split() -> None:
    src = SPLIT.replace("SPLIT_ARGS", "")
    report = ae_magic.check(src, namespace={}, data="trainX", train=False)
    order = [f for f in report.findings if f.code == "AE205" and "lag1_correlation" in f.evidence]
    assert order, report.text()
    assert order[0].line == _line(src, "train_values, test_values = train_test_split(")
    assert "shuffle=False" in order[0].message


def test_a_series_split_in_time_order_keeps_its_windows_silent() -> None:
    report = ae_magic.check(SPLIT.replace("SPLIT_ARGS", ", shuffle=False"), namespace={}, data="trainX", train=False)
    assert not [f for f in report.findings if f.code == "AE205"], report.text()


class _History:
    def __init__(self, losses: list[float]) -> None:
        self.history = {"loss": losses}


class _Model:
    def __init__(self, losses: list[float]) -> None:
        self.history = _History(losses)


class _Ctx:
    def __init__(self, losses: list[float]) -> None:
        self.model = _Model(losses)


def test_a_cell_fit_that_blew_up_is_read_from_its_history() -> None:
    from ae_magic.checks.wrecked_start import _cell_fit_blew_up

    fresh_run = {"loss": [1.02, 0.9, 0.7]}
    # Round 81's fc05: Adam(0.1) on a Conv1D autoencoder, about 8,500 in the first epoch, then the mean's error.
    assert _cell_fit_blew_up(_Ctx([8500.0, 1.03, 1.02]), fresh_run) == ([8500.0, 1.03, 1.02], 1.02)
    # A fit that went the usual way, or one that only got a little worse, is no blow-up.
    assert _cell_fit_blew_up(_Ctx([0.8, 0.5, 0.4]), fresh_run) is None
    assert _cell_fit_blew_up(_Ctx([2.5, 1.1, 1.0]), fresh_run) is None
    assert _cell_fit_blew_up(_Ctx([]), fresh_run) is None
    assert _cell_fit_blew_up(_Ctx([9000.0]), {"loss": [float("nan")]}) is None


UNTRACEABLE = """\
import numpy as np
import tensorflow as tf
import keras
from keras import layers

rng = np.random.default_rng(0)
X = (1 / (1 + np.exp(-rng.normal(size=(512, 3)) @ rng.normal(size=(3, 16))))).astype("float32")


class StepAE(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.enc = layers.Dense(4, activation="relu")
        self.dec = layers.Dense(16, activation="sigmoid")
        self.tracker = keras.metrics.Mean(name="loss")

    @property
    def metrics(self):
        return [self.tracker]

    def call(self, x):
        x = keras.ops.convert_to_tensor(np.clip(np.asarray(x), 0.0, 1.0))  # numpy in the call: eager only
        return self.dec(self.enc(x))

    def train_step(self, data):
        x = data[0] if isinstance(data, tuple) else data
        with tf.GradientTape() as tape:
            loss = keras.ops.mean(keras.ops.square(x - self(x, training=True)))
        grads = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        self.tracker.update_state(loss)
        return {"loss": self.tracker.result()}


model = StepAE()
model.compile(optimizer="adam", run_eagerly=True)
model(X[:2])
"""


def test_a_forward_pass_the_compiler_cannot_trace_is_read_eagerly() -> None:
    # (A train_step written with tf.GradientTape, and only TensorFlow compiles the forward pass of such a model.)
    if kc.keras.backend.backend() != "tensorflow":
        pytest.skip("a tf.GradientTape train_step; only the TensorFlow backend compiles a Python forward pass")
    report = ae_magic.check(UNTRACEABLE, namespace={}, data="X")
    assert not report.internal_errors
    assert "training" not in (report.coverage.get("skipped") or {}), report.coverage
    assert (report.traces.get("training") or {}).get("val_curve"), report.text()
