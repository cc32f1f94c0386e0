"""Round 79 (session 43): fresh cells written blind (image autoencoders; VAEs; sequence autoencoders); the fixes
its misses asked for.

* dx09 (the TensorFlow CVAE tutorial moved into a Keras 3 ``train_step``, with ``activation="sigmoid"`` added to
  the decoder's last layer while the loss still calls ``tf.nn.sigmoid_cross_entropy_with_logits``): no AE108,
  only the collapse it causes. A hand-written logits cross-entropy of a prediction whose output layer already
  applies a sigmoid is AE108, named at that output layer (``loss_args``).
* dx10 (a healthy slow-starting VAE: a subclassed model wrapping two Sequential parts, compiled and fitted):
  the check diagnosed the uncompiled ``encoder_body`` (64 -> 256 -> 128 -> 64, an autoencoder by its shapes)
  and warned AE104/AE108 on it. The model the cell compiles is the one it trains (``capture.choose_model``).
* dw10 (the TensorFlow tutorial's subclassed ``Denoise`` compiled with ``Adam(learning_rate=1.0)``): the
  cell's fit killed every unit, and the report said "cut off" (AE301) without naming the rate. The wrecked
  start is now measured from fresh weights for a subclassed model too (``kc.fresh_copy`` with a sample).
"""

from __future__ import annotations

import ae_magic


def _line(src: str, text: str) -> int:
    return next(i for i, line in enumerate(src.splitlines(), 1) if text in line)


def _loud(report: ae_magic.Report, code: str | None = None) -> list[ae_magic.Finding]:
    return [f for f in report.findings if (code is None or f.code == code) and f.severity in ("warning", "error")]


CVAE = """\
import numpy as np
import tensorflow as tf
import keras
from keras import layers

rng = np.random.default_rng(0)
train_images = (rng.random((256, 8, 8, 1)) < 0.3).astype("float32")


class CVAE(keras.Model):
    def __init__(self, latent_dim):
        super().__init__()
        self.encoder = keras.Sequential([
            keras.Input(shape=(8, 8, 1)),
            layers.Conv2D(16, 3, strides=2, padding="same", activation="relu"),
            layers.Flatten(),
            layers.Dense(latent_dim + latent_dim),
        ])
        self.decoder = keras.Sequential([
            keras.Input(shape=(latent_dim,)),
            layers.Dense(4 * 4 * 16, activation="relu"),
            layers.Reshape((4, 4, 16)),
            layers.Conv2DTranspose(16, 3, strides=2, padding="same", activation="relu"),
            layers.Conv2DTranspose(1, 3, strides=1, padding="same"OUT_ACT),
        ])
        self.tracker = keras.metrics.Mean(name="loss")

    @property
    def metrics(self):
        return [self.tracker]

    def call(self, x):
        mean, logvar = tf.split(self.encoder(x), num_or_size_splits=2, axis=1)
        return self.decoder(mean + tf.exp(0.5 * logvar) * tf.random.normal(tf.shape(mean)))

    def train_step(self, x):
        with tf.GradientTape() as tape:
            mean, logvar = tf.split(self.encoder(x), num_or_size_splits=2, axis=1)
            z = mean + tf.exp(0.5 * logvar) * tf.random.normal(tf.shape(mean))
            x_logit = self.decoder(z)
            cross_ent = tf.nn.sigmoid_cross_entropy_with_logits(logits=x_logit, labels=x)
            kl = -0.5 * tf.reduce_sum(1 + logvar - tf.square(mean) - tf.exp(logvar), axis=1)
            loss = tf.reduce_mean(tf.reduce_sum(cross_ent, axis=[1, 2, 3]) + kl)
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        self.tracker.update_state(loss)
        return {"loss": self.tracker.result()}


model = CVAE(4)
model.compile(optimizer=keras.optimizers.Adam(1e-3))
"""


def _has_tf() -> bool:
    import keras

    return keras.backend.backend() == "tensorflow"


def test_a_logits_loss_on_a_sigmoid_output_is_ae108_at_the_output_layer() -> None:
    import pytest

    if not _has_tf():
        pytest.skip("the cell's train_step is written with tf.GradientTape (TensorFlow only)")
    src = CVAE.replace("OUT_ACT", ', activation="sigmoid"')
    report = ae_magic.check(src, namespace={}, data="train_images")
    assert not report.internal_errors, report.internal_errors
    f = next((g for g in _loud(report, "AE108") if g.evidence.get("from_logits") is True), None)
    assert f is not None, report.text()
    assert f.line == _line(src, 'padding="same", activation="sigmoid"'), f
    assert f.evidence["loss_line"] == _line(src, "sigmoid_cross_entropy_with_logits")


def test_a_logits_loss_on_a_linear_output_is_silent() -> None:
    # The tutorial as written: the decoder gives logits, the loss applies the sigmoid.
    import pytest

    if not _has_tf():
        pytest.skip("the cell's train_step is written with tf.GradientTape (TensorFlow only)")
    report = ae_magic.check(CVAE.replace("OUT_ACT", ""), namespace={}, data="train_images", train=False)
    assert not report.internal_errors, report.internal_errors
    assert not [f for f in report.findings if f.code == "AE108"], report.text()


FUNCTIONAL_LOGITS = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(1)
x_train = (rng.random((300, 32)) < 0.4).astype("float32")


def bce_logits(y_true, y_pred):
    return keras.losses.binary_crossentropy(y_true, y_pred, from_logits=True)


inp = keras.Input(shape=(32,))
h = layers.Dense(8, activation="relu")(inp)
out = layers.Dense(32OUT_ACT)(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer="adam", loss=bce_logits)
"""


def test_a_compiled_loss_function_taking_logits_of_a_sigmoid_output_is_ae108() -> None:
    src = FUNCTIONAL_LOGITS.replace("OUT_ACT", ', activation="sigmoid"')
    report = ae_magic.check(src, namespace={}, data="x_train", train=False)
    f = next((g for g in _loud(report, "AE108") if g.evidence.get("from_logits") is True), None)
    assert f is not None, report.text()
    assert f.line == _line(src, "out = layers.Dense(32")
    silent = ae_magic.check(FUNCTIONAL_LOGITS.replace("OUT_ACT", ""), namespace={}, data="x_train", train=False)
    assert not [g for g in silent.findings if g.code == "AE108"], silent.text()


WRAPPED_VAE = """\
import numpy as np
import keras
from keras import layers, ops

rng = np.random.default_rng(2)
X = rng.random((400, 16)).astype("float32")
code_size = 4


class Sampling(layers.Layer):
    def call(self, inputs):
        mean, log_var = inputs
        return mean + ops.exp(0.5 * log_var) * keras.random.normal(ops.shape(mean))


encoder_body = keras.Sequential([keras.Input(shape=(16,)), layers.Dense(64, activation="relu"),
                                 layers.Dense(16, activation="relu")], name="encoder_body")
decoder = keras.Sequential([keras.Input(shape=(code_size,)), layers.Dense(32, activation="relu"),
                            layers.Dense(16, activation="sigmoid")], name="decoder")


class WrappedVAE(keras.Model):
    def __init__(self, body, decoder, **kwargs):
        super().__init__(**kwargs)
        self.body = body
        self.mean_layer = layers.Dense(code_size)
        self.log_var_layer = layers.Dense(code_size)
        self.sampler = Sampling()
        self.decoder = decoder

    def call(self, x):
        h = self.body(x)
        return self.decoder(self.sampler([self.mean_layer(h), self.log_var_layer(h)]))


vae = WrappedVAE(encoder_body, decoder)
vae.compile(optimizer="adam", loss="binary_crossentropy")
vae.fit(X, X, epochs=1, batch_size=32, verbose=0)
"""


def test_the_compiled_model_is_diagnosed_not_a_part_shaped_like_an_autoencoder() -> None:
    report = ae_magic.check(WRAPPED_VAE, namespace={}, data="X", train=False)
    assert (report.model or {}).get("variable") == "vae", (report.model, report.text())


WRECKED_SUBCLASSED = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(3)
# Smooth images of a few factors: compressible, as digits are.
basis = np.sin(np.linspace(0, 3, 144)[None, :] * np.arange(1, 4)[:, None] + rng.uniform(0, 3, (3, 1)))
x_train = (1 / (1 + np.exp(-2 * rng.normal(size=(320, 3)) @ basis))).reshape(320, 12, 12, 1).astype("float32")


class Denoise(keras.Model):
    def __init__(self):
        super().__init__()
        self.encoder = keras.Sequential([
            layers.Input(shape=(12, 12, 1)),
            layers.Conv2D(8, 3, activation="relu", padding="same", strides=2),
        ])
        self.decoder = keras.Sequential([
            layers.Conv2DTranspose(8, 3, strides=2, activation="relu", padding="same"),
            layers.Conv2D(1, 3, activation="sigmoid", padding="same"),
        ])

    def call(self, x):
        return self.decoder(self.encoder(x))


keras.utils.set_random_seed(0)
autoencoder = Denoise()
autoencoder.compile(optimizer=keras.optimizers.Adam(learning_rate=RATE), loss="mse")
autoencoder.fit(x_train, x_train, epochs=3, batch_size=32, verbose=0)
"""


def test_a_subclassed_model_wrecked_by_the_cells_fit_names_the_rate() -> None:
    src = WRECKED_SUBCLASSED.replace("RATE", "3.0")
    report = ae_magic.check(src, namespace={}, data="x_train")
    assert not report.internal_errors, report.internal_errors
    if not any(f.code in ("AE301", "AE304") and f.severity in ("warning", "error") for f in report.findings):
        import pytest

        pytest.skip("this backend's fit at rate 3 did not leave the units dead (nothing to trace back)")
    f = report.get("AE401")
    assert f is not None and f.severity == "error", report.text()
    assert f.line == _line(src, "learning_rate=3.0")
    assert f.evidence["fresh_at_lower"]["final_mse"] < f.evidence["mean_baseline"]


def test_a_healthy_subclassed_model_is_not_called_wrecked() -> None:
    report = ae_magic.check(WRECKED_SUBCLASSED.replace("RATE", "1e-3"), namespace={}, data="x_train")
    assert not report.internal_errors, report.internal_errors
    assert not [f for f in report.findings if f.code == "AE401"], report.text()


# dy06 (a healthy masked LSTM on zero-padded gestures, a slow and bumpy start): over a few unseeded runs the held-out
# curve's bumps made AE403 "the rate overshoots" stand when a quarter of the rate ended 4-11 % lower after the same
# steps, although 30 epochs at the configured rate take it to 0.07x the mean's error. The confirmation is a pure
# function of the runs, so it is tested on them directly: the model decides only whether its recurrent units are
# bounded.
def _lstm(activation: str):
    import keras
    from keras import layers

    inp = keras.Input(shape=(8, 1))
    out = layers.TimeDistributed(layers.Dense(1))(
        layers.LSTM(4, return_sequences=True)(layers.RepeatVector(8)(layers.LSTM(4, activation=activation)(inp))))
    return keras.Model(inp, out)


def _oscillation(activation: str, lower_end: float, leaves: bool):
    from types import SimpleNamespace

    from ae_magic.checks.loss_curve import confirm_oscillation
    from ae_magic.report import Finding

    curve = [0.21, 0.20, 0.205, 0.20, 0.23, 0.20, 0.195, 0.185, 0.19, 0.18]  # bumpy, ends 0.73x the mean
    tr = {"lr": 0.002, "val_curve": {"loss": curve}, "baselines": {"mean": 0.246, "final": 0.18, "pca": 0.0044}}
    osc = Finding(code="AE403", severity="warning", title="t", message="m.", evidence={"fix_lr": 0.0005})
    here = sum(curve[-3:]) / 3
    lower = {"val_curve": {"loss": [0.21, 0.2, 0.19, here * lower_end, here * lower_end, here * lower_end]}}
    ctx = SimpleNamespace(model=_lstm(activation), notes=[])
    asked: list[float] = []

    def rerun(lr: float):
        asked.append(lr)
        return lower

    found = confirm_oscillation(ctx, tr, [osc], rerun, lambda: leaves)
    assert asked == [0.0005]
    return found, ctx.notes


def test_bumps_of_a_bounded_lstm_that_learns_are_not_overshoot() -> None:
    found, notes = _oscillation("tanh", 0.96, leaves=True)  # a quarter of the rate 4 % lower
    assert found == [] and any("not steps that overshoot" in n for n in notes), notes


def test_a_smaller_rate_clearly_ahead_is_a_note_when_the_rate_learns() -> None:
    found, _ = _oscillation("tanh", 0.85, leaves=True)  # 15 % lower: worth trying, not a fault
    assert [(f.code, f.severity) for f in found] == [("AE403", "info")]
    assert found[0].evidence["learns_at_configured_rate"] is True


def test_bumps_stay_ae403_when_the_longer_run_does_not_leave_the_mean() -> None:
    found, _ = _oscillation("tanh", 0.96, leaves=False)
    assert [(f.code, f.severity) for f in found] == [("AE403", "warning")]
    found, _ = _oscillation("tanh", 0.85, leaves=False)
    assert [(f.code, f.severity) for f in found] == [("AE403", "warning")]


def test_bumps_of_a_relu_lstm_stay_the_rates() -> None:
    # Unbounded recurrent units: a large step grows the state, so the bumps are the rate's (the family zoo's
    # lstm_relu_units_explode: 6 % lower at a fifth of Adam(0.01), and its longer run leaves the mean).
    found, _ = _oscillation("relu", 0.96, leaves=True)
    assert [(f.code, f.severity) for f in found] == [("AE403", "warning")]
    found, _ = _oscillation("relu", 0.85, leaves=True)
    assert [(f.code, f.severity) for f in found] == [("AE403", "warning")]


# dy08 (a healthy strided Conv1D autoencoder at Adam(1e-4), a slow starter): the range test, read from the weights
# the cell's fit left, pointed at 5e-4; followed, the next check pointed at 2e-3, 4x further (issue item 8). A
# confirmed faster suggestion is now tried 3x higher (twice at most, never past the optimizer's cap) and replaced
# when that run is confirmed too and ends 10 % lower still. The choice is a function of the repeat runs: a session
# whose runs end where a table says is enough to test it.
def _stepping(ends: dict[float, float], suggested: float = 5e-4, configured: float = 1e-4, cap: bool = True):
    from types import SimpleNamespace

    import keras

    from ae_magic.checks.faster_rate import confirm_suggested_rate, faster

    asked: list[float] = []

    def train(epochs=None, steps=None, lr=None):
        asked.append(lr)
        end = ends[lr]
        return {"loss": [1.0, 0.5, end], "val_loss_before": 1.0, "diverged": end != end,
                "val_curve": {"steps": [0, 1, 2], "loss": [1.0, (1.0 + end) / 2, end]}}

    opt = keras.optimizers.Adam(configured) if cap else keras.optimizers.SGD(configured)
    sess = SimpleNamespace(optimizer=opt, train=train)
    trace = {"lr": configured, "diverged": False, "val_curve": {"steps": [0, 1, 2], "loss": [1.0, 0.95, 0.9]}}
    lr_trace = {"suggested": suggested}
    confirm_suggested_rate(sess, SimpleNamespace(epochs=None, steps=None), trace, lr_trace, None)
    ctx = SimpleNamespace(model=SimpleNamespace(optimizer=opt), source="", cell_line=lambda n: n,
                          line_text=lambda n: None, options=SimpleNamespace())
    return asked, lr_trace, faster(ctx, trace, lr_trace) if "confirm" in lr_trace else []


def test_a_faster_rate_that_does_better_3x_higher_is_stepped_up() -> None:
    asked, lr_trace, found = _stepping({5e-4: 0.5, 2e-3: 0.3, 6e-3: 0.2})
    assert asked == [5e-4, 2e-3, 6e-3]
    assert lr_trace["confirm"]["lr"] == 6e-3
    assert found and found[0].evidence["suggested_lr"] == 6e-3
    assert found[0].evidence["stepped_up_from"]["lr"] == 2e-3
    assert "pointed at 0.0005" in found[0].message


def test_the_step_up_stops_where_the_higher_rate_does_no_better_or_diverges() -> None:
    asked, lr_trace, found = _stepping({5e-4: 0.5, 2e-3: 0.48})  # 4 % lower: within the noise
    assert asked == [5e-4, 2e-3] and lr_trace["confirm"]["lr"] == 5e-4 and found[0].evidence["suggested_lr"] == 5e-4
    assert "stepped_up_from" not in found[0].evidence
    asked, lr_trace, _ = _stepping({5e-4: 0.5, 2e-3: float("nan")})
    assert asked == [5e-4, 2e-3] and lr_trace["confirm"]["lr"] == 5e-4


def test_the_step_up_keeps_under_an_adaptive_optimizers_cap_and_needs_a_confirmed_start() -> None:
    from ae_magic.checks.optimizer_source import ADAPTIVE_MAX_LR

    top = float(f"{ADAPTIVE_MAX_LR / 2:.1g}")
    asked, lr_trace, _ = _stepping({top: 0.5, ADAPTIVE_MAX_LR: 0.2}, suggested=top)
    assert max(asked) <= ADAPTIVE_MAX_LR and lr_trace["confirm"]["lr"] == ADAPTIVE_MAX_LR
    asked, _, found = _stepping({5e-4: 0.88})  # the suggestion itself is not 10 % better: no step, no advice
    assert asked == [5e-4] and found == []
    asked, _, _ = _stepping({5e-5: 0.5}, suggested=5e-5, configured=1e-3)  # a slower suggestion: never stepped
    assert asked == [5e-5]


# Round 77's dr06 (a healthy ECG-beat autoencoder, a slow starter), re-run unseeded in session 43: in 1 run of 10 the
# cell's 3-epoch fit left 6 of the 8 code units dead, the probe run from there ended at 1.09x the mean's error, and
# AE304 stood as a warning: nothing asked the longer run that tells a slow start (refine's `_learns_anyway`). Seeded
# here where TensorFlow's fit leaves them dead.
ECG_SLOW = """\
import numpy as np
import keras
from keras import layers

# Heartbeat anomaly detection, ECG5000 layout (140 samples per beat, label 1 = normal).
# Min-max scaling with the training min/max as in the TF tutorial; a plain Sequential autoencoder.
keras.utils.set_random_seed(3)
rng = np.random.default_rng(123)
steps = np.arange(140) / 139.0

def make_beats(n, label):
    hr = rng.normal(0, 0.02, size=(n, 1))
    r_amp = rng.normal(3.0, 0.5, size=(n, 1))
    wave = (0.3 * np.exp(-((steps - 0.18 + hr) ** 2) / 0.0015)
            + r_amp * np.exp(-((steps - 0.38 + hr) ** 2) / 0.0003)
            - 0.8 * np.exp(-((steps - 0.42 + hr) ** 2) / 0.0005)
            + 0.6 * np.exp(-((steps - 0.68 + 2 * hr) ** 2) / 0.005))
    if label == 0:
        wave = wave + 0.9 * np.sin(2 * np.pi * 3 * steps + rng.uniform(0, 6, size=(n, 1)))
    wander = rng.normal(0, 0.3, size=(n, 1)) + rng.normal(0, 0.4, size=(n, 1)) * (steps - 0.5)
    return wave - 1.5 + wander + 0.04 * rng.normal(size=(n, 140)), np.full(n, label)

beats_ok, y_ok = make_beats(1100, 1)
beats_bad, y_bad = make_beats(150, 0)
ecg = np.vstack([beats_ok, beats_bad])
labels = np.concatenate([y_ok, y_bad])
perm = rng.permutation(len(ecg))
ecg, labels = ecg[perm], labels[perm]

train_part, test_part = ecg[:1000], ecg[1000:]
train_labels, test_labels = labels[:1000], labels[1000:]
min_val, max_val = train_part.min(), train_part.max()
train_part = (train_part - min_val) / (max_val - min_val)
test_part = np.clip((test_part - min_val) / (max_val - min_val), 0, 1)

normal_train = train_part[train_labels == 1].astype("float32")
normal_test = test_part[test_labels == 1].astype("float32")
anomalous_test = test_part[test_labels == 0].astype("float32")

ecg_autoencoder = keras.Sequential([
    keras.Input(shape=(140,)),
    layers.Dense(128, activation="relu"),
    layers.Dense(64, activation="relu"),
    layers.Dense(8, activation="relu"),
    layers.Dense(64, activation="relu"),
    layers.Dense(128, activation="relu"),
    layers.Dense(140, activation="sigmoid"),
], name="ecg_ae")
ecg_autoencoder.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3), loss="mse")
ecg_autoencoder.fit(normal_train, normal_train, epochs=3, batch_size=32,
                    validation_data=(normal_test, normal_test), verbose=0)
"""


def test_units_the_cells_fit_killed_are_judged_on_the_longer_run_when_the_probe_has_not_learned() -> None:
    import pytest

    report = ae_magic.check(ECG_SLOW, namespace={}, data="normal_train")
    assert not report.internal_errors, report.internal_errors
    dead = report.get("AE304")
    # (A report whose AE304 is info for another reason, revived by the probe run itself, has nothing to show here.)
    revived = dead is not None and dead.severity == "info" and "learned_after" not in dead.evidence
    if dead is None or dead.evidence.get("when") != "at the initial weights" or revived:
        pytest.skip("this backend's fit did not leave the code units dead (the case the test is for)")
    assert dead.severity == "info" and dead.evidence["learned_after"]["mse_end"] < dead.evidence["learned_after"][
        "mean_baseline"], report.text()
    assert not _loud(report), report.text()


# Round 80's ea09 (a customer-segmentation autoencoder "scaled" with sklearn's `normalize`, which scales each row to
# unit length): income set every row's length, so each row was about [0, 1, 0, ...] and the samples nearly
# identical. The report said "scaled as a whole (divided by its maximum, say)". Rows of unit length are now read
# as a per-row scaling (`row_scaled`), named at the normalize() line, with a per-column fix; one AE201, not two.
ROW_NORMALISED = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(0)
n = 600
age = rng.integers(18, 80, n).astype(float)
income = rng.lognormal(10.5, 0.4, n)
visits = rng.poisson(5, n).astype(float)
spend = income * rng.uniform(0.01, 0.05, n)
customers = np.column_stack([age, income, visits, spend, rng.normal(50, 10, n)])
X = customers / np.linalg.norm(customers, axis=1, keepdims=True)NORM

inp = keras.Input(shape=(5,))
ae = keras.Model(inp, layers.Dense(5)(layers.Dense(2, activation="relu")(inp)))
ae.compile(optimizer="adam", loss="mse")
"""


def test_rows_scaled_to_unit_length_are_named_at_that_line() -> None:
    src = ROW_NORMALISED.replace("NORM", "")
    report = ae_magic.check(src, namespace={}, data="X", train=False)
    found = [f for f in report.findings if f.code == "AE201"]
    assert len(found) == 1 and found[0].evidence.get("per_row") == "unit-norm", report.text()
    assert found[0].line == _line(src, "np.linalg.norm(customers, axis=1")
    # Scaled per column instead: silent.
    fixed = ROW_NORMALISED.replace("customers / np.linalg.norm(customers, axis=1, keepdims=True)NORM",
                                   "(customers - customers.mean(0)) / customers.std(0)")
    report = ae_magic.check(fixed, namespace={}, data="X", train=False)
    assert not [f for f in report.findings if f.code == "AE201"], report.text()


# Round 80's ea01 (Kaggle's credit-card fraud autoencoder): `scaler.fit(X_train)` on a line of its own and no
# `scaler.transform` anywhere, so the raw seconds and amounts go in. AE201 named the array's line; the fix goes
# where the scaler is fitted and not applied.
UNAPPLIED = """\
import numpy as np
import keras
from keras import layers


class StandardScaler:  # sklearn's, written out (the test environment need not have scikit-learn)
    def fit(self, x):
        self.mean_, self.scale_ = x.mean(axis=0), x.std(axis=0)
        return self

    def transform(self, x):
        return (x - self.mean_) / self.scale_

    def fit_transform(self, x):
        return self.fit(x).transform(x)


rng = np.random.default_rng(0)
X_train = np.column_stack([rng.uniform(0, 170000, 500), rng.normal(size=(500, 4)), rng.lognormal(4, 1, 500)])
scaler = StandardScaler()
APPLY

inp = keras.Input(shape=(6,))
ae = keras.Model(inp, layers.Dense(6)(layers.Dense(3, activation="relu")(inp)))
ae.compile(optimizer="adam", loss="mse")
"""


def test_a_scaler_fitted_and_never_applied_is_named_where_it_is_fitted() -> None:
    for apply, how in (("scaler.fit(X_train)", "fit"), ("scaler.fit_transform(X_train)", "discarded")):
        src = UNAPPLIED.replace("APPLY", apply)
        report = ae_magic.check(src, namespace={}, data="X_train", train=False)
        f = report.get("AE201")
        assert f is not None and f.line == _line(src, apply), report.text()
        assert f.evidence["unapplied_scaler"] == {"scaler": "scaler", "how": how}
        assert f.fix.startswith("X_train = scaler.fit_transform(X_train)")
    # Applied: the data is scaled, and silent.
    src = UNAPPLIED.replace("APPLY", "X_train = scaler.fit_transform(X_train)")
    report = ae_magic.check(src, namespace={}, data="X_train", train=False)
    assert report.get("AE201") is None, report.text()


# Round 80's eb04 (the Keras blog's sparse autoencoder with `activity_regularizer=l1(1e-1)`, about 1000x too strong,
# written on the line under the Dense call): AE405 "held by the penalty" named the Dense call's first line; the fix
# changes the regularizer's.
STRONG_L1 = """\
import numpy as np
import keras
from keras import layers, regularizers

rng = np.random.default_rng(0)
n_windows, win = 800, 128
t = np.arange(win) / win
freqs = rng.uniform(1, 6, size=(n_windows, 2))
phases = rng.uniform(0, 2 * np.pi, size=(n_windows, 2))
amps = rng.uniform(0.3, 1.0, size=(n_windows, 2))
signals = (amps[:, :1] * np.sin(2 * np.pi * freqs[:, :1] * t + phases[:, :1])
           + amps[:, 1:] * np.sin(2 * np.pi * freqs[:, 1:] * t + phases[:, 1:]))
signals += 0.05 * rng.standard_normal(signals.shape)
signals = ((signals - signals.mean()) / signals.std()).astype("float32")

sparse_ae = keras.Sequential([
    keras.Input(shape=(win,)),
    layers.Dense(64, activation="relu"),
    layers.Dense(16, activation="relu",
                 activity_regularizer=regularizers.l1(1e-1)),
    layers.Dense(64, activation="relu"),
    layers.Dense(win),
], name="sparse_signal_ae")
sparse_ae.compile(optimizer="adam", loss="mse")

sparse_ae.fit(signals, signals, epochs=3, batch_size=32, validation_split=0.1, verbose=0)
"""


def test_a_penalty_written_on_its_own_line_is_named_there() -> None:
    report = ae_magic.check(STRONG_L1, namespace={}, data="signals")
    assert not report.internal_errors, report.internal_errors
    # AE405 held by the penalty (TensorFlow, JAX), or AE304 for the code units the penalty killed (torch): named
    # at the regularizer either way.
    f = next((g for g in _loud(report) if g.evidence.get("held_by_penalty") or g.evidence.get("activity_regularizer")),
             None)
    assert f is not None, report.text()
    assert f.line == _line(STRONG_L1, "activity_regularizer=regularizers.l1(1e-1)"), report.text()
