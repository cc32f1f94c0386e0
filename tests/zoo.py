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
each faulty cell gets when the probes run (measured, stable over seeds 0-2;
asserted as a subset by tests/test_seed_probes.py). Where they differ from the
catalogue's seed column the comment by the cell says why.
"""

from __future__ import annotations

import re

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


# ---------------------------------------------------------------------------
# Faulty cells: the seed articles' code examples (../shared/seeds/000-004),
# completed minimally where the article elides parts. The seed code is kept
# verbatim at the top of each cell (so line numbers match the article's
# snippet); completions are marked "[completed]" and data lines are appended
# at the end. ``model.fit`` lines are commented out: the check diagnoses the
# model before training, and it keeps the suite fast.
#
# Expected sets are the warning and error codes with ``train=False``;
# FAULTY_INFO lists info codes that must be among the findings;
# FAULTY_PROBE_CODES the AE3xx/AE4xx codes the probe families should add.
# ---------------------------------------------------------------------------

# The articles train on MNIST: the 5,000 real digits bundled with ae_magic
# (no download), normalised to [0, 1]; 1,000 keep the suite fast.
_X784 = "from ae_magic.datasets import load  # [completed] the article's MNIST\nx_train = load(flatten=True, limit=1000)\n"
_X28 = "from ae_magic.datasets import load  # [completed] the article's MNIST\nx_train = load(limit=1000)[..., None]\n"

FAULTY_INFO: dict[str, set[str]] = {}

# -- seed 000: "Why is my Keras autoencoder graph disconnected?" ------------

FAULTY["000_ex1_decoder_reads_input"] = (
    """\
import tensorflow as tf
from tensorflow import keras
from keras.layers import Input, Dense

# Incorrect connection: latent_space is not passed to the decoder
input_dim = 784
encoding_dim = 32

input_img = Input(shape=(input_dim,))
encoded = Dense(encoding_dim, activation='relu')(input_img)
# Missing connection here!  The decoder doesn't receive encoded representation.
decoded = Dense(input_dim, activation='sigmoid')(input_img) # This is wrong!

autoencoder = keras.Model(input_img, decoded)
autoencoder.compile(optimizer='adadelta', loss='binary_crossentropy')
"""
    + _X784,
    {"data": "x_train"},
    # Keras builds this model without complaint (no "disconnected" error):
    # `encoded` (line 10) dangles, and the decoder reads the input directly.
    {"AE102", "AE103"},
)
# Keras 3's Adadelta defaults to learning_rate=0.001 (Keras 2's classic
# examples relied on 1.0), so the loss barely moves.
FAULTY_PROBE_CODES["000_ex1_decoder_reads_input"] = {"AE402"}

FAULTY["000_ex2_sigmoid_bottleneck"] = (
    """\
import tensorflow as tf
from tensorflow import keras
from keras.layers import Input, Dense

input_dim = 784
encoding_dim = 32

input_img = Input(shape=(input_dim,))
encoded = Dense(encoding_dim, activation='sigmoid')(input_img) # Problematic activation
decoded = Dense(input_dim, activation='sigmoid')(encoded)

autoencoder = keras.Model(input_img, decoded)
autoencoder.compile(optimizer='adadelta', loss='binary_crossentropy')
"""
    + _X784,
    {"data": "x_train"},
    {"AE106"},
)
# Catalogue: AE302/AE305 (000 ex.2); the adadelta default makes AE402 likely.
# The catalogue names AE302/AE305 for this seed; with one hidden layer the
# sigmoid code does not saturate measurably, and Keras 3's Adadelta
# (learning_rate=0.001) is what stalls it (AE402).
FAULTY_PROBE_CODES["000_ex2_sigmoid_bottleneck"] = {"AE402"}

FAULTY["000_ex3_corrected"] = (
    """\
import tensorflow as tf
from tensorflow import keras
from keras.layers import Input, Dense

input_dim = 784
encoding_dim = 32

input_img = Input(shape=(input_dim,))
encoded = Dense(encoding_dim, activation='relu')(input_img)
decoded = Dense(input_dim, activation='sigmoid')(encoded)

autoencoder = keras.Model(input_img, decoded)
autoencoder.compile(optimizer='adam', loss='binary_crossentropy')

autoencoder.summary() # Always inspect the model summary to verify connectivity

# Training the autoencoder (Illustrative, parameters need adjustment based on dataset)
# autoencoder.fit(x_train, x_train, epochs=50, batch_size=256, shuffle=True)
"""
    + _X784,
    {"data": "x_train"},
    set(),
)
FAULTY_PROBE_CODES["000_ex3_corrected"] = set()

# The classic behind the article's title (its prose, not a snippet): a
# standalone decoder built from a tensor computed from the encoder's input.
# Keras raises; the autoencoder built before that line is still diagnosed.
FAULTY["000_prose_standalone_decoder"] = (
    """\
import numpy as np
import keras
from keras import layers

input_img = keras.Input(shape=(784,))
encoded = layers.Dense(32, activation="relu")(input_img)
decoded = layers.Dense(784, activation="sigmoid")(encoded)
autoencoder = keras.Model(input_img, decoded)
autoencoder.compile(optimizer="adam", loss="binary_crossentropy")

latent_input = keras.Input(shape=(32,))
decoder = keras.Model(latent_input, decoded)
"""
    + _X784,
    {"data": "x_train"},
    {"AE101"},
)

# -- seed 001: "Why is my Keras graph disconnected, preventing tensor value
# retrieval?" Its snippets are classifiers (10 features -> 1 or 2 outputs);
# diagnosed as autoencoders, their output shape differs from the input's
# (AE105, honestly). Example 1 holds the broken and the corrected model in
# one snippet; they are split here.

FAULTY["001_ex1_broken"] = (
    """\
import tensorflow as tf
from tensorflow import keras

# Incorrect connection:  Dense layer missing input
input_layer = keras.Input(shape=(10,))
dense1 = keras.layers.Dense(5, activation='relu')
dense2 = keras.layers.Dense(1, activation='sigmoid')

# Missing connection between dense1 and dense2
model = keras.Model(inputs=input_layer, outputs=dense2(input_layer))  # Incorrect!

model.compile(optimizer='adam', loss='binary_crossentropy')

# Attempting to predict will likely fail due to the disconnected graph
# model.predict(np.random.rand(1, 10))
""",
    {},
    # dense1 (line 6) is created and never called: AE102. Nothing is
    # disconnected under Keras 3 (model.predict works). Output (None, 1) vs
    # input (None, 10): AE105.
    {"AE102", "AE105"},
)

FAULTY["001_ex1_corrected"] = (
    """\
import tensorflow as tf
from tensorflow import keras

# Corrected version
input_layer = keras.Input(shape=(10,))
dense1 = keras.layers.Dense(5, activation='relu')(input_layer) #Correct connection
dense2 = keras.layers.Dense(1, activation='sigmoid')(dense1)     #Correct connection
model = keras.Model(inputs=input_layer, outputs=dense2)

model.compile(optimizer='adam', loss='binary_crossentropy')
# model.predict(np.random.rand(1, 10)) #Now functions correctly
""",
    {},
    # Correctly connected, but a 10 -> 1 classifier, not an autoencoder.
    {"AE105"},
)

FAULTY["001_ex2_custom_layer_tf_constant"] = (
    """\
import tensorflow as tf
from tensorflow import keras

class MyCustomLayer(keras.layers.Layer):
    def call(self, inputs):
        # Incorrect:  This creates a tensor outside the graph
        x = tf.constant([[1.0, 2.0]]) + inputs #Problem Line:  tf.constant creates a disconnected tensor
        return x

input_layer = keras.Input(shape=(2,))
custom_layer = MyCustomLayer()(input_layer)
model = keras.Model(inputs=input_layer, outputs=custom_layer)

#model.compile(optimizer='adam', loss='mse')  #Will probably fail compilation
""",
    {},
    # Under Keras 3 nothing is disconnected: the output is inputs + [1, 2]
    # and depends on the input, so no AE111 (the catalogue's claim for this
    # example does not hold). It compiles fine too. What is honestly wrong as
    # an autoencoder: the code is as wide as the input (2 -> 2): AE104.
    {"AE104"},
)
FAULTY_INFO["001_ex2_custom_layer_tf_constant"] = {"AE109"}

FAULTY["001_ex2_corrected"] = (
    """\
import tensorflow as tf
from tensorflow import keras

#Corrected Version:
class MyCustomLayer(keras.layers.Layer):
    def call(self, inputs):
      return inputs + tf.keras.backend.constant([[1.0, 2.0]]) #Using backend to maintain graph connection

input_layer = keras.Input(shape=(2,))
custom_layer = MyCustomLayer()(input_layer)
model = keras.Model(inputs=input_layer, outputs=custom_layer)

#model.compile(optimizer='adam', loss='mse') #Now correctly compiles
""",
    {},
    # The "fix" builds the same function as the broken version (verified:
    # both map [1, 5] to [2, 7]); same honest findings.
    {"AE104"},
)
FAULTY_INFO["001_ex2_corrected"] = {"AE109"}

_SEED001_EX3 = """\
import tensorflow as tf
from tensorflow import keras
import numpy as np

input_layer = keras.Input(shape=(10,))
dense1 = keras.layers.Dense(5, activation='relu')(input_layer)
dense2 = keras.layers.Dense(2, activation='softmax')(dense1) # Output shape is (None, 2)

model = keras.Model(inputs=input_layer, outputs=dense2)

# Incorrect: Using a loss function incompatible with the output shape
{bce}model.compile(optimizer='adam', loss='binary_crossentropy') #Problem: Binary crossentropy expects a single output.

# Corrected version: Using categorical_crossentropy for multi-class classification
{cce}model.compile(optimizer='adam', loss='categorical_crossentropy', metrics=['accuracy']) #Correct loss function


# Sample data for demonstration
X = np.random.rand(100, 10)
Y = keras.utils.to_categorical(np.random.randint(0, 2, 100), num_classes=2) #One-hot encoded labels

# model.fit(X, Y, epochs=10)
"""

FAULTY["001_ex3_as_written_cce"] = (
    _SEED001_EX3.format(bce="#", cce=""),
    {},
    # A classifier (10 -> 2): AE105; softmax + a categorical loss on what
    # should be a reconstruction: AE108.
    {"AE105", "AE108"},
)
FAULTY["001_ex3_broken_bce"] = (
    _SEED001_EX3.format(bce="", cce="#"),
    {},
    # The article's "incorrect" line: softmax with binary cross-entropy on a
    # multi-unit output: AE108 (and still not an autoencoder: AE105).
    {"AE105", "AE108"},
)

# -- seed 002: "What caused the error in the deep convolutional autoencoder?"
# Elided "(Input shape definition and data loading)": input_shape =
# (28, 28, 1), encoded_dim = 32, MNIST-like x_train (appended).

FAULTY["002_ex1_sigmoid_everywhere"] = (
    """\
import tensorflow as tf
from tensorflow import keras

input_shape = (28, 28, 1)  # [completed]
encoded_dim = 32  # [completed]

model = keras.Sequential([
    keras.layers.Conv2D(32, (3, 3), activation='sigmoid', padding='same', input_shape=input_shape),
    keras.layers.MaxPooling2D((2, 2), padding='same'),
    # ... more convolutional layers with sigmoid activation ...
    keras.layers.Conv2D(32, (3, 3), activation='sigmoid', padding='same'),  # [completed]
    keras.layers.MaxPooling2D((2, 2), padding='same'),  # [completed]
    keras.layers.Flatten(),
    keras.layers.Dense(encoded_dim, activation='sigmoid'), # Bottleneck layer
    keras.layers.Dense(784, activation='sigmoid'), # This will likely yield poor results
    keras.layers.Reshape((28, 28, 1))
])

model.compile(optimizer='adam', loss='mse')
# model.fit(x_train, x_train, epochs=10)
"""
    + _X28,
    {"data": "x_train"},
    {"AE106", "AE107"},
)
FAULTY_PROBE_CODES["002_ex1_sigmoid_everywhere"] = {"AE305", "AE404"}

_SEED002_EX2 = """\
import tensorflow as tf
from tensorflow import keras

input_shape = (28, 28, 1)  # [completed]
encoded_dim = 32  # [completed]

model = keras.Sequential([
    # ... (Conv layers with ReLU activation) ...
    keras.layers.Conv2D(32, (3, 3), activation='relu', padding='same'{input_shape}),  # [completed]
    keras.layers.MaxPooling2D((2, 2), padding='same'),  # [completed]
    keras.layers.Conv2D(64, (3, 3), activation='relu', padding='same'),  # [completed]
    keras.layers.MaxPooling2D((2, 2), padding='same'),  # [completed]
    keras.layers.Flatten(),
    keras.layers.Dense(encoded_dim, activation='relu'),
    # ... (Decoder layers with ReLU activation) ...
    keras.layers.Dense(7*7*64, activation='relu'),  # [completed: example 3's decoder]
    keras.layers.Reshape((7, 7, 64)),  # [completed]
    keras.layers.Conv2DTranspose(64, (3, 3), strides=(2, 2), activation='relu', padding='same'),  # [completed]
    keras.layers.Conv2DTranspose(32, (3, 3), strides=(2, 2), activation='relu', padding='same'),  # [completed]
    keras.layers.Conv2D(1, (3, 3), activation='sigmoid', padding='same'),  # [completed]
])

optimizer = tf.keras.optimizers.Adam(learning_rate=0.1) # Very high learning rate
model.compile(optimizer=optimizer, loss='mse')
# model.fit(x_train, x_train, epochs=10)
"""

FAULTY["002_ex2_high_lr"] = (
    # The elided conv layers take input_shape like examples 1 and 3 do.
    _SEED002_EX2.format(input_shape=", input_shape=input_shape") + _X28,
    {"data": "x_train"},
    # A learning rate is not visible in the structure: only the probes see it.
    set(),
)
# The article says Adam(0.1) explodes (AE303/AE401). Adam scales each step to
# about the learning rate, so it does not explode: the ReLUs die and the
# output collapses to one image (AE404; AE304/AE302 come and go by seed).
FAULTY_PROBE_CODES["002_ex2_high_lr"] = {"AE404"}

FAULTY["002_ex2_no_input_shape"] = (
    # Read literally the snippet gives no input shape anywhere (its fit()
    # would build it): an unbuilt Sequential, built from x_train's shape.
    _SEED002_EX2.format(input_shape="") + _X28,
    {"data": "x_train"},
    {"AE112"},
)

FAULTY["002_ex3_improved"] = (
    """\
import tensorflow as tf
from tensorflow import keras

input_shape = (28, 28, 1)  # [completed]
encoded_dim = 32  # [completed]

model = keras.Sequential([
    keras.layers.Conv2D(32, (3, 3), activation='relu', padding='same', kernel_initializer='he_normal', input_shape=input_shape),
    keras.layers.BatchNormalization(),
    keras.layers.MaxPooling2D((2, 2), padding='same'),
    keras.layers.Conv2D(64, (3, 3), activation='relu', padding='same', kernel_initializer='he_normal'),
    keras.layers.BatchNormalization(),
    keras.layers.MaxPooling2D((2, 2), padding='same'),
    keras.layers.Flatten(),
    keras.layers.Dense(encoded_dim, activation='relu', kernel_initializer='he_normal'),
    keras.layers.Dense(7*7*64, activation='relu', kernel_initializer='he_normal'),
    keras.layers.Reshape((7, 7, 64)),
    keras.layers.Conv2DTranspose(64, (3, 3), strides=(2, 2), activation='relu', padding='same'),
    keras.layers.Conv2DTranspose(32, (3, 3), strides=(2, 2), activation='relu', padding='same'),
    keras.layers.Conv2D(1, (3, 3), activation='sigmoid', padding='same')
])

optimizer = tf.keras.optimizers.Adam(learning_rate=0.001)
model.compile(optimizer=optimizer, loss='mse')
# model.fit(x_train, x_train, epochs=50)
"""
    + _X28,
    {"data": "x_train"},
    set(),
)
# Not asserted: on 1,000 MNIST digits this BatchNorm model sometimes sits at
# the all-black image for the whole short probe run (AE405), depending on its
# random init; Keras' own fit() shows the same slow escape.

# Seed 002's prose (not its snippets) motivates AE105, AE110 and AE201.
FAULTY["002_prose_decoder_32_for_28"] = (
    """\
import keras
from keras import layers

inp = keras.Input(shape=(28, 28, 1))
h = layers.Conv2D(16, 3, activation="relu", padding="same")(inp)
h = layers.MaxPooling2D(2, padding="same")(h)
h = layers.Conv2D(8, 3, activation="relu", padding="same")(h)
h = layers.MaxPooling2D(2, padding="same")(h)
h = layers.Conv2D(8, 3, activation="relu", padding="same")(h)
h = layers.MaxPooling2D(2, padding="same")(h)
h = layers.Conv2DTranspose(8, 3, strides=2, activation="relu", padding="same")(h)
h = layers.Conv2DTranspose(8, 3, strides=2, activation="relu", padding="same")(h)
h = layers.Conv2DTranspose(16, 3, strides=2, activation="relu", padding="same")(h)
out = layers.Conv2D(1, 3, activation="sigmoid", padding="same")(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
"""
    + _X28,
    {"data": "x_train"},
    # 28 -> 14 -> 7 -> 4 (padding='same' rounds up), then 4 -> 8 -> 16 -> 32.
    {"AE105"},
)

FAULTY["002_prose_large_init"] = (
    """\
import keras
from keras import layers

init = keras.initializers.RandomNormal(stddev=1.0)
autoencoder = keras.Sequential([
    keras.Input(shape=(784,)),
    layers.Dense(256, activation="relu", kernel_initializer=init),
    layers.Dense(64, activation="relu", kernel_initializer=init),
    layers.Dense(256, activation="relu", kernel_initializer=init),
    layers.Dense(784, activation="sigmoid", kernel_initializer=init),
])
autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
"""
    + _X784,
    {"data": "x_train"},
    {"AE110"},
)

FAULTY["002_prose_pixels_0_255"] = (
    FAULTY["002_ex3_improved"][0] + "x_train = x_train * 255.0  # never normalised\n",
    {"data": "x_train"},
    # Scale far from unit (AE201), and a sigmoid output cannot reach 255 (AE203).
    {"AE201", "AE203"},
)

# -- seed 003: "Why does my autoencoder produce identical outputs?" --------
# All three snippets build `tf.keras.Model(inputs=encoder.input, ...)` on
# Sequentials without an Input: in Keras 3 `encoder.input` raises
# AttributeError ("The layer sequential has never been called and thus has
# no defined input."), so none of them runs as written. With data, the
# engine builds the encoder from the data's shape and goes on (AE112
# warning); without, AE112 is an error. tf.random.set_seed(0) is added for
# determinism.

_SEED003_HEAD = """\
import tensorflow as tf
tf.random.set_seed(0)  # [completed] determinism

# Example data (replace with your actual data)
input_dim = 100
latent_dim = {latent}
input_data = tf.random.normal((1000, input_dim)) #1000 samples
"""

_SEED003_LOOP = """
# Training loop
for epoch in range(3):  # [completed: 100 -> 3 epochs to keep the suite fast]
    with tf.GradientTape() as tape:
        reconstructed = autoencoder(input_data)
        loss = loss_fn(input_data, reconstructed)
    gradients = tape.gradient(loss, autoencoder.trainable_variables)
    optimizer.apply_gradients(zip(gradients, autoencoder.trainable_variables))
    print(f'Epoch: {epoch}, Loss: {loss.numpy()}')

# Test with a single input
test_input = tf.random.normal((1, input_dim))
test_output = autoencoder(test_input)
print(f"Test output: {test_output.numpy()}")
"""

FAULTY["003_ex1_latent_and_loss"] = (
    _SEED003_HEAD.format(latent="10  # Try 20, 50 or input_dim/2 to see the effects")
    + """
# Encoder
encoder = tf.keras.Sequential([
    tf.keras.layers.Dense(50, activation='relu'),
    tf.keras.layers.Dense(latent_dim)
])

# Decoder
decoder = tf.keras.Sequential([
    tf.keras.layers.Dense(50, activation='relu'),
    tf.keras.layers.Dense(input_dim)
])

# Autoencoder
autoencoder = tf.keras.Model(inputs=encoder.input, outputs=decoder(encoder.output))

# Loss
loss_fn = tf.keras.losses.MeanSquaredError() #Try MeanAbsoluteError instead
# optimizer = tf.keras.optimizers.Adam(learning_rate=0.001) #Try different learning rates

# Example using clipnorm. Use clipvalue for value clipping, if needed.  [comment moved up: line length]
optimizer = tf.keras.optimizers.Adam(learning_rate=0.001, clipnorm=1)
"""
    + _SEED003_LOOP,
    {"data": "input_data"},
    {"AE112"},
)
FAULTY_INFO["003_ex1_latent_and_loss"] = {"AE109"}  # compiled by hand: no compile()
# Catalogue: AE404/AE405 for 003 (i.i.d. Gaussian data cannot be compressed).
FAULTY_PROBE_CODES["003_ex1_latent_and_loss"] = set()

FAULTY["003_ex2_initializer"] = (
    _SEED003_HEAD.format(latent="20  # Adjusted latent dimension")
    + """
# Define weights initialization
initializer = tf.keras.initializers.RandomNormal(mean=0., stddev=0.05) #Try He normal

# Encoder
encoder = tf.keras.Sequential([
    tf.keras.layers.Dense(50, activation='relu', kernel_initializer=initializer),
    tf.keras.layers.Dense(latent_dim, kernel_initializer=initializer)
])

# Decoder
decoder = tf.keras.Sequential([
    tf.keras.layers.Dense(50, activation='relu', kernel_initializer=initializer),
    tf.keras.layers.Dense(input_dim, kernel_initializer=initializer)
])

# Autoencoder
autoencoder = tf.keras.Model(inputs=encoder.input, outputs=decoder(encoder.output))

# Loss and optimizer
loss_fn = tf.keras.losses.MeanSquaredError()
optimizer = tf.keras.optimizers.Adam(learning_rate=0.001) # try a lower learning rate like 0.0001
"""
    + _SEED003_LOOP,
    {"data": "input_data"},
    {"AE112", "AE110"},
)
FAULTY_INFO["003_ex2_initializer"] = {"AE109"}
FAULTY_PROBE_CODES["003_ex2_initializer"] = set()

FAULTY["003_ex3_low_lr_clipping"] = (
    _SEED003_HEAD.format(latent="20  # Adjusted latent dimension")
    + """
# Encoder
encoder = tf.keras.Sequential([
    tf.keras.layers.Dense(50, activation='relu'),
    tf.keras.layers.Dense(latent_dim)
])

# Decoder
decoder = tf.keras.Sequential([
    tf.keras.layers.Dense(50, activation='relu'),
    tf.keras.layers.Dense(input_dim)
])

# Autoencoder
autoencoder = tf.keras.Model(inputs=encoder.input, outputs=decoder(encoder.output))

# Loss and optimizer
loss_fn = tf.keras.losses.MeanSquaredError()
optimizer = tf.keras.optimizers.Adam(learning_rate=0.0001, clipnorm=1)  # Low learning rate and clipping
"""
    + _SEED003_LOOP,
    {"data": "input_data"},
    {"AE112"},
)
FAULTY_INFO["003_ex3_low_lr_clipping"] = {"AE109"}
FAULTY_PROBE_CODES["003_ex3_low_lr_clipping"] = set()

# Seed 003's prose: a latent space as wide as the input (AE104), and data
# dominated by zeros, where an all-zero output already scores well (AE205).
FAULTY["003_prose_latent_too_wide"] = (
    """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(0)
z = rng.normal(size=(1000, 8))
x = np.tanh(z @ rng.normal(size=(8, 100)) / 3.0).astype("float32")

inp = keras.Input(shape=(100,))
h = layers.Dense(128, activation="relu")(inp)
code = layers.Dense(100, activation="relu")(h)
h = layers.Dense(128, activation="relu")(code)
out = layers.Dense(100)(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer="adam", loss="mse")
""",
    {"data": "x"},
    {"AE104"},
)

FAULTY["003_prose_mostly_zeros"] = (
    """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(0)
x = (rng.random((1000, 100)) > 0.995).astype("float32")  # 99.5% zeros

inp = keras.Input(shape=(100,))
h = layers.Dense(32, activation="relu")(inp)
code = layers.Dense(8, activation="relu")(h)
h = layers.Dense(32, activation="relu")(code)
out = layers.Dense(100, activation="sigmoid")(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer="adam", loss="mse")
""",
    {"data": "x"},
    {"AE205"},
)

# -- seed 004: "Why am I getting incorrect data from my TF 2.0 AutoEncoder?"

_SEED004_EX1_MODEL = """\
model = tf.keras.Sequential([
  tf.keras.layers.Dense(16, activation='relu', input_shape=(784,)), # Too few neurons
  tf.keras.layers.Dense(8, activation='relu'), # Bottleneck layer too narrow
  tf.keras.layers.Dense(16, activation='relu'),
  tf.keras.layers.Dense(784, activation='sigmoid')
])
"""

FAULTY["004_ex1_small_capacity"] = (
    """\
import tensorflow as tf

# Insufficient model capacity
"""
    + _SEED004_EX1_MODEL
    + """
# ... (rest of training code)
"""
    + _X784,
    {"data": "x_train"},
    # A narrow (8-unit) code is a modelling choice, not a fault in the
    # catalogue; the elided training code leaves it uncompiled (AE109 info).
    set(),
)
FAULTY_INFO["004_ex1_small_capacity"] = {"AE109"}

FAULTY["004_ex2_high_lr"] = (
    """\
import tensorflow as tf

model = tf.keras.Sequential([
  # ... (Appropriate model architecture) ...
  tf.keras.Input(shape=(784,)),  # [completed]
  tf.keras.layers.Dense(128, activation='relu'),  # [completed]
  tf.keras.layers.Dense(32, activation='relu'),  # [completed]
  tf.keras.layers.Dense(128, activation='relu'),  # [completed]
  tf.keras.layers.Dense(784, activation='sigmoid'),  # [completed]
])

optimizer = tf.keras.optimizers.Adam(learning_rate=0.1) # Too high learning rate

# ... (rest of training code)
model.compile(optimizer=optimizer, loss='mse')  # [completed: as in example 3]
"""
    + _X784,
    {"data": "x_train"},
    set(),
)
# As for 002 ex.2: Adam(0.1) collapses the output rather than oscillating.
FAULTY_PROBE_CODES["004_ex2_high_lr"] = {"AE404"}

FAULTY["004_ex3_unnormalized"] = (
    """\
import tensorflow as tf
import numpy as np

# Unnormalized data
data = np.random.rand(1000, 784) * 1000  # High variance

# ... (model definition) ...
"""
    + _SEED004_EX1_MODEL.replace("\n", "  # [completed: example 1's model]\n", 1)
    + """
model.compile(optimizer='adam', loss='mse')
# model.fit(data, data, epochs=10)  # Training without normalization
""",
    {"data": "data"},
    # Scale in the hundreds (AE201); the sigmoid output cannot reach targets
    # up to 1000 (AE203).
    {"AE201", "AE203"},
)
FAULTY_PROBE_CODES["004_ex3_unnormalized"] = {"AE303", "AE404"}

# Seed 004's prose: a loss that does not fit the output (AE108): a linear
# output trained with binary cross-entropy, which expects probabilities.
FAULTY["004_prose_linear_bce"] = (
    """\
import keras
from keras import layers

inp = keras.Input(shape=(784,))
h = layers.Dense(64, activation="relu")(inp)
h = layers.Dense(16, activation="relu")(h)
h = layers.Dense(64, activation="relu")(h)
out = layers.Dense(784)(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
"""
    + _X784,
    {"data": "x_train"},
    {"AE108"},
)


# ---------------------------------------------------------------------------
# One small cell per catalogue fault (beyond the seeds), and a few more
# healthy variants that sit close to a detector's edge (logits with
# from_logits=True, an Activation layer as output, standardised data with a
# linear output, LeakyReLU layers, two tanh layers, which are not a stack).
# ---------------------------------------------------------------------------

_SMALL_HEAD = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(0)
z = rng.normal(size=(512, 4))
x = (1.0 / (1.0 + np.exp(-(z @ rng.normal(size=(4, 32))) / 2.0))).astype("float32")
xs = ((x - x.mean(axis=0)) / x.std(axis=0)).astype("float32")  # standardised copy
inp = keras.Input(shape=(32,))
"""

HEALTHY["dense_logits_from_logits"] = _SMALL_HEAD + """\
h = layers.Dense(8, activation="relu")(inp)
out = layers.Dense(32)(h)  # logits, paired with from_logits=True: correct
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer="adam", loss=keras.losses.BinaryCrossentropy(from_logits=True))
"""

HEALTHY["dense_activation_layer_output"] = _SMALL_HEAD + """\
h = layers.Dense(8, activation="relu")(inp)
h = layers.Dense(32)(h)
out = layers.Activation("sigmoid")(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer=keras.optimizers.Adam(1e-3), loss=keras.losses.BinaryCrossentropy())
"""

HEALTHY["dense_standardized_linear"] = _SMALL_HEAD + """\
h = layers.Dense(16, activation="relu")(inp)
code = layers.Dense(6)(h)
h = layers.Dense(16, activation="relu")(code)
out = layers.Dense(32)(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
"""
HEALTHY_CALLS["dense_standardized_linear"] = {"data": "xs"}

HEALTHY["dense_leaky_relu"] = _SMALL_HEAD + """\
h = layers.Dense(16)(inp)
h = layers.LeakyReLU(negative_slope=0.1)(h)
code = layers.Dense(6)(h)
h = layers.Dense(16)(code)
h = layers.LeakyReLU(negative_slope=0.1)(h)
out = layers.Dense(32, activation="sigmoid")(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
"""

HEALTHY["dense_two_tanh"] = _SMALL_HEAD + """\
h = layers.Dense(16, activation="tanh")(inp)
h = layers.Dense(12, activation="tanh")(h)
code = layers.Dense(6)(h)
h = layers.Dense(16, activation="relu")(code)
out = layers.Dense(32, activation="sigmoid")(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
"""

for _name in HEALTHY:
    HEALTHY_CALLS.setdefault(_name, {"data": "x"})

# name -> (source, check kwargs, expected warning/error codes), train=False.
CATALOGUE: dict[str, tuple[str, dict, set[str]]] = {}


def _cat(name: str, body: str, codes: set[str], data: str = "x") -> None:
    CATALOGUE[name] = (_SMALL_HEAD + body, {"data": data}, codes)


_cat("AE102_dangling_tensor", """\
h = layers.Dense(8, activation="relu")(inp)
side = layers.Dense(4, activation="relu")(h)
out = layers.Dense(32, activation="sigmoid")(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer="adam", loss="mse")
""", {"AE102"})
_cat("AE102_layer_never_called", """\
h = layers.Dense(8, activation="relu")(inp)
extra = layers.Dense(10, activation="relu")
out = layers.Dense(32, activation="sigmoid")(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer="adam", loss="mse")
""", {"AE102"})
_cat("AE103_unet_concat", """\
h1 = layers.Dense(16, activation="relu")(inp)
code = layers.Dense(4, activation="relu")(h1)
h = layers.Dense(16, activation="relu")(code)
h = layers.Concatenate()([h, h1])
out = layers.Dense(32, activation="sigmoid")(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer="adam", loss="mse")
""", {"AE103"})
_cat("AE103_residual_add", """\
code = layers.Dense(4, activation="relu")(inp)
h = layers.Dense(32, activation="sigmoid")(code)
out = layers.Add()([h, inp])
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer="adam", loss="mse")
""", {"AE103"})
_cat("AE104_overcomplete", """\
h = layers.Dense(64, activation="relu")(inp)
code = layers.Dense(48, activation="relu")(h)
out = layers.Dense(32, activation="sigmoid")(code)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer="adam", loss="mse")
""", {"AE104"})
# A narrow sigmoid code (the seeds' fault). A tanh code that stays unsaturated and learns, in the probe run or a
# longer one, is info (round 37's BatchNorm + SGD expression AE; tests/test_round38.py).
_cat("AE106_sigmoid_code", """\
h = layers.Dense(16, activation="relu")(inp)
code = layers.Dense(6, activation="sigmoid")(h)
h = layers.Dense(16, activation="relu")(code)
out = layers.Dense(32, activation="sigmoid")(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer="adam", loss="mse")
""", {"AE106"})
# A sigmoid stack: its warning stands (a gradient factor of at most 0.25 a layer). A tanh stack measured
# unsaturated in a run that learned is info (checks/gradients.py,
# tests/test_verdicts.py::test_ae107_on_a_tanh_stack_softens_to_info_when_measured_harmless).
_cat("AE107_sigmoid_stack", """\
h = layers.Dense(24, activation="sigmoid")(inp)
h = layers.Dense(16, activation="sigmoid")(h)
h = layers.Dense(12, activation="sigmoid")(h)
code = layers.Dense(6)(h)
h = layers.Dense(16, activation="relu")(code)
out = layers.Dense(32, activation="sigmoid")(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer="adam", loss="mse")
""", {"AE107"})
_cat("AE108_softmax_bce", """\
h = layers.Dense(8, activation="relu")(inp)
out = layers.Dense(32, activation="softmax")(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
""", {"AE108"})
_cat("AE108_sigmoid_with_from_logits", """\
h = layers.Dense(8, activation="relu")(inp)
out = layers.Dense(32, activation="sigmoid")(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer="adam", loss=keras.losses.BinaryCrossentropy(from_logits=True))
""", {"AE108"})
_cat("AE108_categorical_on_reconstruction", """\
h = layers.Dense(8, activation="relu")(inp)
out = layers.Dense(32, activation="sigmoid")(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer="adam", loss="categorical_crossentropy")
""", {"AE108"})
_cat("AE108_linear_bce_standardised", """\
h = layers.Dense(8, activation="relu")(inp)
out = layers.Dense(32)(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
""", {"AE108", "AE203"}, data="xs")
_cat("AE110_ones_in_code_layer", """\
h = layers.Dense(16, activation="relu")(inp)
code = layers.Dense(6, activation="relu", kernel_initializer="ones")(h)
h = layers.Dense(16, activation="relu")(code)
out = layers.Dense(32, activation="sigmoid")(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer="adam", loss="mse")
""", {"AE110"})
# All-zero kernels make the output constant too: AE111 is honest here.
_cat("AE110_zeros_first_layer", """\
h = layers.Dense(8, activation="relu", kernel_initializer="zeros")(inp)
out = layers.Dense(32, activation="sigmoid")(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer="adam", loss="mse")
""", {"AE110", "AE111"})
_cat("AE111_lambda_constant", """\
h = layers.Dense(8, activation="relu")(inp)
h = layers.Lambda(lambda t: keras.ops.zeros_like(t) + 1.0)(h)
out = layers.Dense(32, activation="sigmoid")(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer="adam", loss="mse")
""", {"AE111"})
# The catalogue names "a stop_gradient on the only path" under AE111: the
# output still changes with the input, but its Jacobian is zero.
_cat("AE111_stop_gradient", """\
h = layers.Dense(8, activation="relu")(inp)
h = layers.Lambda(lambda t: keras.ops.stop_gradient(t))(h)
out = layers.Dense(32, activation="sigmoid")(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer="adam", loss="mse")
""", {"AE111"})
_cat("AE203_relu_output_standardised", """\
h = layers.Dense(8, activation="relu")(inp)
out = layers.Dense(32, activation="relu")(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer="adam", loss="mse")
""", {"AE203"}, data="xs")
_cat("AE203_sigmoid_output_standardised", """\
h = layers.Dense(8, activation="relu")(inp)
out = layers.Dense(32, activation="sigmoid")(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer="adam", loss="mse")
""", {"AE203"}, data="xs")
_cat("AE201_uint8_pixels", """\
h = layers.Dense(8, activation="relu")(inp)
out = layers.Dense(32, activation="sigmoid")(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer="adam", loss="mse")
x = (x * 255).astype("uint8")
""", {"AE201", "AE203"})
_cat("AE205_constant_data", """\
h = layers.Dense(8, activation="relu")(inp)
out = layers.Dense(32, activation="sigmoid")(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer="adam", loss="mse")
x = np.full((256, 32), 0.3, dtype="float32")
""", {"AE205"})
_cat("AE111_rounding_lambda", """\
h = layers.Dense(8, activation="relu")(inp)
h = layers.Lambda(lambda t: keras.ops.round(t * 4.0) / 4.0)(h)
out = layers.Dense(32, activation="sigmoid")(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer="adam", loss="mse")
""", {"AE111"})
# keras.ops called directly on a KerasTensor: an op node, not a Layer call.
_cat("AE111_raw_stop_gradient_op", """\
h = layers.Dense(8, activation="relu")(inp)
h = keras.ops.stop_gradient(h)
out = layers.Dense(32, activation="sigmoid")(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer="adam", loss="mse")
""", {"AE111"})
# A differentiable Lambda must not trip the gradient check.
HEALTHY["dense_scaling_lambda"] = _SMALL_HEAD + """\
h = layers.Dense(16, activation="relu")(inp)
code = layers.Dense(6)(h)
h = layers.Lambda(lambda t: t * 0.5)(code)
h = layers.Dense(16, activation="relu")(h)
out = layers.Dense(32, activation="sigmoid")(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
"""
HEALTHY_CALLS["dense_scaling_lambda"] = {"data": "x"}

# Probe codes of the prose cells (measured, stable over seeds 0-2).
# The large init saturates the sigmoid output; the run still learns (the
# validation loss falls by half), so the probes stay silent and AE110 is the
# finding. (TensorFlow's logit-form BCE once posed as AE401 here.)
FAULTY_PROBE_CODES["002_prose_large_init"] = set()
FAULTY_PROBE_CODES["002_prose_pixels_0_255"] = {"AE303", "AE404"}
FAULTY_PROBE_CODES["004_prose_linear_bce"] = {"AE405"}
FAULTY_PROBE_CODES["004_ex1_small_capacity"] = set()
FAULTY_PROBE_CODES["003_prose_latent_too_wide"] = set()


# -- other backends --------------------------------------------------------
# The seed articles write `from tensorflow import keras` and `tf.keras.X`. On
# JAX or PyTorch a user ports that to plain Keras 3 first (TensorFlow isn't
# even installed there); ``port`` does the same mechanical edit. A cell that
# still calls TensorFlow itself afterwards (tf.constant, tf.GradientTape)
# stays as written: it is in ``TF_ONLY`` and gets the backend-mismatch AE100.
_PORTS = [
    (re.compile(r"^import tensorflow as tf\s*$", re.M), "import keras"),
    (re.compile(r"^from tensorflow import keras\s*$", re.M), "import keras"),
    (re.compile(r"\bfrom tensorflow\.keras\b"), "from keras"),
    (re.compile(r"\btf\.keras\.backend\.constant\("), "keras.ops.convert_to_tensor("),
    (re.compile(r"\btf\.keras\."), "keras."),
    (re.compile(r"\btf\.random\.set_seed\("), "keras.utils.set_random_seed("),
    (re.compile(r"\btf\.random\.normal\("), "keras.random.normal("),
]
# Seed 003's hand-written tf.GradientTape loop, as a JAX or torch user writes it.
_SEED003_LOOP_KERAS3 = """
# Training
autoencoder.compile(optimizer=optimizer, loss=loss_fn)
autoencoder.fit(input_data, input_data, epochs=3, verbose=0)
test_output = autoencoder.predict(keras.random.normal((1, input_dim)), verbose=0)
"""
_TF_USE = re.compile(r"\btf\.|\btensorflow\b")


def port(src: str) -> str:
    """``src`` with its TensorFlow-only imports and ``tf.keras`` names written as Keras 3."""
    src = src.replace(_SEED003_LOOP, _SEED003_LOOP_KERAS3)
    for pattern, repl in _PORTS:
        src = pattern.sub(repl, src)
    return src


def _port_all(backend: str) -> set[str]:
    """Port every cell for ``backend``; the names of the cells that stay TensorFlow-only."""
    tf_only: set[str] = set()
    if backend == "tensorflow":
        return tf_only
    for table in (HEALTHY,):
        for name, src in list(table.items()):
            table[name] = port(src)
    for table in (FAULTY, CATALOGUE):
        for name, (src, kwargs, codes) in list(table.items()):
            ported = port(src)
            if _TF_USE.search(ported):
                tf_only.add(name)
                continue
            table[name] = (ported, kwargs, codes)
    return tf_only


BACKEND = __import__("ae_magic.keras_compat", fromlist=["keras"]).keras.backend.backend()
TF_ONLY = _port_all(BACKEND)
