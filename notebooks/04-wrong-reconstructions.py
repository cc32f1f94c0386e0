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
# # 04 Wrong reconstructions: capacity, learning rate and normalisation
#
# The model trains, nothing crashes, and the reconstructions are just *bad*.
# The article behind this story lists the usual suspects: too little capacity,
# a learning rate that is too high, unscaled data, and a loss that does not fit
# the output. We try each on the same digits and read what ae_magic says.

# %%
# %load_ext ae_magic
import ae_magic
import keras
from ae_magic.datasets import load, show_digits

keras.utils.set_random_seed(0)  # the same starting weights on every run

# %%
x_train = load(flatten=True)[:2000]                                # float32 in [0, 1]
x_raw = load(normalize=False, flatten=True)[:2000].astype("float32")  # 0-255: unscaled
print(x_train.max(), x_raw.max())  # NBVAL_CHECK_OUTPUT

# %% [markdown]
# ## Part 1: unscaled data
#
# Same healthy architecture as in the quickstart, but with a plain linear output
# (so it *could* produce large numbers) and the unscaled `x_raw`.

# %%
# %%ae_check --data x_raw
import keras
from keras import layers

autoencoder = keras.Sequential([
    keras.Input(shape=(784,)),
    layers.Dense(128, activation="relu"),
    layers.Dense(32, activation="relu"),
    layers.Dense(128, activation="relu"),
    layers.Dense(784),
])
autoencoder.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3), loss="mse")

# %% [markdown]
# ### What it found
#
# - **AE201, data not normalised:** values up to 255. Layers start with small
#   weights and expect inputs near 0-1.
# - **AE303, exploding gradient:** the gradient probe shows what that does: at
#   the start, the gradients are about a hundred times larger than the weights
#   they update, so the first training steps overshoot wildly.
#
# The fix is one line: divide by the maximum (255), or standardise.

# %% [markdown]
# *(The next cell is for the test suite: it fails if the check above stops finding what this text describes. You can skip it.)*

# %%
report = ae_magic.last_report()
assert {'AE201'} <= set(report.codes), report.codes
print(sorted(set(report.codes)) or 'no findings')

# %% [markdown]
# ## Part 2: a loss that does not fit the output
#
# Binary cross-entropy compares *probabilities*: both the target and the output
# must lie between 0 and 1. A linear output can be anything.

# %%
# %%ae_check --data x_train
import keras
from keras import layers

autoencoder = keras.Sequential([
    keras.Input(shape=(784,)),
    layers.Dense(128, activation="relu"),
    layers.Dense(32, activation="relu"),
    layers.Dense(128, activation="relu"),
    layers.Dense(784),
])
autoencoder.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3), loss="binary_crossentropy")

# %% [markdown]
# ### What it found
#
# - **AE108, output and loss disagree:** binary cross-entropy on a linear output.
#   Keras clips outputs outside [0, 1], and where it clips the gradient is zero.
#   Use a `sigmoid` output with BCE, or keep the linear output and use `mse`.
# - **AE405, worse than a trivial baseline,** shown under AE108 as its
#   consequence: after the probe run the reconstruction error is higher than
#   that of predicting the average image for every input, and no longer
#   improving.
#
# The fix is one word: `activation="sigmoid"` on the last layer (as the fix at
# the end of this notebook does).

# %% [markdown]
# *(The next cell is for the test suite: it fails if the check above stops finding what this text describes. You can skip it.)*

# %%
report = ae_magic.last_report()
assert {'AE108'} <= set(report.codes), report.codes
print(sorted(set(report.codes)) or 'no findings')

# %% [markdown]
# ## Part 3: a learning rate of 0.1
#
# The article's second example: Adam with `learning_rate=0.1`.

# %%
# %%ae_check --data x_train
import keras
from keras import layers

autoencoder = keras.Sequential([
    keras.Input(shape=(784,)),
    layers.Dense(128, activation="relu"),
    layers.Dense(32, activation="relu"),
    layers.Dense(128, activation="relu"),
    layers.Dense(784, activation="sigmoid"),
])
autoencoder.compile(optimizer=keras.optimizers.Adam(learning_rate=0.1), loss="mse")

# %% [markdown]
# ### What it found
#
# Nothing is wrong with the structure or the data, so this needs the training
# probe. On a copy of the model, ae_magic trains for a few steps:
#
# - **AE404, output collapse:** after the probe run every input gives the same
#   reconstruction, an average digit. The first few steps of size 0.1 push
#   the `relu` units to where they output zero for every input, and what is
#   left can only predict the mean.
# - The message ends with what a learning-rate range test found: a learning
#   rate many times smaller learns fastest on this model.
#
# This is the same symptom as notebook 03 (identical outputs), from a different
# cause, which is why the evidence matters more than the symptom.

# %% [markdown]
# *(The next cell is for the test suite: it fails if the check above stops finding what this text describes. You can skip it.)*

# %%
report = ae_magic.last_report()
assert {'AE404'} <= set(report.codes), report.codes
print(sorted(set(report.codes)) or 'no findings')

# %% [markdown]
# ## Part 4: too little capacity
#
# A 2-number code for a 784-pixel digit. This is not a bug: it is a design
# choice with a price, and ae_magic has no rule that says "2 is too small".
# What it can do is compare the result with simple baselines: predicting the
# average image, and PCA with the same number of components.

# %%
# %%ae_check --data x_train
import keras
from keras import layers

autoencoder = keras.Sequential([
    keras.Input(shape=(784,)),
    layers.Dense(16, activation="relu"),
    layers.Dense(2, activation="relu"),
    layers.Dense(16, activation="relu"),
    layers.Dense(784, activation="sigmoid"),
])
autoencoder.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3), loss="mse")

# %% [markdown]
# No warning. The report keeps the numbers the *Loss* tab plots: the probe
# run's final loss next to two baselines, predicting the average image and PCA
# with as many components as the code is wide.

# %%
report = ae_magic.last_report()
assert report.ok, report.codes  # no warning: a narrow code is a choice, not a bug
tiny = report.traces["training"]["baselines"]
print(f"2-number code after the probe run: {tiny['final']:.4f}")
print(f"predicting the average image:      {tiny['mean']:.4f}")
print(f"PCA with {tiny['pca_width']} components:            {tiny['pca']:.4f}")

# %% [markdown]
# Compare the three numbers. The probe run is short and this small model is
# still improving, which is why ae_magic does not call it a failure (AE405 is
# only for a model that has stopped getting better). But two numbers cannot
# hold much of a digit however long you train: the cure for a code that is
# simply too narrow is a wider one. The fix below uses 32, and we compare.

# %% [markdown]
# ## The fix
#
# Scaled data, a sigmoid output with a loss that fits it, Adam at `1e-3`, and a
# 32-number code.

# %%
# %%ae_check --data x_train
import keras
from keras import layers

autoencoder = keras.Sequential([
    keras.Input(shape=(784,)),
    layers.Dense(128, activation="relu"),
    layers.Dense(32, activation="relu"),
    layers.Dense(128, activation="relu"),
    layers.Dense(784, activation="sigmoid"),
])
autoencoder.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3), loss="mse")

# %% [markdown]
# *(The next cell is for the test suite: it fails if the check above stops finding what this text describes. You can skip it.)*

# %%
report = ae_magic.last_report()
assert report.ok, [(f.code, f.severity) for f in report.findings]
print(sorted(set(report.codes)) or 'no findings')

# %%
wide = ae_magic.last_report().traces["training"]["baselines"]
print(f"32-number code: {wide['final']:.4f}   2-number code: {tiny['final']:.4f}")
assert wide["final"] < tiny["final"]

# %%
x_test = load(flatten=True)[4000:]
autoencoder.fit(x_train, x_train, epochs=5, batch_size=64, verbose=0)
show_digits(x_test, autoencoder.predict(x_test[:8], verbose=0), titles=["input", "rebuilt"])

# %% [markdown]
# ## Your turn
#
# In the last panel, use the **latent size** slider to find the smallest code
# that still gives readable digits: try 2, 4, 8, 16 and 32, pressing **Re-run**
# each time, and compare the final losses in the runs table. Then set the
# **learning rate** to 0.1 and see which findings appear.

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
