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
# # 02 Vanishing and exploding gradients in a deep convolutional autoencoder
#
# A convolutional autoencoder stacks many layers. Training works by sending a
# *gradient* (how much each weight should change) backwards through all of
# them. Each layer multiplies it by something, so after many layers it can
# shrink to almost nothing (**vanishing**: the first layers stop learning) or
# grow without bound (**exploding**: the loss jumps to huge values or `nan`).
#
# We take a small convolutional autoencoder through three classic failures: a
# shape that does not add up, a stack of sigmoids, and a learning rate that is
# too high.

# %%
# %load_ext ae_magic
import ae_magic
import keras
from ae_magic.datasets import load, show_digits

keras.utils.set_random_seed(0)  # the same starting weights on every run

# %%
x_train = load(limit=1000)[..., None]  # 1,000 digits as images: (1000, 28, 28, 1)
print(x_train.shape)  # NBVAL_CHECK_OUTPUT
show_digits(x_train)

# %% [markdown]
# ## Part 1: the error before the gradients
#
# Three poolings halve 28 to 14, 7 and then 4 (7 is odd, `padding="same"` rounds
# up). Three upsamplings double 4 to 8, 16, 32. Keras builds this model; it only
# fails later inside `fit` with a long shape error.

# %%
# %%ae_check --data x_train
import keras
from keras import layers

inputs = keras.Input(shape=(28, 28, 1))
x = layers.Conv2D(16, 3, activation="relu", padding="same")(inputs)
x = layers.MaxPooling2D(2, padding="same")(x)
x = layers.Conv2D(8, 3, activation="relu", padding="same")(x)
x = layers.MaxPooling2D(2, padding="same")(x)
x = layers.Conv2D(8, 3, activation="relu", padding="same")(x)
encoded = layers.MaxPooling2D(2, padding="same")(x)

x = layers.Conv2D(8, 3, activation="relu", padding="same")(encoded)
x = layers.UpSampling2D(2)(x)
x = layers.Conv2D(8, 3, activation="relu", padding="same")(x)
x = layers.UpSampling2D(2)(x)
x = layers.Conv2D(16, 3, activation="relu", padding="same")(x)
x = layers.UpSampling2D(2)(x)
decoded = layers.Conv2D(1, 3, activation="sigmoid", padding="same")(x)

autoencoder = keras.Model(inputs, decoded)
autoencoder.compile(optimizer="adam", loss="binary_crossentropy")

# %% [markdown]
# ### What it found
#
# - **AE105, shape mismatch:** the model turns a 28x28 image into a 32x32 one.
#   ae_magic names the layer where the decoder's sizes stop mirroring the
#   encoder's, and how to fix it: here, two poolings are enough (28, 14, 7) or a
#   `Cropping2D` at the end trims 32 back to 28.

# %% [markdown]
# *(The next cell is for the test suite: it fails if the check above stops finding what this text describes. You can skip it.)*

# %%
report = ae_magic.last_report()
assert {'AE105'} <= set(report.codes), report.codes
print(sorted(set(report.codes)) or 'no findings')

# %% [markdown]
# ## Part 2: a stack of sigmoids (vanishing gradients)
#
# The article this story comes from uses `sigmoid` everywhere. A sigmoid is flat
# for large positive or negative inputs, and its slope is at most 0.25, so each
# sigmoid layer shrinks the gradient on its way back.

# %%
# %%ae_check --data x_train
import keras
from keras import layers

autoencoder = keras.Sequential([
    keras.Input(shape=(28, 28, 1)),
    layers.Conv2D(16, 3, activation="sigmoid", padding="same"),
    layers.MaxPooling2D(2),
    layers.Conv2D(16, 3, activation="sigmoid", padding="same"),
    layers.MaxPooling2D(2),
    layers.Conv2D(16, 3, activation="sigmoid", padding="same"),
    layers.Flatten(),
    layers.Dense(32, activation="sigmoid"),
    layers.Dense(784, activation="sigmoid"),
    layers.Reshape((28, 28, 1)),
])
autoencoder.compile(optimizer="adam", loss="mse")

# %% [markdown]
# ### What it found
#
# - **AE107, saturating stack:** three or more sigmoid layers in a row, with no
#   normalisation in between.
# - **AE106, saturating bottleneck:** the 32-number code itself is a sigmoid.
# - The gradient probe measures what these predict: the gradient reaching the
#   first layers is orders of magnitude smaller than at the last ones
#   (**AE302, vanishing gradient**), and many units sit in sigmoid's flat region
#   (**AE305, saturated units**). Open the *Gradients* tab to see it per layer.
# - After the short probe run the model gives the same output for every input
#   (**AE404, output collapse**): with the gradient gone, it can only learn the
#   average picture.

# %% [markdown]
# *(The next cell is for the test suite: it fails if the check above stops finding what this text describes. You can skip it.)*

# %%
report = ae_magic.last_report()
assert {'AE106', 'AE107', 'AE302'} <= set(report.codes), report.codes
print(sorted(set(report.codes)) or 'no findings')

# %% [markdown]
# ## Part 3: unscaled pixels and plain SGD (exploding)
#
# Now with `relu`, a decoder that mirrors the encoder (28, 14, 7 and back), and
# a linear last layer. But the pixels are left at 0-255 and the optimizer is
# plain SGD with a learning rate of 0.01, a common choice for scaled data.

# %%
x_raw = load(limit=1000, normalize=False)[..., None].astype("float32")  # 0-255, not scaled

# %%
# %%ae_check --data x_raw
import keras
from keras import layers

autoencoder = keras.Sequential([
    keras.Input(shape=(28, 28, 1)),
    layers.Conv2D(16, 3, activation="relu", padding="same"),
    layers.MaxPooling2D(2),
    layers.Conv2D(8, 3, activation="relu", padding="same"),
    layers.MaxPooling2D(2),
    layers.Flatten(),
    layers.Dense(32, activation="relu"),
    layers.Dense(7 * 7 * 8, activation="relu"),
    layers.Reshape((7, 7, 8)),
    layers.Conv2DTranspose(8, 3, strides=2, activation="relu", padding="same"),
    layers.Conv2DTranspose(16, 3, strides=2, activation="relu", padding="same"),
    layers.Conv2D(1, 3, padding="same"),
])
autoencoder.compile(optimizer=keras.optimizers.SGD(learning_rate=0.01), loss="mse")

# %% [markdown]
# ### What it found
#
# The structure is fine, so most of this comes from the probes, which train a
# *copy* of the model for a few steps:
#
# - **AE201, the data is not normalised:** the root cause, so the panel puts it
#   first and shows the next two findings under it ("because of AE201").
# - **AE303, exploding gradient:** at the start, the gradient of a layer is
#   over a hundred times larger than its weights. One SGD step moves each
#   weight by far more than its own size.
# - **AE401, loss diverged:** and so it does. The loss of the probe run starts
#   in the thousands and becomes `nan` within a few steps. The suggested fix:
#   scale the data, and a smaller learning rate with `clipnorm`.
#
# The article this story comes from blames exploding gradients on Adam with a
# learning rate of 0.1. Adam scales every step to about the learning rate, so
# with scaled data it does not explode; it fails differently (notebook 04,
# part 3). You can try it with the slider at the end.

# %% [markdown]
# *(The next cell is for the test suite: it fails if the check above stops finding what this text describes. You can skip it.)*

# %%
report = ae_magic.last_report()
assert {'AE303', 'AE401'} <= set(report.codes), report.codes
print(sorted(set(report.codes)) or 'no findings')

# %% [markdown]
# ## The fix
#
# What the seed article recommends, and ae_magic agrees: pixels scaled to
# [0, 1] (`x_train`), `relu` with He initialisation (`he_normal`, made for
# `relu`), a decoder that mirrors the encoder, a sigmoid output for [0, 1]
# pixels, and Adam with a learning rate of `1e-3`. (The article also adds
# `layers.BatchNormalization()` after each convolution, which helps deeper
# stacks; this one is shallow enough without it.)

# %%
# %%ae_check --data x_train
import keras
from keras import layers

autoencoder = keras.Sequential([
    keras.Input(shape=(28, 28, 1)),
    layers.Conv2D(16, 3, activation="relu", padding="same", kernel_initializer="he_normal"),
    layers.MaxPooling2D(2),
    layers.Conv2D(8, 3, activation="relu", padding="same", kernel_initializer="he_normal"),
    layers.MaxPooling2D(2),
    layers.Flatten(),
    layers.Dense(32, activation="relu", kernel_initializer="he_normal"),
    layers.Dense(7 * 7 * 8, activation="relu", kernel_initializer="he_normal"),
    layers.Reshape((7, 7, 8)),
    layers.Conv2DTranspose(8, 3, strides=2, activation="relu", padding="same", kernel_initializer="he_normal"),
    layers.Conv2DTranspose(16, 3, strides=2, activation="relu", padding="same", kernel_initializer="he_normal"),
    layers.Conv2D(1, 3, activation="sigmoid", padding="same"),
])
autoencoder.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3), loss="mse")

# %% [markdown]
# *(The next cell is for the test suite: it fails if the check above stops finding what this text describes. You can skip it.)*

# %%
report = ae_magic.last_report()
assert report.ok, [(f.code, f.severity) for f in report.findings]
print(sorted(set(report.codes)) or 'no findings')

# %% [markdown]
# Train it for real, for a few seconds, and look:

# %%
autoencoder.fit(x_train, x_train, epochs=10, batch_size=32, verbose=0)
show_digits(x_train, autoencoder.predict(x_train[:8], verbose=0), titles=["input", "rebuilt"])

# %% [markdown]
# ## Your turn
#
# In the last panel, drag the **learning rate** slider from `1e-3` up to `0.1`
# in a few steps, pressing **Re-run** each time. Watch the loss curves in the
# *Loss* tab and the gradient norms in the *Gradients* tab: at which learning
# rate does training stop going downhill? What does ae_magic say at `0.1`, the
# value the article blames for exploding gradients?

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
