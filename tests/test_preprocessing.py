"""Models that scale their data themselves: Rescaling, an adapted Normalization, BatchNormalization first.

The data checks judge the scale the first layer with weights receives, not
the raw array (no AE201 for 0-255 pixels behind ``Rescaling(1/255)``); the
probes' copy keeps an adapted ``Normalization``'s statistics (``set_weights``
alone leaves it normalising with mean 0 and variance 1); and a loss in raw
units, whose gradients are large by its scale alone, is no AE303 when the
probe run shows no overshoot. Written from the Keras preprocessing-layers
guide's pattern (scaling inside the model, so it takes raw inputs).
"""

from __future__ import annotations

import keras
import numpy as np

import ae_magic
from ae_magic import keras_compat as kc

PIXELS = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(2)
n, side = 600, 8
yy, xx = np.mgrid[:side, :side]
cy, cx = rng.uniform(2, 6, size=(2, n, 1, 1))
x = (255 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 4.0)).astype("uint8").reshape(n, side * side)

inputs = keras.Input(shape=(side * side,))
h = layers.Rescaling({scale})(inputs)
h = layers.Dense(32, activation="relu")(h)
code = layers.Dense(8, activation="relu")(h)
h = layers.Dense(32, activation="relu")(code)
h = layers.Dense(side * side, activation="sigmoid")(h)
outputs = layers.Rescaling(255.0)(h)  # back to pixel units: fit(x, x) on the raw frames
model = keras.Model(inputs, outputs)
model.compile(optimizer="adam", loss="mse")
model.summary()
"""

TABULAR = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(3)
signal = rng.normal(size=(1200, 3)) @ rng.normal(size=(3, 10)) + 0.1 * rng.normal(size=(1200, 10))
scales = np.array([1200.0, 35.0, 0.8, 410.0, 9.0, 2.5, 150.0, 60.0, 0.05, 900.0])
offsets = np.array([5e4, 300.0, 1.2, 2e3, 40.0, 7.0, 800.0, 120.0, 0.3, 1e4])
x = (signal * scales + offsets).astype("float32")  # raw sensor units

norm = layers.Normalization()
norm.adapt(x)
denorm = layers.Normalization(invert=True)
denorm.adapt(x)

inputs = keras.Input(shape=(10,))
h = layers.Dense(16, activation="relu")(norm(inputs))
code = layers.Dense(4, name="code")(h)
h = layers.Dense(16, activation="relu")(code)
outputs = denorm(layers.Dense(10)(h))
model = keras.Model(inputs, outputs)
model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
"""

BATCHNORM_FIRST = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(4)
x = (rng.normal(size=(800, 3)) @ rng.normal(size=(3, 12)) * 300 + 2000).astype("float32")
inputs = keras.Input(shape=(12,))
h = layers.BatchNormalization()(inputs)
h = layers.Dense(6, activation="relu")(h)
outputs = layers.Dense(12)(layers.Dense(6, activation="relu")(layers.Dense(3)(h)))
model = keras.Model(inputs, outputs)
model.compile(optimizer="adam", loss="mse")
"""


def _warnings(report: ae_magic.Report) -> list[str]:
    return [f.code for f in report.findings if f.severity in ("warning", "error")]


def test_pixels_rescaled_in_the_model_are_no_ae201_and_the_check_is_silent() -> None:
    report = ae_magic.check(PIXELS.format(scale="1.0 / 255"), namespace={}, data="x", seed=0)
    assert report.internal_errors == [] and not report.coverage.get("skipped"), report.text()
    assert _warnings(report) == [], report.text()


def test_a_rescaling_that_leaves_the_scale_far_from_unit_is_ae201_after_that_layer() -> None:
    report = ae_magic.check(PIXELS.format(scale="0.5"), namespace={}, data="x", seed=0, train=False)
    f = report.get("AE201")
    assert f is not None and f.evidence["after_layer"].startswith("rescaling"), report.text()
    assert f.evidence["max"] <= 0.5 * 255 + 1e-6


def test_an_adapted_normalization_is_no_ae201_and_the_raw_unit_loss_no_ae303() -> None:
    report = ae_magic.check(TABULAR, namespace={}, data="x", seed=0)
    assert report.internal_errors == [] and not report.coverage.get("skipped"), report.text()
    assert _warnings(report) == [], report.text()
    b = report.traces["training"]["baselines"]
    # The copy normalises like the user's model: it starts near the data's own scale, not at the
    # all-zero output's error (a copy normalising with mean 0 and variance 1 starts 1000x above the mean).
    assert b["start"] < 20 * b["mean"], b


def test_the_copy_keeps_an_adapted_normalizations_statistics() -> None:
    ns: dict = {}
    exec(compile(TABULAR, "<cell>", "exec"), ns)
    model, x = ns["model"], ns["x"]
    copy, in_place = kc.clone_model(model, x[:2])
    assert not in_place
    # (A forward pass on the user's model is the test's, to compare; ae_magic runs none.)
    np.testing.assert_allclose(kc.to_numpy(copy(x[:16])), kc.to_numpy(model(x[:16])), rtol=1e-4, atol=1e-2)


def test_batchnormalization_first_is_no_ae201_on_the_input_but_the_raw_target_is_named() -> None:
    report = ae_magic.check(BATCHNORM_FIRST, namespace={}, data="x", seed=0, train=False)
    titles = [f.title for f in report.findings if f.code == "AE201"]
    # The layers see unit-scale inputs; the linear output must still reproduce values near 2000 (measured: after
    # 30 epochs of fit the raw target ends at 2.7x the mean's error, a standardised one at 0.14x).
    assert titles == ["The target is not normalised"], report.text()


def test_raw_unit_gradients_stay_ae303_when_plain_sgd_overshoots() -> None:
    src = TABULAR.replace("keras.optimizers.Adam(1e-3)", "keras.optimizers.SGD(learning_rate=0.01)")
    report = ae_magic.check(src, namespace={}, data="x", seed=0)
    assert report.internal_errors == []
    codes = set(report.codes)
    assert codes & {"AE303", "AE401"}, report.text()


def test_no_keras_state_leaks_between_these_tests() -> None:
    # The cells above build models by the dozen; a leaked global (a policy, a mixed precision) would show here.
    assert keras.config.dtype_policy().name == "float32"


# AE201 the other way (round 11): spectra divided by their max while five 999999 missing-value codes were in
# them; the real readings end near 2e-6 and the probe run only saw a loss of 1e-11 "blow up".
SPECTRA = """\
import numpy as np
import keras
from keras import layers
rng = np.random.default_rng(0)
conc = rng.gamma(2.0, 1.0, size=(1000, 4))
spectra = conc @ rng.random((4, 32)) + 0.2 + 0.02 * rng.normal(size=(1000, 32))
{corrupt}
x = (spectra / {scale}).astype("float32")
inp = keras.Input(shape=(32,))
h = layers.Dense(16, activation="relu")(layers.Dense(32, activation="relu")(inp))
code = layers.Dense(4)(h)
out = layers.Dense(32)(layers.Dense(32, activation="relu")(code))
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer="adam", loss="mse")
"""


def _ae201(corrupt: str, scale: str, train: bool = False) -> ae_magic.Finding | None:
    src = SPECTRA.format(corrupt=corrupt, scale=scale)
    report = ae_magic.check(src, namespace={}, data="x", seed=0, train=train)
    f = report.get("AE201")
    assert f is None or f.line == src.splitlines().index(f"x = (spectra / {scale}).astype(\"float32\")") + 1
    return f


def test_outliers_that_set_the_scale_are_ae201_with_their_count() -> None:
    f = _ae201("spectra[[3, 50, 400, 401, 999], [1, 2, 3, 4, 5]] = 999999.0", "spectra.max()")
    assert f is not None and f.evidence["outliers"] == 5 and f.evidence["outlier_rows"] == 5
    assert "missing-value code" in f.message and f.evidence["abs_p99_9"] < 1e-4
    assert f.edit is None  # rescaling the whole array would keep the outliers: advice, not an edit to try


def test_data_far_below_unit_is_ae201_and_healthy_scales_are_silent() -> None:
    f = _ae201("", "1e6")  # no outliers: just tiny
    assert f is not None and "below unit scale" in f.message and "outliers" not in f.evidence
    assert f.edit is not None and "std()" in f.edit["replacement"]
    assert _ae201("", "spectra.max()") is None  # min-max scaled as it should be: [0.05, 1]
    assert _ae201("spectra -= spectra.mean(axis=0); spectra /= spectra.std(axis=0)", "1.0") is None  # standardised
    # Mostly zeros (MNIST has 81%) with the rest at unit scale: not tiny.
    assert _ae201("spectra[:, 4:] = 0.0", "spectra.max()") is None


# Round 16: a customer table standardised with one scalar mean and std for the whole array.
GLOBAL_SCALAR = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(0)
n = 800
age = rng.uniform(18, 80, n)
income = rng.lognormal(10.5, 0.5, n)
orders = rng.poisson(5, n).astype(float)
tenure = rng.uniform(0, 10, n)
raw = np.column_stack([age, income, orders, tenure, age * 0.1 + tenure])
X = ((raw - raw.mean()) / raw.std()).astype("float32")
inp = keras.Input(shape=(5,))
out = layers.Dense(5)(layers.Dense(3, activation="relu")(inp))
model = keras.Model(inp, out)
model.compile("adam", "mse")
"""


def test_features_standardised_with_one_scalar_get_ae201_at_that_line() -> None:
    report = ae_magic.check(GLOBAL_SCALAR, namespace={}, data="X", train=False)
    f = report.get("AE201")
    assert f is not None and f.title == "The features are on very different scales", report.text()
    assert f.line == GLOBAL_SCALAR.splitlines().index('X = ((raw - raw.mean()) / raw.std()).astype("float32")') + 1
    assert f.evidence["ratio"] >= 1000 and "axis=0" in f.fix


def test_features_standardised_per_column_or_min_max_scaled_are_fine() -> None:
    per_column = GLOBAL_SCALAR.replace("(raw - raw.mean()) / raw.std()", "(raw - raw.mean(axis=0)) / raw.std(axis=0)")
    min_max = GLOBAL_SCALAR.replace("(raw - raw.mean()) / raw.std()", "(raw - raw.min(0)) / (raw.max(0) - raw.min(0))")
    for cell in (per_column, min_max):
        assert cell != GLOBAL_SCALAR
        report = ae_magic.check(cell, namespace={}, data="X", train=False)
        assert report.get("AE201") is None, report.text()
