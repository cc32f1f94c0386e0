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
