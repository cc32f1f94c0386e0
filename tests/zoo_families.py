"""A second zoo, by autoencoder family: VAEs (KL in a layer via ``add_loss``,
a separate KL layer, a custom ``train_step``), LSTM/GRU seq2seq, Conv1D,
denoising and anomaly-detection autoencoders, buggy and healthy.

Each cell is a complete notebook cell the way the public tutorials write
them (keras.io's VAE, TensorFlow's "Intro to Autoencoders" denoising and
ECG anomaly detection, keras.io's Conv1D timeseries anomaly detection,
the LSTM autoencoder tutorials with ``RepeatVector``/``TimeDistributed``),
written fresh in Keras 3 with small deterministic data made in the cell,
no network. Buggy cells carry a real, common fault from those tutorials'
comment threads and bug reports; healthy cells are the same families done
right, slow starters (Adam(1e-4), a slowly learning LSTM) included: they
must get no warning and no error.

``CELLS`` maps a name to a :class:`Cell`. ``Cell.codes`` is the set of
codes any one of which names the root cause (empty: healthy). ``Cell.backends``
lists the Keras backends the cell is written for (the custom ``train_step``
cells use ``tf.GradientTape``, as keras.io's VAE does, so they are
TensorFlow only).
"""

from __future__ import annotations

from dataclasses import dataclass, field

ALL_BACKENDS = ("tensorflow", "jax", "torch")


@dataclass(frozen=True)
class Cell:
    """One zoo cell: its source, how to check it and what it must get."""

    family: str
    source: str
    # Any one of these codes (as a warning or error) names the root cause; empty: healthy.
    codes: frozenset[str] = frozenset()
    data: str = "x"
    target: str | None = None
    backends: tuple[str, ...] = ALL_BACKENDS
    why: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        """Whether the cell is a healthy one (it must stay silent)."""
        return not self.codes

    def check_kwargs(self) -> dict:
        """The ``check()`` keyword arguments for this cell."""
        kw = {"data": self.data}
        if self.target is not None:
            kw["target"] = self.target
        return kw

    def cli_args(self) -> list[str]:
        """The ``ae-magic check`` flags for this cell."""
        args = ["--data", self.data]
        if self.target is not None:
            args += ["--target", self.target]
        return args


CELLS: dict[str, Cell] = {}


def _add(name: str, family: str, source: str, codes: set[str] | None = None, **kw) -> None:
    CELLS[name] = Cell(family=family, source=source, codes=frozenset(codes or ()), **kw)


# --------------------------------------------------------------------------
# VAEs, Keras 3 style: the KL term is added by a layer (symbolic add_loss on
# a functional model is gone in Keras 3).

_VAE_DATA = """\
import numpy as np
import keras
from keras import layers, ops

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
z = rng.normal(size=(1200, 4))
x = (1.0 / (1.0 + np.exp(-3.0 * (z @ rng.normal(size=(4, 32)))))).astype("float32")

"""

_add(
    "vae_addloss_summed_kl_mean_mse",
    "vae-add_loss",
    _VAE_DATA
    + """\
class Sampling(layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(42)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        kl = -0.5 * ops.mean(ops.sum(1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=1))
        self.add_loss(kl)
        eps = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * eps


class Reconstruction(layers.Layer):
    def call(self, inputs):
        target, recon = inputs
        self.add_loss(ops.mean(ops.square(target - recon)))   # mean over pixels, KL summed over z
        return recon


inp = keras.Input(shape=(32,))
h = layers.Dense(32, activation="relu")(inp)
z_mean = layers.Dense(4, name="z_mean")(h)
z_log_var = layers.Dense(4, name="z_log_var")(h)
z = Sampling()([z_mean, z_log_var])
h = layers.Dense(32, activation="relu")(z)
out = layers.Dense(32, activation="sigmoid")(h)
out = Reconstruction()([inp, out])
vae = keras.Model(inp, out)
vae.compile(optimizer=keras.optimizers.Adam(1e-3))
""",
    {"AE407"},
    why="posterior collapse: a per-pixel mean squared error against a KL summed over the code",
)

_add(
    "vae_addloss_kl_without_half",
    "vae-add_loss",
    _VAE_DATA
    + """\
class Sampling(layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(42)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        # KL without the 0.5, and a BCE averaged over the 32 features below
        kl = -ops.mean(ops.sum(1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=1))
        self.add_loss(kl)
        eps = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * eps


encoder_inputs = keras.Input(shape=(32,))
h = layers.Dense(32, activation="relu")(encoder_inputs)
z_mean = layers.Dense(4)(h)
z_log_var = layers.Dense(4)(h)
z = Sampling()([z_mean, z_log_var])
h = layers.Dense(32, activation="relu")(z)
decoded = layers.Dense(32, activation="sigmoid")(h)
vae = keras.Model(encoder_inputs, decoded)
vae.compile(optimizer="adam", loss="binary_crossentropy")
""",
    {"AE407"},
    why="posterior collapse: KL without the 0.5 against keras' per-feature mean BCE",
)

_add(
    "vae_kl_layer_mean_mse",
    "vae-kl-layer",
    _VAE_DATA
    + """\
class KLDivergenceLayer(layers.Layer):
    \"\"\"Identity layer that adds the KL divergence to the model's loss.\"\"\"

    def call(self, inputs):
        mu, log_var = inputs
        kl = -0.5 * ops.sum(1 + log_var - ops.square(mu) - ops.exp(log_var), axis=-1)
        self.add_loss(ops.mean(kl))
        return inputs


class Sampling(layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(7)

    def call(self, inputs):
        mu, log_var = inputs
        eps = keras.random.normal(ops.shape(mu), seed=self.seed_generator)
        return mu + ops.exp(0.5 * log_var) * eps


x_in = keras.Input(shape=(32,))
h = layers.Dense(32, activation="relu")(x_in)
z_mu = layers.Dense(4)(h)
z_log_var = layers.Dense(4)(h)
z_mu, z_log_var = KLDivergenceLayer()([z_mu, z_log_var])
z = Sampling()([z_mu, z_log_var])
h = layers.Dense(32, activation="relu")(z)
x_pred = layers.Dense(32, activation="sigmoid")(h)
vae = keras.Model(x_in, x_pred)
vae.compile(optimizer="adam", loss="mse")
""",
    {"AE407"},
    why="posterior collapse: compile(loss='mse') is a per-feature mean, the KL layer sums over the code",
)

_VAE_TRAIN_STEP = """\
import numpy as np
import tensorflow as tf
import keras
from keras import layers, ops

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
z = rng.normal(size=(1200, 4))
x = (1.0 / (1.0 + np.exp(-3.0 * (z @ rng.normal(size=(4, 32)))))).astype("float32")


class Sampling(layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(1337)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        eps = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * eps


encoder_inputs = keras.Input(shape=(32,))
h = layers.Dense(32, activation="relu")(encoder_inputs)
z_mean = layers.Dense(4, name="z_mean")(h)
z_log_var = layers.Dense(4, name="z_log_var")(h)
z = Sampling()([z_mean, z_log_var])
encoder = keras.Model(encoder_inputs, [z_mean, z_log_var, z], name="encoder")

latent_inputs = keras.Input(shape=(4,))
h = layers.Dense(32, activation="relu")(latent_inputs)
decoder_outputs = layers.Dense(32, activation="sigmoid")(h)
decoder = keras.Model(latent_inputs, decoder_outputs, name="decoder")


class VAE(keras.Model):
    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.total_loss_tracker = keras.metrics.Mean(name="total_loss")

    @property
    def metrics(self):
        return [self.total_loss_tracker]

    def call(self, inputs):
        return self.decoder(self.encoder(inputs)[2])

    def train_step(self, data):
        with tf.GradientTape() as tape:
            z_mean, z_log_var, z = self.encoder(data)
            reconstruction = self.decoder(z)
            reconstruction_loss = RECON
            kl_loss = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
            kl_loss = ops.mean(ops.sum(kl_loss, axis=1))
            total_loss = reconstruction_loss + kl_loss
        grads = tape.gradient(total_loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        self.total_loss_tracker.update_state(total_loss)
        return {"loss": self.total_loss_tracker.result()}


vae = VAE(encoder, decoder)
vae.compile(optimizer=keras.optimizers.Adam(LR))
"""

_add(
    "vae_train_step_mean_recon",
    "vae-train_step",
    _VAE_TRAIN_STEP.replace("RECON", "ops.mean(keras.losses.binary_crossentropy(data, reconstruction))").replace("LR", "1e-3"),
    {"AE407"},
    backends=("tensorflow",),
    why="posterior collapse: keras.io's train_step with the BCE averaged instead of summed over the features",
)

# --------------------------------------------------------------------------
# Recurrent seq2seq autoencoders (RepeatVector + TimeDistributed).

_SINES = """\
import numpy as np
import keras
from keras import layers

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
t = np.linspace(0, 2 * np.pi, 16)
freq = rng.uniform(0.5, 2.0, size=(384, 1))
phase = rng.uniform(0, 2 * np.pi, size=(384, 1))
"""

_add(
    "lstm_raw_sensor_counts",
    "lstm-seq2seq",
    _SINES
    + """\
# raw 8-bit sensor readings, fed as they come
x = np.round(127.5 + 120 * np.sin(freq * t + phase))[..., None].astype("float32")

model = keras.Sequential([
    keras.Input(shape=(16, 1)),
    layers.LSTM(8),
    layers.RepeatVector(16),
    layers.LSTM(16, return_sequences=True),
    layers.TimeDistributed(layers.Dense(1)),
])
model.compile(optimizer="adam", loss="mse")
""",
    {"AE201"},
    why="raw 0-255 readings into an LSTM autoencoder",
)

_add(
    "lstm_relu_units_explode",
    "lstm-seq2seq",
    _SINES
    + """\
x = (3.0 * np.sin(freq * t + phase))[..., None].astype("float32")

model = keras.Sequential([
    keras.Input(shape=(16, 1)),
    layers.LSTM(32, activation="relu", return_sequences=True),
    layers.LSTM(8, activation="relu"),
    layers.RepeatVector(16),
    layers.LSTM(8, activation="relu", return_sequences=True),
    layers.LSTM(32, activation="relu", return_sequences=True),
    layers.TimeDistributed(layers.Dense(1)),
])
model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
""",
    {"AE304", "AE303", "AE401", "AE403", "AE404"},
    why="relu LSTMs (unbounded cell state) at a high rate: units die, or the loss blows up or swings (AE403 names the rate)",
)

_add(
    "gru_decoder_fed_input",
    "gru-seq2seq",
    _SINES
    + """\
x = np.sin(freq * t + phase)[..., None].astype("float32")

inputs = keras.Input(shape=(16, 1))
encoded = layers.GRU(8)(inputs)
repeated = layers.RepeatVector(16)(encoded)
decoded = layers.GRU(16, return_sequences=True)(inputs)
decoded = layers.TimeDistributed(layers.Dense(1))(decoded)
autoencoder = keras.Model(inputs, decoded)
autoencoder.compile(optimizer="adam", loss="mse")
""",
    {"AE102", "AE103"},
    why="the decoder GRU reads the input sequence, not the repeated code",
)

_add(
    "lstm_sigmoid_on_standardised",
    "lstm-seq2seq",
    _SINES
    + """\
raw = 20.0 + 5.0 * np.sin(freq * t + phase) + rng.normal(scale=0.3, size=(384, 16))
x = ((raw - raw.mean()) / raw.std())[..., None].astype("float32")   # StandardScaler

inputs = keras.Input(shape=(16, 1))
h = layers.LSTM(8)(inputs)
h = layers.RepeatVector(16)(h)
h = layers.LSTM(16, return_sequences=True)(h)
outputs = layers.TimeDistributed(layers.Dense(1, activation="sigmoid"))(h)
autoencoder = keras.Model(inputs, outputs)
autoencoder.compile(optimizer="adam", loss="mse")
""",
    {"AE203"},
    why="a sigmoid output cannot reach standardised (negative) values",
)

_add(
    "lstm_decoder_no_return_sequences",
    "lstm-seq2seq",
    _SINES
    + """\
x = np.sin(freq * t + phase)[..., None].astype("float32")

model = keras.Sequential([
    keras.Input(shape=(16, 1)),
    layers.LSTM(8),
    layers.RepeatVector(16),
    layers.LSTM(16),
    layers.Dense(1),
])
model.compile(optimizer="adam", loss="mse")
""",
    {"AE105"},
    why="the decoder LSTM lacks return_sequences=True: one value per sequence",
)

# --------------------------------------------------------------------------
# Conv1D autoencoders.

_SIGNALS = """\
import numpy as np
import keras
from keras import layers

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
t = np.linspace(0, 1, 64)
a = rng.uniform(1, 4, size=(600, 2, 1))
p = rng.uniform(0, 2 * np.pi, size=(600, 2, 1))
sig = np.sin(2 * np.pi * a * t + p).sum(axis=1)
"""

_add(
    "conv1d_raw_0_255_bce",
    "conv1d",
    _SIGNALS
    + """\
x = np.round(127.5 + 63.0 * sig)[..., None].astype("float32")   # 8-bit samples, not scaled

inp = keras.Input(shape=(64, 1))
h = layers.Conv1D(16, 5, padding="same", activation="relu")(inp)
h = layers.MaxPooling1D(2)(h)
h = layers.Conv1D(8, 5, padding="same", activation="relu")(h)
h = layers.MaxPooling1D(2)(h)
h = layers.Conv1D(8, 5, padding="same", activation="relu")(h)
h = layers.UpSampling1D(2)(h)
h = layers.Conv1D(16, 5, padding="same", activation="relu")(h)
h = layers.UpSampling1D(2)(h)
out = layers.Conv1D(1, 5, padding="same", activation="sigmoid")(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
""",
    {"AE201", "AE203"},
    why="0-255 samples against a sigmoid output and BCE",
)

_add(
    "conv1d_sgd_lr_1",
    "conv1d",
    _SIGNALS
    + """\
x = ((sig + 2.0) / 4.0)[..., None].astype("float32")

inp = keras.Input(shape=(64, 1))
h = layers.Conv1D(16, 5, strides=2, padding="same", activation="relu")(inp)
h = layers.Conv1D(8, 5, strides=2, padding="same", activation="relu")(h)
h = layers.Conv1DTranspose(8, 5, strides=2, padding="same", activation="relu")(h)
h = layers.Conv1DTranspose(16, 5, strides=2, padding="same", activation="relu")(h)
out = layers.Conv1D(1, 5, padding="same")(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0), loss="mse")
""",
    {"AE401", "AE303", "AE403", "AE404", "AE304"},
    why="SGD with learning rate 1.0",
)

# --------------------------------------------------------------------------
# Dense image autoencoders with a broken piece.

_IMAGES = """\
import numpy as np
import keras
from keras import layers, ops

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
yy, xx = np.mgrid[0:12, 0:12]
cy, cx = rng.uniform(3, 9, size=(2, 800, 1, 1))
img = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 2.0**2))
x = img.reshape(800, 144).astype("float32")
"""

_add(
    "dense_softmax_bce",
    "dense",
    _IMAGES
    + """\
inp = keras.Input(shape=(144,))
h = layers.Dense(64, activation="relu")(inp)
code = layers.Dense(8, activation="relu")(h)
h = layers.Dense(64, activation="relu")(code)
out = layers.Dense(144, activation="softmax")(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
""",
    {"AE108"},
    why="softmax output with a per-pixel binary cross-entropy",
)

_add(
    "dense_frozen_encoder",
    "dense",
    _IMAGES
    + """\
encoder = keras.Sequential([
    keras.Input(shape=(144,)),
    layers.Dense(64, activation="relu"),
    layers.Dense(2, activation="relu"),
], name="encoder")
encoder.trainable = False          # copied from a fine-tuning recipe: the encoder was never trained
decoder = keras.Sequential([
    keras.Input(shape=(2,)),
    layers.Dense(64, activation="relu"),
    layers.Dense(144, activation="sigmoid"),
], name="decoder")
autoencoder = keras.Sequential([encoder, decoder])
autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
""",
    {"AE301", "AE402", "AE405"},
    why="a randomly initialised encoder frozen with trainable=False: only the decoder learns",
)

_add(
    "dense_stop_gradient_bottleneck",
    "dense",
    _IMAGES
    + """\
inp = keras.Input(shape=(144,))
h = layers.Dense(64, activation="relu")(inp)
code = layers.Dense(8)(h)
code = layers.Lambda(lambda c: ops.stop_gradient(c))(code)   # "detach" the code, copied from a two-stage recipe
h = layers.Dense(64, activation="relu")(code)
out = layers.Dense(144, activation="sigmoid")(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
""",
    {"AE301"},
    why="stop_gradient at the code: the encoder gets no gradient",
)

_add(
    "dense_round_bottleneck",
    "dense",
    _IMAGES
    + """\
inp = keras.Input(shape=(144,))
h = layers.Dense(64, activation="relu")(inp)
code = layers.Dense(8, activation="sigmoid")(h)
binary_code = layers.Lambda(lambda c: ops.round(c))(code)   # binary hashing code
h = layers.Dense(64, activation="relu")(binary_code)
out = layers.Dense(144, activation="sigmoid")(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
""",
    {"AE301"},
    why="round() at the code has zero gradient: the encoder never learns",
)

# --------------------------------------------------------------------------
# Denoising autoencoders (TensorFlow's "Intro to Autoencoders" style).

_add(
    "denoising_target_noisy_unclipped",
    "denoising",
    _IMAGES
    + """\
noise_factor = 0.4
x_noisy = (x + noise_factor * rng.normal(size=x.shape)).astype("float32")   # no clip to [0, 1]

inp = keras.Input(shape=(144,))
h = layers.Dense(64, activation="relu")(inp)
h = layers.Dense(16, activation="relu")(h)
h = layers.Dense(64, activation="relu")(h)
out = layers.Dense(144, activation="sigmoid")(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
""",
    {"AE203"},
    data="x_noisy",
    target="x_noisy",
    why="the noisy, unclipped images are also the target: a sigmoid output cannot reach them",
)

# --------------------------------------------------------------------------
# Anomaly detection on ECG-like beats (TensorFlow's tutorial uses 140 samples,
# min-max scaled; these are 64 samples).

_ECG = """\
import numpy as np
import keras
from keras import layers

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
t = np.linspace(0, 1, 64)
n = 800
centre = rng.uniform(0.3, 0.4, size=(n, 1))
amp = rng.uniform(0.6, 1.4, size=(n, 1))
beat = amp * np.exp(-((t - centre) ** 2) / 0.006) + 0.3 * amp * np.exp(-((t - centre - 0.3) ** 2) / 0.01)
raw = (beat * 1200.0 + 300.0 + rng.normal(scale=10.0, size=(n, 64))).astype("float32")   # microvolts
"""

_add(
    "anomaly_unscaled_mse",
    "anomaly",
    _ECG
    + """\
x = raw
detector = keras.Sequential([
    keras.Input(shape=(64,)),
    layers.Dense(32, activation="relu"),
    layers.Dense(8, activation="relu"),
    layers.Dense(32, activation="relu"),
    layers.Dense(64),
])
detector.compile(optimizer="adam", loss="mse")
""",
    {"AE201"},
    why="an MSE on unscaled microvolt features",
)

_add(
    "anomaly_tutorial_without_minmax",
    "anomaly",
    _ECG
    + """\
x = raw   # the tutorial's min-max scaling step was skipped


class AnomalyDetector(keras.Model):
    def __init__(self):
        super().__init__()
        self.encoder = keras.Sequential([
            layers.Dense(32, activation="relu"),
            layers.Dense(16, activation="relu"),
            layers.Dense(8, activation="relu"),
        ])
        self.decoder = keras.Sequential([
            layers.Dense(16, activation="relu"),
            layers.Dense(32, activation="relu"),
            layers.Dense(64, activation="sigmoid"),
        ])

    def call(self, x):
        return self.decoder(self.encoder(x))


autoencoder = AnomalyDetector()
autoencoder.compile(optimizer="adam", loss="mae")
""",
    {"AE203", "AE201"},
    why="unscaled features against the tutorial's sigmoid output",
)

# ==========================================================================
# Healthy cells: the same families done right. They must stay silent.

_add(
    "vae_addloss_healthy",
    "vae-add_loss",
    _VAE_DATA
    + """\
class Sampling(layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(42)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        kl = -0.5 * ops.mean(ops.sum(1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=1))
        self.add_loss(kl)
        eps = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * eps


class Reconstruction(layers.Layer):
    def call(self, inputs):
        target, recon = inputs
        r = ops.clip(recon, 1e-7, 1 - 1e-7)
        bce = -(target * ops.log(r) + (1 - target) * ops.log(1 - r))
        self.add_loss(ops.mean(ops.sum(bce, axis=1)))   # summed over features, like the KL
        return recon


inp = keras.Input(shape=(32,))
h = layers.Dense(32, activation="relu")(inp)
z_mean = layers.Dense(4, name="z_mean")(h)
z_log_var = layers.Dense(4, name="z_log_var")(h)
z = Sampling()([z_mean, z_log_var])
h = layers.Dense(32, activation="relu")(z)
out = layers.Dense(32, activation="sigmoid")(h)
out = Reconstruction()([inp, out])
vae = keras.Model(inp, out)
vae.compile(optimizer=keras.optimizers.Adam(3e-3))
""",
)

_add(
    "vae_kl_layer_healthy",
    "vae-kl-layer",
    _VAE_DATA
    + """\
original_dim = 32


def nll(y_true, y_pred):
    \"\"\"Bernoulli negative log likelihood, summed over the features.\"\"\"
    return original_dim * keras.losses.binary_crossentropy(y_true, y_pred)


class KLDivergenceLayer(layers.Layer):
    \"\"\"Identity layer that adds the KL divergence to the model's loss.\"\"\"

    def call(self, inputs):
        mu, log_var = inputs
        kl = -0.5 * ops.sum(1 + log_var - ops.square(mu) - ops.exp(log_var), axis=-1)
        self.add_loss(ops.mean(kl))
        return inputs


class Sampling(layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(7)

    def call(self, inputs):
        mu, log_var = inputs
        eps = keras.random.normal(ops.shape(mu), seed=self.seed_generator)
        return mu + ops.exp(0.5 * log_var) * eps


x_in = keras.Input(shape=(original_dim,))
h = layers.Dense(32, activation="relu")(x_in)
z_mu = layers.Dense(4)(h)
z_log_var = layers.Dense(4)(h)
z_mu, z_log_var = KLDivergenceLayer()([z_mu, z_log_var])
z = Sampling()([z_mu, z_log_var])
h = layers.Dense(32, activation="relu")(z)
x_pred = layers.Dense(original_dim, activation="sigmoid")(h)
vae = keras.Model(x_in, x_pred)
vae.compile(optimizer=keras.optimizers.Adam(3e-3), loss=nll)
""",
)

_add(
    "vae_train_step_healthy",
    "vae-train_step",
    _VAE_TRAIN_STEP.replace(
        "RECON", "ops.mean(ops.sum(keras.losses.binary_crossentropy(data[..., None], reconstruction[..., None]), axis=1))"
    ).replace("LR", "3e-3"),
    backends=("tensorflow",),
)

_add(
    "lstm_repeatvector_healthy",
    "lstm-seq2seq",
    _SINES
    + """\
x = np.sin(freq * t + phase)[..., None].astype("float32")

model = keras.Sequential([
    keras.Input(shape=(16, 1)),
    layers.LSTM(8, activation="tanh"),
    layers.RepeatVector(16),
    layers.LSTM(16, activation="tanh", return_sequences=True),
    layers.TimeDistributed(layers.Dense(1)),
])
model.compile(optimizer="adam", loss="mse")
""",
)

_add(
    "lstm_slow_learner",
    "lstm-seq2seq",
    _SINES
    + """\
raw = 20.0 + 5.0 * np.sin(freq * t + phase) + rng.normal(scale=0.3, size=(384, 16))
x = ((raw - raw.mean()) / raw.std())[..., None].astype("float32")

inputs = keras.Input(shape=(16, 1))
h = layers.LSTM(16, return_sequences=True)(inputs)
h = layers.LSTM(6)(h)
h = layers.RepeatVector(16)(h)
h = layers.LSTM(6, return_sequences=True)(h)
h = layers.LSTM(16, return_sequences=True)(h)
outputs = layers.TimeDistributed(layers.Dense(1))(h)
lstm_ae = keras.Model(inputs, outputs)
lstm_ae.compile(optimizer=keras.optimizers.Adam(learning_rate=3e-4), loss="mse")
""",
)

_add(
    "gru_seq2seq_healthy",
    "gru-seq2seq",
    _SINES
    + """\
x = np.stack([np.sin(freq * t + phase), np.cos(freq * t + phase)], axis=-1).astype("float32")

inputs = keras.Input(shape=(16, 2))
encoded = layers.GRU(8)(inputs)
repeated = layers.RepeatVector(16)(encoded)
decoded = layers.GRU(16, return_sequences=True)(repeated)
decoded = layers.TimeDistributed(layers.Dense(2))(decoded)
autoencoder = keras.Model(inputs, decoded)
autoencoder.compile(optimizer="adam", loss="mse")
""",
)

_add(
    "conv1d_healthy",
    "conv1d",
    _SIGNALS
    + """\
x = ((sig + 2.0) / 4.0)[..., None].astype("float32")

inp = keras.Input(shape=(64, 1))
h = layers.Conv1D(16, 5, padding="same", activation="relu")(inp)
h = layers.MaxPooling1D(2)(h)
h = layers.Conv1D(2, 5, padding="same", activation="relu")(h)
encoded = layers.MaxPooling1D(2)(h)   # 16 steps x 2 channels: half the input's size
h = layers.Conv1D(8, 5, padding="same", activation="relu")(encoded)
h = layers.UpSampling1D(2)(h)
h = layers.Conv1D(16, 5, padding="same", activation="relu")(h)
h = layers.UpSampling1D(2)(h)
out = layers.Conv1D(1, 5, padding="same", activation="sigmoid")(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
""",
)

_add(
    "conv1d_slow_adam_1e4",
    "conv1d",
    _SIGNALS
    + """\
x = ((sig + 2.0) / 4.0)[..., None].astype("float32")

inp = keras.Input(shape=(64, 1))
h = layers.Conv1D(16, 5, strides=2, padding="same", activation="relu")(inp)
h = layers.Conv1D(2, 5, strides=2, padding="same", activation="relu")(h)
h = layers.Conv1DTranspose(8, 5, strides=2, padding="same", activation="relu")(h)
h = layers.Conv1DTranspose(16, 5, strides=2, padding="same", activation="relu")(h)
out = layers.Conv1D(1, 5, padding="same", activation="sigmoid")(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer=keras.optimizers.Adam(1e-4), loss="mse")
""",
)

_add(
    "conv1d_keras_io_anomaly",
    "anomaly",
    _SIGNALS
    + """\
raw = 40.0 + 8.0 * sig + rng.normal(scale=0.5, size=sig.shape)
x = ((raw - raw.mean()) / raw.std())[..., None].astype("float32")   # training mean and std

model = keras.Sequential([
    keras.Input(shape=(64, 1)),
    layers.Conv1D(filters=16, kernel_size=7, padding="same", strides=2, activation="relu"),
    layers.Dropout(rate=0.2),
    layers.Conv1D(filters=2, kernel_size=7, padding="same", strides=2, activation="relu"),   # 16 x 2: a real bottleneck
    layers.Conv1DTranspose(filters=8, kernel_size=7, padding="same", strides=2, activation="relu"),
    layers.Dropout(rate=0.2),
    layers.Conv1DTranspose(filters=16, kernel_size=7, padding="same", strides=2, activation="relu"),
    layers.Conv1DTranspose(filters=1, kernel_size=7, padding="same"),
])
model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.001), loss="mse")
""",
)

_add(
    "conv2d_slow_adam_1e4",
    "conv2d",
    """\
import numpy as np
import keras
from keras import layers

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
yy, xx = np.mgrid[0:16, 0:16]
cy, cx = rng.uniform(4, 12, size=(2, 512, 1, 1))
x = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 2.5**2))[..., None].astype("float32")

autoencoder = keras.Sequential([
    keras.Input(shape=(16, 16, 1)),
    layers.Conv2D(16, (3, 3), activation="relu", padding="same", strides=2),
    layers.Conv2D(8, (3, 3), activation="relu", padding="same", strides=2),
    layers.Conv2DTranspose(8, kernel_size=3, strides=2, activation="relu", padding="same"),
    layers.Conv2DTranspose(16, kernel_size=3, strides=2, activation="relu", padding="same"),
    layers.Conv2D(1, kernel_size=(3, 3), activation="sigmoid", padding="same"),
])
autoencoder.compile(optimizer=keras.optimizers.Adam(1e-4), loss="mse")
""",
)

_add(
    "denoising_dense_healthy",
    "denoising",
    _IMAGES
    + """\
noise_factor = 0.3
x_noisy = np.clip(x + noise_factor * rng.normal(size=x.shape), 0.0, 1.0).astype("float32")

inp = keras.Input(shape=(144,))
h = layers.Dense(64, activation="relu")(inp)
h = layers.Dense(16, activation="relu")(h)
h = layers.Dense(64, activation="relu")(h)
out = layers.Dense(144, activation="sigmoid")(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
""",
    data="x_noisy",
    target="x",
)

_add(
    "denoising_gaussian_noise_layer",
    "denoising",
    _IMAGES
    + """\
inp = keras.Input(shape=(144,))
h = layers.GaussianNoise(0.2)(inp)   # corrupts only while training
h = layers.Dense(64, activation="relu")(h)
h = layers.Dense(16, activation="relu")(h)
h = layers.Dense(64, activation="relu")(h)
out = layers.Dense(144, activation="sigmoid")(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer="adam", loss="mse")
""",
)

_add(
    "anomaly_tutorial_minmax",
    "anomaly",
    _ECG
    + """\
min_val, max_val = raw.min(), raw.max()
x = ((raw - min_val) / (max_val - min_val)).astype("float32")


class AnomalyDetector(keras.Model):
    def __init__(self):
        super().__init__()
        self.encoder = keras.Sequential([
            layers.Dense(32, activation="relu"),
            layers.Dense(16, activation="relu"),
            layers.Dense(8, activation="relu"),
        ])
        self.decoder = keras.Sequential([
            layers.Dense(16, activation="relu"),
            layers.Dense(32, activation="relu"),
            layers.Dense(64, activation="sigmoid"),
        ])

    def call(self, x):
        return self.decoder(self.encoder(x))


autoencoder = AnomalyDetector()
autoencoder.compile(optimizer="adam", loss="mae")
""",
)

_add(
    "anomaly_lstm_standardised",
    "anomaly",
    _SINES
    + """\
# vibration sensor windows, standardised with the training mean and std
raw = 20.0 + 5.0 * np.sin(freq * t + phase) + rng.normal(scale=0.3, size=(384, 16))
x = ((raw - raw.mean()) / raw.std())[..., None].astype("float32")

inputs = keras.Input(shape=(16, 1))
h = layers.LSTM(8)(inputs)
h = layers.RepeatVector(16)(h)
h = layers.LSTM(16, return_sequences=True)(h)
outputs = layers.TimeDistributed(layers.Dense(1))(h)
lstm_detector = keras.Model(inputs, outputs)
lstm_detector.compile(optimizer="adam", loss="mae")
""",
)

def cells_for(backend: str) -> dict[str, Cell]:
    """The cells written for ``backend``."""
    return {n: c for n, c in CELLS.items() if backend in c.backends}
