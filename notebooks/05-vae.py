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
# # 05 A variational autoencoder whose code means nothing
#
# A variational autoencoder (VAE) encodes each input as a *distribution*: a
# mean `z_mean` and a log-variance `z_log_var` per code dimension. A `Sampling`
# layer draws a code `z` from it, and the decoder rebuilds the input from `z`.
# Its loss has two terms:
#
# - the **reconstruction** term: how far the output is from the input;
# - the **KL** term: how far each input's distribution is from the prior, a
#   standard normal. It keeps the code space smooth, so that you can sample it.
#
# When the KL term outweighs the reconstruction term, the cheapest way to lower
# the loss is to make every input's code *exactly* the prior. Then the code
# carries nothing about the input, and the decoder learns to draw the same
# average digit for every code. This is **posterior collapse**. The model
# trains, the loss goes down, and nothing crashes.

# %%
# %load_ext ae_magic
import ae_magic
import keras
from ae_magic.datasets import load, show_digits

keras.utils.set_random_seed(0)  # the same starting weights on every run

# %%
x_train = load(flatten=True)[:2000]  # float32 in [0, 1], 784 pixels per row
show_digits(x_train)

# %% [markdown]
# ## 1. A VAE, the Keras 3 way
#
# The `Sampling` layer adds the KL term with `self.add_loss(...)`, and a small
# layer at the end adds the reconstruction term, so the model is compiled with
# an optimizer only (no `loss=`). The reconstruction term here is
# `ops.mean(ops.square(target - recon))`: the mean squared error, averaged over
# all 784 pixels. It looks harmless. Watch what ae_magic finds.

# %%
# %%ae_check --data x_train
import keras
from keras import layers, ops


class Sampling(layers.Layer):
    """Draws z from N(z_mean, exp(z_log_var)) and adds the KL term to the loss."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(1337)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        kl = -0.5 * ops.mean(ops.sum(1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=1))
        self.add_loss(kl)
        eps = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * eps


class ReconstructionLoss(layers.Layer):
    """Adds the reconstruction term; passes the reconstruction through."""

    def call(self, inputs):
        target, recon = inputs
        self.add_loss(ops.mean(ops.square(target - recon)))
        return recon


inputs = keras.Input(shape=(784,))
h = layers.Dense(128, activation="relu")(inputs)
z_mean = layers.Dense(2)(h)
z_log_var = layers.Dense(2)(h)
z = Sampling()([z_mean, z_log_var])
h = layers.Dense(128, activation="relu")(z)
outputs = layers.Dense(784, activation="sigmoid")(h)
outputs = ReconstructionLoss()([inputs, outputs])
vae = keras.Model(inputs, outputs)
vae.compile(optimizer=keras.optimizers.Adam(1e-3))

# %% [markdown]
# ### What it found
#
# - **AE407, posterior collapse,** on the line of the `Sampling` layer. ae_magic
#   trained a *copy* of the VAE for a few seconds and then measured the code:
#   the KL divergence of each dimension from the prior is almost zero (it was
#   much larger at the start of the run) and no dimension of `z_mean` varies
#   across inputs: the decoder outputs an average instead of decoding `z`
#   (the message gives the numbers, the evidence line all of them). It names
#   the usual cause: a reconstruction term *averaged* over the 784 pixels,
#   against a KL term *summed* over the code dimensions. Per sample, the
#   reconstruction counts 784 times less than it should.
# - **AE405, worse than a trivial baseline,** shown under AE407 as its
#   consequence: after the probe run the reconstructions are no better than
#   predicting the average digit for every input.
# - **AE303** comes along: at the start, the gradient at the first encoder
#   layer is hundreds of times larger than at the output layer, where only the
#   tiny reconstruction term pulls (the KL term does not depend on the
#   decoder). The same imbalance, seen from the gradients. Its suggested fix
#   (scale the data, clip the gradient) does not apply here: the pixels are
#   already in [0, 1].

# %% [markdown]
# *(The next cell is for the test suite: it fails if the check above stops finding what this text describes. You can skip it.)*

# %%
report = ae_magic.last_report()
assert {"AE407"} <= set(report.codes), report.codes
collapse = report.get("AE407").evidence
print("KL per code dimension after the probe run:", [round(v, 4) for v in collapse["kl_per_dim"]])
print("dimensions that vary across inputs:", collapse["active_dims"], "of", collapse["dims"])
print(sorted(set(report.codes)))

# %% [markdown]
# ## 2. The fix: weigh the reconstruction per sample, as the KL is
#
# Sum the reconstruction error over the pixels of each sample (here as binary
# cross-entropy, the usual choice for pixels in [0, 1]) and average over the
# batch, exactly as the KL term sums over code dimensions and averages over the
# batch. Nothing else changes.

# %%
# %%ae_check --data x_train
import keras
from keras import layers, ops


class Sampling(layers.Layer):
    """Draws z from N(z_mean, exp(z_log_var)) and adds the KL term to the loss."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(1337)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        kl = -0.5 * ops.mean(ops.sum(1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=1))
        self.add_loss(kl)
        eps = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * eps


class ReconstructionLoss(layers.Layer):
    """Adds the reconstruction term, summed over the pixels of each sample."""

    def call(self, inputs):
        target, recon = inputs
        bce = keras.losses.binary_crossentropy(target[..., None], recon[..., None])  # per pixel
        self.add_loss(ops.mean(ops.sum(bce, axis=1)))
        return recon


inputs = keras.Input(shape=(784,))
h = layers.Dense(128, activation="relu")(inputs)
z_mean = layers.Dense(2)(h)
z_log_var = layers.Dense(2)(h)
z = Sampling()([z_mean, z_log_var])
h = layers.Dense(128, activation="relu")(z)
outputs = layers.Dense(784, activation="sigmoid")(h)
outputs = ReconstructionLoss()([inputs, outputs])
vae = keras.Model(inputs, outputs)
vae.compile(optimizer=keras.optimizers.Adam(1e-3))

# %% [markdown]
# No warnings and no errors: the code stays informative after the probe run.

# %% [markdown]
# *(The next cell is for the test suite: it fails if the check above stops finding what this text describes. You can skip it.)*

# %%
report = ae_magic.last_report()
assert report.ok, [(f.code, f.severity) for f in report.findings]
print(sorted(set(report.codes)) or "no findings")

# %% [markdown]
# ## 3. Train it and look
#
# A few epochs on the 2,000 digits. Top: inputs; bottom: what the VAE rebuilds
# from a 2-number code. Then the point of a VAE: decode codes drawn from the
# prior, digits that were never in the data.

# %%
import numpy as np

vae.fit(x_train, epochs=10, batch_size=64, verbose=0)
show_digits(x_train, vae.predict(x_train[:8], verbose=0), titles=["input", "rebuilt"])

# %%
decoder_input = keras.Input(shape=(2,))
h = decoder_input
for layer in vae.layers[-3:-1]:  # the decoder's two Dense layers
    h = layer(h)
decoder = keras.Model(decoder_input, h)
samples = np.random.default_rng(0).normal(size=(8, 2)).astype("float32")
show_digits(decoder.predict(samples, verbose=0))

# %% [markdown]
# ## Your turn: move a slider
#
# In the panel of the broken VAE, drag the **learning rate** slider up and down
# and press **Re-run**: does any learning rate save the mean-reduced loss from
# collapse? Then, in code, try a middle way: keep the mean but multiply it by
# 784 (`784 * ops.mean(...)`), or keep the sum and put a `beta = 4.0` in front
# of the KL term (a "beta-VAE"). Which of them collapse?
#
# From code, the same checks run as `%ae_probe vae --data x_train --lr 0.01`.

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
