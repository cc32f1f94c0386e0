"""Round 31: what round 30 left and fresh cells found.

A train_step that draws unseeded noise (``keras.random.normal(shape)``, the keras.io VAE's style)
captures Keras' global seed generator when TensorFlow traces it. The probes re-seed before each
run, which dropped that generator; the next trace of the step (the epoch's smaller last batch)
then created a new one, a variable TensorFlow refuses after a function's first call. With
``--range-test`` (the range test traces the step before the probe run), a healthy VAE got a false
AE100 and "model.fit fails the same way".
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

import ae_magic


def _loud(report: ae_magic.Report) -> list:
    return [f for f in report.findings if f.severity in ("warning", "error")]


UNSEEDED_STEP = """\
import numpy as np
import tensorflow as tf
import keras
from keras import layers, ops

rng = np.random.default_rng(3)
# More windows than the range test's steps cover: the epoch's smaller last batch is first traced in the probe run.
t = np.linspace(0, 1, 24)
x = np.sin(2 * np.pi * (rng.uniform(1, 3, (2000, 1)) * t + rng.uniform(0, 1, (2000, 1)))).astype("float32")

encoder = keras.Sequential([keras.Input(shape=(24,)), layers.Dense(32, activation="relu"), layers.Dense(8)])
decoder = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(32, activation="relu"), layers.Dense(24)])


class VAE(keras.Model):
    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder, self.decoder = encoder, decoder
        self.tracker = keras.metrics.Mean(name="loss")

    @property
    def metrics(self):
        return [self.tracker]

    def call(self, x):
        return self.decoder(self.encoder(x)[:, :4])

    def train_step(self, data):
        x = data[0] if isinstance(data, tuple) else data
        with tf.GradientTape() as tape:
            stats = self.encoder(x)
            z_mean, z_log_var = stats[:, :4], stats[:, 4:]
            z = z_mean + ops.exp(0.5 * z_log_var) * keras.random.normal(ops.shape(z_mean))
            recon = ops.mean(ops.sum(ops.square(x - self.decoder(z)), axis=1))
            kl = ops.mean(ops.sum(-0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var)), axis=1))
            loss = recon + 0.1 * kl
        grads = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        self.tracker.update_state(loss)
        return {"loss": self.tracker.result()}


vae = VAE(encoder, decoder)
vae.compile(optimizer=keras.optimizers.Adam(1e-3))
"""


def test_an_unseeded_draw_in_the_train_step_survives_the_range_test() -> None:
    """Before the fix: AE100 "model.fit fails the same way" (tf.function only supports singleton tf.Variables)."""
    pytest.importorskip("tensorflow")
    report = ae_magic.check(UNSEEDED_STEP, namespace={}, data="x", range_test=True)
    assert "training" not in (report.coverage.get("skipped") or {}), report.text()
    assert "range_test" in report.coverage["ran"], report.text()
    assert not [f for f in report.findings if f.code == "AE100"], report.text()
    assert not report.internal_errors, report.text()


def test_probe_runs_of_an_unseeded_step_are_reproducible() -> None:
    """Each probe run restarts the step's noise stream from the probes' seed, so two checks agree."""
    pytest.importorskip("tensorflow")
    cell = "import keras\nkeras.utils.set_random_seed(5)\n" + UNSEEDED_STEP  # the same weights in both cells
    first = ae_magic.check(cell, namespace={}, data="x", range_test=True)
    second = ae_magic.check(cell, namespace={}, data="x", range_test=True)
    assert first.traces["training"]["loss"] == second.traces["training"]["loss"]


def test_a_step_that_fails_only_when_traced_again_is_traced_afresh(monkeypatch: pytest.MonkeyPatch) -> None:
    """The safety net under the fix above: without the generator put back, the step that fails on its second trace
    is traced once more from scratch, as fit would trace it, instead of being reported as the model's fault."""
    pytest.importorskip("tensorflow")
    from ae_magic import keras_compat

    monkeypatch.setattr(keras_compat, "reinstate_seed_generator", lambda gen: None)
    report = ae_magic.check(UNSEEDED_STEP, namespace={}, data="x", range_test=True)
    assert "training" not in (report.coverage.get("skipped") or {}), report.text()
    assert not [f for f in report.findings if f.code == "AE100"], report.text()


ZERO_INIT_LSTM = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(0)
t = np.linspace(0, 4 * np.pi, 20)
x = np.sin(t[None, :, None] + rng.uniform(0, 2 * np.pi, (200, 1, 1))).astype("float32")
init = {init!r}
model = keras.Sequential([
    keras.Input(shape=(20, 1)),
    layers.LSTM(16, kernel_initializer=init, recurrent_initializer={rec!r}),
    layers.RepeatVector(20),
    layers.{wrapper}(layers.LSTM(16, return_sequences=True)),
    layers.TimeDistributed(layers.Dense(1, kernel_initializer=init)),
])
model.compile(optimizer="adam", loss="mse")
"""


@pytest.mark.parametrize(
    ("init", "rec", "wrapper", "faulty"),
    [("zeros", "zeros", "Bidirectional", True), ("zeros", "orthogonal", "Bidirectional", True),
     ("glorot_uniform", "zeros", "Bidirectional", False),  # a zero recurrent kernel trains: the units already differ
     ("glorot_uniform", "orthogonal", "Bidirectional", False), ("he_normal", "orthogonal", "Bidirectional", False)],
)
def test_constant_kernels_inside_recurrent_and_wrapped_layers_are_ae110(init: str, rec: str, wrapper: str,
                                                                          faulty: bool) -> None:
    """Round 31 (i05): an LSTM autoencoder with every initializer "zeros" (for "reproducible weights") got AE111
    but no AE110: the check read ``layer.kernel``, which a recurrent layer keeps on its cell and
    ``TimeDistributed`` on the layer it wraps. A zero recurrent kernel is no fault: with a
    random input kernel the units already differ."""
    cell = ZERO_INIT_LSTM.format(init=init, rec=rec, wrapper=wrapper)
    report = ae_magic.check(cell, namespace={}, data="x", train=False)
    found = [f for f in report.findings if f.code == "AE110"]
    assert bool(found) == faulty, report.text()


def test_ae403_stands_only_when_the_lower_rate_of_its_fix_ends_lower() -> None:
    """Round 31 (h06): a healthy masked LSTM's held-out loss went up and down at Adam(1e-3) and the range test's best
    rate was that same 1e-3. The oscillation is now confirmed by the probe run repeated at the fix's lower rate."""
    from ae_magic.checks.loss_curve import confirm_oscillation, oscillating
    from ae_magic.context import Context

    bumpy = [0.5056, 0.4726, 0.4114, 0.3028, 0.3912, 0.3548, 0.2500, 0.3100, 0.2200, 0.1788]
    trace = {"val_curve": {"loss": bumpy, "steps": list(range(0, 100, 10))}, "loss": [0.4] * 100, "lr": 1e-3,
             "baselines": {"final": 0.17, "mean": 0.27, "pca": 0.26}}
    ctx = Context()
    (osc,) = oscillating(ctx, trace, None)
    asked: list[float] = []

    def rerun(end: float):  # the repeated run, ending at ``end``
        def run(lr: float) -> dict:
            asked.append(lr)
            return {"val_curve": {"loss": list(np.linspace(0.5, end, 10))}, "diverged": False}
        return run

    # Ended at 0.63x the mean: a third of the rate decides.
    slower = confirm_oscillation(ctx, trace, [osc], rerun(0.25))
    assert slower == [] and asked == [pytest.approx(1e-3 / 3)]
    assert "AE403 is not reported" in ctx.notes[-1]
    (osc,) = oscillating(ctx, trace, None)
    calmer = confirm_oscillation(ctx, trace, [osc], rerun(0.12))
    assert calmer == [osc] and osc.evidence["lower_rate_run"]["end"] < osc.evidence["lower_rate_run"]["configured_end"]
    # Bumpy far from any good fit (a relu LSTM at Adam(0.01)): the rate stays the suspect when a third ends lower,
    # if by less than 10 % (0.15: 0.2 against 0.236); a third that ends no lower (0.2: the last third of the curve
    # at the same level, 0.233 against 0.236) clears it (round 61's cj07, tests/test_round37.py).
    stuck = {**trace, "baselines": {"final": 0.9, "mean": 0.27}}
    (osc,) = oscillating(ctx, stuck, None)
    assert confirm_oscillation(ctx, stuck, [osc], rerun(0.15)) == [osc]
    (osc,) = oscillating(ctx, stuck, None)
    assert confirm_oscillation(ctx, stuck, [osc], rerun(0.2)) == []
    # Far from a linear code that fits well: kept, though the run ended at 0.75x the mean.
    linear = {**trace, "baselines": {"final": 3.3, "mean": 4.46, "pca": 1e-5}}
    (osc,) = oscillating(ctx, linear, None)
    assert confirm_oscillation(ctx, linear, [osc], rerun(0.15)) == [osc]
    # Learning through bumps (0.4x the mean): not reported, and no run at another rate.
    asked.clear()
    learning = {**trace, "baselines": {"final": 0.11, "mean": 0.27}}
    (osc,) = oscillating(ctx, learning, None)
    assert confirm_oscillation(ctx, learning, [osc], rerun(0.25)) == [] and asked == []


MASKED_GESTURES = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(21)
gestures = []
for _ in range(1200):
    length = rng.integers(25, 61)
    tt = np.arange(length) / 20.0
    f, phase, amp = rng.uniform(0.8, 2.5), rng.uniform(0, 2 * np.pi), rng.uniform(0.5, 1.5, size=3)
    g = np.stack([amp[0] * np.sin(2 * np.pi * f * tt + phase), amp[1] * np.cos(2 * np.pi * f * tt + phase),
                  1.0 + amp[2] * 0.5 * np.sin(4 * np.pi * f * tt + phase)], axis=-1)
    gestures.append(g + rng.normal(0, 0.05, size=(length, 3)))
allv = np.concatenate(gestures)
lo, hi = allv.min(axis=0), allv.max(axis=0)
x_pad = keras.utils.pad_sequences([(g - lo) / (hi - lo) for g in gestures], maxlen=60, dtype="float32",
                                  padding="post", value=-1.0)
model = keras.Sequential([
    keras.Input(shape=(60, 3)),
    layers.Masking(mask_value=-1.0),
    layers.LSTM(64),
    layers.RepeatVector(60),
    layers.LSTM(64, return_sequences=True),
    layers.TimeDistributed(layers.Dense(3)),
])
model.compile(optimizer="adam", loss="mse")
"""


def test_a_healthy_masked_lstm_with_a_bumpy_curve_is_silent() -> None:
    """Round 31's h06, as written: AE403 "the steps at 0.001 overshoot", with 0.001 the range test's own best rate."""
    if keras.backend.backend() == "torch":
        # Measured: PyTorch's draw of this unseeded cell ends the probe run at 0.75x the mean's error, and the same
        # steps at a third of the rate end 48 % lower: AE403 stands there on its own evidence (docs/faults.md).
        pytest.skip("on PyTorch this cell's weights end the probe run bumpy and at 0.75x the mean (AE403 confirmed)")
    report = ae_magic.check(MASKED_GESTURES, namespace={}, data="x_pad")
    assert not _loud(report) and not report.internal_errors, report.text()


DECOV = """\
import numpy as np
import keras
from keras import layers, ops
from ae_magic.datasets import load

x = load("mnist")[:2000].reshape(2000, 784).astype("float32")
decov_lambda = {weight}


class DecorrelatedCode(layers.Layer):
    def __init__(self, strength, **kwargs):
        super().__init__(**kwargs)
        self.strength = strength

    def call(self, code):
        centered = code - ops.mean(code, axis=0)
        cov = ops.matmul(ops.transpose(centered), centered) / ops.cast(ops.shape(code)[0], "float32")
        penalty = 0.5 * (ops.sum(cov ** 2) - ops.sum(ops.diagonal(cov) ** 2))
        self.add_loss(self.strength * penalty)
        return code


autoencoder = keras.Sequential([
    keras.Input(shape=(784,)),
    layers.Dense(256, activation="relu"),
    layers.Dense(32, activation="relu"),
    DecorrelatedCode(decov_lambda),
    layers.Dense(256, activation="relu"),
    layers.Dense(784, activation="sigmoid"),
])
autoencoder.compile(optimizer="adam", loss="mse")
"""


@pytest.mark.parametrize(("weight", "faulty"), [("10.0", True), ("1e-3", False)])
def test_a_penalty_added_with_add_loss_that_holds_the_code_is_named_at_its_weight(weight: str, faulty: bool) -> None:
    """Round 31 (j08): a decorrelation penalty at weight 10 flattened the code (its value went to 0, 97 % of the code's
    units died) and the reconstruction ended on the mean. It was AE304 blaming the learning rate; now AE405 names
    ``decov_lambda = 10.0``. At 1e-3 the same model learns and stays silent."""
    report = ae_magic.check(DECOV.format(weight=weight), namespace={}, data="x")
    if not faulty:
        assert not _loud(report), report.text()
        return
    f = report.get("AE405")
    assert f is not None and f.evidence.get("held_by_penalty"), report.text()
    assert f.line == 7 and "decov_lambda = 0.1" in f.fix, report.text()
    assert not [g for g in report.findings if g.code == "AE304" and g.evidence.get("lr") is not None], report.text()


def test_the_weight_of_an_added_penalty_is_found_where_the_cell_writes_it() -> None:
    from ae_magic.checks.penalty_share import added_penalty_weight
    from ae_magic.context import Context

    src = DECOV.format(weight="10.0")
    ns: dict = {}
    exec(compile(src, "<cell>", "exec"), ns)
    layer = ns["autoencoder"].layers[2]
    ctx = Context(source=src, namespace=ns, assign_lines={"decov_lambda": 7})
    assert added_penalty_weight(ctx, "DecorrelatedCode", layer) == ("decov_lambda", 10.0, 7, "decov_lambda = 10.0")
    literal = src.replace("DecorrelatedCode(decov_lambda)", "DecorrelatedCode(strength=5.0)")
    ctx = Context(source=literal, namespace=ns, assign_lines={"decov_lambda": 7})
    name, value, _line, text = added_penalty_weight(ctx, "DecorrelatedCode", layer)
    assert name is None and value == 10.0 and text == "DecorrelatedCode(strength=5.0),"
    # No weight to read: the add_loss line.
    bare = src.replace("self.add_loss(self.strength * penalty)", "self.add_loss(penalty)")
    name, value, _line, text = added_penalty_weight(Context(source=bare, namespace=ns), "DecorrelatedCode", layer)
    assert (name, value, text) == (None, None, "self.add_loss(penalty)")


WINDOWS = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(3)
n = 4000
{series}
windows = np.stack([series[i : i + 30] for i in range(0, n - 30, 4)]).astype("float32")
x_train = (windows - windows.mean(axis={axis}, keepdims=True)) / windows.std(axis={axis}, keepdims=True)
model = keras.Sequential([
    keras.Input(shape=(30, 3)),
    layers.GRU(32),
    layers.Dense(8),
    layers.RepeatVector(30),
    layers.GRU(32, return_sequences=True),
    layers.TimeDistributed(layers.Dense(3)),
])
model.compile(optimizer="adam", loss="mse")
"""
REGIMES = ("levels = rng.normal(0, 1, (40, 3)) * [5.0, 1.5, 12.0] + [60.0, 4.0, 300.0]\n"
           "regime = np.searchsorted(np.sort(rng.choice(np.arange(1, n), 39, replace=False)), np.arange(n), side='right')\n"
           "series = levels[regime] + rng.normal(0, 1, (n, 3)) * [0.3, 0.08, 0.6]")
WAVES = ("t = np.arange(n)[:, None]\n"
         "series = np.sin(2 * np.pi * t / [37.0, 23.0, 51.0]) * [5.0, 1.5, 12.0] + rng.normal(0, 0.05, (n, 3))")


@pytest.mark.parametrize(("series", "axis", "faulty"), [
    (REGIMES, "1", True),  # each window over its own steps: unit-variance noise is left
    (REGIMES, "(0, 1)", False),  # each channel over the whole set
    (WAVES, "1", False),  # a smooth signal scaled per window keeps its shape
])
def test_windows_scaled_into_noise_are_named_at_the_axis_line(series: str, axis: str, faulty: bool) -> None:
    """Round 31 (h03): sensor windows z-scored with ``axis=1`` lost the operating level that told them apart; the
    model ended near the mean and no finding named the scaling."""
    report = ae_magic.check(WINDOWS.format(series=series, axis=axis), namespace={}, data="x_train", train=False)
    found = [f for f in report.findings if f.code == "AE201"]
    assert bool(found) == faulty, report.text()
    if faulty:
        assert found[0].source_line.startswith("x_train = ") and "axis=(0, 1)" in found[0].fix, report.text()
    assert not report.get("AE100"), report.text()


KSPARSE = """\
import keras
from keras import layers, ops
from ae_magic.datasets import load

x = load("mnist")[:2000].reshape(2000, 784).astype("float32")


class KSparse(layers.Layer):
    def __init__(self, k, **kwargs):
        super().__init__(**kwargs)
        self.k = k

    def call(self, inputs):
        values, _ = ops.top_k({over}, k=self.k)
        threshold = {threshold}
        return inputs * ops.cast(ops.greater_equal(inputs, threshold), inputs.dtype)


model = keras.Sequential([
    keras.Input(shape=(784,)),
    layers.Dense(100),
    KSparse(25),
    layers.Dense(784, activation="sigmoid"),
])
model.compile(optimizer="adam", loss="binary_crossentropy")
"""


@pytest.mark.parametrize(("over", "threshold", "faulty"), [
    ("ops.reshape(inputs, (-1,))", "values[-1]", True),  # the k largest of the whole batch
    ("inputs", "values[:, -1:]", False),  # the k largest of each sample
])
def test_a_layer_that_reduces_over_the_batch_is_named(over: str, threshold: str, faulty: bool) -> None:
    """Round 31 (j02): a k-sparse layer that took its top-k over the flattened batch read as "the output ignores most
    of the input". It is now named for what it does, and the run's cost (2.8x the mean's error) is shown under it."""
    report = ae_magic.check(KSPARSE.format(over=over, threshold=threshold), namespace={}, data="x")
    if not faulty:
        assert not _loud(report), report.text()
        return
    f = report.get("AE111")
    assert f is not None and "other samples in its batch" in f.title and f.line == 22, report.text()
    cost = report.get("AE405")
    assert cost is not None and cost.caused_by == "AE111" and cost.evidence["final_mse"] > cost.evidence["mean_baseline"]


def test_a_weight_penalty_that_holds_the_model_near_the_mean_is_named_on_the_longer_run() -> None:
    """Round 31 (i04): l2(0.1) on every layer ended the probe run at 0.98x the mean's error, either side of AE405's
    2 % margin from run to run. A weight-regularized model that ends at 0.9x or above is judged on the longer run."""
    from ae_magic.checks.baseline import confirm_penalty, penalty_unbeaten
    from ae_magic.context import Context

    src = ("import keras\nfrom keras import layers, regularizers\n"
           "model = keras.Sequential([keras.Input(shape=(24,)),\n"
           "    layers.Dense(8, activation='relu', kernel_regularizer=regularizers.l2({w})),\n"
           "    layers.Dense(24, kernel_regularizer=regularizers.l2({w}))])\n"
           "model.compile(optimizer='adam', loss='mse')\n")
    trace = {"loss": [1.0] * 100, "val_loss": [1.0] * 10, "val_loss_before": 1.2,
             "baselines": {"final": 0.97, "mean": 1.0, "pca": 0.05}}
    longer = {"diverged": False, "loss": [1.0] * 400, "stopped_early": False, "baselines": {"final": 0.95}}
    for w, faulty in (("0.1", True), ("1e-5", False)):
        ns: dict = {}
        exec(compile(src.format(w=w), "<cell>", "exec"), ns)
        ctx = Context(source=src.format(w=w), namespace=ns, model=ns["model"], model_name="model")
        assert penalty_unbeaten(ctx, trace)
        found = confirm_penalty(ctx, trace, [], lambda: longer)
        assert [f.code for f in found] == (["AE405"] if faulty else []), [f.message for f in found]
        if faulty:
            assert found[0].evidence.get("weight_penalty") and found[0].layer, found[0].message


def test_one_hot_windows_are_not_read_as_scaled_per_window() -> None:
    """Round 28's o08 (healthy one-hot token windows): each channel of a window is 0 and 1 by construction, which
    the per-window reading took for min-max scaling over time (AE201), until categorical data was left out."""
    from ae_magic.checks.row_scaled import scaled_per_window

    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 3, size=(500, 30))
    assert scaled_per_window(np.eye(3, dtype="float32")[tokens]) is None
    noise = rng.normal(size=(500, 30, 3))
    scaled = (noise - noise.min(axis=1, keepdims=True)) / np.ptp(noise, axis=1, keepdims=True)
    assert scaled_per_window(scaled.astype("float32"))["per_window"] == "min-max"
