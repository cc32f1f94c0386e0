# ---
# jupyter:
#   jupytext:
#     notebook_metadata_filter: kernelspec,-jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 03 The same output for every input
#
# You train an autoencoder, feed it different digits, and get back the **same
# blurry picture every time**: an average of all digits. The network found a
# shortcut: if it cannot use the input, predicting the average is the best it
# can do. This notebook shows three causes and how ae_magic tells them apart.

# %%
# %load_ext ae_magic
import ae_magic
import keras
from ae_magic.datasets import load, show_digits

keras.utils.set_random_seed(0)  # the same starting weights on every run

# %%
x_train = load(flatten=True)[:2000]
show_digits(x_train)

# %% [markdown]
# ## Part 1: first, the code must run
#
# The article this story is based on builds the autoencoder from two
# `Sequential` models without an `Input` layer, then reads `encoder.input`.
# In Keras 3 that fails: a `Sequential` without an input shape has no `.input`
# until it has been called on data.

# %% tags=["raises-exception"]
# %%ae_check --data x_train
import keras
from keras import layers

latent_dim = 32
encoder = keras.Sequential([
    layers.Dense(128, activation="relu"),
    layers.Dense(latent_dim),
])
decoder = keras.Sequential([
    layers.Dense(128, activation="relu"),
    layers.Dense(784, activation="sigmoid"),
])
autoencoder = keras.Model(inputs=encoder.input, outputs=decoder(encoder.output))
autoencoder.compile(optimizer="adam", loss="mse")

# %% [markdown]
# ### What it found
#
# - **AE112, unbuilt model:** `encoder` has no input shape yet, so
#   `encoder.input` does not exist (Keras 3 raises `AttributeError`; Keras 2 used
#   to build such models silently). Since we gave it data, ae_magic builds a
#   *copy* from the data's shape to go on checking. The fix: start each
#   `Sequential` with `keras.Input(shape=...)`.

# %% [markdown]
# *(The next cell is for the test suite: it fails if the check above stops finding what this text describes. You can skip it.)*

# %%
report = ae_magic.last_report()
assert {'AE112'} <= set(report.codes), report.codes
print(sorted(set(report.codes)) or 'no findings')

# %% [markdown]
# ## Part 2: every unit starts the same
#
# Now with `Input` layers, and with every kernel initialised to zero (a tempting
# "clean start"). With all weights zero, every hidden unit computes the same
# number for every picture: zero.

# %%
# %%ae_check --data x_train
import keras
from keras import layers

latent_dim = 32
encoder = keras.Sequential([
    keras.Input(shape=(784,)),
    layers.Dense(128, activation="relu", kernel_initializer="zeros"),
    layers.Dense(latent_dim, activation="relu", kernel_initializer="zeros"),
])
decoder = keras.Sequential([
    keras.Input(shape=(latent_dim,)),
    layers.Dense(128, activation="relu", kernel_initializer="zeros"),
    layers.Dense(784, activation="sigmoid", kernel_initializer="zeros"),
])
autoencoder = keras.Sequential([encoder, decoder])
autoencoder.compile(optimizer="adam", loss="mse")

# %% [markdown]
# ### What it found
#
# - **AE111, output ignores the input:** ae_magic fed 8 different digits
#   through the untrained model and got exactly the same output 8 times.
# - **AE110, constant initialiser:** four layers start with all-zero kernels.
#   All units of such a layer get the same gradient, so they stay identical
#   forever; and with `relu` a zero input gives zero gradient, so nothing before
#   the last layer ever changes.
# - AE111 is an error: a model whose output ignores its input cannot learn to
#   reconstruct anything, so ae_magic does not even start its training probe.
#
# Let us see it for real: train it for a couple of epochs and look.

# %% [markdown]
# *(The next cell is for the test suite: it fails if the check above stops finding what this text describes. You can skip it.)*

# %%
report = ae_magic.last_report()
assert {'AE110', 'AE111'} <= set(report.codes), report.codes
print(sorted(set(report.codes)) or 'no findings')

# %%
autoencoder.fit(x_train, x_train, epochs=2, batch_size=64, verbose=0)
show_digits(x_train, autoencoder.predict(x_train[:8], verbose=0), titles=["input", "output"])

# %% [markdown]
# Eight different digits in, eight identical grey pictures out. Trained longer,
# that picture slowly turns into the average of all digits (a blurry blob), but
# it stays the same for every input.

# %% [markdown]
# ## Part 3: a code wider than the picture
#
# The article also warns about a latent space that is too large. Here is the
# extreme: a 1024-number code for a 784-pixel picture.

# %%
# %%ae_check --data x_train
import keras
from keras import layers

latent_dim = 1024
encoder = keras.Sequential([
    keras.Input(shape=(784,)),
    layers.Dense(1024, activation="relu"),
    layers.Dense(latent_dim, activation="relu"),
])
decoder = keras.Sequential([
    keras.Input(shape=(latent_dim,)),
    layers.Dense(1024, activation="relu"),
    layers.Dense(784, activation="sigmoid"),
])
autoencoder = keras.Sequential([encoder, decoder])
autoencoder.compile(optimizer="adam", loss="mse")

# %% [markdown]
# ### What it found
#
# - **AE104, no compression:** the narrowest layer (1024) is wider than the
#   input (784). The model can learn to pass each pixel through unchanged. The
#   reconstructions can look perfect while the code is useless for what
#   autoencoders are for (compression, denoising, anomaly scores).
#
# (This one does *not* give identical outputs; the article lists it as a cause,
# but it is the opposite problem.)

# %% [markdown]
# *(The next cell is for the test suite: it fails if the check above stops finding what this text describes. You can skip it.)*

# %%
report = ae_magic.last_report()
assert {'AE104'} <= set(report.codes), report.codes
print(sorted(set(report.codes)) or 'no findings')

# %% [markdown]
# ## The fix
#
# `keras.Input` at the start of each `Sequential`, the default initialiser
# (just drop `kernel_initializer`), and a 32-number code.

# %%
# %%ae_check --data x_train
import keras
from keras import layers

latent_dim = 32
encoder = keras.Sequential([
    keras.Input(shape=(784,)),
    layers.Dense(128, activation="relu"),
    layers.Dense(latent_dim, activation="relu"),
])
decoder = keras.Sequential([
    keras.Input(shape=(latent_dim,)),
    layers.Dense(128, activation="relu"),
    layers.Dense(784, activation="sigmoid"),
])
autoencoder = keras.Sequential([encoder, decoder])
autoencoder.compile(optimizer="adam", loss="mse")

# %% [markdown]
# *(The next cell is for the test suite: it fails if the check above stops finding what this text describes. You can skip it.)*

# %%
report = ae_magic.last_report()
assert report.ok, [(f.code, f.severity) for f in report.findings]
print(sorted(set(report.codes)) or 'no findings')

# %%
autoencoder.fit(x_train, x_train, epochs=5, batch_size=64, verbose=0)
show_digits(x_train, autoencoder.predict(x_train[:8], verbose=0), titles=["input", "output"])

# %% [markdown]
# ## Your turn
#
# In the last panel, drag the **latent size** slider down to 1, then 2, 4, 8,
# pressing **Re-run** each time. With a one-number code, what do the
# reconstructions look like? Does ae_magic call it a collapse?

# %% [markdown]
# ## Where next
#
# - [00 Quickstart](00-quickstart.ipynb): three mistakes in one cell
# - [01 The disconnected encoder](01-disconnected-encoder.ipynb): dangling layers and "Graph disconnected"
# - [02 Vanishing and exploding gradients](02-vanishing-exploding-gradients.ipynb) in a deep convolutional autoencoder
# - [03 The same output for every input](03-identical-outputs.ipynb)
# - [04 Wrong reconstructions](04-wrong-reconstructions.ipynb): capacity, learning rate, normalisation
# - [05 A variational autoencoder](05-vae.ipynb): posterior collapse, when the KL term wins
# - [06 A sequence autoencoder](06-sequence-autoencoder.ipynb): an LSTM decoder that skips the code
