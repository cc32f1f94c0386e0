"""Round 46: classes found by fresh cells (session 28).

* A skewed column log-transformed while it holds zeros, then standardised (an02, ao06, written apart): -inf,
  then NaN in the whole column. AE202 now points at the ``np.log`` line on the data's path
  (``checks/nonfinite_source.py``) when Inf is present or a feature is non-finite in most samples; scattered
  NaNs (missing values in the data itself) keep the data's line.
* A custom ``train_step`` whose forward pass runs before ``with tf.GradientTape()`` (ap01): the cell's own
  ``fit`` raised "No gradients provided". The model ``fit`` trains is diagnosed even though the innermost cell
  line of the traceback is inside ``train_step`` (``capture._trained_at_error`` reads every cell frame), and the
  error is AE301 at the forward pass's line, with the probes listed as skipped and why.
* A hand-written loss that squares a *weighted* mean error (ap06): per-feature weights made a scrambled
  sample cost 0.55x the mean's, over round 38's bar, so the loss was read as sound and the model, worse than
  the mean, got no finding. Misses of half a std in random directions against the same misses all one way
  (``loss_units["jittered"]``) tell a loss that reads only per-sample statistics regardless of weights.
"""

from __future__ import annotations

import keras
import pytest

import ae_magic
from ae_magic.checks.baseline import _blind_and_still_on_it, blind_loss
from ae_magic.report import Finding


def _loud(report: ae_magic.Report) -> list:
    return [f for f in report.findings if f.severity in ("warning", "error")]


def _line(src: str, text: str) -> int:
    return next(i for i, line in enumerate(src.splitlines(), start=1) if text in line)


TABLE = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(42)
n = 1500
k = rng.normal(size=(n, 2))
amount = np.round(np.exp(3.0 + 1.2 * k[:, 0] + 0.3 * rng.normal(size=n)), 2)
amount[rng.random(n) < 0.04] = 0.0
fee = 0.02 * amount + 0.3 * np.abs(rng.normal(size=n))
distance = np.exp(1.5 + 0.8 * k[:, 1] + 0.2 * rng.normal(size=n))
X = np.column_stack([amount, fee, distance, np.sin(k[:, 0])])
X[:, :3] = LOG(X[:, :3])
MISSING
X = (X - X.mean(axis=0)) / X.std(axis=0)
x_train = X.astype("float32")

model = keras.Sequential([
    keras.Input(shape=(4,)),
    layers.Dense(8, activation="relu"),
    layers.Dense(2),
    layers.Dense(8, activation="relu"),
    layers.Dense(4),
])
model.compile(optimizer="adam", loss="mse")
"""


def test_nan_from_a_log_of_zeros_then_standardised_is_ae202_at_the_log_line():
    src = TABLE.replace("LOG", "np.log").replace("MISSING", "")
    report = ae_magic.check(src, namespace={}, data="x_train")
    f = next(f for f in report.findings if f.code == "AE202")
    assert f.line == _line(src, "np.log(")
    assert f.evidence["source"]["function"] == "log" and f.evidence["source"]["features_nonfinite"] == 1
    assert "log1p" in f.fix


def test_missing_values_spread_by_a_standardisation_after_log1p_are_not_blamed_on_it():
    src = TABLE.replace("LOG", "np.log1p").replace("MISSING", "X[rng.random(X.shape) < 0.01] = np.nan")
    report = ae_magic.check(src, namespace={}, data="x_train", train=False)
    f = next(f for f in report.findings if f.code == "AE202")
    assert "source" not in f.evidence
    assert f.line != _line(src, "np.log1p(")


def test_scattered_missing_values_keep_ae202_off_the_log_line():
    src = TABLE.replace("LOG", "np.log").replace("amount[rng.random(n) < 0.04] = 0.0", "").replace("MISSING", "")
    src = src.replace('x_train = X.astype("float32")', 'X[rng.random(X.shape) < 0.01] = np.nan\nx_train = X.astype("float32")')
    report = ae_magic.check(src, namespace={}, data="x_train", train=False)
    f = next(f for f in report.findings if f.code == "AE202")
    assert "source" not in f.evidence
    assert f.line != _line(src, "np.log(")


def test_the_same_table_with_log1p_has_no_ae202():
    src = TABLE.replace("LOG", "np.log1p").replace("MISSING", "")
    report = ae_magic.check(src, namespace={}, data="x_train", train=False)
    assert "AE202" not in report.codes


SENSORS = """\
import numpy as np
import keras
from keras import layers, ops

rng = np.random.default_rng(5)
n, d = 1500, 40
cond = rng.normal(size=(n, 5))
load = rng.normal(size=(5, d))
x_train = np.tanh(cond @ load / 2) + 0.05 * rng.normal(size=(n, d))
x_train = ((x_train - x_train.mean(0)) / x_train.std(0)).astype("float32")

feature_weights = np.ones(d, dtype="float32")
feature_weights[:10] = 2.0


def weighted_mse(y_true, y_pred):
    err = (y_true - y_pred) * ops.convert_to_tensor(feature_weights)
    return REDUCE


inp = keras.Input(shape=(d,))
h = layers.Dense(32, activation="relu")(inp)
code = layers.Dense(6)(h)
h = layers.Dense(32, activation="relu")(code)
model = keras.Model(inp, layers.Dense(d)(h))
model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=weighted_mse)
"""


def test_a_loss_squaring_a_weighted_mean_error_is_ae405_at_its_return_line():
    src = SENSORS.replace("REDUCE", "ops.square(ops.mean(err, axis=-1))")
    report = ae_magic.check(src, namespace={}, data="x_train", seed=0)
    f = next(f for f in _loud(report) if f.code == "AE405")
    assert f.line == _line(src, "return ops.square")  # (a numpy weight array times a torch tensor raises on torch)
    assert "blind_loss" in f.evidence and "reads only per-sample statistics" in f.message


def test_blind_loss_reads_jitter_against_shift_when_weights_make_scrambling_costly():
    # ap06's numbers: scrambled 0.55x the mean's (over the 0.5 bar), jittered 0.03x the shift's.
    units = {"mean": 0.0218, "target": 0.0, "scrambled": 0.0121, "jittered": 0.0107,
             "shifted": {"up": [0.378, 1.51], "down": [0.378, 1.51]}}
    blind = blind_loss({"loss_name": "weighted_mse", "baselines": {"loss_units": units}})
    assert blind is not None and blind["jittered"] == 0.0107 and blind["shifted"] == 0.378
    # A per-element loss charges random misses as much as the shift: not blind.
    sound = dict(units, scrambled=0.05, jittered=0.37)
    assert blind_loss({"loss_name": "weighted_mse", "baselines": {"loss_units": sound}}) is None
    # Keras' own losses are never read in their own units here.
    assert blind_loss({"loss_name": "mse", "baselines": {"loss_units": units}}) is None


def test_a_blind_loss_keeps_ae405_until_the_longer_run_passes_the_bars():
    # On torch the 4x run of the blind loss above wandered to 1.229 against the mean's 1.036, "still falling", and
    # AE405 was dropped as a slow start (clean clone c55). A loss proven blind can't lead the model off the mean.
    trace = {"baselines": {"mean": 1.0, "pca": 0.2}}
    blamed = [Finding(code="AE405", severity="warning", title="t", message="m", evidence={"blind_loss": {"jittered": 0.01}})]

    def longer(final):
        return {"loss": [1.0] * 8, "val_curve": {"steps": [0, 8], "mse": [1.6, final]}}

    assert _blind_and_still_on_it(trace, longer(1.229), blamed)
    assert _blind_and_still_on_it(trace, longer(0.9), blamed)  # under the mean, far from PCA's 0.2
    assert not _blind_and_still_on_it(trace, longer(0.3), blamed)  # past every bar: it reconstructs after all
    plain = [Finding(code="AE405", severity="warning", title="t", message="m", evidence={})]
    assert not _blind_and_still_on_it(trace, longer(1.229), plain)  # (a loss not proven blind: the slow-start rule)


def test_the_weighted_mean_of_squared_errors_is_silent():
    src = SENSORS.replace("REDUCE", "ops.mean(ops.square(err), axis=-1)")
    report = ae_magic.check(src, namespace={}, data="x_train", seed=0)
    assert not _loud(report), [(f.code, f.message[:200]) for f in _loud(report)]
    units = report.traces["training"]["baselines"]["loss_units"]
    assert units["jittered"] > 0.5 * units["shifted"]["up"][0]


STEP = """\
import numpy as np
import tensorflow as tf
import keras
from keras import layers, ops

rng = np.random.default_rng(0)
x_train = (rng.normal(size=(600, 6)) @ rng.normal(size=(6, 24))).astype("float32")


class AutoEncoder(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.encoder = keras.Sequential([layers.Dense(16, activation="relu"), layers.Dense(6)])
        self.decoder = keras.Sequential([layers.Dense(16, activation="relu"), layers.Dense(24)])

    def call(self, inputs):
        return self.decoder(self.encoder(inputs))

    def train_step(self, data):
        x = data[0] if isinstance(data, tuple) else data
BODY
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        return {"loss": loss}


model = AutoEncoder()
model.compile(optimizer=keras.optimizers.Adam(1e-3))
model.build((None, 24))
model.fit(x_train, epochs=1, batch_size=64, verbose=0)
"""

OUTSIDE = """\
        reconstruction = self(x, training=True)
        with tf.GradientTape() as tape:
            loss = ops.mean(ops.square(x - reconstruction))"""

INSIDE = """\
        with tf.GradientTape() as tape:
            reconstruction = self(x, training=True)
            loss = ops.mean(ops.square(x - reconstruction))"""

needs_tf = pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the cell's train_step uses tf.GradientTape")


@needs_tf
def test_a_forward_pass_before_the_tape_is_ae301_at_its_line_when_the_cells_fit_raised():
    src = STEP.replace("BODY", OUTSIDE)
    report = ae_magic.check(src, namespace={}, data="x_train")
    f = next(f for f in report.findings if f.code == "AE301")
    assert f.severity == "error" and f.line == _line(src, "reconstruction = self(x")
    assert f.evidence["cell_error"] and "before the `with` block" in f.message
    assert "AE100" not in report.codes
    skipped = report.coverage["skipped"]
    assert "AE301" in skipped["training"] and "AE301" in skipped["gradients"]
    assert report.internal_errors == []


@needs_tf
def test_the_same_step_with_the_forward_pass_inside_the_tape_is_silent():
    src = STEP.replace("BODY", INSIDE)
    report = ae_magic.check(src, namespace={}, data="x_train")
    assert report.cell_error is None
    assert not {"AE301", "AE100"} & set(report.codes)
    assert "training" in report.coverage["ran"]

