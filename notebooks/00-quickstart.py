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
# # Quickstart: your first `%%ae_check`
#
# An autoencoder squeezes each input through a narrow *code* and rebuilds it.
# When it goes wrong it rarely crashes: it trains, the loss moves a little, and
# the pictures come out grey. **ae_magic** looks at the cell that builds the
# model, at the data, and at a short training run on a *copy* of the model, and
# tells you what is wrong, on which line, and how to fix it.
#
# This notebook takes about a minute to run. Run the cells from top to bottom
# (**Shift + Enter**).

# %% [markdown]
# ## 1. Load the extension and some real data
#
# `%load_ext ae_magic` adds the `%%ae_check` cell magic. The data are 5,000 real
# handwritten digits (from MNIST) that ship with ae_magic, so nothing needs
# downloading.

# %%
# %load_ext ae_magic
import ae_magic
import keras
from ae_magic.datasets import load, show_digits

keras.utils.set_random_seed(0)  # the same starting weights on every run

# %%
from ae_magic.datasets import load

x_train = load(normalize=False, flatten=True)[:2000]  # raw pixels, 0-255
print(x_train.shape, x_train.dtype, x_train.min(), x_train.max())  # NBVAL_CHECK_OUTPUT

# %% [markdown]
# Each row of `x_train` is one 28x28 picture, unrolled into 784 numbers. Here are the first eight:

# %%
show_digits(x_train)

# %% [markdown]
# ## 2. A first autoencoder, checked
#
# A classic dense autoencoder: 784 pixels, down to a 32-number code, back up to
# 784. It has **three mistakes** that many people make; see if you can spot them
# before you run the cell.
#
# Putting `%%ae_check --data x_train` on the first line runs the cell exactly as
# usual (the variables exist afterwards) and then shows the diagnosis.

# %%
# %%ae_check --data x_train
import keras
from keras import layers

inputs = keras.Input(shape=(784,))
h = layers.Dense(128, activation="relu")(inputs)
code = layers.Dense(32, activation="sigmoid")(h)
h = layers.Dense(128, activation="relu")(code)
outputs = layers.Dense(784, activation="sigmoid")(h)
autoencoder = keras.Model(inputs, outputs)
autoencoder.compile(optimizer=keras.optimizers.Adam(learning_rate=0.1), loss="mse")

# %% [markdown]
# ### What it found
#
# Read the panel from the top; the most serious problems come first.
#
# - **AE201, the data is not normalised.** The pixels go from 0 to 255. A
#   network's weights start small and expect inputs around 0 to 1; numbers in
#   the hundreds make the first layer's outputs and gradients huge.
# - **AE203, the targets are out of reach.** An autoencoder's target is its own
#   input. The last layer uses `sigmoid`, which can only produce numbers between
#   0 and 1, so a pixel value of 255 can never be reconstructed.
# - **AE106, a saturating bottleneck.** The code layer uses `sigmoid` too. When
#   its inputs are large (and with 0-255 pixels they are), sigmoid sits flat at 0
#   or 1 and passes almost no gradient back to the encoder. ae_magic measured it:
#   practically every code unit is stuck (that is why it is an *error*; the
#   related **AE305** lists the saturated units).
# - **AE404, output collapse.** ae_magic trained a *copy* of the model for a few
#   seconds (your `autoencoder` is untouched) and looked at what comes out: the
#   same picture for every input. **AE402** adds that the loss barely moved, and
#   a learning-rate range test says `0.1` is far too high.
#
# Each finding names the line of the cell it is about and shows a fix. The tabs
# (Loss, Gradients, Activations, Reconstructions, Graph) show the evidence.

# %% [markdown]
# *(The next cell is for the test suite: it fails if the check above stops finding what this text describes. You can skip it.)*

# %%
report = ae_magic.last_report()
assert {'AE106', 'AE201', 'AE203', 'AE404'} <= set(report.codes), report.codes
print(sorted(set(report.codes)) or 'no findings')

# %% [markdown]
# ## 3. The fix
#
# Three small changes, each suggested in the panel:
#
# 1. Scale the pixels into [0, 1]: `load(...)` does it by default (`normalize=True`).
# 2. Use `relu` in the code layer.
# 3. Use Adam's usual learning rate, `1e-3`.

# %%
x_train = load(flatten=True)[:2000]  # float32 in [0, 1]

# %%
# %%ae_check --data x_train
import keras
from keras import layers

inputs = keras.Input(shape=(784,))
h = layers.Dense(128, activation="relu")(inputs)
code = layers.Dense(32, activation="relu")(h)
h = layers.Dense(128, activation="relu")(code)
outputs = layers.Dense(784, activation="sigmoid")(h)
autoencoder = keras.Model(inputs, outputs)
autoencoder.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3), loss="mse")

# %% [markdown]
# No errors and no warnings: the model is ready to train.

# %% [markdown]
# *(The next cell is for the test suite: it fails if the check above stops finding what this text describes. You can skip it.)*

# %%
report = ae_magic.last_report()
assert report.ok, [(f.code, f.severity) for f in report.findings]
print(sorted(set(report.codes)) or 'no findings')

# %% [markdown]
# ## 4. Train it and look
#
# A few epochs are enough to see digits come back through a 32-number code
# (top: inputs it never saw during training; bottom: reconstructions).

# %%
x_test = load(flatten=True)[4000:]
autoencoder.fit(x_train, x_train, epochs=5, batch_size=64, verbose=0)
show_digits(x_test, autoencoder.predict(x_test[:8], verbose=0), titles=["input", "rebuilt"])

# %% [markdown]
# ## 5. Your turn: move a slider
#
# The panel under the fixed cell has sliders. Try these and press **Re-run**
# after each; every run is added to the loss plot, so you can compare:
#
# - Drag the **learning rate** up to about `0.1`. What happens to the loss curve?
#   Which finding comes back?
# - Drag the **latent size** (the code width) down to 2, then up to 128. How do
#   the reconstructions change?
#
# Without widgets (for example on a static page) you can do the same from code:
# `%ae_probe autoencoder --data x_train --lr 0.1`.
#
# On Binder (or anywhere with a network) you can also try the full MNIST
# training set, 60,000 digits; without a network this quietly gives you the
# bundled 5,000 instead:
#
# ```python
# from ae_magic.datasets import load_mnist
# x_full, source = load_mnist(allow_download=True, flatten=True, return_source=True)
# print(source, x_full.shape)
# %ae_probe autoencoder --data x_full
# ```

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
