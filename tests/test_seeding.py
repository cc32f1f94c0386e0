"""The probes' seeding on TensorFlow: reproducible runs without re-instantiating every compiled function.

``tf.random.set_seed`` clears TensorFlow's kernel cache, after which each
compiled function is instantiated again on its next call (0.2 s for a dense
step, 1.3 s for an LSTM's, once per probe run). The probes skip that clear
when their traced graphs hold no stateful random op (``tf.random.normal`` in
a layer), and keep it where it restarts such an op's stream.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from ae_magic.keras_compat import keras

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="the kernel cache and stateful random ops are TensorFlow's"
)

NOISY = """
import numpy as np, keras, tensorflow as tf
keras.utils.set_random_seed(1)

class Noise(keras.layers.Layer):
    def call(self, x, training=None):
        return x + 0.1 * tf.random.normal(tf.shape(x))

x = np.random.default_rng(0).random((512, 32)).astype("float32")
inp = keras.Input((32,))
h = keras.layers.Dense(8, activation="relu")(inp)
h = Noise()(h)
out = keras.layers.Dense(32, activation="sigmoid")(h)
model = keras.Model(inp, out)
model.compile("adam", "mse")
"""
PLAIN = NOISY.replace("h = Noise()(h)\n", "")


@pytest.fixture
def clears(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Counts TensorFlow kernel-cache clears: in all, and per probe run (``runs``: one count per run, in order)."""
    from tensorflow.python.eager import context as tf_context

    from ae_magic.probes.session import ProbeSession

    counts: dict[str, Any] = {"all": 0, "runs": [], "inside": 0}
    original = tf_context.pywrap_tfe.TFE_ContextClearCaches

    def counting(handle: Any) -> Any:
        counts["all"] += 1
        if counts["inside"]:
            counts["runs"][-1] += 1
        return original(handle)

    monkeypatch.setattr(tf_context.pywrap_tfe, "TFE_ContextClearCaches", counting)
    for name in ("gradient_probe", "train", "run_steps"):
        method = getattr(ProbeSession, name)

        def wrapped(self: Any, *a: Any, _m: Any = method, **kw: Any) -> Any:
            counts["inside"] += 1
            if counts["inside"] == 1:
                counts["runs"].append(0)
            try:
                return _m(self, *a, **kw)
            finally:
                counts["inside"] -= 1

        monkeypatch.setattr(ProbeSession, name, wrapped)
    return counts


def _curves(report: Any) -> tuple[list[float], list[float]]:
    tr = report.to_dict()["traces"]["training"]
    return list(tr["loss"]), list(tr["val_loss"])


def test_plain_model_probe_runs_keep_the_compiled_functions(clears: dict[str, int]) -> None:
    import ae_magic

    report = ae_magic.check(PLAIN, namespace={}, data="x", range_test=True)
    assert not report.internal_errors
    assert "training" in report.to_dict()["traces"]
    # Gradients, training, range test (and the range test's confirmation runs).
    assert len(clears["runs"]) >= 3
    # Only the first run re-seeds the old way: nothing of the probes is compiled yet, so
    # nothing is thrown away, and eager ops of an earlier check restart. Once the step is
    # traced and seen free of stateful random ops, no run throws TF's compiled functions away.
    assert clears["runs"][1:] == [0] * (len(clears["runs"]) - 1)


def test_stateful_random_model_still_restarts_its_streams(clears: dict[str, int]) -> None:
    import ae_magic

    first = ae_magic.check(NOISY, namespace={}, data="x")
    assert len(clears["runs"]) >= 2 and all(clears["runs"])  # each probe run restarts the noise
    second = ae_magic.check(NOISY, namespace={}, data="x")
    assert _curves(first) == _curves(second)


def test_plain_model_probes_are_reproducible() -> None:
    import ae_magic

    first = ae_magic.check(PLAIN, namespace={}, data="x")
    second = ae_magic.check(PLAIN, namespace={}, data="x")  # the parked copy is adopted: nothing re-instantiated
    assert _curves(first) == _curves(second)
    assert [f.code for f in first.findings] == [f.code for f in second.findings]


def test_free_of_stateful_random_reads_the_traced_graphs() -> None:
    import tensorflow as tf

    from ae_magic.backends import tensorflow as btf

    class Traced:
        def __init__(self, fn: Any) -> None:
            self.traced = fn

    spec = [tf.TensorSpec((None, 4), tf.float32)]
    plain = Traced(tf.function(lambda x: x * 2.0, input_signature=spec))
    noisy = Traced(tf.function(lambda x: x + tf.random.normal(tf.shape(x)), input_signature=spec))
    stateless = Traced(tf.function(lambda x: x + tf.random.stateless_normal(tf.shape(x), seed=[1, 2]), input_signature=spec))
    assert not btf.free_of_stateful_random([plain])  # not traced yet: unknown
    assert plain.traced.experimental_get_tracing_count() == 0  # ... and asking did not trace it
    x = np.ones((2, 4), "float32")
    for t in (plain, noisy, stateless):
        t.traced(x)
    assert btf.free_of_stateful_random([plain, None, stateless])
    assert not btf.free_of_stateful_random([plain, noisy])
