"""The probes train at the cell's own small batch size (round 84's ic05).

A gene-expression autoencoder compiled with ``SGD(learning_rate=0.5, momentum=0.9)`` and fitted at
``batch_size=8`` on 96 samples bounces and then settles on the mean. The probes trained it at 32 samples a step,
where the same rate learns, and the check was silent. They now use ``fit``'s batch size when it is smaller than
their default; a larger one keeps the default, and ``--batch-size`` wins over both.
"""

from __future__ import annotations

import ae_magic
from ae_magic.fit_calls import fit_batch_size

GENES = """\
import numpy as np
import keras
from keras import layers

keras.utils.set_random_seed(0)
rng = np.random.default_rng(3)
n_samples, n_genes = 96, 500
programmes = rng.normal(size=(n_samples, 5))
loadings = rng.normal(size=(5, n_genes)) * (rng.random((5, n_genes)) < 0.3)
log_expr = 6.0 + programmes @ loadings + 0.5 * rng.normal(size=(n_samples, n_genes))
expr = ((log_expr - log_expr.mean(axis=0)) / log_expr.std(axis=0)).astype("float32")

model = keras.Sequential([
    keras.Input(shape=(n_genes,)),
    layers.Dense(256, activation="relu"),
    layers.Dense(64, activation="relu"),
    layers.Dense(16, activation="relu"),
    layers.Dense(64, activation="relu"),
    layers.Dense(256, activation="relu"),
    layers.Dense(n_genes),
])
model.compile(optimizer=OPTIMIZER, loss="mse")
BATCH = BATCH_VALUE
"""


def _cell(optimizer: str, batch: str, fit: bool = False) -> str:
    src = GENES.replace("OPTIMIZER", optimizer).replace("BATCH_VALUE", batch)
    return src + ("model.fit(expr, expr, epochs=1, batch_size=BATCH, verbose=0)\n" if fit else "")


def _loud(report: ae_magic.Report) -> list[ae_magic.Finding]:
    return [f for f in report.findings if f.severity in ("warning", "error")]


def test_the_fit_batch_size_is_read_from_a_literal_or_a_bound_name() -> None:
    src = "m.fit(x, x, epochs=2, batch_size=8)\nn.fit(x, x, 16)\n"
    assert fit_batch_size(src, "m") == 8
    assert fit_batch_size("m.fit(x, x, batch_size=bs)", "m", {"bs": 4}) == 4
    assert fit_batch_size("m.fit(x, x, batch_size=True)", "m") is None
    assert fit_batch_size("m.fit(x, x)", "m") is None
    assert fit_batch_size(src, "other") is None


def test_a_rate_that_overshoots_at_the_cells_batch_of_8_is_named() -> None:
    src = _cell("keras.optimizers.SGD(learning_rate=0.5, momentum=0.9)", "8", fit=True)
    report = ae_magic.check(src, namespace={}, data="expr")
    assert report.params["batch_size"] == 8
    named = [f for f in _loud(report) if f.code in {"AE401", "AE402", "AE403", "AE404", "AE405", "AE304"}]
    assert named, [(f.code, f.title) for f in report.findings]
    # At the probes' default of 32 samples a step the same rate learns: the fault shows at the cell's batch only.
    at_32 = ae_magic.check(src, namespace={}, data="expr", batch_size=32)
    assert not _loud(at_32), [(f.code, f.title) for f in _loud(at_32)]


def test_the_same_model_with_adam_at_batch_8_stays_silent() -> None:
    report = ae_magic.check(_cell("keras.optimizers.Adam(1e-3)", "8", fit=True), namespace={}, data="expr")
    assert report.params["batch_size"] == 8
    assert not _loud(report), [(f.code, f.title) for f in _loud(report)]


def test_a_larger_fit_batch_keeps_the_default_and_the_option_wins() -> None:
    src = _cell("keras.optimizers.Adam(1e-3)", "128", fit=False) + "model.fit(expr, expr, batch_size=BATCH, epochs=1)\n"
    assert ae_magic.check(src, namespace={}, data="expr", train=False).params.get("batch_size") is None
    src8 = _cell("keras.optimizers.Adam(1e-3)", "8")  # no fit call: nothing to read
    report = ae_magic.check(src8 + "model.fit(expr, expr, batch_size=BATCH, epochs=1, verbose=0)\n", namespace={},
                            data="expr", batch_size=16)
    assert report.params["batch_size"] == 16
