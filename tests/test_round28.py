"""Round 28: a missing-value code left in sensor data set its scale when it was divided by its maximum
(AE201, at the scaling line); keras.io's VQ-VAE, whose added codebook loss spikes in the training loss
while its reconstruction falls the whole time, is no divergence. The healthy counterparts stay silent."""

from __future__ import annotations

import numpy as np
import pytest

import ae_magic
from ae_magic.checks.loss_curve import _added_terms_spiked

SENSORS = """\
import numpy as np
import keras
from keras import layers
rng = np.random.default_rng(7)
state = rng.normal(size=(2000, 4))
X = rng.uniform(800, 3000, 12) + rng.uniform(100, 300, 12) * np.tanh(state @ rng.normal(size=(4, 12)) / 2)
X = np.clip(np.round(X), 0, 4095).astype(np.uint16)
bad = rng.choice(2000, size=3, replace=False)
X[bad, rng.integers(0, 12, size=3)] = 65535
{scale}
model = keras.Sequential([
    layers.Input(shape=(12,)),
    layers.Dense(16, activation="relu"),
    layers.Dense(4, activation="relu"),
    layers.Dense(16, activation="relu"),
    layers.Dense(12, activation="sigmoid"),
])
model.compile(optimizer="adam", loss="mse")
"""


def test_a_missing_value_code_that_set_the_scale_is_named_at_the_scaling_line() -> None:
    report = ae_magic.check(SENSORS.format(scale='x = X.astype("float32") / X.max()'), namespace={}, data="x",
                            train=False)
    (f,) = [f for f in report.findings if f.code == "AE201"]
    assert f.title == "A missing-value code set the data's scale", report.text()
    assert f.line == 10 and f.source_line.startswith("x = X.astype")
    assert f.evidence["code_value"] == 1.0 and f.evidence["count"] == 3


@pytest.mark.parametrize("scale", [
    # the code imputed first, then scaled per column
    ("Xf = X.astype('float64'); Xf[Xf == 65535] = np.nan; Xf = np.where(np.isnan(Xf), np.nanmedian(Xf, axis=0), Xf)\n"
     "x = ((Xf - Xf.min(axis=0)) / (Xf.max(axis=0) - Xf.min(axis=0))).astype('float32')"),
    # a heavy tail: distinct large values, not one repeated code
    "x = (np.exp(rng.normal(0, 1.2, size=(2000, 12))) / 400).astype('float32')",
])
def test_data_without_a_code_is_silent(scale: str) -> None:
    report = ae_magic.check(SENSORS.format(scale=scale), namespace={}, data="x", train=False)
    assert not [f for f in report.findings if f.code == "AE201"], report.text()


def test_a_training_spike_in_the_added_terms_alone_is_told_from_a_divergence() -> None:
    falling = np.array([0.23, 0.21, 0.12, 0.07, 0.08, 0.066, 0.063])
    assert _added_terms_spiked({"adds_losses": True}, falling, 0.23)
    # No add_loss terms: the spike is the reconstruction's own.
    assert not _added_terms_spiked({"adds_losses": False}, falling, 0.23)
    # The held-out loss rose above its start, or stalled near it: a divergence that may have recovered.
    assert not _added_terms_spiked({"adds_losses": True}, np.array([0.23, 0.5, 0.1, 0.06]), 0.23)
    assert not _added_terms_spiked({"adds_losses": True}, np.array([0.68, 0.39, 0.39, 0.39]), 0.68)


VQVAE = """\
import numpy as np
import keras
from keras import layers, ops
from ae_magic.datasets import load

x_train = load("mnist").reshape(-1, 784).astype("float32")

latent_dim = 16
num_codes = 8          # code vectors per image
num_embeddings = 64


class VectorQuantizer(layers.Layer):
    def __init__(self, num_embeddings, embedding_dim, beta=0.25, **kwargs):
        super().__init__(**kwargs)
        self.embedding_dim = embedding_dim
        self.num_embeddings = num_embeddings
        self.beta = beta
        self.embeddings = self.add_weight(
            shape=(self.embedding_dim, self.num_embeddings),
            initializer=keras.initializers.RandomUniform(),
            trainable=True,
            name="embeddings_vqvae",
        )

    def call(self, x):
        input_shape = ops.shape(x)
        flattened = ops.reshape(x, [-1, self.embedding_dim])
        encoding_indices = self.get_code_indices(flattened)
        encodings = ops.one_hot(encoding_indices, self.num_embeddings)
        quantized = ops.matmul(encodings, ops.transpose(self.embeddings))
        quantized = ops.reshape(quantized, input_shape)

        commitment_loss = ops.mean((ops.stop_gradient(quantized) - x) ** 2)
        codebook_loss = ops.mean((quantized - ops.stop_gradient(x)) ** 2)
        self.add_loss(self.beta * commitment_loss + codebook_loss)

        # straight-through estimator
        quantized = x + ops.stop_gradient(quantized - x)
        return quantized

    def get_code_indices(self, flattened_inputs):
        similarity = ops.matmul(flattened_inputs, self.embeddings)
        distances = (
            ops.sum(flattened_inputs ** 2, axis=1, keepdims=True)
            + ops.sum(self.embeddings ** 2, axis=0)
            - 2 * similarity
        )
        return ops.argmin(distances, axis=1)


inputs = keras.Input(shape=(784,))
h = layers.Dense(256, activation="relu")(inputs)
h = layers.Dense(num_codes * latent_dim)(h)
z_e = layers.Reshape((num_codes, latent_dim))(h)
z_q = VectorQuantizer(num_embeddings, latent_dim, name="vector_quantizer")(z_e)
h = layers.Flatten()(z_q)
h = layers.Dense(256, activation="relu")(h)
outputs = layers.Dense(784, activation="sigmoid")(h)

vqvae = keras.Model(inputs, outputs, name="vq_vae")
vqvae.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
"""


def test_a_vq_vae_whose_codebook_loss_spikes_while_it_learns_is_silent() -> None:
    report = ae_magic.check(VQVAE, namespace={}, data="x_train")
    assert "training" in report.coverage["ran"], report.coverage
    assert not [f for f in report.findings if f.severity in ("warning", "error")], report.text()


TOKENS = """\
import numpy as np
import keras
from keras import layers
rng = np.random.default_rng(0)
pages = ["home", "search", "item", "cart", "pay", "help", "faq", "login"]
index = {{p: i + 1 for i, p in enumerate(pages)}}
vocab_size = {vocab}
x = np.zeros((600, 10), dtype="int32")
for i in range(600):
    n = rng.integers(4, 11)
    x[i, :n] = rng.integers(1, len(pages) + 1, size=n)
inp = keras.Input(shape=(10,))
h = layers.Embedding(input_dim=vocab_size, output_dim=8)(inp)
h = layers.GRU(16)(h)
h = layers.RepeatVector(10)(h)
h = layers.GRU(16, return_sequences=True)(h)
out = layers.TimeDistributed(layers.Dense(vocab_size, activation="softmax"))(h)
model = keras.Model(inp, out)
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
"""


def test_ids_that_reach_the_vocabulary_size_are_named_at_its_line() -> None:
    report = ae_magic.check(TOKENS.format(vocab="len(index)"), namespace={}, data="x", train=False)
    loud = [f for f in report.findings if f.severity in ("warning", "error")]
    assert [f.code for f in loud] == ["AE203"], report.text()  # no AE105/AE108 read off a continuous target
    f = loud[0]
    assert f.severity == "error" and f.line == 7 and f.source_line == "vocab_size = len(index)"
    assert f.evidence["classes"] == 8 and f.evidence["max_id"] == 8 and f.evidence["embedding_input_dim"] == 8
    assert "vocab_size = 9" in f.fix


def test_a_vocabulary_with_the_padding_id_is_silent() -> None:
    report = ae_magic.check(TOKENS.format(vocab="len(index) + 1"), namespace={}, data="x", train=False)
    assert not [f for f in report.findings if f.severity in ("warning", "error")], report.text()
