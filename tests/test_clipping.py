"""Gradient clipping that throttles every step (``checks/clipping.py``, round 45's aj08).

An SGD optimizer whose ``clipvalue`` is far below the gradients moves the weights a fraction of what its
learning rate says: the stall finding names the clip at its line, measured on the probe run's raw gradient
norms and confirmed by the same steps without the clip. A clip that only catches spikes, and a tight clip
under Adam (which rescales each step), are silent.
"""

from __future__ import annotations

import math

import pytest

import ae_magic
from ae_magic import trial
from ae_magic.checks.clipping import clip_setting, throttle
from ae_magic.options import Options
from ae_magic.session import Session

BARS = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(8)
n_img, side = 1200, 16
imgs = np.zeros((n_img, side, side), dtype="float32")
for i in range(n_img):
    rows = rng.choice(side, size=rng.integers(1, 3), replace=False)
    cols = rng.choice(side, size=rng.integers(1, 3), replace=False)
    imgs[i, rows, :] = 1.0
    imgs[i, :, cols] = 1.0
x_train = np.clip(imgs.reshape(n_img, -1) + rng.normal(0, 0.05, (n_img, side * side)), 0, 1).astype("float32")

model = keras.Sequential([
    keras.Input(shape=(side * side,)),
    layers.Dense(128, activation="relu"),
    layers.Dense(32, activation="relu"),
    layers.Dense(128, activation="relu"),
    layers.Dense(side * side, activation="sigmoid"),
])
model.compile(
    optimizer=OPTIMIZER,
    loss="binary_crossentropy",
)
"""


def _loud(report: ae_magic.Report) -> list:
    return [f for f in report.findings if f.severity in ("warning", "error")]


def _line(src: str, text: str) -> int:
    return next(i for i, line in enumerate(src.splitlines(), start=1) if text in line)


def test_throttle_bounds_what_each_kind_of_clip_lets_through():
    norms = {"a": [3.0, 3.0, 3.0], "b": [4.0, 4.0, 4.0]}
    sizes = {"a": (100, 2), "b": (400, 2)}
    # clipvalue 0.01: a keeps at most 0.01 * 10 = 0.1, b 0.01 * 20 = 0.2, of a raw norm of 5.
    assert throttle("clipvalue", 0.01, norms, sizes) == pytest.approx(math.sqrt(0.1**2 + 0.2**2) / 5)
    # clipnorm 1.0 per variable, two variables a layer: at most sqrt(2) of each layer.
    assert throttle("clipnorm", 1.0, norms, sizes) == pytest.approx(math.sqrt(2 + 2) / 5)
    assert throttle("global_clipnorm", 0.5, norms, sizes) == pytest.approx(0.1)
    # A clip the gradients never reach lets everything through.
    assert throttle("global_clipnorm", 50.0, norms, sizes) == pytest.approx(1.0)
    assert throttle("clipvalue", 0.01, {}, sizes) is None


def test_clip_setting_reads_the_optimizers_keyword():
    import keras

    assert clip_setting(keras.optimizers.SGD(0.1, clipvalue=1e-5)) == ("clipvalue", 1e-5)
    assert clip_setting(keras.optimizers.SGD(0.1, global_clipnorm=2.0)) == ("global_clipnorm", 2.0)
    assert clip_setting(keras.optimizers.SGD(0.1)) is None


def test_sgd_clipped_to_1e_5_per_element_is_named_at_the_clip_and_confirmed_unclipped():
    src = BARS.replace("OPTIMIZER", "keras.optimizers.SGD(learning_rate=0.5, momentum=0.9, clipvalue=1e-5)")
    report = ae_magic.check(src, namespace={}, data="x_train", seed=0)
    hits = [f for f in _loud(report) if "clipping" in f.evidence]
    assert len(hits) == 1, [(f.code, f.title) for f in report.findings]
    f = hits[0]
    assert f.code in ("AE402", "AE405", "AE404")
    assert f.line == _line(src, "clipvalue=1e-5")
    ev = f.evidence["clipping"]
    assert ev["clip"] == {"clipvalue": 1e-5}
    assert ev["throttle"] <= 0.1
    assert ev["unclipped_mse"] <= 0.5 * ev["clipped_mse"]
    assert "clipvalue=1e-05" in f.message and "higher learning rate gets there sooner" not in f.message
    assert "clipvalue" not in f.fix.splitlines()[-1]


@pytest.mark.parametrize("optimizer", [
    "keras.optimizers.SGD(learning_rate=0.5, momentum=0.9, clipnorm=1.0)",
    "keras.optimizers.Adam(learning_rate=1e-3, clipvalue=1e-5)",
])
def test_a_clip_that_catches_spikes_or_a_tight_clip_under_adam_is_not_named(optimizer):
    src = BARS.replace("OPTIMIZER", optimizer)
    report = ae_magic.check(src, namespace={}, data="x_train", seed=0)
    assert not [f for f in report.findings if "clipping" in f.evidence]
    assert not _loud(report), [(f.code, f.message[:200]) for f in _loud(report)]


def test_try_the_fix_drops_the_clip_and_verifies_it():
    src = BARS.replace("OPTIMIZER", "keras.optimizers.SGD(learning_rate=0.5, momentum=0.9, clipvalue=1e-5)")
    session = Session.from_cell(src, namespace={}, data="x_train", options=Options(seed=0))
    report = session.run()
    f = next(f for f in _loud(report) if "clipping" in f.evidence)
    assert f.edit is not None
    assert "clipvalue" not in f.edit["replacement"] and "learning_rate=0.5" in f.edit["replacement"]
    result = trial.try_fix(session, f, before=report)
    assert result.verified, result.reason
