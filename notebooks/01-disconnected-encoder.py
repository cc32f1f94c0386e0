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
# # 01 The disconnected encoder
#
# *"Why is my Keras autoencoder graph disconnected?"* is one of the most asked
# autoencoder questions. Behind it are two different mistakes:
#
# 1. a layer is computed but **never used** (a *dangling* layer), and the model
#    quietly does something else than you think; Keras says nothing;
# 2. a model is built from an input its output does **not** depend on, and Keras
#    stops with a cryptic error such as `Graph disconnected` or
#    ``Output with path `` is not connected to `inputs` ``.
#
# ae_magic explains both in terms of your own variables and lines.

# %%
# %load_ext ae_magic
import ae_magic
import keras
from ae_magic.datasets import load, show_digits

keras.utils.set_random_seed(0)  # the same starting weights on every run

# %%
x_train = load(flatten=True)[:2000]  # 2,000 digits, 784 pixels in [0, 1]
show_digits(x_train)

# %% [markdown]
# ## Part 1: the encoder nobody uses
#
# Look closely at which tensor the decoder layer is called on.

# %%
# %%ae_check --data x_train
import keras
from keras import layers

input_img = keras.Input(shape=(784,))
encoded = layers.Dense(32, activation="relu")(input_img)
decoded = layers.Dense(784, activation="sigmoid")(input_img)

autoencoder = keras.Model(input_img, decoded)
autoencoder.compile(optimizer="adam", loss="binary_crossentropy")

# %% [markdown]
# ### What it found
#
# - **AE102, dangling layer:** `encoded` is computed on line 5, but nothing uses
#   it. Its layer is not part of `autoencoder` and is never trained.
# - **AE103, bottleneck bypass:** the decoder is called on `input_img`, the
#   784-pixel input itself. The model maps 784 numbers straight to 784 numbers.
#   It can learn to *copy* its input, so its loss can look excellent while it
#   learns nothing about digits.
#
# This is the dangerous kind of bug: Keras builds and trains this model without
# a word. (Some articles say this gives a "Graph disconnected" error. It does
# not: the graph is connected, just not through the code.)

# %% [markdown]
# *(The next cell is for the test suite: it fails if the check above stops finding what this text describes. You can skip it.)*

# %%
report = ae_magic.last_report()
assert {'AE102', 'AE103'} <= set(report.codes), report.codes
print(sorted(set(report.codes)) or 'no findings')

# %% [markdown]
# **The fix:** call the decoder on `encoded`, one word on line 6.

# %%
# %%ae_check --data x_train
import keras
from keras import layers

input_img = keras.Input(shape=(784,))
encoded = layers.Dense(32, activation="relu")(input_img)
decoded = layers.Dense(784, activation="sigmoid")(encoded)

autoencoder = keras.Model(input_img, decoded)
autoencoder.compile(optimizer="adam", loss="binary_crossentropy")

# %% [markdown]
# *(The next cell is for the test suite: it fails if the check above stops finding what this text describes. You can skip it.)*

# %%
report = ae_magic.last_report()
assert report.ok, [(f.code, f.severity) for f in report.findings]
print(sorted(set(report.codes)) or 'no findings')

# %% [markdown]
# ## Part 2: "Graph disconnected"
#
# It is handy to have a separate `encoder` and `decoder`, for example to decode
# points of the code space later. The decoder gets its own input, `latent`.
# This cell stops with an error: read Keras's message first, then the panel.

# %% tags=["raises-exception"]
# %%ae_check --data x_train
import keras
from keras import layers

input_img = keras.Input(shape=(784,))
h = layers.Dense(128, activation="relu")(input_img)
encoded = layers.Dense(32, activation="relu")(h)
encoder = keras.Model(input_img, encoded)

latent = keras.Input(shape=(32,))
h = layers.Dense(128, activation="relu")(encoded)
decoded = layers.Dense(784, activation="sigmoid")(h)
decoder = keras.Model(latent, decoded)

autoencoder = keras.Model(input_img, decoder(encoder(input_img)))
autoencoder.compile(optimizer="adam", loss="binary_crossentropy")

# %% [markdown]
# ### What it found
#
# Keras's message (in Keras 3: ``Output with path `` is not connected to
# `inputs` ``; older versions say `Graph disconnected: cannot find parent for
# tensor ...`) does not say which line is wrong. ae_magic does:
#
# - **AE101, graph disconnected:** on line 12, `keras.Model(latent, decoded)`
#   asks for a model from `latent` to `decoded`, but `decoded` was computed from
#   `input_img`. The culprit is line 10: the decoder's first layer is called on
#   `encoded` (the encoder's output) instead of on `latent`.
#
# Because the cell stopped at line 12, `autoencoder` was never built. The only
# model that exists is `encoder`, a part rather than an autoencoder, so the
# panel does not pretend it is one: it shows the error and says so in a note.

# %% [markdown]
# *(The next cell is for the test suite: it fails if the check above stops finding what this text describes. You can skip it.)*

# %%
report = ae_magic.last_report()
assert {'AE101'} <= set(report.codes), report.codes
print(sorted(set(report.codes)) or 'no findings')

# %% [markdown]
# **The fix:** start the decoder from its own input, `latent`, on line 10.

# %%
# %%ae_check --data x_train
import keras
from keras import layers

input_img = keras.Input(shape=(784,))
h = layers.Dense(128, activation="relu")(input_img)
encoded = layers.Dense(32, activation="relu")(h)
encoder = keras.Model(input_img, encoded)

latent = keras.Input(shape=(32,))
h = layers.Dense(128, activation="relu")(latent)
decoded = layers.Dense(784, activation="sigmoid")(h)
decoder = keras.Model(latent, decoded)

autoencoder = keras.Model(input_img, decoder(encoder(input_img)))
autoencoder.compile(optimizer="adam", loss="binary_crossentropy")

# %% [markdown]
# *(The next cell is for the test suite: it fails if the check above stops finding what this text describes. You can skip it.)*

# %%
report = ae_magic.last_report()
assert report.ok, [(f.code, f.severity) for f in report.findings]
print(sorted(set(report.codes)) or 'no findings')

# %% [markdown]
# Now `encoder`, `decoder` and `autoencoder` all exist and share their layers:
# training `autoencoder` trains the other two.

# %%
autoencoder.fit(x_train, x_train, epochs=5, batch_size=64, verbose=0)
codes = encoder.predict(x_train[:8], verbose=0)
print("code of the first digit:", codes[0].round(2))
show_digits(x_train, decoder.predict(codes, verbose=0), titles=["input", "decoded"])

# %% [markdown]
# ## Your turn
#
# In the last panel, drag the **latent size** slider to 784 (as wide as the
# input) and press **Re-run**. Which finding appears, and why is a code as wide
# as the input a problem for an autoencoder? (Hint: think about Part 1.)

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
