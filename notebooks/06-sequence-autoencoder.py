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
# # 06 A sequence autoencoder that skips its own code
#
# A sequence autoencoder reads a whole sequence (a sensor trace, a heartbeat,
# a sentence) into one fixed-size code and rebuilds the sequence from it. The
# classic Keras recipe:
#
# 1. an encoder `LSTM` that returns only its last state: the code;
# 2. `RepeatVector(steps)`, which copies the code once per time step;
# 3. a decoder `LSTM(..., return_sequences=True)` that unrolls it again;
# 4. `TimeDistributed(Dense(features))`, one output per time step.
#
# Such a model is used for anomaly detection: sequences it cannot rebuild are
# unusual. That only works if everything passes through the narrow code.

# %%
# %load_ext ae_magic
import ae_magic
import keras
import matplotlib.pyplot as plt
import numpy as np

keras.utils.set_random_seed(0)  # the same starting weights on every run

# %% [markdown]
# ## 1. Data: 512 noisy sine waves
#
# Each sequence is 24 steps of a sine wave with its own frequency and phase,
# plus a little noise, shaped `(samples, steps, features)` as recurrent layers
# expect. The values are already in [-1, 1], so there is nothing to scale.

# %%
rng = np.random.default_rng(0)
t = np.linspace(0, 2 * np.pi, 24)
freq = rng.uniform(0.5, 2.0, size=(512, 1))
phase = rng.uniform(0, 2 * np.pi, size=(512, 1))
x_seq = (np.sin(freq * t + phase) + rng.normal(scale=0.05, size=(512, 24)))[..., None].astype("float32")
print(x_seq.shape, x_seq.dtype)  # NBVAL_CHECK_OUTPUT

fig, ax = plt.subplots(figsize=(7, 2.5))
ax.plot(x_seq[:4, :, 0].T)
ax.set(xlabel="time step", title="four of the sequences")
plt.show()

# %% [markdown]
# ## 2. An LSTM autoencoder, checked
#
# The encoder and `RepeatVector` are there, and so is the decoder. Look closely
# at what the decoder `LSTM` is called on before you run the cell.

# %%
# %%ae_check --data x_seq
import keras
from keras import layers

inputs = keras.Input(shape=(24, 1))
code = layers.LSTM(8)(inputs)
repeated = layers.RepeatVector(24)(code)
h = layers.LSTM(16, return_sequences=True)(inputs)
outputs = layers.TimeDistributed(layers.Dense(1))(h)
seq_ae = keras.Model(inputs, outputs)
seq_ae.compile(optimizer="adam", loss="mse")

# %% [markdown]
# ### What it found
#
# - **AE102, a layer output never reaches the model's output,** twice: `code`
#   (the encoder `LSTM`) and `repeated` (the `RepeatVector`) are computed, but
#   `seq_ae` does not use them, so they are never trained.
# - **AE103, the decoder reads the input directly:** the decoder `LSTM` is
#   called on `inputs`, not on the code. The model is a plain sequence-to-
#   sequence `LSTM` that can learn to copy its input step by step, and a model
#   that copies rebuilds *any* sequence, anomalies included: exactly what an
#   anomaly detector must not do.
#
# Keras raises nothing here: a model that ignores some of the layers defined
# in the cell is legal.
#
# The panel's suggested fix calls the decoder on `code`. In a sequence
# autoencoder the code is first repeated once per step, so the decoder reads
# `repeated`, the output of `RepeatVector`.

# %% [markdown]
# *(The next cell is for the test suite: it fails if the check above stops finding what this text describes. You can skip it.)*

# %%
report = ae_magic.last_report()
assert {"AE102", "AE103"} <= set(report.codes), report.codes
print(sorted(set(report.codes)))

# %% [markdown]
# ## 3. The fix: decode the repeated code
#
# One word changes: `(inputs)` becomes `(repeated)` on the decoder line.

# %%
# %%ae_check --data x_seq
import keras
from keras import layers

inputs = keras.Input(shape=(24, 1))
code = layers.LSTM(8)(inputs)
repeated = layers.RepeatVector(24)(code)
h = layers.LSTM(16, return_sequences=True)(repeated)
outputs = layers.TimeDistributed(layers.Dense(1))(h)
seq_ae = keras.Model(inputs, outputs)
seq_ae.compile(optimizer="adam", loss="mse")

# %% [markdown]
# No warnings and no errors: every sequence now passes through the 8-number code.

# %% [markdown]
# *(The next cell is for the test suite: it fails if the check above stops finding what this text describes. You can skip it.)*

# %%
report = ae_magic.last_report()
assert report.ok, [(f.code, f.severity) for f in report.findings]
print(sorted(set(report.codes)) or "no findings")

# %% [markdown]
# ## 4. Train it and look
#
# A few epochs, then three sequences (solid) against their reconstructions
# from 8 numbers each (dashed).

# %%
seq_ae.fit(x_seq, x_seq, epochs=15, batch_size=32, verbose=0)
rebuilt = seq_ae.predict(x_seq[:3], verbose=0)
fig, ax = plt.subplots(figsize=(7, 2.5))
for i, color in enumerate(["C0", "C1", "C2"]):
    ax.plot(x_seq[i, :, 0], color=color)
    ax.plot(rebuilt[i, :, 0], color=color, linestyle="--")
ax.set(xlabel="time step", title="input (solid) and reconstruction (dashed)")
plt.show()

# %% [markdown]
# ## Your turn: move a slider
#
# In the fixed model's panel, drag the **learning rate** slider to `0.1` and
# press **Re-run**. What happens to the loss curve, and what does ae_magic say?
# Then, in code: make the code 2 numbers wide instead of 8
# (`layers.LSTM(2)`), or feed it sequences that are not sines, say
# `np.sign(x_seq)`, and compare the reconstructions.

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
