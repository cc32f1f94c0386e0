"""Round 83 (session 45): fresh cells written blind (VAEs of every style; LSTM/GRU/Conv1D sequence models;
dense, conv, denoising, sparse and tied autoencoders); the fixes its misses asked for.

* ha05 (a subclassed conditional VAE whose ``call`` unpacks ``images, labels``, trained by
  ``fit([x_train, y_train], x_train)``): every probe was skipped, "the model could not be copied": the packed
  probes asked for a copy without a sample to build a subclassed model on, and then read the copy's ``inputs``,
  which a subclassed model does not have. The fed arrays build the copy, and each array's own shape cuts the packed
  one back.
* ha06 (a tabular VAE whose decoder, a ``keras.Sequential`` inside the functional model, ends in a sigmoid on
  standardised data): AE203 said the sigmoid was what to change and named the data's line. A graph node of a
  nested model has a scoped name (``decoder/dense_6``) that no leaf layer has; its line comes from the node.
"""

from __future__ import annotations

import ae_magic


def _line(src: str, text: str) -> int:
    return next(i for i, line in enumerate(src.splitlines(), 1) if text in line)


def _loud(report: ae_magic.Report, code: str | None = None) -> list[ae_magic.Finding]:
    return [f for f in report.findings if (code is None or f.code == code) and f.severity in ("warning", "error")]


CONDITIONAL_VAE = """\
import numpy as np
import keras
from keras import layers, ops

rng = np.random.default_rng(0)
labels_int = rng.integers(0, 4, 600)
protos = rng.random((4, 32))
x_train = np.clip(protos[labels_int] + 0.1 * rng.normal(size=(600, 32)), 0, 1).astype("float32")
y_train = keras.utils.to_categorical(labels_int, 4).astype("float32")


class CVAE(keras.Model):
    def __init__(self, latent_dim, **kwargs):
        super().__init__(**kwargs)
        self.hidden = layers.Dense(32, activation="relu")
        self.dense_mean = layers.Dense(latent_dim)
        self.dense_log_var = layers.Dense(latent_dim)
        self.decoder_net = keras.Sequential([layers.Dense(32, activation="relu"),
                                             layers.Dense(32, activation="sigmoid")])
        self.seed_generator = keras.random.SeedGenerator(1337)  # JAX's jitted fit needs one

    def call(self, inputs):
        images, labels = inputs
        h = self.hidden(ops.concatenate([images, labels], axis=-1))
        z_mean = self.dense_mean(h)
        z_log_var = self.dense_log_var(h)
        z = z_mean + ops.exp(0.5 * z_log_var) * keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
        kl = -0.5 * ops.sum(1.0 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=-1)
        self.add_loss(ops.mean(kl) / 32)
        return self.decoder_net(ops.concatenate([z, labels], axis=-1))


cvae = CVAE(2)
cvae.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3), loss="binary_crossentropy")
cvae.fit([x_train, y_train], x_train, epochs=1, batch_size=32, verbose=0)
"""


def test_a_subclassed_model_fed_two_arrays_is_copied_and_probed():
    report = ae_magic.check(CONDITIONAL_VAE, namespace={}, data="x_train")
    assert not report.internal_errors, report.internal_errors
    assert {"gradients", "training"} <= set(report.coverage["ran"]), report.coverage
    assert not report.coverage["skipped"], report.coverage["skipped"]
    assert any("2 inputs (x_train, y_train)" in note for note in report.notes), report.notes
    assert not _loud(report), report.text()


NESTED_SIGMOID = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(3)
raw = 50.0 + 12.0 * (rng.normal(size=(600, 3)) @ rng.normal(size=(3, 16))) + rng.normal(0, 4.0, size=(600, 16))
X = ((raw - raw.mean(0)) / raw.std(0)).astype("float32")

inp = keras.Input(shape=(16,))
code = layers.Dense(4, activation="relu")(layers.Dense(32, activation="relu")(inp))
encoder = keras.Model(inp, code, name="encoder")
decoder = keras.Sequential([
    keras.Input(shape=(4,)),
    layers.Dense(32, activation="relu"),
    layers.Dense(16, activation=OUTPUT),
], name="decoder")
model = keras.Model(inp, decoder(encoder(inp)), name="tabular_ae")
model.compile(optimizer="adam", loss="mse")
"""


def test_a_nested_sequentials_sigmoid_on_standardised_data_is_ae203_at_its_line():
    src = NESTED_SIGMOID.replace("OUTPUT", '"sigmoid"')
    report = ae_magic.check(src, namespace={}, data="X", train=False)
    finding = report.get("AE203")
    assert finding is not None, report.text()
    assert finding.line == _line(src, 'activation="sigmoid"'), (finding.line, finding.source_line)
    assert finding.layer.startswith("decoder/"), finding.layer


def test_the_same_model_with_a_linear_output_has_no_range_finding():
    src = NESTED_SIGMOID.replace("OUTPUT", "None")
    report = ae_magic.check(src, namespace={}, data="X", train=False)
    assert report.get("AE203") is None, report.text()
