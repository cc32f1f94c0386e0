"""A zoo of autoencoder cells, as source strings, for the engine's tests.

``HEALTHY`` holds ordinary, well-built autoencoders of many shapes. Each is a
complete cell: it imports what it needs, makes its own small deterministic
data ``x`` (structured, so an autoencoder can really compress it) and binds
the autoencoder to ``autoencoder``, compiled with a sensible optimizer/loss.
``HEALTHY_CALLS`` gives the ``check()`` keyword arguments for each (the data
and target names). A healthy autoencoder must get no warning and no error.

``FAULTY`` holds broken cells (mostly the seed articles' examples, completed
minimally): name -> (source, check kwargs, expected warning/error codes with
``train=False``). ``FAULTY_PROBE_CODES`` lists the probe codes (AE3xx/AE4xx)
each faulty cell should also get when the probes run.
"""

from __future__ import annotations

# Data snippets shared by several cells (kept as text so every cell stays
# self-contained and runs in a fresh namespace).

# Low-rank data through a sigmoid: 32 features in (0, 1) that a 4-wide code
# can explain.
_LOWRANK_01 = """\
rng = np.random.default_rng(0)
z = rng.normal(size=(1000, 4))
w = rng.normal(size=(4, 32))
x = (1.0 / (1.0 + np.exp(-(z @ w) / 2.0))).astype("float32")
"""

# Smooth 16x16 images: one or two Gaussian blobs each, values in [0, 1].
_BLOBS16 = """\
rng = np.random.default_rng(0)
yy, xx = np.mgrid[0:16, 0:16]
n = 512
cy, cx = rng.uniform(3, 13, size=(2, n, 1, 1))
s = rng.uniform(1.5, 3.0, size=(n, 1, 1))
img = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s**2))
x = (img / img.max(axis=(1, 2), keepdims=True))[..., None].astype("float32")
"""

# MNIST-like 28x28 strokes: mostly exact zeros with bright blobs, like
# digits (about 80% zero pixels), values in [0, 1].
_DIGITS28 = """\
rng = np.random.default_rng(0)
yy, xx = np.mgrid[0:28, 0:28]
n = 400
img = np.zeros((n, 28, 28))
for k in range(3):
    cy, cx = rng.uniform(7, 21, size=(2, n, 1, 1))
    img += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 2.5**2))
img = np.clip(img, 0, 1)
img[img < 0.1] = 0.0
x = img[..., None].astype("float32")
"""

HEALTHY: dict[str, str] = {}

HEALTHY["dense"] = (
    """\
import numpy as np
import keras
from keras import layers

"""
    + _LOWRANK_01
    + """
inp = keras.Input(shape=(32,))
h = layers.Dense(16, activation="relu")(inp)
code = layers.Dense(8, activation="relu")(h)
h = layers.Dense(16, activation="relu")(code)
out = layers.Dense(32, activation="sigmoid")(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
"""
)

HEALTHY["deep_dense"] = """\
import numpy as np
import keras
from keras import layers

# Standardised (zero mean, unit variance) low-rank data: linear output, MSE.
rng = np.random.default_rng(1)
z = rng.normal(size=(1500, 6))
w = rng.normal(size=(6, 64))
raw = np.tanh(z @ w / 3.0)
x = ((raw - raw.mean(axis=0)) / raw.std(axis=0)).astype("float32")

inp = keras.Input(shape=(64,))
h = layers.Dense(128, activation="relu")(inp)
h = layers.Dense(64, activation="relu")(h)
h = layers.Dense(32, activation="relu")(h)
code = layers.Dense(8, name="code")(h)
h = layers.Dense(32, activation="relu")(code)
h = layers.Dense(64, activation="relu")(h)
h = layers.Dense(128, activation="relu")(h)
out = layers.Dense(64)(h)
autoencoder = keras.Model(inp, out, name="deep_dense_ae")
autoencoder.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3), loss="mse")
"""

HEALTHY["conv_transpose"] = (
    """\
import numpy as np
import keras
from keras import layers

"""
    + _DIGITS28
    + """
inp = keras.Input(shape=(28, 28, 1))
h = layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(inp)
h = layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(h)
h = layers.Conv2DTranspose(8, 3, strides=2, padding="same", activation="relu")(h)
h = layers.Conv2DTranspose(16, 3, strides=2, padding="same", activation="relu")(h)
out = layers.Conv2D(1, 3, padding="same", activation="sigmoid")(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
"""
)

HEALTHY["conv_upsampling"] = (
    """\
import numpy as np
import keras
from keras import layers

"""
    + _BLOBS16
    + """
inp = keras.Input(shape=(16, 16, 1))
h = layers.Conv2D(16, (3, 3), activation="relu", padding="same")(inp)
h = layers.MaxPooling2D((2, 2), padding="same")(h)
h = layers.Conv2D(8, (3, 3), activation="relu", padding="same")(h)
encoded = layers.MaxPooling2D((2, 2), padding="same")(h)
h = layers.Conv2D(8, (3, 3), activation="relu", padding="same")(encoded)
h = layers.UpSampling2D((2, 2))(h)
h = layers.Conv2D(16, (3, 3), activation="relu", padding="same")(h)
h = layers.UpSampling2D((2, 2))(h)
decoded = layers.Conv2D(1, (3, 3), activation="sigmoid", padding="same")(h)
autoencoder = keras.Model(inp, decoded)
autoencoder.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
"""
)

# The Keras blog's MNIST convolutional autoencoder (valid padding in the
# decoder brings 16x16 back to 14x14 before the last upsampling): shapes
# only line up because of that one layer, and they do.
HEALTHY["conv_blog"] = (
    """\
import numpy as np
import keras
from keras import layers

"""
    + _DIGITS28
    + """
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
"""
)

HEALTHY["sequential_input"] = (
    """\
import numpy as np
import keras
from keras import layers

"""
    + _LOWRANK_01
    + """
autoencoder = keras.Sequential(
    [
        keras.Input(shape=(32,)),
        layers.Dense(16, activation="relu"),
        layers.Dense(6),
        layers.Dense(16, activation="relu"),
        layers.Dense(32, activation="sigmoid"),
    ],
    name="seq_ae",
)
autoencoder.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
"""
)

# An encoder model and a decoder model, composed into one autoencoder. The
# cell binds three models; the autoencoder is the one that reconstructs.
HEALTHY["composed"] = (
    """\
import numpy as np
import keras
from keras import layers

"""
    + _LOWRANK_01
    + """
enc_in = keras.Input(shape=(32,))
h = layers.Dense(16, activation="relu")(enc_in)
z = layers.Dense(4, name="latent")(h)
encoder = keras.Model(enc_in, z, name="encoder")

dec_in = keras.Input(shape=(4,))
h = layers.Dense(16, activation="relu")(dec_in)
recon = layers.Dense(32, activation="sigmoid")(h)
decoder = keras.Model(dec_in, recon, name="decoder")

inp = keras.Input(shape=(32,))
autoencoder = keras.Model(inp, decoder(encoder(inp)), name="autoencoder")
autoencoder.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
"""
)

HEALTHY["lstm"] = """\
import numpy as np
import keras
from keras import layers

# Sine waves of random frequency and phase: 30 steps, 1 feature, in [-1, 1].
rng = np.random.default_rng(0)
t = np.linspace(0, 2 * np.pi, 30)
freq = rng.uniform(0.5, 2.0, size=(600, 1))
phase = rng.uniform(0, 2 * np.pi, size=(600, 1))
x = np.sin(freq * t + phase)[..., None].astype("float32")

inp = keras.Input(shape=(30, 1))
code = layers.LSTM(16)(inp)
h = layers.RepeatVector(30)(code)
h = layers.LSTM(16, return_sequences=True)(h)
out = layers.TimeDistributed(layers.Dense(1))(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
"""

# Denoising: input x_noisy, target x. The code (48) is wider than the input
# (32): over-complete codes are legitimate when the input differs from the
# target, so AE104 must stay silent.
HEALTHY["denoising"] = (
    """\
import numpy as np
import keras
from keras import layers

"""
    + _LOWRANK_01
    + """noise = np.random.default_rng(1).normal(scale=0.2, size=x.shape)
x_noisy = np.clip(x + noise, 0.0, 1.0).astype("float32")

inp = keras.Input(shape=(32,))
h = layers.Dense(64, activation="relu")(inp)
h = layers.Dense(48, activation="relu")(h)
h = layers.Dense(64, activation="relu")(h)
out = layers.Dense(32, activation="sigmoid")(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
"""
)

# The Keras blog's denoising conv autoencoder, on 16x16 blobs.
HEALTHY["denoising_conv"] = (
    """\
import numpy as np
import keras
from keras import layers

"""
    + _BLOBS16
    + """noise = np.random.default_rng(1).normal(scale=0.3, size=x.shape)
x_noisy = np.clip(x + noise, 0.0, 1.0).astype("float32")

input_img = keras.Input(shape=(16, 16, 1))
h = layers.Conv2D(16, (3, 3), activation="relu", padding="same")(input_img)
h = layers.MaxPooling2D((2, 2), padding="same")(h)
h = layers.Conv2D(16, (3, 3), activation="relu", padding="same")(h)
encoded = layers.MaxPooling2D((2, 2), padding="same")(h)
h = layers.Conv2D(16, (3, 3), activation="relu", padding="same")(encoded)
h = layers.UpSampling2D((2, 2))(h)
h = layers.Conv2D(16, (3, 3), activation="relu", padding="same")(h)
h = layers.UpSampling2D((2, 2))(h)
decoded = layers.Conv2D(1, (3, 3), activation="sigmoid", padding="same")(h)
autoencoder = keras.Model(input_img, decoded)
autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
"""
)

HEALTHY["conv1d"] = """\
import numpy as np
import keras
from keras import layers

# Smooth 1-D signals: sums of two sines, 64 steps, scaled to [0, 1].
rng = np.random.default_rng(0)
t = np.linspace(0, 1, 64)
a = rng.uniform(1, 4, size=(800, 2, 1))
p = rng.uniform(0, 2 * np.pi, size=(800, 2, 1))
sig = np.sin(2 * np.pi * a * t + p).sum(axis=1)
x = ((sig + 2.0) / 4.0)[..., None].astype("float32")

inp = keras.Input(shape=(64, 1))
h = layers.Conv1D(16, 5, strides=2, padding="same", activation="relu")(inp)
h = layers.Conv1D(8, 5, strides=2, padding="same", activation="relu")(h)
h = layers.Flatten()(h)
code = layers.Dense(8, activation="relu")(h)
h = layers.Dense(16 * 8, activation="relu")(code)
h = layers.Reshape((16, 8))(h)
h = layers.Conv1DTranspose(8, 5, strides=2, padding="same", activation="relu")(h)
h = layers.Conv1DTranspose(16, 5, strides=2, padding="same", activation="relu")(h)
out = layers.Conv1D(1, 5, padding="same", activation="sigmoid")(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
"""

HEALTHY["dense_bn_dropout"] = (
    """\
import numpy as np
import keras
from keras import layers

"""
    + _LOWRANK_01
    + """
inp = keras.Input(shape=(32,))
h = layers.Dense(64)(inp)
h = layers.BatchNormalization()(h)
h = layers.Activation("relu")(h)
h = layers.Dropout(0.1)(h)
code = layers.Dense(8, activation="relu")(h)
h = layers.Dense(64)(code)
h = layers.BatchNormalization()(h)
h = layers.ReLU()(h)
h = layers.Dropout(0.1)(h)
out = layers.Dense(32, activation="sigmoid")(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
"""
)

# The Keras blog's simplest autoencoder, with the standalone encoder and
# decoder bound in the same cell. ``decoder`` is bound last; the autoencoder
# is still ``autoencoder`` (the model that reconstructs its input), and
# ``encoded`` feeds the standalone encoder, so it is not dangling.
HEALTHY["blog_standalone"] = (
    """\
import numpy as np
import keras
from keras import layers

"""
    + _LOWRANK_01
    + """
encoding_dim = 8
input_img = keras.Input(shape=(32,))
encoded = layers.Dense(encoding_dim, activation="relu")(input_img)
decoded = layers.Dense(32, activation="sigmoid")(encoded)
autoencoder = keras.Model(input_img, decoded)

encoder = keras.Model(input_img, encoded)
encoded_input = keras.Input(shape=(encoding_dim,))
decoder_layer = autoencoder.layers[-1]
decoder = keras.Model(encoded_input, decoder_layer(encoded_input))

autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
"""
)

# Encoder and decoder Sequentials nested in a Sequential autoencoder.
HEALTHY["nested_sequential"] = (
    """\
import numpy as np
import keras
from keras import layers

"""
    + _LOWRANK_01
    + """
encoder = keras.Sequential(
    [keras.Input(shape=(32,)), layers.Dense(16, activation="relu"), layers.Dense(6)],
    name="encoder",
)
decoder = keras.Sequential(
    [keras.Input(shape=(6,)), layers.Dense(16, activation="relu"), layers.Dense(32, activation="sigmoid")],
    name="decoder",
)
autoencoder = keras.Sequential([keras.Input(shape=(32,)), encoder, decoder], name="autoencoder")
autoencoder.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
"""
)

# Two autoencoders sharing (tying) their encoder layers in one cell: a
# plain one and a wider-decoder one. The last bound, ``autoencoder``, is
# the one to diagnose; ``ae_small`` is another model the cell bound.
HEALTHY["shared_encoder"] = (
    """\
import numpy as np
import keras
from keras import layers

"""
    + _LOWRANK_01
    + """
inp = keras.Input(shape=(32,))
enc1 = layers.Dense(16, activation="relu")
enc2 = layers.Dense(6, activation="relu")
code = enc2(enc1(inp))
small = layers.Dense(32, activation="sigmoid")(code)
ae_small = keras.Model(inp, small)
ae_small.compile(optimizer="adam", loss="mse")

h = layers.Dense(24, activation="relu")(code)
out = layers.Dense(32, activation="sigmoid")(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
"""
)

# A subclassed autoencoder (no graph to walk: an info finding at most).
HEALTHY["subclassed"] = (
    """\
import numpy as np
import keras
from keras import layers

"""
    + _LOWRANK_01
    + """

class AE(keras.Model):
    def __init__(self, latent=6):
        super().__init__()
        self.encoder = keras.Sequential([layers.Dense(16, activation="relu"), layers.Dense(latent)])
        self.decoder = keras.Sequential([layers.Dense(16, activation="relu"), layers.Dense(32, activation="sigmoid")])

    def call(self, inputs):
        return self.decoder(self.encoder(inputs))


autoencoder = AE()
autoencoder.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
"""
)

HEALTHY_CALLS: dict[str, dict] = {name: {"data": "x"} for name in HEALTHY}
HEALTHY_CALLS["denoising"] = {"data": "x_noisy", "target": "x"}
HEALTHY_CALLS["denoising_conv"] = {"data": "x_noisy", "target": "x"}

# Filled below with the seed articles' examples (see tests/test_seeds.py).
FAULTY: dict[str, tuple[str, dict, set[str]]] = {}
FAULTY_PROBE_CODES: dict[str, set[str]] = {}
