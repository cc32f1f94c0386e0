"""A fresh held-out round: 31 cells written after the detectors were tuned.

Issue 9 is judged on real cells we never see. These cells were written the
way different people write them, from the public tutorials and bug reports
(the Keras blog's "Building Autoencoders in Keras" in its Keras 3 form,
TensorFlow's autoencoder and anomaly-detection tutorials, keras.io's VAE,
denoising and Conv1D anomaly examples, StackOverflow threads such as
"autoencoder outputs the same image", "loss is nan", "decoder output shape
mismatch", "VAE generates the same image"), with no look at what the
detectors key on: Sequential, functional and subclassed models, dense,
Conv2D/Conv2DTranspose/UpSampling, Conv1D, LSTM/GRU with ``RepeatVector``
and ``TimeDistributed``; data made in the cell with numpy (blob and stroke
images as (N, 28, 28, 1) uint8, sine waves, random walks, mixed tabular
features), no network.

Every buggy cell carries ONE root cause from the catalogue; ``Cell.codes``
lists the codes any one of which names it. Healthy cells (slow starters
included) train fine with ``fit`` and must get no warning and no error. The
judge's command is ``ae-magic check FILE --data x --json`` (denoising cells:
``--data x_noisy --target x``), so the data variable is always ``x``.

The data structure is :class:`zoo_families.Cell`; ``CELLS`` maps a name to one.
"""

from __future__ import annotations

from zoo_families import ALL_BACKENDS, Cell

__all__ = ["ALL_BACKENDS", "CELLS", "Cell", "cells_for"]

CELLS: dict[str, Cell] = {}


def _add(name: str, family: str, source: str, codes: set[str] | None = None, **kw) -> None:
    CELLS[name] = Cell(family=family, source=source, codes=frozenset(codes or ()), **kw)


# Data heads, each written the way a different person would.

_BLOBS = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(7)
n = 512
yy, xx = np.mgrid[:28, :28]
centres = rng.uniform(7, 21, size=(n, 2, 1, 1))
widths = rng.uniform(2.0, 5.0, size=(n, 1, 1))
blobs = np.exp(-((xx - centres[:, 0]) ** 2 + (yy - centres[:, 1]) ** 2) / (2 * widths**2))
x_train = (blobs * 255).astype("uint8")[..., None]   # (512, 28, 28, 1), uint8 like MNIST
"""

_STROKES = """\
import numpy as np

np.random.seed(3)
digits = np.zeros((800, 28, 28), dtype=np.uint8)
for i in range(800):
    r0, c0 = np.random.randint(4, 14, size=2)
    h, w = np.random.randint(6, 12, size=2)
    digits[i, r0:r0 + h, c0:c0 + 3] = 255          # a vertical stroke
    digits[i, r0 + h - 3:r0 + h, c0:c0 + w] = 190  # and a foot
"""

_SINES = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(21)
timesteps = 24
t = np.linspace(0, 4 * np.pi, timesteps)
freq = rng.uniform(0.5, 1.5, size=(600, 1))
phase = rng.uniform(0, 2 * np.pi, size=(600, 1))
waves = np.sin(freq * t + phase) + 0.05 * rng.normal(size=(600, timesteps))
"""

_TABULAR = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(11)
latent = rng.normal(size=(2000, 3))
mixing = rng.normal(size=(3, 20))
readings = 50 + 10 * np.tanh(latent @ mixing) + rng.normal(scale=0.5, size=(2000, 20))
"""


# --------------------------------------------------------------------------
# Buggy cells.

_add(
    "blog_conv_upsampling_32",
    "conv2d",
    _BLOBS
    + """\
x = x_train.astype("float32") / 255.0

input_img = keras.Input(shape=(28, 28, 1))
h = layers.Conv2D(16, (3, 3), activation="relu", padding="same")(input_img)
h = layers.MaxPooling2D((2, 2), padding="same")(h)
h = layers.Conv2D(8, (3, 3), activation="relu", padding="same")(h)
h = layers.MaxPooling2D((2, 2), padding="same")(h)
h = layers.Conv2D(8, (3, 3), activation="relu", padding="same")(h)
encoded = layers.MaxPooling2D((2, 2), padding="same")(h)   # (4, 4, 8)

h = layers.Conv2D(8, (3, 3), activation="relu", padding="same")(encoded)
h = layers.UpSampling2D((2, 2))(h)
h = layers.Conv2D(8, (3, 3), activation="relu", padding="same")(h)
h = layers.UpSampling2D((2, 2))(h)
h = layers.Conv2D(16, (3, 3), activation="relu", padding="same")(h)
h = layers.UpSampling2D((2, 2))(h)
decoded = layers.Conv2D(1, (3, 3), activation="sigmoid", padding="same")(h)

autoencoder = keras.Model(input_img, decoded)
autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
# autoencoder.fit(x, x, epochs=50, batch_size=128, shuffle=True)
""",
    {"AE105"},
    why="three poolings of 28 give 4, three upsamplings give 32: the blog's padding='valid' conv is missing",
)

_add(
    "sequential_uint8_digits_bce",
    "dense",
    _STROKES
    + """\
from keras.models import Sequential
from keras.layers import Dense, Flatten, Reshape, Input

x = digits.reshape(-1, 28, 28, 1)

model = Sequential([
    Input(shape=(28, 28, 1)),
    Flatten(),
    Dense(128, activation="relu"),
    Dense(32, activation="relu"),
    Dense(128, activation="relu"),
    Dense(784, activation="sigmoid"),
    Reshape((28, 28, 1)),
])
model.compile(optimizer="adam", loss="binary_crossentropy")
# model.fit(x, x, epochs=20, batch_size=64)   # loss is hugely negative and the output is all white
""",
    {"AE201", "AE203"},
    why="uint8 0-255 images straight into a sigmoid/BCE autoencoder (no / 255)",
)

_add(
    "conv_softmax_single_channel",
    "conv2d",
    _BLOBS
    + """\
x = x_train / 255.0

inp = keras.Input(shape=(28, 28, 1))
e = layers.Conv2D(32, 3, strides=2, padding="same", activation="relu")(inp)
e = layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(e)
d = layers.Conv2DTranspose(16, 3, strides=2, padding="same", activation="relu")(e)
d = layers.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu")(d)
out = layers.Conv2D(1, 3, padding="same", activation="softmax")(d)   # "probabilities per pixel"
conv_ae = keras.Model(inp, out)
conv_ae.compile(optimizer="adam", loss="binary_crossentropy")
""",
    {"AE108", "AE111"},
    why="softmax over a single channel is 1.0 everywhere: the output cannot depend on the input",
)

_add(
    "subclassed_relu_output_standardised",
    "dense",
    _TABULAR
    + """\
x = ((readings - readings.mean(axis=0)) / readings.std(axis=0)).astype("float32")


class TabularAE(keras.Model):
    def __init__(self, n_features, code=4):
        super().__init__()
        self.enc1 = layers.Dense(16, activation="relu")
        self.code = layers.Dense(code, activation="relu")
        self.dec1 = layers.Dense(16, activation="relu")
        self.recon = layers.Dense(n_features, activation="relu")

    def call(self, inputs):
        return self.recon(self.dec1(self.code(self.enc1(inputs))))


model = TabularAE(x.shape[1])
model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
""",
    {"AE203"},
    why="a relu output cannot produce the negative half of standardised features",
)

_add(
    "functional_sigmoid_code",
    "dense",
    _TABULAR
    + """\
mu, sigma = readings.mean(axis=0), readings.std(axis=0)
x = ((readings - mu) / sigma).astype("float32")

inputs = keras.Input(shape=(20,))
h = layers.Dense(64, activation="relu")(inputs)
h = layers.Dense(32, activation="relu")(h)
code = layers.Dense(3, activation="sigmoid", name="code")(h)
h = layers.Dense(32, activation="relu")(code)
h = layers.Dense(64, activation="relu")(h)
outputs = layers.Dense(20)(h)
ae = keras.Model(inputs, outputs)
ae.compile(optimizer="adam", loss="mse")
""",
    {"AE106", "AE305"},
    why="a sigmoid code layer: a saturating bottleneck",
)

_add(
    "gru_raw_prices",
    "gru-seq2seq",
    """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(5)
steps = 30
walk = 1500 + np.cumsum(rng.normal(0, 8, size=(600 + steps,)))
windows = np.stack([walk[i:i + steps] for i in range(600)])
x = windows[..., None].astype("float32")   # closing prices, around 1500

model = keras.Sequential([
    keras.Input(shape=(steps, 1)),
    layers.GRU(32),
    layers.RepeatVector(steps),
    layers.GRU(32, return_sequences=True),
    layers.TimeDistributed(layers.Dense(1)),
])
model.compile(optimizer="adam", loss="mse")
# model.fit(x, x, epochs=100, batch_size=32)   # predicts a flat line
""",
    {"AE201"},
    why="raw prices (around 1500) into a GRU autoencoder: the tanh units saturate and the output settles on a flat line",
)

_add(
    "conv_adam_lr_half",
    "conv2d",
    _BLOBS
    + """\
x = (x_train / 255.0).astype("float32")

encoder_input = keras.Input(shape=(28, 28, 1))
h = layers.Conv2D(32, 3, strides=2, padding="same", activation="relu")(encoder_input)
h = layers.Conv2D(64, 3, strides=2, padding="same", activation="relu")(h)
h = layers.Flatten()(h)
latent = layers.Dense(16, activation="relu")(h)
h = layers.Dense(7 * 7 * 64, activation="relu")(latent)
h = layers.Reshape((7, 7, 64))(h)
h = layers.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu")(h)
reconstruction = layers.Conv2DTranspose(1, 3, strides=2, padding="same", activation="sigmoid")(h)
model = keras.Model(encoder_input, reconstruction)
model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.5), loss="mse")
""",
    {"AE401", "AE403", "AE303", "AE304", "AE404"},
    why="Adam at learning rate 0.5",
)

_add(
    "dense_decoder_reads_input",
    "dense",
    """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(2)
grid = np.linspace(0, 1, 64)
signals = np.stack([np.sin(2 * np.pi * (rng.uniform(1, 3) * grid + rng.uniform())) for _ in range(1500)])
x = signals.astype("float32")

inputs = keras.Input(shape=(64,), name="signal")
e = layers.Dense(32, activation="relu")(inputs)
bottleneck = layers.Dense(6, activation="relu", name="code")(e)
d = layers.Dense(32, activation="relu")(inputs)
reconstruction = layers.Dense(64, activation="linear")(d)
net = keras.Model(inputs, reconstruction)
net.compile(optimizer="adam", loss="mse")
""",
    {"AE102", "AE103"},
    why="the decoder's first layer reads the input, not the code: the code is never used",
)

_add(
    "blog_decoder_graph_disconnected",
    "dense",
    _STROKES
    + """\
import keras
from keras import layers

x = digits.reshape((len(digits), 784)).astype("float32") / 255.0

encoding_dim = 32
input_img = keras.Input(shape=(784,))
encoded = layers.Dense(encoding_dim, activation="relu")(input_img)
decoded = layers.Dense(784, activation="sigmoid")(encoded)
autoencoder = keras.Model(input_img, decoded)

encoder = keras.Model(input_img, encoded)
encoded_input = keras.Input(shape=(encoding_dim,))
decoder = keras.Model(encoded_input, decoded)

autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
""",
    {"AE101"},
    why="the standalone decoder is built from the autoencoder's own output tensor, not from encoded_input",
)

_add(
    "vae_beta_100_kl_layer",
    "vae-kl-layer",
    _BLOBS
    + """\
from keras import ops

x = (x_train.reshape(-1, 784) / 255.0).astype("float32")
beta = 100.0   # "a beta-VAE disentangles better"


class KLDivergence(layers.Layer):
    def __init__(self, weight, **kwargs):
        super().__init__(**kwargs)
        self.weight = weight

    def call(self, inputs):
        mu, log_var = inputs
        kl = -0.5 * ops.sum(1 + log_var - ops.square(mu) - ops.exp(log_var), axis=-1)
        self.add_loss(self.weight * ops.mean(kl))
        return inputs


class Sample(layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.gen = keras.random.SeedGenerator(1)

    def call(self, inputs):
        mu, log_var = inputs
        return mu + ops.exp(0.5 * log_var) * keras.random.normal(ops.shape(mu), seed=self.gen)


def summed_bce(y_true, y_pred):
    y_pred = ops.clip(y_pred, 1e-7, 1 - 1e-7)
    return -ops.sum(y_true * ops.log(y_pred) + (1 - y_true) * ops.log(1 - y_pred), axis=-1)


img = keras.Input(shape=(784,))
h = layers.Dense(256, activation="relu")(img)
mu = layers.Dense(8, name="mu")(h)
log_var = layers.Dense(8, name="log_var")(h)
mu, log_var = KLDivergence(beta)([mu, log_var])
z = Sample()([mu, log_var])
h = layers.Dense(256, activation="relu")(z)
recon = layers.Dense(784, activation="sigmoid")(h)
vae = keras.Model(img, recon)
vae.compile(optimizer="adam", loss=summed_bce)
""",
    {"AE407"},
    why="a KL weight of 100 against the summed reconstruction: every image decodes to the same blur",
)

_add(
    "vae_train_step_kl_summed_over_batch",
    "vae-train_step",
    _BLOBS
    + """\
import tensorflow as tf
from keras import ops

x = x_train.astype("float32") / 255.0
latent_dim = 2


class Sampling(layers.Layer):
    def call(self, inputs):
        z_mean, z_log_var = inputs
        eps = keras.random.normal(shape=ops.shape(z_mean))
        return z_mean + ops.exp(0.5 * z_log_var) * eps


enc_in = keras.Input(shape=(28, 28, 1))
h = layers.Conv2D(32, 3, activation="relu", strides=2, padding="same")(enc_in)
h = layers.Conv2D(64, 3, activation="relu", strides=2, padding="same")(h)
h = layers.Flatten()(h)
h = layers.Dense(16, activation="relu")(h)
z_mean = layers.Dense(latent_dim, name="z_mean")(h)
z_log_var = layers.Dense(latent_dim, name="z_log_var")(h)
z = Sampling()([z_mean, z_log_var])
encoder = keras.Model(enc_in, [z_mean, z_log_var, z], name="encoder")

dec_in = keras.Input(shape=(latent_dim,))
h = layers.Dense(7 * 7 * 64, activation="relu")(dec_in)
h = layers.Reshape((7, 7, 64))(h)
h = layers.Conv2DTranspose(64, 3, activation="relu", strides=2, padding="same")(h)
h = layers.Conv2DTranspose(32, 3, activation="relu", strides=2, padding="same")(h)
dec_out = layers.Conv2DTranspose(1, 3, activation="sigmoid", padding="same")(h)
decoder = keras.Model(dec_in, dec_out, name="decoder")


class VAE(keras.Model):
    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.loss_tracker = keras.metrics.Mean(name="loss")

    def call(self, inputs):
        return self.decoder(self.encoder(inputs)[2])

    def train_step(self, data):
        with tf.GradientTape() as tape:
            z_mean, z_log_var, z = self.encoder(data)
            reconstruction = self.decoder(z)
            reconstruction_loss = ops.mean(
                ops.sum(keras.losses.binary_crossentropy(data, reconstruction), axis=(1, 2))
            )
            kl_loss = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
            kl_loss = ops.sum(kl_loss)   # summed over the batch too, the reconstruction is a batch mean
            total_loss = reconstruction_loss + kl_loss
        grads = tape.gradient(total_loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        self.loss_tracker.update_state(total_loss)
        return {"loss": self.loss_tracker.result()}


vae = VAE(encoder, decoder)
vae.compile(optimizer=keras.optimizers.Adam())
# vae.fit(x, epochs=30, batch_size=128)   # every sample looks the same
""",
    {"AE407"},
    backends=("tensorflow",),
    why="the KL is summed over the batch as well as the code, the reconstruction is a batch mean: KL weighted x128",
)

_add(
    "dense_exploding_init",
    "dense",
    _TABULAR
    + """\
x = (readings - readings.mean(0)) / readings.std(0)
init = keras.initializers.RandomNormal(mean=0.0, stddev=4.0)

model = keras.Sequential(
    [
        keras.Input(shape=(20,)),
        layers.Dense(128, activation="relu", kernel_initializer=init),
        layers.Dense(64, activation="relu", kernel_initializer=init),
        layers.Dense(5, activation="relu", kernel_initializer=init),
        layers.Dense(64, activation="relu", kernel_initializer=init),
        layers.Dense(128, activation="relu", kernel_initializer=init),
        layers.Dense(20, kernel_initializer=init),
    ]
)
model.compile(optimizer="adam", loss="mse")
# loss: 2.3e+12 -> nan
""",
    {"AE110", "AE303", "AE401"},
    why="kernels drawn with standard deviation 4: activations blow up through the stack",
)

_add(
    "conv1d_linear_output_bce",
    "conv1d",
    """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(4)
length = 128
pos = np.arange(length)
pulses = np.zeros((900, length))
for row, c in zip(pulses, rng.integers(10, length - 10, size=900)):
    row[:] = np.exp(-0.5 * ((pos - c) / rng.uniform(2, 6)) ** 2)
x = pulses[..., None].astype("float32")    # already in [0, 1]

model = keras.Sequential([
    keras.Input(shape=(length, 1)),
    layers.Conv1D(32, 7, padding="same", strides=2, activation="relu"),
    layers.Conv1D(16, 7, padding="same", strides=2, activation="relu"),
    layers.Conv1DTranspose(16, 7, padding="same", strides=2, activation="relu"),
    layers.Conv1DTranspose(32, 7, padding="same", strides=2, activation="relu"),
    layers.Conv1D(1, 7, padding="same"),
])
model.compile(optimizer="adam", loss="binary_crossentropy")
""",
    {"AE108"},
    why="a linear output under binary cross-entropy (which expects probabilities)",
)

_add(
    "lstm_repeatvector_wrong_length",
    "lstm-seq2seq",
    _SINES
    + """\
x = waves[..., np.newaxis].astype("float32")   # (600, 24, 1)

model = keras.Sequential()
model.add(keras.Input(shape=(timesteps, 1)))
model.add(layers.LSTM(64, activation="tanh"))
model.add(layers.RepeatVector(12))
model.add(layers.LSTM(64, activation="tanh", return_sequences=True))
model.add(layers.TimeDistributed(layers.Dense(1)))
model.compile(optimizer="adam", loss="mse")
# ValueError: Dimensions must be equal, but are 12 and 24
""",
    {"AE105", "AE204"},
    why="RepeatVector(12) for 24-step windows: the reconstruction has half the time steps",
)

_add(
    "dense_categorical_crossentropy_pixels",
    "dense",
    _STROKES
    + """\
import keras

x = (digits / 255.0).reshape(800, 784).astype("float32")

inp = keras.layers.Input(shape=(784,))
enc = keras.layers.Dense(256, activation="relu")(inp)
enc = keras.layers.Dense(64, activation="relu")(enc)
dec = keras.layers.Dense(256, activation="relu")(enc)
dec = keras.layers.Dense(784, activation="sigmoid")(dec)
model = keras.models.Model(inputs=inp, outputs=dec)
model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
""",
    {"AE108"},
    why="categorical cross-entropy on a per-pixel sigmoid reconstruction",
)

_add(
    "images_minus1_1_sigmoid_output",
    "conv2d",
    _BLOBS
    + """\
x = x_train.astype("float32") / 127.5 - 1.0    # GAN-style scaling to [-1, 1]

inp = keras.Input(shape=(28, 28, 1))
h = layers.Conv2D(32, 3, strides=2, padding="same", activation="relu")(inp)
h = layers.Conv2D(32, 3, strides=2, padding="same", activation="relu")(h)
h = layers.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu")(h)
h = layers.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu")(h)
out = layers.Conv2D(1, 3, padding="same", activation="sigmoid")(h)
cae = keras.Model(inp, out)
cae.compile(optimizer="adam", loss="mse")
""",
    {"AE203"},
    why="images scaled to [-1, 1] against a sigmoid output",
)

_add(
    "sensor_nan_readings",
    "anomaly",
    _TABULAR
    + """\
readings[rng.random(readings.shape) < 0.02] = np.nan   # dropped sensor samples
lo, hi = np.nanmin(readings, axis=0), np.nanmax(readings, axis=0)
x = ((readings - lo) / (hi - lo)).astype("float32")

detector = keras.Sequential([
    keras.Input(shape=(20,)),
    layers.Dense(12, activation="relu"),
    layers.Dense(4, activation="relu"),
    layers.Dense(12, activation="relu"),
    layers.Dense(20, activation="sigmoid"),
])
detector.compile(optimizer="adam", loss="mae")
# loss: nan from the first epoch
""",
    {"AE202"},
    why="NaN readings kept in the training data",
)

_add(
    "denoising_sgd_lr_1e4",
    "denoising",
    _BLOBS
    + """\
x = x_train.astype("float32") / 255.0
x_noisy = np.clip(x + 0.3 * rng.normal(size=x.shape), 0.0, 1.0).astype("float32")

noisy_in = keras.Input(shape=(28, 28, 1))
h = layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(noisy_in)
h = layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(h)
h = layers.Conv2DTranspose(8, 3, strides=2, padding="same", activation="relu")(h)
h = layers.Conv2DTranspose(16, 3, strides=2, padding="same", activation="relu")(h)
clean_out = layers.Conv2D(1, 3, padding="same", activation="sigmoid")(h)
denoiser = keras.Model(noisy_in, clean_out)
denoiser.compile(optimizer=keras.optimizers.SGD(learning_rate=1e-4), loss="mse")
# denoiser.fit(x_noisy, x, epochs=10)   # the loss does not move
""",
    {"AE402"},
    data="x_noisy",
    target="x",
    why="plain SGD at 1e-4: the loss does not move",
)

_add(
    "dense_overcomplete_code",
    "dense",
    _TABULAR
    + """\
x = ((readings - readings.mean(0)) / readings.std(0)).astype("float32")

inp = keras.Input(shape=(20,))
h = layers.Dense(64, activation="relu")(inp)
code = layers.Dense(48, activation="relu", name="code")(h)   # "more units learn more features"
h = layers.Dense(64, activation="relu")(code)
out = layers.Dense(20)(h)
sparse_ae = keras.Model(inp, out)
sparse_ae.compile(optimizer="adam", loss="mse")
""",
    {"AE104"},
    why="the 48-unit code is wider than the 20 input features: the model can learn the identity",
)


# --------------------------------------------------------------------------
# Healthy cells; the last three are slow starters.

_add(
    "blog_dense_healthy",
    "dense",
    _STROKES
    + """\
import keras
from keras import layers

x = digits.astype("float32").reshape((len(digits), -1)) / 255.0

encoding_dim = 32
input_img = keras.Input(shape=(784,))
encoded = layers.Dense(encoding_dim, activation="relu")(input_img)
decoded = layers.Dense(784, activation="sigmoid")(encoded)
autoencoder = keras.Model(input_img, decoded)

encoder = keras.Model(input_img, encoded)
encoded_input = keras.Input(shape=(encoding_dim,))
decoder_layer = autoencoder.layers[-1]
decoder = keras.Model(encoded_input, decoder_layer(encoded_input))

autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
# autoencoder.fit(x, x, epochs=50, batch_size=256, shuffle=True)
""",
)

_add(
    "blog_conv_healthy",
    "conv2d",
    _BLOBS
    + """\
x = x_train.astype("float32") / 255.0

input_img = keras.Input(shape=(28, 28, 1))
h = layers.Conv2D(16, (3, 3), activation="relu", padding="same")(input_img)
h = layers.MaxPooling2D((2, 2), padding="same")(h)
h = layers.Conv2D(8, (3, 3), activation="relu", padding="same")(h)
h = layers.MaxPooling2D((2, 2), padding="same")(h)
h = layers.Conv2D(8, (3, 3), activation="relu", padding="same")(h)
encoded = layers.MaxPooling2D((2, 2), padding="same")(h)

h = layers.Conv2D(8, (3, 3), activation="relu", padding="same")(encoded)
h = layers.UpSampling2D((2, 2))(h)
h = layers.Conv2D(8, (3, 3), activation="relu", padding="same")(h)
h = layers.UpSampling2D((2, 2))(h)
h = layers.Conv2D(16, (3, 3), activation="relu")(h)
h = layers.UpSampling2D((2, 2))(h)
decoded = layers.Conv2D(1, (3, 3), activation="sigmoid", padding="same")(h)

autoencoder = keras.Model(input_img, decoded)
autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
""",
)

_add(
    "tf_tutorial_denoise_subclassed",
    "denoising",
    """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(12)
grid = np.linspace(-1, 1, 28)
gx, gy = np.meshgrid(grid, grid)
imgs = np.zeros((600, 28, 28))
for k in range(3):   # three soft spots per image, like smudged digits
    cx, cy = rng.uniform(-0.6, 0.6, size=(2, 600, 1, 1))
    imgs += np.exp(-((gx - cx) ** 2 + (gy - cy) ** 2) / (2 * rng.uniform(0.15, 0.35, size=(600, 1, 1)) ** 2))
x_train = (255 * imgs / imgs.max(axis=(1, 2), keepdims=True)).astype("uint8")[..., None]
x = x_train.astype("float32") / 255.0
noise_factor = 0.2
x_noisy = np.clip(x + noise_factor * rng.normal(size=x.shape), 0.0, 1.0).astype("float32")


class Denoise(keras.Model):
    def __init__(self):
        super().__init__()
        self.encoder = keras.Sequential([
            layers.Input(shape=(28, 28, 1)),
            layers.Conv2D(16, (3, 3), activation="relu", padding="same", strides=2),
            layers.Conv2D(8, (3, 3), activation="relu", padding="same", strides=2),
        ])
        self.decoder = keras.Sequential([
            layers.Conv2DTranspose(8, kernel_size=3, strides=2, activation="relu", padding="same"),
            layers.Conv2DTranspose(16, kernel_size=3, strides=2, activation="relu", padding="same"),
            layers.Conv2D(1, kernel_size=(3, 3), activation="sigmoid", padding="same"),
        ])

    def call(self, x):
        return self.decoder(self.encoder(x))


autoencoder = Denoise()
autoencoder.compile(optimizer="adam", loss="mse")
# autoencoder.fit(x_noisy, x, epochs=10, shuffle=True)
""",
    data="x_noisy",
    target="x",
)

_add(
    "anomaly_sequential_minmax",
    "anomaly",
    """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(9)
t = np.linspace(0, 1, 140)

def beat(r, amp, t_wave, t_height):
    return (amp * np.exp(-((t - r) / 0.02) ** 2) - 0.3 * amp * np.exp(-((t - r - 0.06) / 0.03) ** 2)
            + t_height * np.exp(-((t - t_wave) / 0.08) ** 2) + 0.2 * amp * np.sin(np.pi * t))


beats = np.stack([
    beat(rng.uniform(0.29, 0.31), rng.uniform(0.4, 1.6), rng.uniform(0.55, 0.8), rng.uniform(0.1, 0.6))
    + 0.02 * rng.normal(size=140)
    for _ in range(1000)
])
lo, hi = beats.min(), beats.max()
x = ((beats - lo) / (hi - lo)).astype("float32")

detector = keras.Sequential([
    keras.Input(shape=(140,)),
    layers.Dense(32, activation="relu"),
    layers.Dense(16, activation="relu"),
    layers.Dense(8, activation="relu"),
    layers.Dense(16, activation="relu"),
    layers.Dense(32, activation="relu"),
    layers.Dense(140, activation="sigmoid"),
])
detector.compile(optimizer="adam", loss="mae")
# threshold = np.mean(train_loss) + np.std(train_loss)
""",
)

_add(
    "lstm_sequential_healthy",
    "lstm-seq2seq",
    _SINES
    + """\
x = waves.reshape(600, timesteps, 1).astype("float32")

model = keras.Sequential([
    layers.Input(shape=(timesteps, 1)),
    layers.LSTM(32, return_sequences=True),
    layers.LSTM(8),
    layers.RepeatVector(timesteps),
    layers.LSTM(8, return_sequences=True),
    layers.LSTM(32, return_sequences=True),
    layers.TimeDistributed(layers.Dense(1)),
])
model.compile(optimizer="adam", loss="mse")
""",
)

_add(
    "gru_functional_multifeature",
    "gru-seq2seq",
    """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(13)
T, F = 20, 3
tt = np.arange(T)[None, :, None]
amp = rng.uniform(0.5, 2.0, size=(900, 1, F))
period = rng.uniform(6, 14, size=(900, 1, F))
series = amp * np.sin(2 * np.pi * tt / period) + 0.1 * rng.normal(size=(900, T, F))
x = ((series - series.mean(axis=(0, 1))) / series.std(axis=(0, 1))).astype("float32")

seq_in = keras.Input(shape=(T, F))
state = layers.GRU(24)(seq_in)
repeated = layers.RepeatVector(T)(state)
seq = layers.GRU(24, return_sequences=True)(repeated)
seq_out = layers.TimeDistributed(layers.Dense(F))(seq)
gru_ae = keras.Model(seq_in, seq_out)
gru_ae.compile(optimizer=keras.optimizers.Adam(2e-3), loss="mse")
""",
)

_add(
    "keras_io_conv1d_anomaly",
    "conv1d",
    """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(0)
TIME_STEPS = 64
day = np.arange(TIME_STEPS + 1200)
raw = 20 + 3 * np.sin(2 * np.pi * day / 48) + rng.normal(scale=0.4, size=day.shape)
training_mean, training_std = raw.mean(), raw.std()
normalized = (raw - training_mean) / training_std
x = np.stack([normalized[i:i + TIME_STEPS] for i in range(1200)])[..., None].astype("float32")

model = keras.Sequential([
    layers.Input(shape=(x.shape[1], x.shape[2])),
    layers.Conv1D(filters=32, kernel_size=7, padding="same", strides=2, activation="relu"),
    layers.Dropout(rate=0.2),
    layers.Conv1D(filters=16, kernel_size=7, padding="same", strides=2, activation="relu"),
    layers.Conv1DTranspose(filters=16, kernel_size=7, padding="same", strides=2, activation="relu"),
    layers.Dropout(rate=0.2),
    layers.Conv1DTranspose(filters=32, kernel_size=7, padding="same", strides=2, activation="relu"),
    layers.Conv1DTranspose(filters=1, kernel_size=7, padding="same"),
])
model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.001), loss="mse")
""",
)

_add(
    "keras_io_vae_train_step",
    "vae-train_step",
    _BLOBS
    + """\
import tensorflow as tf
from keras import ops

x = x_train.astype("float32") / 255.0
latent_dim = 2


class Sampling(layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(1337)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        epsilon = keras.random.normal(shape=ops.shape(z_mean), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon


encoder_inputs = keras.Input(shape=(28, 28, 1))
h = layers.Conv2D(32, 3, activation="relu", strides=2, padding="same")(encoder_inputs)
h = layers.Conv2D(64, 3, activation="relu", strides=2, padding="same")(h)
h = layers.Flatten()(h)
h = layers.Dense(16, activation="relu")(h)
z_mean = layers.Dense(latent_dim, name="z_mean")(h)
z_log_var = layers.Dense(latent_dim, name="z_log_var")(h)
z = Sampling()([z_mean, z_log_var])
encoder = keras.Model(encoder_inputs, [z_mean, z_log_var, z], name="encoder")

latent_inputs = keras.Input(shape=(latent_dim,))
h = layers.Dense(7 * 7 * 64, activation="relu")(latent_inputs)
h = layers.Reshape((7, 7, 64))(h)
h = layers.Conv2DTranspose(64, 3, activation="relu", strides=2, padding="same")(h)
h = layers.Conv2DTranspose(32, 3, activation="relu", strides=2, padding="same")(h)
decoder_outputs = layers.Conv2DTranspose(1, 3, activation="sigmoid", padding="same")(h)
decoder = keras.Model(latent_inputs, decoder_outputs, name="decoder")


class VAE(keras.Model):
    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.total_loss_tracker = keras.metrics.Mean(name="total_loss")
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")

    @property
    def metrics(self):
        return [self.total_loss_tracker, self.reconstruction_loss_tracker, self.kl_loss_tracker]

    def train_step(self, data):
        with tf.GradientTape() as tape:
            z_mean, z_log_var, z = self.encoder(data)
            reconstruction = self.decoder(z)
            reconstruction_loss = ops.mean(
                ops.sum(keras.losses.binary_crossentropy(data, reconstruction), axis=(1, 2))
            )
            kl_loss = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
            kl_loss = ops.mean(ops.sum(kl_loss, axis=1))
            total_loss = reconstruction_loss + kl_loss
        grads = tape.gradient(total_loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        self.total_loss_tracker.update_state(total_loss)
        self.reconstruction_loss_tracker.update_state(reconstruction_loss)
        self.kl_loss_tracker.update_state(kl_loss)
        return {m.name: m.result() for m in self.metrics}


vae = VAE(encoder, decoder)
vae.compile(optimizer=keras.optimizers.Adam())
""",
    backends=("tensorflow",),
)

_add(
    "functional_vae_summed_mse",
    "vae-kl-layer",
    _TABULAR
    + """\
from keras import ops

x = ((readings - readings.mean(0)) / readings.std(0)).astype("float32")


class Reparameterize(layers.Layer):
    # adds the KL term and samples z
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.rng = keras.random.SeedGenerator(3)

    def call(self, inputs):
        mean, logvar = inputs
        self.add_loss(ops.mean(-0.5 * ops.sum(1 + logvar - ops.square(mean) - ops.exp(logvar), axis=1)))
        return mean + ops.exp(0.5 * logvar) * keras.random.normal(ops.shape(mean), seed=self.rng)


def sse(y_true, y_pred):
    return ops.sum(ops.square(y_true - y_pred), axis=-1)


features = keras.Input(shape=(20,))
h = layers.Dense(64, activation="relu")(features)
h = layers.Dense(32, activation="relu")(h)
mean = layers.Dense(3)(h)
logvar = layers.Dense(3)(h)
z = Reparameterize()([mean, logvar])
h = layers.Dense(32, activation="relu")(z)
h = layers.Dense(64, activation="relu")(h)
recon = layers.Dense(20)(h)
tab_vae = keras.Model(features, recon)
tab_vae.compile(optimizer=keras.optimizers.Adam(1e-3), loss=sse)
""",
)

_add(
    "slow_tabular_adam_1e4",
    "dense",
    _TABULAR
    + """\
x = ((readings - readings.mean(axis=0)) / readings.std(axis=0)).astype("float32")

inp = keras.Input(shape=(20,))
h = layers.Dense(32, activation="relu")(inp)
h = layers.Dense(6, activation="relu")(h)
h = layers.Dense(32, activation="relu")(h)
out = layers.Dense(20)(h)
slow_ae = keras.Model(inp, out)
slow_ae.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-4), loss="mse")
""",
)

_add(
    "slow_lstm_adam_5e4",
    "lstm-seq2seq",
    _SINES
    + """\
x = np.expand_dims(waves, axis=2).astype("float32")

encoder_inputs = keras.Input(shape=(timesteps, 1))
encoded = layers.LSTM(16)(encoder_inputs)
decoded = layers.RepeatVector(timesteps)(encoded)
decoded = layers.LSTM(16, return_sequences=True)(decoded)
decoded = layers.TimeDistributed(layers.Dense(1))(decoded)
seq_autoencoder = keras.Model(encoder_inputs, decoded)
seq_autoencoder.compile(optimizer=keras.optimizers.Adam(learning_rate=5e-4), loss="mse")
""",
)

_add(
    "slow_dense_sgd_momentum",
    "dense",
    _STROKES
    + """\
import keras

x = digits.reshape(-1, 784).astype("float32") / 255.0

autoencoder = keras.Sequential([
    keras.layers.Input(shape=(784,)),
    keras.layers.Dense(128, activation="relu"),
    keras.layers.Dense(32, activation="relu"),
    keras.layers.Dense(128, activation="relu"),
    keras.layers.Dense(784, activation="sigmoid"),
])
autoencoder.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05, momentum=0.9), loss="binary_crossentropy")
""",
)


def cells_for(backend: str) -> dict[str, Cell]:
    """The cells written for ``backend``."""
    return {n: c for n, c in CELLS.items() if backend in c.backends}
