"""The structure checks never run the user's model.

AE110 (the forward-gain measurement) and AE111 (output ignores input, and
its gradient form) need forward passes; they run them on
``Context.forward_model()``, a copy with the same weights, and when there is
no copy they skip and say so in the report's notes. The user's layers,
weights and variables come out of ``check()`` byte for byte as the cell left
them (the cell itself snapshots them as its last statement, before any check
runs).
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import zoo

import ae_magic
from ae_magic.context import Context

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Appended to every cell: the state of the user's model before any check.
_SNAPSHOT = """
before = {
    "weights": [(v.path, v.numpy().tobytes()) for v in autoencoder.weights],
    "optimizer": [(v.path, v.numpy().tobytes()) for v in autoencoder.optimizer.variables],
}
"""

_COUNTING = zoo._SMALL_HEAD + """\
class CountingLayer(layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.calls = 0
        self.count = self.add_weight(shape=(), initializer="zeros", trainable=False, name="count")

    def call(self, t):
        self.calls += 1
        self.count.assign_add(1.0)
        return t

counter = CountingLayer()
h = layers.Dense(16, activation="relu")(inp)
code = layers.Dense(6, activation="relu")(h)
code = counter(code)
h = layers.Dense(16, activation="relu")(code)
out = layers.Dense(32, activation="sigmoid")(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
""" + _SNAPSHOT + """\
before["calls"] = counter.calls
before["count"] = counter.count.numpy().tobytes()
"""

_LAMBDA_CONSTANT = zoo.CATALOGUE["AE111_lambda_constant"][0] + _SNAPSHOT
_HEALTHY = zoo.HEALTHY["dense"] + _SNAPSHOT


def _state(model: Any) -> dict[str, Any]:
    return {
        "weights": [(v.path, v.numpy().tobytes()) for v in model.weights],
        "optimizer": [(v.path, v.numpy().tobytes()) for v in model.optimizer.variables],
    }


@pytest.fixture
def copies(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every model ``Context.forward_model()`` hands out during the test."""
    seen: list[Any] = []
    original = Context.forward_model

    def spy(self: Context) -> Any:
        model = original(self)
        seen.append((self.model, model))
        return model

    monkeypatch.setattr(Context, "forward_model", spy)
    return seen


def _skipped(report: ae_magic.Report) -> list[str]:
    return [n for n in report.notes if "could not be copied for a forward pass" in n]


def test_counting_layer_is_never_called(copies: list[Any]) -> None:
    ns: dict[str, Any] = {}
    report = ae_magic.check(_COUNTING, namespace=ns, data="x", train=False)
    assert report.internal_errors == [], report.internal_errors
    user, counter, before = ns["autoencoder"], ns["counter"], ns["before"]
    assert counter.calls == before["calls"]
    assert counter.count.numpy().tobytes() == before["count"]
    assert _state(user) == {k: before[k] for k in ("weights", "optimizer")}
    # AE111 ran its forward and backward passes, on a copy.
    assert _skipped(report) == []
    made = [copy for model, copy in copies if copy is not None]
    assert made, "no forward copy was made"
    for copy in made:
        assert copy is not user
        clone_counter = next(layer for layer in copy.layers if type(layer).__name__ == "CountingLayer")
        assert clone_counter is not counter
        assert float(clone_counter.count.numpy()) > 0.0
    assert not {f.code for f in report.findings if f.severity != "info"}, [f.message for f in report.findings]


def test_lambda_model_found_on_a_copy(copies: list[Any]) -> None:
    ns: dict[str, Any] = {}
    report = ae_magic.check(_LAMBDA_CONSTANT, namespace=ns, data="x", train=False)
    assert report.internal_errors == [], report.internal_errors
    assert _state(ns["autoencoder"]) == ns["before"]
    assert _skipped(report) == []
    assert "AE111" in report.codes
    assert all(copy is not ns["autoencoder"] for _, copy in copies)


def test_healthy_model_untouched(copies: list[Any]) -> None:
    ns: dict[str, Any] = {}
    report = ae_magic.check(_HEALTHY, namespace=ns, data="x", train=False)
    assert report.internal_errors == [], report.internal_errors
    assert _state(ns["autoencoder"]) == ns["before"]
    assert _skipped(report) == []
    assert not [f for f in report.findings if f.severity != "info"]
    # Built-in layers only and no all-zero kernel: the output depends on the
    # input without measuring it, so no copy is made at all.
    assert copies == []


def test_no_copy_skips_with_a_note(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a copy AE110's measurement and AE111 do not run, and the report says so."""
    monkeypatch.setattr(Context, "forward_model", lambda self: None)
    src, kwargs, _ = zoo.FAULTY["002_prose_large_init"]
    ns: dict[str, Any] = {}
    report = ae_magic.check(src + _SNAPSHOT, namespace=ns, train=False, **kwargs)
    assert report.internal_errors == [], report.internal_errors
    f = report.get("AE110")  # from the initializers alone
    assert f is not None and f.evidence["forward_rms_ratio"] is None
    notes = _skipped(report)
    assert any(n.startswith("AE110 (initial weight scale) not measured") for n in notes), report.notes
    assert _state(ns["autoencoder"]) == ns["before"]
    # A Lambda on the path needs the forward pass; without a copy AE111 says it did not run.
    ns = {}
    report = ae_magic.check(_LAMBDA_CONSTANT, namespace=ns, train=False, data="x")
    assert "AE111" not in report.codes
    assert any(n.startswith("AE111 (output ignores input) not checked") for n in _skipped(report)), report.notes
    assert _state(ns["autoencoder"]) == ns["before"]


def test_structure_checks_never_call_the_model() -> None:
    """A source-level guard: no structure check calls ``ctx.model`` (or the user's model) itself."""
    import inspect

    from ae_magic import checks

    for fn in checks.structure_checks():
        text = inspect.getsource(inspect.getmodule(fn))
        assert "ctx.model(" not in text, fn.__module__
        assert "(m, x" not in text and "m(x" not in text, fn.__module__
