"""A sparse autoencoder's sigmoid code (a KL sparsity target, as in Geron's book) is its design, not AE106's slip."""

from __future__ import annotations

import numpy as np

import ae_magic
from ae_magic import keras_compat as kc

SPARSE_KL = """\
import numpy as np
import keras
from keras import layers, ops
keras.utils.set_random_seed(21)
rng = np.random.default_rng(21)
n, size = 1500, 16
x_train = np.zeros((n, size, size), dtype="float32")
for i in range(n):
    for _ in range(rng.integers(1, 4)):
        pos = rng.integers(1, size - 3)
        if rng.random() < 0.5:
            x_train[i, pos:pos + 2, :] = 1.0
        else:
            x_train[i, :, pos:pos + 2] = 1.0
x_train = x_train.reshape(n, size * size)


class KLDivergenceRegularizer(keras.regularizers.Regularizer):
    def __init__(self, weight, target=0.1):
        self.weight = weight
        self.target = target

    def __call__(self, inputs):
        mean_activities = ops.mean(inputs, axis=0)
        return self.weight * (keras.losses.kl_divergence(self.target, mean_activities)
                              + keras.losses.kl_divergence(1.0 - self.target, 1.0 - mean_activities))

    def get_config(self):
        return {{"weight": self.weight, "target": self.target}}


encoder = keras.Sequential([
    keras.Input(shape=(size * size,)),
    layers.Dense(100, activation="selu"),
    layers.Dense(64, activation="sigmoid"{reg}),
])
decoder = keras.Sequential([
    keras.Input(shape=(64,)),
    layers.Dense(100, activation="selu"),
    layers.Dense(size * size, activation="sigmoid"),
])
sparse_ae = keras.Sequential([encoder, decoder])
sparse_ae.compile(loss="binary_crossentropy", optimizer=keras.optimizers.Nadam(learning_rate=1e-3))
"""


def test_a_model_holding_an_unregistered_regularizer_class_is_copied() -> None:
    """The probes copy it (a clone with the cell's own regularizer class), never probing the user's model in place."""
    ns: dict = {}
    exec(SPARSE_KL.format(reg=", activity_regularizer=KLDivergenceRegularizer(0.05)"), ns)
    model = ns["sparse_ae"]
    copy, in_place = kc.clone_model(model, ns["x_train"][:2])
    assert not in_place and copy is not model
    for a, b in zip(copy.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_sigmoid_code_under_a_sparsity_penalty_is_a_note_when_it_learns() -> None:
    report = ae_magic.check(SPARSE_KL.format(reg=", activity_regularizer=KLDivergenceRegularizer(0.05)"),
                            namespace={}, data="x_train", seed=0)
    f = report.get("AE106")
    assert f is not None and f.severity == "info" and f.evidence.get("activity_regularizer"), report.text()
    assert "relu" not in f.fix  # the sparsity target needs (0, 1): no advice to drop the sigmoid
    assert not [g for g in report.findings if g.severity in ("warning", "error")], report.text()
    assert not any("probed in place" in n for n in report.notes), report.notes


def test_a_sigmoid_code_without_a_penalty_keeps_its_warning() -> None:
    report = ae_magic.check(SPARSE_KL.format(reg=""), namespace={}, data="x_train", seed=0)
    f = report.get("AE106")
    assert f is not None and f.severity in ("warning", "error"), report.text()


# Round 63's co10: Ng's UFLDL sparse autoencoder ported to Keras, the KL sparsity summed over the 64 units with the
# paper's beta = 3 beside a per-pixel mean MSE. The cell's own fit pins every unit's mean activity at rho; the
# output is the mean patch.
UFLDL = """\
import numpy as np
import keras
from keras import layers, ops

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
n_patches, p = 2000, 12
yy, xx = np.mgrid[0:p, 0:p] - (p - 1) / 2
theta = rng.uniform(0, np.pi, n_patches)[:, None, None]
freq = rng.uniform(0.15, 0.45, n_patches)[:, None, None]
ph = rng.uniform(0, 2 * np.pi, n_patches)[:, None, None]
grating = np.sin(2 * np.pi * freq * (xx * np.cos(theta) + yy * np.sin(theta)) + ph)
envelope = np.exp(-(xx ** 2 + yy ** 2) / 30.0)
patches = (0.5 + 0.4 * grating * envelope).reshape(n_patches, p * p).astype("float32")

rho, beta = 0.05, BETA


class KLSparsity(layers.Layer):
    def call(self, h):
        rho_hat = ops.clip(ops.mean(h, axis=0), 1e-6, 1 - 1e-6)
        kl = rho * ops.log(rho / rho_hat) + (1 - rho) * ops.log((1 - rho) / (1 - rho_hat))
        self.add_loss(beta * ops.sum(kl))
        return h


x_in = keras.Input(shape=(p * p,))
hidden = layers.Dense(64, activation="sigmoid")(x_in)
hidden = KLSparsity()(hidden)
x_out = layers.Dense(p * p, activation="sigmoid")(hidden)
sparse_ae = keras.Model(x_in, x_out, name="sparse_ae")
sparse_ae.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
sparse_ae.fit(patches, patches, epochs=4, batch_size=64, verbose=0)
"""


def _held(report: ae_magic.Report, src: str) -> None:
    f = report.findings[0]
    assert f.code == "AE405" and f.evidence.get("held_by_penalty"), report.text()
    assert f.line == src.splitlines().index("rho, beta = 0.05, 3.0") + 1, report.text()
    assert "beta" in f.fix, f.fix
    stalled = report.get("AE402")
    assert stalled is None or stalled.caused_by == "AE405", report.text()
    code = report.get("AE106")
    assert code is None or code.severity == "info", report.text()


def test_a_summed_kl_sparsity_that_holds_the_code_is_named_at_its_weight() -> None:
    src = UFLDL.replace("BETA", "3.0")
    _held(ae_magic.check(src, namespace={}, data="patches", seed=0), src)


def test_the_cell_run_again_with_a_heavier_penalty_is_probed_with_it() -> None:
    """Healthy first (beta = 3e-5: the penalty is ~1 % of the reconstruction), then the same cell with beta = 3.0.

    The layer's config and bytecode are the same; only the global its ``call`` reads differs. The parked probe
    copy from the first check (its class, and its step traced with the old beta) must not serve the second.
    """
    from ae_magic.probes.session import reuse_key

    light = ae_magic.check(UFLDL.replace("BETA", "3e-5"), namespace={}, data="patches", seed=0)
    assert not [g for g in light.findings if g.severity in ("warning", "error")], light.text()
    src = UFLDL.replace("BETA", "3.0")
    _held(ae_magic.check(src, namespace={}, data="patches", seed=0), src)
    keys = []
    for beta in ("3e-5", "3.0"):
        ns: dict = {}
        exec(UFLDL.replace("BETA", beta).replace("sparse_ae.fit(", "0 and sparse_ae.fit("), ns)
        keys.append(reuse_key(ns["sparse_ae"], ns["patches"], None, 0))
    assert keys[0] is not None and keys[0] != keys[1]
