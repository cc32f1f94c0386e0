"""The longer confirmation run ends once it froze (``ProbeSession.train(until_frozen=True)``), and says so.

The seed article 002's conv autoencoders at learning rate 0.1 die in their first steps: every gradient is
exactly zero from then on and the held-out loss is the same bit for bit for all 580 steps of the 4x run that
confirms their AE404 (17-25 s of a check). A run whose gradients are all zero and whose weights no longer
change can't change later, so the confirmation ends there; a healthy run, and a dead one whose weights still
move (weight decay, momentum), go on. Runs on every backend.
"""

from __future__ import annotations

import keras
import numpy as np

import ae_magic
from ae_magic.checks.longer_run import describe
from ae_magic.probes import ProbeSession


def _data() -> np.ndarray:
    rng = np.random.default_rng(0)
    return (rng.normal(size=(600, 4)) @ rng.normal(size=(4, 16))).astype("float32")


def _dead_model(optimizer: object = "adam") -> keras.Model:
    """A ReLU output whose bias keeps every unit below zero: the output is 0 and every gradient exactly 0."""
    keras.utils.set_random_seed(0)
    inp = keras.Input(shape=(16,))
    h = keras.layers.Dense(8, activation="relu")(inp)
    out = keras.layers.Dense(16, activation="relu", bias_initializer=keras.initializers.Constant(-100.0))(h)
    model = keras.Model(inp, out)
    model.compile(optimizer=optimizer, loss="mse")
    return model


def _healthy_model() -> keras.Model:
    keras.utils.set_random_seed(0)
    inp = keras.Input(shape=(16,))
    out = keras.layers.Dense(16)(keras.layers.Dense(4, activation="relu")(inp))
    model = keras.Model(inp, out)
    model.compile(optimizer="adam", loss="mse")
    return model


def _session(model: keras.Model) -> ProbeSession:
    sess = ProbeSession(model, _data())
    sess.prepare(subset=None, batch_size=None)
    return sess


def test_a_dead_network_stops_once_frozen_and_ends_where_the_full_run_ends() -> None:
    sess = _session(_dead_model())
    full = sess.train(steps=480)
    short = sess.train(steps=480, until_frozen=True)
    assert not full["frozen"] and len(full["loss"]) == 480
    assert short["frozen"] and short["stopped_early"] and len(short["loss"]) < 480
    # Two evaluation intervals at least: one to see it still, one to see it still again.
    assert len(short["val_curve"]["steps"]) >= 3
    # The rest of the run would have changed nothing: the same held-out numbers, bit for bit.
    assert short["baselines"]["final"] == full["baselines"]["final"]
    assert short["val_curve"]["loss"][-1] == full["val_curve"]["loss"][-1]
    assert short["output_spread"] == full["output_spread"]


def test_a_healthy_run_never_freezes() -> None:
    sess = _session(_healthy_model())
    run = sess.train(steps=480, until_frozen=True)
    assert not run["frozen"] and not run["stopped_early"] and len(run["loss"]) == 480


def test_weights_that_still_move_under_zero_gradients_are_not_frozen() -> None:
    # AdamW's decay shrinks every weight at each step though each gradient is 0 and the output stays 0:
    # the held-out loss is the same bit for bit, but the weights are not, so the run goes its full length.
    sess = _session(_dead_model(keras.optimizers.AdamW(learning_rate=1e-3, weight_decay=0.5)))
    run = sess.train(steps=480, until_frozen=True)
    assert run["val_curve"]["loss"][-1] == run["val_curve"]["loss"][1]  # (the output did stay 0)
    assert not run["frozen"] and len(run["loss"]) == 480


def test_the_message_says_why_the_run_ended() -> None:
    n = 120
    full = {"loss": [0.0] * (4 * n), "stopped_early": False, "frozen": False}
    left = {"loss": [0.0] * 200, "stopped_early": True, "frozen": False}
    frozen = {"loss": [0.0] * 150, "stopped_early": True, "frozen": True}
    assert describe(full, 4) == "a run 4x as long (480 steps)"
    assert "once it had left the baseline" in describe(left, 4) and "200 steps" in describe(left, 4)
    text = describe(frozen, 4)
    assert "up to 4x as long" in text and "150 steps" in text and "every gradient exactly zero" in text
    assert "left the baseline" not in text


# A ReLU output that training kills (the seed article 002's conv autoencoders at 0.1, made small).
DEAD_CELL = """\
import numpy as np
import keras
from keras import layers

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
x = (rng.normal(size=(800, 4)) @ rng.normal(size=(4, 16))).astype("float32")
x = (x - x.min()) / (x.max() - x.min())
inp = keras.Input(shape=(16,))
h = layers.Dense(8, activation="relu")(inp)
out = layers.Dense(16, activation="relu", bias_initializer=keras.initializers.Constant(3.0))(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0), loss="mse")
"""


def test_a_network_that_dies_in_training_gets_its_collapse_confirmed_on_the_frozen_run() -> None:
    # Plain SGD at 1.0 drives the ReLU output's bias below zero in the first steps: the output is 0 from then
    # on, every gradient exactly 0, and plain SGD has no momentum to move the weights further. At the initial
    # weights nothing is dead, so AE404 is confirmed on the longer run, which ends as soon as it froze.
    report = ae_magic.check(DEAD_CELL, namespace={}, data="x")
    assert not report.internal_errors
    collapse = [f for f in report.findings if f.code == "AE404"]
    assert collapse and collapse[0].severity == "error", report.codes
    cited = [t for t in [*(f.message for f in report.findings), *report.notes] if "as long" in t]
    assert cited and all("could no longer change" in t for t in cited), cited
    assert "still collapsed" in collapse[0].message
