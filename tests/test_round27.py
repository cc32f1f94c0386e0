"""Round 27: hand-written losses that cannot be minimised at the target. A signed error (no square, no
absolute value) falls without bound past the target; a loss reduced over the batch axis before comparing
cannot tell which output belongs to which sample. Both are AE108 errors at the line that does it; the
same losses written per sample, and a weighted MSE, stay silent."""

from __future__ import annotations

import pytest

import ae_magic

CELL = """\
import numpy as np
import keras
from keras import layers, ops
rng = np.random.default_rng(2)
x = (rng.normal(size=(1500, 4)) @ rng.normal(size=(4, 24))).astype("float32")
x = ((x - x.mean(axis=0)) / x.std(axis=0)).astype("float32")

def weighted_error(y_true, y_pred):
    w = 1.0 + ops.abs(y_true)
{body}

model = keras.Sequential([
    layers.Input(shape=(24,)),
    layers.Dense(32, activation="relu"),
    layers.Dense(6),
    layers.Dense(32, activation="relu"),
    layers.Dense(24),
])
model.compile(optimizer="adam", loss=weighted_error)
"""

SIGNED = "    err = w * (y_true - y_pred)\n    return ops.mean(err, axis=-1)"
BATCH = "    err = ops.mean(y_true - y_pred, axis=0)\n    return ops.mean(ops.square(err))"
SOUND = {
    "squared": "    err = w * ops.square(y_true - y_pred)\n    return ops.mean(err, axis=-1)",
    "absolute": "    err = w * ops.abs(y_true - y_pred)\n    return ops.mean(err, axis=-1)",
    "per sample, then batch": "    err = ops.mean(ops.square(y_true - y_pred), axis=-1)\n    return ops.mean(err, axis=0)",
}


def test_a_signed_error_is_named_at_the_subtraction() -> None:
    report = ae_magic.check(CELL.format(body=SIGNED), namespace={}, data="x")
    f = next((f for f in report.findings if f.code == "AE108"), None)
    assert f is not None, report.text()
    assert f.severity == "error" and f.title == "The loss falls without bound past the target"
    assert f.line == 10 and f.source_line == "err = w * (y_true - y_pred)"
    one, two = f.evidence["loss_past_target"]
    assert two < one < f.evidence["loss_of_target"]
    assert len([g for g in report.findings if g.code == "AE108"]) == 1, report.text()


def test_a_loss_reduced_over_the_batch_is_named_at_the_axis_0_line() -> None:
    report = ae_magic.check(CELL.format(body=BATCH), namespace={}, data="x")
    f = next((f for f in report.findings if f.code == "AE108"), None)
    assert f is not None, report.text()
    assert f.title == "The loss does not compare each sample with its own target"
    assert f.line == 10 and "axis=0" in f.source_line
    assert f.evidence["loss_of_shuffled_targets"] < 0.5 * f.evidence["loss_of_mean"]


@pytest.mark.parametrize("kind", sorted(SOUND))
def test_sound_hand_written_losses_are_silent(kind: str) -> None:
    report = ae_magic.check(CELL.format(body=SOUND[kind]), namespace={}, data="x")
    assert not [f for f in report.findings if f.severity in ("warning", "error")], report.text()


CAE = """\
import numpy as np
import tensorflow as tf
import keras
from keras import layers
rng = np.random.default_rng(21)
n = 3000
factors = rng.uniform(0, 1, (n, 3))
features = factors @ rng.uniform(0.2, 1.5, (3, 32)) + rng.normal(0, 0.02, (n, 32))
x = ((features - features.min(axis=0)) / (features.max(axis=0) - features.min(axis=0))).astype("float32")
lam = {lam}

class CAE(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.encoder = keras.Sequential([layers.Dense(12, activation="sigmoid")])
        self.decoder = keras.Sequential([layers.Dense(32)])
        self.total = keras.metrics.Mean(name="loss")
        self.recon = keras.metrics.Mean(name="reconstruction")

    @property
    def metrics(self):
        return [self.total, self.recon]

    def call(self, inputs):
        return self.decoder(self.encoder(inputs))

    def train_step(self, data):
        if isinstance(data, tuple):
            data = data[0]
        with tf.GradientTape() as tape:
            with tf.GradientTape() as jac_tape:
                jac_tape.watch(data)
                z = self.encoder(data)
            frob = tf.reduce_sum(tf.square(jac_tape.batch_jacobian(z, data)), axis=[1, 2])
            recon = tf.reduce_mean(tf.square(data - self.decoder(z)), axis=-1)
            loss = tf.reduce_mean(recon + lam * frob)
        grads = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        self.total.update_state(loss)
        self.recon.update_state(tf.reduce_mean(recon))
        return {{m.name: m.result() for m in self.metrics}}

model = CAE()
model.build((None, 32))
model.compile(optimizer=keras.optimizers.Adam(1e-3))
"""


def test_a_contractive_penalty_that_outweighs_the_reconstruction_is_named_at_its_weight() -> None:
    pytest.importorskip("tensorflow")
    report = ae_magic.check(CAE.format(lam="1.0"), namespace={}, data="x")
    f = next((f for f in report.findings if f.title == "A penalty term outweighs the reconstruction"), None)
    assert f is not None, report.text()
    assert f.code == "AE405" and f.line == 10 and f.source_line == "lam = 1.0"
    assert f.evidence["share"] < 0.25 and f.evidence["weight"] == "lam"


def test_the_same_contractive_model_with_a_small_weight_is_silent() -> None:
    pytest.importorskip("tensorflow")
    report = ae_magic.check(CAE.format(lam="1e-4"), namespace={}, data="x")
    assert not [f for f in report.findings if f.severity in ("warning", "error")], report.text()


def test_a_small_reconstruction_share_is_no_finding_when_the_reconstruction_beats_the_mean() -> None:
    from ae_magic.checks.penalty_share import check_penalty_share
    from ae_magic.context import Context

    terms = {"loss": [1.0] * 20, "reconstruction": [0.1] * 20}
    ctx = Context(source="", traces={"training": {"loss_terms": terms, "baselines": {"final": 0.5, "mean": 1.0}}})
    assert check_penalty_share(ctx) == []
    ctx.traces["training"]["baselines"]["final"] = 0.98
    (f,) = check_penalty_share(ctx)
    assert f.code == "AE405" and f.evidence["share"] == pytest.approx(0.1)
    # A VAE whose reconstruction is most of its loss: silent even on the mean.
    ctx.traces["training"]["loss_terms"] = {"loss": [1.0] * 20, "reconstruction_loss": [0.8] * 20}
    assert check_penalty_share(ctx) == []


ADAPTED = """\
import numpy as np
import keras
from keras import layers
rng = np.random.default_rng(42)
n, d = 2000, 16
z = rng.standard_normal((n, 3)).astype("float32")
x = (np.tanh(z @ rng.standard_normal((3, d))) * rng.uniform(0.5, 3.0, d) + rng.uniform(-2, 3, d)).astype("float32")

class TabularAutoencoder(keras.Model):
    def __init__(self, n_features, latent_dim=4, **kwargs):
        super().__init__(**kwargs)
        self.norm = layers.Normalization()
        self.denorm = layers.Normalization(invert=True)
        self.encoder = keras.Sequential([layers.Dense(32, activation="relu"), layers.Dense(latent_dim)])
        self.decoder = keras.Sequential([layers.Dense(32, activation="relu"), layers.Dense(n_features)])

    def adapt(self, data):
        self.norm.adapt(data)
        self.denorm.adapt(data)

    def call(self, inputs):
        return self.denorm(self.decoder(self.encoder(self.norm(inputs))))

model = TabularAutoencoder(n_features=d)
model.adapt(x)
model.compile(optimizer="adam", loss="mse")
"""


def test_an_unbuilt_subclassed_model_with_adapted_layers_is_probed_on_a_copy() -> None:
    import numpy as np

    ns: dict = {}
    report = ae_magic.check(ADAPTED, namespace=ns, data="x")
    assert "training" in report.coverage["ran"] and not report.coverage["skipped"].get("training"), report.coverage
    assert not [f for f in report.findings if f.severity in ("warning", "error")], report.text()
    model = ns["model"]
    # The user's model is not built by the check, and its adapted statistics are as adapt left them.
    assert not model.built
    x = ns["x"]
    assert np.allclose(np.asarray(model.norm.mean).ravel(), x.mean(axis=0), atol=1e-4)
    assert not any("in place" in n for n in report.notes), report.notes
