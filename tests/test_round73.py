"""Round 73 (session 40): fresh cells written blind (Keras 2 tutorials migrated to Keras 3; time-series and tabular
anomaly detectors and VAEs from GitHub issues); the fix its one miss of a line asked for.

* di02 (a GRU sequence autoencoder whose output is ``layers.TimeDistributed(`` with
  ``layers.Dense(n_features, activation="softmax")`` on the line under it): AE108 named the ``TimeDistributed(``
  line; the activation, and the fix, are on the Dense's line. A wrapper's line is now its wrapped layer's when
  that layer is written inside the wrapper's call (``Context.wrapped_line``), in the graph's nodes, in
  ``locate.created_within`` and in ``locate.layer_line``. A layer made in a statement of its own and wrapped later
  keeps the wrapper's line (the wrapper is what that line writes).
"""

from __future__ import annotations

import ae_magic
from ae_magic import graph
from ae_magic.session import Session


def _line(src: str, text: str) -> int:
    return next(i for i, line in enumerate(src.splitlines(), 1) if text in line)


DATA = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(0)
t = np.linspace(0, 4 * np.pi, 20)[None, :]
phase = rng.uniform(0, 2 * np.pi, size=(300, 1))
sequences = np.stack([np.sin(t + phase), np.cos(t + phase), np.sin(2 * t + phase)], axis=-1).astype("float32")
"""

SEQUENTIAL = DATA + """
model = keras.Sequential(
    [
        keras.Input(shape=(20, 3)),
        layers.GRU(16),
        layers.RepeatVector(20),
        layers.GRU(16, return_sequences=True),
        layers.TimeDistributed(
            layers.Dense(3, activation="ACT")
        ),
    ]
)
model.compile(optimizer="adam", loss="mse")
"""

FUNCTIONAL = DATA + """
inputs = keras.Input(shape=(20, 3))
h = layers.LSTM(16)(inputs)
h = layers.RepeatVector(20)(h)
h = layers.LSTM(16, return_sequences=True)(h)
outputs = layers.TimeDistributed(
    layers.Dense(3, activation="softmax"),
    name="per_step_head",
)(h)
model = keras.Model(inputs, outputs)
model.compile(optimizer="adam", loss="mse")
"""

MADE_APART = DATA + """
head = layers.Dense(3, activation="softmax")
inputs = keras.Input(shape=(20, 3))
h = layers.GRU(16, return_sequences=True)(inputs)
outputs = layers.TimeDistributed(head)(h)
model = keras.Model(inputs, outputs)
model.compile(optimizer="adam", loss="mse")
"""


def _loud(report: ae_magic.Report, code: str) -> list[ae_magic.Finding]:
    return [f for f in report.findings if f.code == code and f.severity in ("warning", "error")]


def test_a_softmax_wrapped_over_two_lines_in_a_sequential_is_named_at_the_dense_line() -> None:
    src = SEQUENTIAL.replace("ACT", "softmax")
    report = ae_magic.check(src, namespace={}, data="sequences", train=False)
    found = _loud(report, "AE108")
    assert found and found[0].line == _line(src, 'layers.Dense(3, activation="softmax")'), report.text()


def test_a_softmax_wrapped_over_lines_in_a_functional_call_is_named_at_the_dense_line() -> None:
    report = ae_magic.check(FUNCTIONAL, namespace={}, data="sequences", train=False)
    found = _loud(report, "AE108")
    assert found and found[0].line == _line(FUNCTIONAL, 'layers.Dense(3, activation="softmax")'), report.text()


def test_a_layer_made_apart_and_wrapped_later_keeps_the_wrappers_line() -> None:
    ctx = Session.from_cell(MADE_APART, namespace={}, data="sequences")._base
    wrapper = next(n for n in graph.analyze(ctx).nodes if n.cls == "TimeDistributed")
    assert wrapper.line == _line(MADE_APART, "layers.TimeDistributed(head)")


def test_the_same_sequence_model_with_a_linear_head_is_silent_about_its_output() -> None:
    src = SEQUENTIAL.replace("ACT", "linear")
    report = ae_magic.check(src, namespace={}, data="sequences", train=False)
    assert not _loud(report, "AE108") and not _loud(report, "AE203"), report.text()
