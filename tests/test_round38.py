"""Round 38: what fresh cells (VAEs, sequence anomaly detectors, conv image AEs, forum questions) found.

* A tanh code that stays unsaturated in a slow starter (round 37's f05: an expression AE with BatchNorm and
  SGD with momentum, 3-unit tanh code for a 3-D plot, 0.93x the mean's error after the probe run, well below
  it after a longer one): AE106 was a warning from the structure alone. The longer run the training check
  makes now judges it; a tanh code measured saturated keeps its warning (or error).
"""

from __future__ import annotations

import ae_magic


def _loud(report: ae_magic.Report) -> list:
    return [f for f in report.findings if f.severity in ("warning", "error")]


TANH_SLOW = """\
import numpy as np
import keras
from keras import layers

keras.utils.set_random_seed(0)
rng = np.random.default_rng(5)
n, d, k = 600, 200, 5
tissue = rng.integers(0, k, n)
programs = rng.normal(0, 1.5, size=(k, d)) * (rng.random((k, d)) < 0.4)
expr = programs[tissue] + 0.3 * rng.normal(size=(n, 1)) * rng.normal(size=d) + rng.normal(0, 0.5, (n, d))
x = ((expr - expr.mean(axis=0)) / expr.std(axis=0)).astype("float32")

inp = keras.Input(shape=(d,))
h = layers.Dense(64)(inp)
h = layers.BatchNormalization()(h)
h = layers.LeakyReLU(negative_slope=0.1)(h)
z = layers.Dense(3, activation="tanh", CODE_ARGS name="code3d")(h)
h = layers.Dense(64)(z)
h = layers.BatchNormalization()(h)
h = layers.LeakyReLU(negative_slope=0.1)(h)
out = layers.Dense(d)(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer=keras.optimizers.SGD(learning_rate=LR, momentum=0.9), loss="mse")
"""


def _tanh(code_args: str = "", lr: str = "0.003") -> str:
    return TANH_SLOW.replace("CODE_ARGS ", code_args).replace("LR", lr)


def test_an_unsaturated_tanh_code_in_a_slow_starter_is_info_after_the_longer_run():
    report = ae_magic.check(_tanh(), namespace={}, data="x")
    assert not report.internal_errors
    assert _loud(report) == [], [(f.code, f.title, f.message[:200]) for f in _loud(report)]
    f = report.get("AE106")
    assert f is not None and f.severity == "info", report.codes
    assert f.evidence["learned"]["mse_end"] < 0.9 * f.evidence["learned"]["mean_baseline"]
    assert f.evidence["measured_saturated_share"]["after_probe"] < 0.25


def test_a_tanh_code_driven_into_saturation_keeps_its_warning():
    # Pre-activations of about +-30: the code sits at +-1 from the start and carries no gradient.
    report = ae_magic.check(_tanh('kernel_initializer=keras.initializers.RandomNormal(stddev=3.0), '),
                            namespace={}, data="x")
    f = report.get("AE106")
    assert f is not None and f.severity in ("warning", "error"), report.codes
