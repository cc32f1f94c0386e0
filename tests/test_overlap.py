"""The first compiled step runs beside the validation trace and the activation pass (TensorFlow).

``TrainStep.run_alongside`` traces the step, runs its first call on a second
thread (TensorFlow's graph optimisation and instantiation, in C++ without the
GIL) and meanwhile traces the validation function and measures the
activations. These tests hold it to the one promise that matters: the report
is the same as when everything runs in turn, for a model that takes the
overlap, one whose seed states move (it falls back to running in turn) and
one with a stateful random op. And the thread's errors reach the caller.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from ae_magic.keras_compat import keras

HEAD = """
import numpy as np, keras
keras.utils.set_random_seed(3)
rng = np.random.default_rng(0)
"""

LSTM = HEAD + """
t = np.linspace(0, 6, 20, dtype="float32")
x = np.stack([np.sin(t * f + p) for f, p in rng.random((256, 2)) * 3], 0)[..., None].astype("float32")
inp = keras.Input((20, 1))
h = keras.layers.LSTM(12)(inp)
h = keras.layers.RepeatVector(20)(h)
h = keras.layers.LSTM(12, return_sequences=True)(h)
out = keras.layers.TimeDistributed(keras.layers.Dense(1))(h)
model = keras.Model(inp, out)
model.compile("adam", "mse")
"""

DROPOUT = HEAD + """
x = rng.random((512, 32)).astype("float32")
inp = keras.Input((32,))
h = keras.layers.Dense(16, activation="relu")(inp)
h = keras.layers.Dropout(0.3)(h)
h = keras.layers.Dense(6, activation="relu")(h)
out = keras.layers.Dense(32, activation="sigmoid")(h)
model = keras.Model(inp, out)
model.compile("adam", "mse")
"""

NOISY = HEAD + """
import tensorflow as tf

class Noise(keras.layers.Layer):
    def call(self, x, training=None):
        return x + 0.1 * tf.random.normal(tf.shape(x))

x = rng.random((512, 32)).astype("float32")
inp = keras.Input((32,))
h = keras.layers.Dense(8, activation="relu")(inp)
h = Noise()(h)
out = keras.layers.Dense(32, activation="sigmoid")(h)
model = keras.Model(inp, out)
model.compile("adam", "mse")
"""


def _content(report: Any) -> dict[str, Any]:
    d = report.to_dict()
    d.pop("timings", None)
    return d


@pytest.fixture
def overlaps(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Counts the first steps that ran beside other work, and those redone in turn."""
    from ae_magic.probes import session as ps
    from ae_magic.probes import training as tr

    counts = {"alongside": 0, "traced": 0}
    run_alongside = tr.TrainStep.run_alongside

    def counting(self: Any, *a: Any, **kw: Any) -> Any:
        if self.can_overlap():
            counts["alongside"] += 1
        return run_alongside(self, *a, **kw)

    monkeypatch.setattr(tr.TrainStep, "run_alongside", counting)
    monkeypatch.setattr(ps, "_PARKED", {})  # no parked copy: each check traces its own step
    return counts


def _both_ways(monkeypatch: pytest.MonkeyPatch, cell: str) -> tuple[Any, Any]:
    import ae_magic
    from ae_magic.probes import session as ps

    # clear_session: both cells' layers get the same names.
    keras.backend.clear_session()
    alongside = ae_magic.check(cell, namespace={}, data="x")
    ps._PARKED.clear()
    keras.backend.clear_session()
    with monkeypatch.context() as m:
        m.setattr(ps.ProbeSession, "_overlap_safe", lambda self: False)
        in_turn = ae_magic.check(cell, namespace={}, data="x")
    ps._PARKED.clear()
    return alongside, in_turn


needs_tf = pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="only TensorFlow's step traces apart from its first call")


@needs_tf
@pytest.mark.parametrize("cell", [LSTM, NOISY], ids=["lstm", "stateful-random"])
def test_a_first_step_beside_other_work_reports_what_running_in_turn_reports(
    monkeypatch: pytest.MonkeyPatch, overlaps: dict[str, int], cell: str
) -> None:
    alongside, in_turn = _both_ways(monkeypatch, cell)
    assert overlaps["alongside"] == 1  # the first check took the overlap; the second did not
    assert not alongside.internal_errors and not in_turn.internal_errors
    assert "gradients" in alongside.to_dict()["traces"]
    assert _content(alongside) == _content(in_turn)


@needs_tf
def test_a_model_whose_seed_states_move_runs_the_first_step_again_in_turn(
    monkeypatch: pytest.MonkeyPatch, overlaps: dict[str, int]
) -> None:
    from ae_magic.probes import session as ps

    redone = {"n": 0}
    original = ps.ProbeSession._variables_at_initial

    def checking(self: Any) -> bool:
        ok = original(self)
        redone["n"] += not ok
        return ok

    monkeypatch.setattr(ps.ProbeSession, "_variables_at_initial", checking)
    alongside, in_turn = _both_ways(monkeypatch, DROPOUT)
    assert overlaps["alongside"] == 1
    assert redone["n"] == 1  # the dropout step advanced its seed state while the pass ran
    assert _content(alongside) == _content(in_turn)


def test_batch_norm_statistics_keep_the_first_step_in_turn() -> None:
    """A step moves batch-norm statistics even at lr 0: that model never overlaps."""
    from ae_magic.probes.session import ProbeSession

    class Session:
        _overlap_safe = ProbeSession._overlap_safe

        def __init__(self, model: Any) -> None:
            self.model = model
            self._step = type("Step", (), {"can_overlap": lambda self: True})()

    inp = keras.Input((8,))
    plain = keras.Model(inp, keras.layers.Dense(8)(keras.layers.Dropout(0.2)(inp)))
    inp = keras.Input((8,))
    normed = keras.Model(inp, keras.layers.Dense(8)(keras.layers.BatchNormalization()(inp)))
    assert Session(plain)._overlap_safe()
    assert not Session(normed)._overlap_safe()


class _Compiled:
    """A stand-in compiled step that traces apart."""

    tracing_count = 0

    def __init__(self, fail: BaseException | None = None) -> None:
        self.fail = fail
        self.traced_first = False

    def trace(self) -> None:
        self.traced_first = True

    def __call__(self, xs: Any, ys: Any, lrs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        assert self.traced_first
        if self.fail is not None:
            raise self.fail
        return np.zeros(len(lrs)), np.ones((len(lrs), 2))


def _step(compiled: _Compiled) -> Any:
    from ae_magic.probes.training import TrainStep

    step = TrainStep.__new__(TrainStep)
    step._compiled = compiled
    return step


def test_run_alongside_returns_both_results() -> None:
    (losses, norms), done = _step(_Compiled()).run_alongside(np.zeros((3, 4, 2)), np.zeros((3, 4, 2)), 0.0, lambda: "measured")
    assert done == "measured" and losses.shape == (3,) and norms.shape == (3, 2)


def test_the_steps_error_reaches_the_caller_and_wins_over_the_works() -> None:
    from ae_magic.errors import ModelError

    def work() -> None:
        raise ValueError("the pass failed too")

    with pytest.raises(ModelError, match="a training step fails"):
        _step(_Compiled(ModelError("a training step fails (x)"))).run_alongside(np.zeros((1, 2, 2)), np.zeros((1, 2, 2)), 0.0, work)
    with pytest.raises(ValueError, match="the pass failed too"):
        _step(_Compiled()).run_alongside(np.zeros((1, 2, 2)), np.zeros((1, 2, 2)), 0.0, work)
