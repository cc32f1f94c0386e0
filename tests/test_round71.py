"""Round 71 (session 39): fresh cells written blind around the catalogue's rarer codes; the fixes each miss asked for.

* dd05 (a conv autoencoder whose "jitter" Lambda returns ``keras.random.normal(ops.shape(z))`` instead of
  ``z + noise``): AE301 and AE404 were reported, never AE111. The outputs differ from run to run, so the
  identical-outputs test passed them; the noise layer's own gradient with respect to its input, zero for every
  sample, now tells it from a sampling layer that adds noise.
* dd09 (a dense ECG autoencoder under RMSprop(0.04)): the training loss jumped 12x in the first steps and came back,
  and the held-out loss went up and down and ended where it began. AE401 ("diverged") was reported; it is AE403,
  with the jump as its evidence and confirmed by the lower rate's run.
* de07 (two relu LSTMs over 120 steps, the machinelearningmastery recipe): the loss sat near the mean's and jumped to
  1e16 now and then; AE401 blamed the learning rate. AE303 now names the unbounded recurrent activation (the line
  that sets it), with AE401 under it.
"""

from __future__ import annotations

import numpy as np
import pytest

import ae_magic
from ae_magic.checks.recurrent_blowup import recurrent_blowup
from ae_magic.session import Session


def _line(src: str, text: str) -> int:
    return next(i for i, line in enumerate(src.splitlines(), 1) if text in line)


def _loud(report) -> list[str]:
    return [f.code for f in report.findings if f.severity in ("warning", "error")]


# -- a noise layer that replaces its input ------------------------------------------------------------------
JITTER = """\
import numpy as np
import keras
from keras import layers, ops

rng = np.random.default_rng(0)
side = 12
yy, xx = np.mgrid[0:side, 0:side] / (side - 1)
x_train = np.zeros((400, side, side, 1), dtype="float32")
for i in range(400):
    a, b = rng.uniform(-1, 1, 2)
    c = rng.uniform(0.2, 0.8)
    dist = np.abs(a * (xx - 0.5) + b * (yy - 0.5) + (c - 0.5)) / np.sqrt(a * a + b * b + 1e-6)
    x_train[i, ..., 0] = np.exp(-(dist / 0.1) ** 2)

x_train = x_train.reshape(400, side * side)
seed_gen = keras.random.SeedGenerator(42)
inputs = keras.Input(shape=(side * side,))
x = layers.Dense(32, activation="relu")(inputs)
latent = layers.Dense(10, name="latent")(x)
noisy_latent = layers.Lambda(lambda z: JITTER)(latent)
x = layers.Dense(32, activation="relu")(noisy_latent)
outputs = layers.Dense(side * side, activation="sigmoid")(x)
ae = keras.Model(inputs, outputs)
ae.compile(optimizer="adam", loss="mse")
"""


def test_a_lambda_that_returns_noise_instead_of_its_input_is_ae111_at_that_line() -> None:
    src = JITTER.replace("JITTER", "keras.random.normal(ops.shape(z), stddev=0.1, seed=seed_gen)")
    report = ae_magic.check(src, namespace={}, data="x_train")
    f = report.get("AE111")
    assert f is not None and f.caused_by is None, report.text()
    assert f.line == _line(src, "noisy_latent = ") and f.evidence.get("draws_noise") is True
    assert "z + keras.random.normal" in (f.fix or "")
    # What the cut causes goes under it.
    assert all(g.caused_by == "AE111" for g in report.findings if g.code in ("AE301", "AE404")), report.text()


def test_a_lambda_that_adds_noise_to_its_input_is_not_ae111() -> None:
    src = JITTER.replace("JITTER", "z + keras.random.normal(ops.shape(z), stddev=0.1, seed=seed_gen)")
    report = ae_magic.check(src, namespace={}, data="x_train")
    assert not {"AE111", "AE301", "AE404"} & set(report.codes), report.text()


# -- a training spike under an oscillating held-out loss ----------------------------------------------------
ECG = """\
import numpy as np
import keras
from keras import layers

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
n_sig, length = 2000, 64
t = np.linspace(0, 1, length)
freq = rng.uniform(2, 5, size=(n_sig, 1))
phase = rng.uniform(0, 2 * np.pi, size=(n_sig, 1))
amp = rng.uniform(0.5, 1.0, size=(n_sig, 1))
signals = amp * np.sin(2 * np.pi * freq * t + phase) + 0.3 * amp * np.sin(4 * np.pi * freq * t + phase) ** 3
signals = (signals + 0.05 * rng.normal(size=signals.shape)).astype("float32")

inputs = keras.Input(shape=(length,))
h = layers.Dense(64, activation="elu")(inputs)
h = layers.Dense(8, activation="elu")(h)
h = layers.Dense(64, activation="elu")(h)
outputs = layers.Dense(length)(h)
ecg_ae = keras.Model(inputs, outputs)
ecg_ae.compile(
    loss="mse",
    optimizer=keras.optimizers.RMSprop(learning_rate=RATE),
)
ecg_ae.fit(signals, signals, epochs=5, batch_size=32, shuffle=True, verbose=0)
"""


def test_a_rate_that_spikes_the_steps_and_bounces_the_held_out_loss_is_ae403_not_ae401() -> None:
    src = ECG.replace("RATE", "0.04")
    report = ae_magic.check(src, namespace={}, data="signals")
    div = report.get("AE401")
    if div is not None:
        # At this rate the run is chaotic, and each backend draws its own path: on PyTorch the held-out loss
        # ended 4x above its start, which is a divergence by the catalogue's own words.
        assert div.evidence["loss_end"] > 1.5 * div.evidence["loss_start"] or div.evidence["nonfinite"], report.text()
        return
    f = report.get("AE403")
    assert f is not None and f.line == _line(src, "RMSprop(learning_rate="), report.text()
    assert f.evidence["lower_rate_run"]["end"] < f.evidence["lower_rate_run"]["configured_end"]


# dd09's probe run on TensorFlow: the steps' loss 0.156 -> 1.81 -> back to 0.15; the held-out loss up and down.
DD09_STEPS = [0.156, 0.737, 0.958, 0.873, 0.98, 1.808, 0.621, 1.297, 0.895, 0.491, 0.353, 0.298, 0.238, 0.202, 0.21,
              0.186, 0.154, 0.146, 0.164, 0.18, 0.158, 0.151, 0.147, 0.118, 0.145, 0.216, 0.189, 0.203, 0.165]
DD09_HELD_OUT = [0.146, 0.206, 0.205, 0.146, 0.157, 0.196, 0.136, 0.139, 0.131, 0.2, 0.278, 0.095, 0.122, 0.279,
                 0.113, 0.152]


def _curve_trace(steps: list[float], held_out: list[float]) -> dict:
    return {"lr": 0.04, "loss": steps, "val_curve": {"loss": held_out, "steps": list(range(len(held_out)))},
            "val_loss_before": held_out[0], "diverged": False, "steps_per_epoch": len(steps), "epochs": 1,
            "adds_losses": False, "has_batchnorm": False, "baselines": {"final": held_out[-1], "mean": 0.303}}


def test_the_curve_judges_give_a_spike_under_a_bouncing_held_out_loss_to_ae403() -> None:
    from ae_magic.checks.loss_curve import diverged, oscillating

    _, ctx = _ctx()
    trace = _curve_trace(DD09_STEPS, DD09_HELD_OUT)
    assert diverged(ctx, trace, None) == []
    (f,) = oscillating(ctx, trace, None)
    assert f.code == "AE403" and f.evidence["train_spike"] == {"peak": 1.808, "start": 0.156}
    assert "jumped to 1.81 from 0.156" in f.message


def test_the_same_spike_under_a_smooth_held_out_loss_stays_ae401() -> None:
    from ae_magic.checks.loss_curve import diverged

    _, ctx = _ctx()
    smooth = [0.146 - 0.004 * i for i in range(16)]
    (f,) = diverged(ctx, _curve_trace(DD09_STEPS, smooth), None)
    assert f.code == "AE401" and f.evidence["loss_peak"] == 1.808


def test_the_same_model_at_a_sensible_rate_is_silent() -> None:
    report = ae_magic.check(ECG.replace("RATE", "0.001"), namespace={}, data="signals")
    assert not _loud(report), report.text()


# -- a relu recurrence that overflows -------------------------------------------------------------------------
RELU_LSTM = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(0)
sequences = rng.normal(size=(64, 40, 3)).astype("float32")
rnn_activation = "ACT"
model = keras.Sequential()
model.add(keras.Input(shape=(40, 3)))
model.add(layers.LSTM(16, activation=rnn_activation))
model.add(layers.RepeatVector(40))
model.add(layers.LSTM(16, activation=rnn_activation, return_sequences=True))
model.add(layers.TimeDistributed(layers.Dense(3)))
model.compile(optimizer=OPT, loss="mse")
"""


def _ctx(act: str = "relu", opt: str = '"adam"'):
    src = RELU_LSTM.replace("ACT", act).replace("OPT", opt)
    return src, Session.from_cell(src, namespace={}, data="sequences")._base


def _trace(peak: float, final_share: float) -> dict:
    steps = [0.40, 0.39, 0.38, peak, 0.38, 0.37, 0.37, 0.37]
    return {"lr": 1e-3, "loss": steps, "val_curve": {"loss": [0.40, 0.39, 0.38, 0.38]}, "diverged": False,
            "baselines": {"final": final_share * 0.40, "mean": 0.40}}


def test_a_relu_lstm_whose_loss_overflows_is_ae303_at_the_line_that_sets_the_activation() -> None:
    src, ctx = _ctx()
    (f,) = recurrent_blowup(ctx, _trace(3.5e9, 0.95))
    assert f.code == "AE303" and f.line == _line(src, "rnn_activation = ") and f.layer
    assert f.evidence["hidden_activation"] == "relu" and len(f.evidence["layers"]) == 2
    assert 'rnn_activation = "tanh"' in f.fix


@pytest.mark.parametrize(
    ("act", "opt", "peak", "final_share"),
    [
        ("tanh", '"adam"', 3.5e9, 0.95),  # a bounded state: the blow-up is someone else's
        ("relu", '"adam"', 12.0, 0.95),  # round 21's one spike of a relu LSTM, 30x at most
        ("relu", '"adam"', 3.5e9, 0.2),  # it spiked and learned all the same
        ("relu", "keras.optimizers.Adam(0.1)", 3.5e9, 0.95),  # the rate is the suspect (AE401 names it)
    ],
)
def test_no_ae303_for_a_bounded_state_a_small_spike_a_run_that_learned_or_a_high_rate(act, opt, peak, final_share):
    _, ctx = _ctx(act, opt)
    trace = _trace(peak, final_share)
    if "0.1" in opt:
        trace["lr"] = 0.1
    assert recurrent_blowup(ctx, trace) == []


def test_a_nan_run_of_a_relu_lstm_at_a_moderate_rate_is_ae303() -> None:
    _, ctx = _ctx()
    trace = _trace(0.5, 1.0)
    trace["loss"] = [*trace["loss"], float("nan")]
    trace["diverged"] = True
    (f,) = recurrent_blowup(ctx, trace)
    assert f.evidence["nonfinite"] is True and "NaN" in f.message


def test_the_users_model_is_left_as_it_was() -> None:
    _, ctx = _ctx()
    before = [np.array(w) for w in ctx.model.get_weights()]
    recurrent_blowup(ctx, _trace(3.5e9, 0.95))
    assert all(np.array_equal(a, b) for a, b in zip(before, ctx.model.get_weights(), strict=True))


def test_a_jolt_of_a_model_the_cell_trained_is_no_spike_of_its_own() -> None:
    # Round 66's cu07: a masked LSTM the cell fit for 4 epochs starts the probe run at 0.1x the mean's error; the
    # probes' fresh Adam jolts the steps' loss, and the held-out loss, bumpy, ends below its start. Its AE403 must
    # not carry the jolt as an overshoot (that would keep it past the "learning through bumps" note).
    from ae_magic.checks.loss_curve import oscillating

    _, ctx = _ctx()
    held_out = [0.030, 0.045, 0.028, 0.040, 0.027, 0.036, 0.025]
    trace = _curve_trace([0.03, 0.6, 0.2, 0.05, 0.03, 0.03], held_out)
    trace["baselines"] = {"final": held_out[-1], "mean": 0.3, "loss_units": {"mean": 0.3}}
    (f,) = oscillating(ctx, trace, None)
    assert "train_spike" not in f.evidence


def test_bumps_far_above_the_means_loss_stay_a_divergence() -> None:
    # Round 69's cz03: a GRU autoencoder whose cell fit at RMSprop(0.5) had wrecked the weights; the probe run starts
    # at 196 against the mean's 0.066, the steps jump to 3065, and the held-out loss bounces between 4 and 290.
    from ae_magic.checks.loss_curve import diverged

    _, ctx = _ctx()
    steps = [195.87, 3065.08, 185.09, 62.08, 12.34, 88.92, 226.95, 111.89, 123.34, 74.15, 36.31, 30.0, 27.43]
    held_out = [195.88, 111.89, 24.34, 142.49, 40.21, 43.47, 112.86, 87.07, 71.55, 291.64, 125.57, 4.51, 77.72]
    trace = _curve_trace(steps, held_out)
    trace["baselines"] = {"final": 77.72, "mean": 0.066}
    (f,) = diverged(ctx, trace, None)
    assert f.code == "AE401"
