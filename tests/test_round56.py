"""Round 56: what fresh cells (sequence AEs, user-written losses, structure variety) found.

* bx07: a sparse AE's ``self.add_loss(0.1 * ops.sum(ops.abs(z)))``, a scalar summed over the batch and the code
  units, beside a compiled loss averaged over the batch: the penalty weighs batch-size times and the code dies.
  The per-sample check only saw vector terms. The probes now measure each add_loss term on the same samples
  repeated in one batch (``latent.batch_summed_added``); a term that grows with the batch is named at its line.
"""

from __future__ import annotations

import numpy as np

import ae_magic
from ae_magic.probes.batch_scaling import REPEAT
from ae_magic.probes.latent import batch_summed_added

SPARSE = """\
import numpy as np
import keras
from keras import layers, ops

keras.utils.set_random_seed(0)
rng = np.random.default_rng(3)
n, s = 1200, 16
imgs = np.zeros((n, s, s), dtype="float32")
for i in range(n):
    for _ in range(3):
        r, c = rng.integers(0, s, 2)
        imgs[i, r, max(0, c - 3):c + 3] = 1.0
x_train = imgs.reshape(n, s * s)


class L1Code(layers.Layer):
    def __init__(self, l1_penalty=0.1, **kwargs):
        super().__init__(**kwargs)
        self.l1_penalty = l1_penalty

    def call(self, z):
        self.add_loss(self.l1_penalty * PENALTY)
        return z


inputs = keras.Input(shape=(s * s,))
h = layers.Dense(128, activation="relu")(inputs)
z = layers.Dense(32, activation="relu")(h)
z = L1Code(l1_penalty=0.1)(z)
h = layers.Dense(128, activation="relu")(z)
outputs = layers.Dense(s * s, activation="sigmoid")(h)
sparse_ae = keras.Model(inputs, outputs)
sparse_ae.compile(optimizer="adam", loss="binary_crossentropy")
"""
SUMMED = SPARSE.replace("PENALTY", "ops.sum(ops.abs(z))")
AVERAGED = SPARSE.replace("PENALTY", "ops.mean(ops.sum(ops.abs(z), axis=-1))")


def test_an_add_loss_term_summed_over_the_batch_is_named_at_its_line():
    report = ae_magic.check(SUMMED, namespace={}, data="x_train")
    assert not report.internal_errors, report.internal_errors
    rows = report.traces["training"]["per_sample_added"]
    assert [r["class"] for r in rows] == ["L1Code"] and rows[0]["shape"] == []
    hit = next((f for f in report.findings if "sums its term over the batch" in f.message), None)
    assert hit is not None and hit.severity in ("warning", "error"), report.text()
    assert "self.add_loss(" in (hit.source_line or ""), hit.source_line


def test_the_penalty_averaged_over_the_batch_is_not_blamed():
    report = ae_magic.check(AVERAGED, namespace={}, data="x_train")
    assert not report.internal_errors, report.internal_errors
    assert report.traces["training"]["per_sample_added"] == []
    assert not any("over the batch" in f.message for f in report.findings), report.text()


def test_batch_summed_added_tells_a_sum_from_a_mean():
    import keras
    from keras import layers, ops

    class Both(layers.Layer):
        def call(self, z):
            self.add_loss(ops.sum(ops.abs(z)))
            return z

    class Mean(layers.Layer):
        def call(self, z):
            self.add_loss(ops.mean(ops.abs(z)))
            return z

    inp = keras.Input(shape=(4,))
    out = Mean(name="mean")(Both(name="both")(layers.Dense(4)(inp)))
    model = keras.Model(inp, out)
    x = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
    rows = batch_summed_added(model, x, set())
    assert [r["layer"] for r in rows] == ["both"]
    small, big = rows[0]["values"]
    assert abs(big / small - REPEAT) < 1e-3
    assert batch_summed_added(model, x, {"both"}) == []


def test_a_batch_sum_that_already_zeroed_the_code_is_read_from_its_source():
    """bx07 as written: the cell's own fit drives the code to 0 first, so the term reads 0 on any batch and can't
    show how it scales. Its source does: a sum with no axis and no mean around it."""
    report = ae_magic.check(SUMMED + "sparse_ae.fit(x_train, x_train, epochs=3, batch_size=64, verbose=0)\n",
                            namespace={}, data="x_train")
    assert not report.internal_errors, report.internal_errors
    rows = report.traces["training"]["per_sample_added"]
    assert [r["class"] for r in rows] == ["L1Code"], rows
    # TensorFlow and JAX's fits leave the code exactly 0 (the source is read); torch's leaves it at 2e-4, where the
    # measurement still tells a sum. Either way the collapse is named at the add_loss line.
    said = "a sum with no axis" if rows[0].get("zero") else "sums its term over the batch"
    hit = next((f for f in report.findings if said in f.message), None)
    assert hit is not None and hit.severity in ("warning", "error"), report.text()
    assert "self.add_loss(" in (hit.source_line or ""), hit.source_line


def test_a_term_at_zero_is_kept_as_a_zero_row():
    import keras
    from keras import layers, ops

    class Both(layers.Layer):
        def call(self, z):
            self.add_loss(ops.sum(ops.abs(z)))
            return z

    inp = keras.Input(shape=(4,))
    out = Both(name="both")(layers.Dense(4, kernel_initializer="zeros")(inp))  # z is 0 for every input
    model = keras.Model(inp, out)
    x = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
    assert batch_summed_added(model, x, set()) == [
        {"layer": "both", "class": "Both", "shape": [], "values": [0.0, 0.0], "zero": True}]


def test_sums_over_batch_reads_only_a_plain_sum():
    import ast

    from ae_magic.checks.per_sample_loss import add_loss_calls, sums_over_batch

    def reads(term: str, before: str = "") -> bool:
        src = f"class L:\n    def call(self, z):\n{before}        self.add_loss({term})\n"
        call, _, fn = add_loss_calls(ast.parse(src))[0]
        return sums_over_batch(src, call, fn)

    assert reads("0.1 * ops.sum(ops.abs(z))")
    assert reads("tf.reduce_sum(tf.abs(z)) * 1e-3")
    assert reads("pen", before="        pen = 0.1 * ops.sum(ops.abs(z))\n")
    assert not reads("0.1 * ops.sum(ops.abs(z), axis=-1)")
    assert not reads("0.1 * ops.mean(ops.sum(ops.abs(z), axis=1))")
    assert not reads("ops.mean(ops.sum(ops.abs(z)))")  # odd, but a mean over it: not read as a batch sum
    assert not reads("ops.sum(ops.abs(z)) / ops.cast(ops.shape(z)[0], 'float32')")
    assert not reads("0.1 * ops.mean(ops.abs(z))")
