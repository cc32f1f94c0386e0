"""Round 32: what fresh cells (VAEs, anomaly/denoising set-ups, custom losses and steps) found.

* A model that overrides Keras 3's ``compute_loss`` trains on what that method returns, not on the
  compiled loss. The probes trained on the compiled loss, so an override that never called
  ``super().compute_loss`` (the reconstruction dropped, only a sparsity penalty left) looked healthy.
  Such a model now trains through Keras' own ``train_step``, as ``fit`` does.
* The TensorFlow tutorial's CVAE splits one Dense of ``2 * latent_dim`` units into the mean and the
  log-variance. A ``relu`` on that layer keeps every posterior at least as wide as the prior; the
  log-variance check read only heads assigned to a log-scale name.
* A subclassed model trained by its own step had no code width, so no PCA baseline: the decoder's
  input width is the code.
"""

from __future__ import annotations

import pytest

import ae_magic


def _loud(report: ae_magic.Report) -> list:
    return [f for f in report.findings if f.severity in ("warning", "error")]


SPARSE_COMPUTE_LOSS = """\
import keras
from keras import layers, ops
from ae_magic.datasets import load

keras.utils.set_random_seed(7)
x = load("digits").reshape(-1, 64)


class SparseAutoencoder(keras.Model):
    def __init__(self, input_dim=64, code_dim=32, rho=0.05, beta=0.1, **kwargs):
        super().__init__(**kwargs)
        self.rho, self.beta = rho, beta
        self.encoder = keras.Sequential([layers.Dense(128, activation="relu"),
                                         layers.Dense(code_dim, activation="sigmoid")], name="encoder")
        self.decoder = keras.Sequential([layers.Dense(128, activation="relu"),
                                         layers.Dense(input_dim, activation="sigmoid")], name="decoder")

    def call(self, inputs, training=False):
        return self.decoder(self.encoder(inputs, training=training), training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        code = self.encoder(x, training=training)
        rho_hat = ops.clip(ops.mean(code, axis=0), 1e-6, 1.0 - 1e-6)
        kl = (self.rho * ops.log(self.rho / rho_hat)
              + (1.0 - self.rho) * ops.log((1.0 - self.rho) / (1.0 - rho_hat)))
        penalty = self.beta * ops.sum(kl) / ops.cast(ops.shape(code)[-1], code.dtype)
        RETURN


sparse_ae = SparseAutoencoder()
sparse_ae(x[:1])
sparse_ae.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
"""
DROPS_RECONSTRUCTION = SPARSE_COMPUTE_LOSS.replace("RETURN", "return penalty")
ADDS_TO_RECONSTRUCTION = SPARSE_COMPUTE_LOSS.replace(
    "RETURN", "return super().compute_loss(x, y, y_pred, sample_weight, training=training) + penalty"
)


def test_a_compute_loss_that_drops_the_compiled_loss_is_named_at_its_return():
    report = ae_magic.check(DROPS_RECONSTRUCTION, namespace={}, data="x")
    found = [f for f in _loud(report) if f.code == "AE301"]
    assert found, [(f.code, f.message) for f in report.findings]
    f = found[0]
    assert f.severity == "error"
    assert f.evidence.get("compute_loss_without_super") is True
    assert f.source_line.startswith("return penalty")
    assert "super().compute_loss" in f.fix
    assert "decoder" in f.message
    # The probes ran Keras' own step, and the report says so.
    assert any("its own compute_loss" in n for n in report.notes)


def test_a_compute_loss_that_adds_to_the_compiled_loss_stays_silent():
    report = ae_magic.check(ADDS_TO_RECONSTRUCTION, namespace={}, data="x")
    assert not _loud(report), [(f.code, f.message) for f in _loud(report)]
    assert report.traces["training"]["train_step"] == "own"


def test_the_user_model_of_a_compute_loss_override_is_untouched():
    import numpy as np

    ns: dict = {}
    exec(compile(DROPS_RECONSTRUCTION, "<cell>", "exec"), ns)
    model = ns["sparse_ae"]
    before = [np.array(v.numpy(), copy=True) for v in model.variables]
    ae_magic.check(model="sparse_ae", namespace=ns, data="x")
    after = [np.array(v.numpy(), copy=True) for v in model.variables]
    assert all(a.tobytes() == b.tobytes() for a, b in zip(before, after, strict=True))


SPLIT_HEAD = """\
import keras
from keras import layers, ops
from ae_magic.datasets import load

keras.utils.set_random_seed(3)
x = load("digits").reshape(-1, 64)
LATENT = 4


class KL(layers.Layer):
    def call(self, mean, logvar):
        self.add_loss(0.01 * ops.mean(ops.sum(ops.exp(logvar) + ops.square(mean) - 1.0 - logvar, axis=1)))
        return mean + ops.exp(0.5 * logvar) * keras.random.normal(ops.shape(mean), seed=1)


class SplitVAE(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.encoder = keras.Sequential([layers.Dense(64, activation="relu"),
                                         layers.Dense(LATENT + LATENT, activation=HEAD)])
        self.sample = KL()
        self.decoder = keras.Sequential([layers.Dense(64, activation="relu"), layers.Dense(64, activation="sigmoid")])

    def call(self, inputs):
        mean, logvar = ops.split(self.encoder(inputs), 2, axis=1)
        return self.decoder(self.sample(mean, logvar))


vae = SplitVAE()
vae(x[:2])
vae.compile(optimizer="adam", loss="mse")
"""

FUNCTIONAL_SLICED = """\
import keras
from keras import layers
import numpy as np

x = np.random.default_rng(0).random((256, 16)).astype("float32")
inputs = keras.Input(shape=(16,))
h = layers.Dense(4, activation=HEAD)(layers.Dense(32, activation="relu")(inputs))
z_mean, z_log_var = h[:, :2], h[:, 2:]
out = layers.Dense(16, activation="sigmoid")(layers.Dense(32, activation="relu")(z_mean + 0.0 * z_log_var))
model = keras.Model(inputs, out)
model.compile(optimizer="adam", loss="mse")
"""


@pytest.mark.parametrize("head", ["relu", "softplus"])
def test_a_log_variance_split_off_a_non_negative_layer_is_ae407_at_that_layer(head):
    cell = SPLIT_HEAD.replace("HEAD", repr(head))
    report = ae_magic.check(cell, namespace={}, data="x", train=False)
    found = [f for f in report.findings if f.code == "AE407" and f.title.startswith("The log-variance")]
    assert found, [(f.code, f.message) for f in report.findings]
    f = found[0]
    assert f.evidence["activation"] == head and f.evidence["split_from"] == "self.encoder(inputs)"
    assert f.source_line.startswith("layers.Dense(LATENT + LATENT")


def test_a_log_variance_sliced_off_a_functional_layer_is_ae407_at_that_layer():
    report = ae_magic.check(FUNCTIONAL_SLICED.replace("HEAD", '"relu"'), namespace={}, data="x", train=False)
    found = [f for f in report.findings if f.code == "AE407" and f.title.startswith("The log-variance")]
    assert found and found[0].source_line.startswith("h = layers.Dense(4")


@pytest.mark.parametrize("cell", [SPLIT_HEAD, FUNCTIONAL_SLICED])
def test_a_linear_split_head_is_not_reported(cell):
    report = ae_magic.check(cell.replace("HEAD", "None"), namespace={}, data="x", train=False)
    assert not [f for f in report.findings if f.title.startswith("The log-variance")]


def test_a_model_trained_by_its_own_step_gets_a_pca_bar_from_its_decoder_input():
    own = ae_magic.check(ADDS_TO_RECONSTRUCTION, namespace={}, data="x")
    assert own.traces["training"]["baselines"]["pca_width"] == 32
    assert own.traces["training"]["baselines"]["pca"] is not None
