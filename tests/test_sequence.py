"""Sequence and recurrent autoencoders (issue 9, item 4).

Output collapse judged per time step x feature against the targets' own
variation, dead/saturated units in recurrent hidden states, a relu output
stuck at zero, and masked (zero-padded) sequences. Every fault cell has the
fault; the healthy ones (a slow-starting LSTM among them) stay silent. The
models are small: each check takes a few seconds. Run under every backend
(KERAS_BACKEND=jax / torch with their virtual environments).
"""

from __future__ import annotations

import functools

import keras
import numpy as np
import pytest

import ae_magic
from ae_magic.probes.sequence import input_mask, position_stats, recurrent_activation, unmasked

# Sine waves of random frequency and phase: 256 sequences of 16 steps, 1 feature.
_SINES = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(0)
t = np.linspace(0, 2 * np.pi, 16)
freq = rng.uniform(0.5, 2.0, size=(256, 1))
phase = rng.uniform(0, 2 * np.pi, size=(256, 1))
x = np.sin(freq * t + phase)[..., None].astype("float32")
"""

_SEQ2SEQ = """
inp = keras.Input(shape=(16, 1))
code = layers.{cell}(8)(inp)
h = layers.RepeatVector(16)(code)
h = layers.{cell}(16, return_sequences=True)(h)
out = layers.TimeDistributed(layers.Dense(1))(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer=keras.optimizers.{opt}, loss="mse")
"""

HEALTHY = {
    # A slow starter: its outputs start nearly flat (spread ratio ~0.1) and
    # only begin to follow the input during the probe run.
    "lstm_slow_start": _SINES + _SEQ2SEQ.format(cell="LSTM", opt="Adam(1e-3)"),
    "gru": _SINES + _SEQ2SEQ.format(cell="GRU", opt="Adam(3e-3)"),
    # Sits at the mean for ~8 epochs, then learns (0.76x the mean by epoch 30):
    # AE405 must be confirmed on a longer run before it is said.
    "gru_slow_start": _SINES + _SEQ2SEQ.format(cell="GRU", opt="Adam(1e-3)"),
    "conv1d": _SINES
    + """
inp = keras.Input(shape=(16, 1))
h = layers.Conv1D(16, 3, padding="same", activation="relu")(inp)
h = layers.MaxPooling1D(2)(h)
h = layers.Conv1D(16, 3, padding="same", activation="relu")(h)
h = layers.MaxPooling1D(2)(h)
code = layers.Conv1D(2, 3, padding="same")(h)
h = layers.UpSampling1D(2)(code)
h = layers.Conv1D(16, 3, padding="same", activation="relu")(h)
h = layers.UpSampling1D(2)(h)
out = layers.Conv1D(1, 3, padding="same")(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
""",
    # Sequences of 8 to 16 real steps, zero-padded to 16, behind a Masking layer.
    "masked_padded": _SINES
    + """
lengths = rng.integers(8, 17, size=len(x))
x = x.copy()
for i, n in enumerate(lengths):
    x[i, n:] = 0.0
inp = keras.Input(shape=(16, 1))
h = layers.Masking(mask_value=0.0)(inp)
h = layers.LSTM(16, return_sequences=True)(h)
code = layers.LSTM(8)(h)
h = layers.RepeatVector(16)(code)
h = layers.LSTM(16, return_sequences=True)(h)
out = layers.TimeDistributed(layers.Dense(1))(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
""",
}

# Plain SGD at 1e-3 stalls an LSTM autoencoder: its outputs converge to the
# mean curve (they vary ~5% as much as the data, the old bar was 1%).
MEAN_CURVE = _SINES + _SEQ2SEQ.format(cell="LSTM", opt="SGD(1e-3)")


def _dead_cell(cell: str) -> str:
    # A strongly negative bias closes every gate and the relu candidate: the
    # first layer's hidden state is 0 for every input and time step.
    return (
        _SINES
        + f"""
inp = keras.Input(shape=(16, 1))
h = layers.{cell}(16, activation="relu", return_sequences=True, bias_initializer=keras.initializers.Constant(-6.0))(inp)
code = layers.{cell}(8)(h)
h = layers.RepeatVector(16)(code)
h = layers.{cell}(16, return_sequences=True)(h)
out = layers.TimeDistributed(layers.Dense(1))(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
"""
    )


# A positive bias opens every gate and drives the tanh candidate to +1: the
# cell state grows with each step and the hidden state sits at +-1.
SATURATED_LSTM = (
    _SINES
    + """
inp = keras.Input(shape=(16, 1))
h = layers.LSTM(16, return_sequences=True, bias_initializer=keras.initializers.Constant(10.0))(inp)
code = layers.LSTM(8)(h)
h = layers.RepeatVector(16)(code)
h = layers.LSTM(16, return_sequences=True)(h)
out = layers.TimeDistributed(layers.Dense(1))(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
"""
)

# A small dense autoencoder whose relu output layer is 0 for every input.
RELU_OUTPUT_STUCK = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(0)
x = np.abs(np.sin(rng.uniform(0, 6, size=(256, 1)) * np.linspace(0, 3, 24))).astype("float32")
inp = keras.Input(shape=(24,))
h = layers.Dense(16, activation="relu")(inp)
code = layers.Dense(4, activation="relu")(h)
h = layers.Dense(16, activation="relu")(code)
out = layers.Dense(24, activation="relu", bias_initializer=keras.initializers.Constant(-10.0))(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
"""


def _check(src: str):
    keras.utils.set_random_seed(0)
    ns: dict = {}
    report = ae_magic.check(src, namespace=ns, data="x", range_test=False)
    assert not report.internal_errors, report.internal_errors
    return report, ns


# Keras' own masked LSTM on PyTorch steps through time in Python: fit itself
# ran 3.3 s per step with the Masking layer against 0.38 s without it
# (measured on the 2-core test machine), so one full check of this cell took
# 5-10 minutes there. On torch the masked losses are checked against
# evaluate/compute_loss (test_probe_losses_apply_the_output_mask_as_fit_does)
# and the full check of the masked cell runs on TensorFlow and JAX.
SLOW_ON_TORCH = {"masked_padded"}


@functools.cache
def _healthy_check(name: str):
    """A healthy cell's seeded check, run once: the silence and the masking tests read the same run."""
    if name in SLOW_ON_TORCH and keras.backend.backend() == "torch":
        pytest.skip("Keras' masked LSTM on torch takes ~1 s per step (fit too): the full check of this cell runs on "
                    "TensorFlow and JAX; torch's masked losses are tested against evaluate/compute_loss")
    return _check(HEALTHY[name])


def _problems(report) -> list[tuple[str, str, str]]:
    return [(f.code, f.severity, f.message) for f in report.findings if f.severity in ("warning", "error")]


# -- faults ---------------------------------------------------------------------
def test_lstm_converging_to_the_mean_curve_is_judged_per_position() -> None:
    report, _ = _check(MEAN_CURVE)
    pp = report.traces["training"]["per_position"]
    assert pp["sequence"] and pp["varying_positions"] == 16
    # The measure: outputs vary a small fraction of the targets' own spread at
    # each step and explain (almost) none of the per-position variance...
    assert pp["spread_ratio"] < 0.1 and pp["explained"] < 0.05
    # ...which the old global bar (1% of the spread) let through.
    tr = report.traces["training"]
    assert tr["output_spread"] / tr["input_spread"] > 0.01
    assert report.traces["training"]["baselines"]["position_mean"] == pytest.approx(pp["position_mean"])
    assert {"AE404", "AE405"} & set(report.codes), report.codes
    f = report.get("AE404")
    if f is not None:
        assert f.evidence["per_position"] and "time step and feature" in f.message


@pytest.mark.parametrize("cell", ["LSTM", "GRU"])
def test_relu_recurrent_units_that_die_get_ae304_on_their_line(cell: str) -> None:
    report, ns = _check(_dead_cell(cell))
    dead = [f for f in report.findings if f.code == "AE304"]
    first = next(ly for ly in ns["autoencoder"].layers if type(ly).__name__ == cell)
    mine = [f for f in dead if f.layer == first.name]
    assert mine, [(f.code, f.layer) for f in report.findings]
    f = mine[0]
    assert f.line is not None
    assert f"layers.{cell}(16, activation=\"relu\"" in (f.source_line or "")
    assert f.evidence["recurrent"] == cell and f.evidence["hidden_activation"] == "relu"
    assert "hidden state" in f.message and "tanh" in f.fix


def test_saturated_lstm_hidden_state_gets_ae305() -> None:
    report, ns = _check(SATURATED_LSTM)
    first = next(ly for ly in ns["autoencoder"].layers if type(ly).__name__ == "LSTM")
    sat = [f for f in report.findings if f.code == "AE305" and f.layer == first.name]
    assert sat, [(f.code, f.layer) for f in report.findings]
    assert sat[0].evidence["recurrent"] == "LSTM" and "Constant(10.0)" in (sat[0].source_line or "")


def test_relu_output_stuck_at_zero_gets_ae304() -> None:
    report, ns = _check(RELU_OUTPUT_STUCK)
    out_layer = ns["autoencoder"].layers[-1].name
    f = next((f for f in report.findings if f.code == "AE304" and f.layer == out_layer), None)
    assert f is not None, [(f.code, f.layer) for f in report.findings]
    assert f.evidence["output_layer"] and f.evidence["dead_output_share"] == 1.0
    assert f.line is not None and "Constant(-10.0)" in (f.source_line or "")


# Round 17 (an LSTM sensor autoencoder, written blind): the decoder is a RepeatVector
# straight into TimeDistributed(Dense): every step gets the same vector, so every
# reconstruction is a flat line (a plain 30-epoch fit stays at 0.996x the mean).
PER_STEP_DECODER = _SINES + """
inp = keras.Input(shape=(16, 1))
h = layers.LSTM(16, return_sequences=True)(inp)
code = layers.LSTM(8)(h)
h = layers.RepeatVector(16)(code)
h = layers.Dropout(0.1)(h)
out = layers.TimeDistributed(layers.Dense(1))(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
"""


def test_a_decoder_of_per_step_layers_after_repeat_vector_is_a_flat_line() -> None:
    report, _ = _check(PER_STEP_DECODER)
    f = report.get("AE404")
    assert f is not None and f.severity == "error", report.text()
    assert f.evidence["time_variation_ratio"] < 0.02 and f.evidence["repeat_vector"]
    # Named at the first layer after the RepeatVector; the edit adds a recurrent decoder after it.
    assert f.source_line.startswith("h = layers.Dropout(0.1)(h)"), f.source_line
    assert f.edit is not None and f.edit["replacement"].splitlines() == [
        "h = layers.RepeatVector(16)(code)", "h = layers.LSTM(8, return_sequences=True)(h)"]
    assert all(g.caused_by == "AE404" for g in report.findings if g.code in ("AE402", "AE405"))


def test_per_step_decoder_needs_every_layer_after_the_repeat_to_be_per_step() -> None:
    from ae_magic.checks.recurrent import per_step_decoder
    from ae_magic.context import Context
    from ae_magic.graph import analyze

    def found(cell: str):
        ns: dict = {}
        exec(cell, ns)
        ctx = Context(model=ns["autoencoder"], model_name="autoencoder")
        ctx.graph = analyze(ctx)
        return per_step_decoder(ctx)

    assert found(PER_STEP_DECODER) is not None
    # A recurrent layer after the RepeatVector, or another tensor joined in: steps differ.
    assert found(_SINES + _SEQ2SEQ.format(cell="GRU", opt="Adam(1e-3)")) is None
    joined = PER_STEP_DECODER.replace("h = layers.Dropout(0.1)(h)",
                                  "h = layers.Concatenate()([h, layers.Conv1D(4, 3, padding='same')(inp)])")
    assert found(joined) is None


# -- healthy --------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(HEALTHY))
def test_healthy_sequence_autoencoders_are_silent(name: str) -> None:
    report, _ = _healthy_check(name)
    assert "training" in report.traces and "gradients" in report.traces
    assert _problems(report) == []
    pp = report.traces["training"]["per_position"]
    assert pp["sequence"] and pp["spread_ratio"] > 0.1
    assert pp["masked"] or pp["time_ratio"] > 0.1, pp  # the steps of a reconstruction differ
    # The gates of every LSTM/GRU are measured before and after the run, and none blocks.
    from ae_magic.checks.recurrent import blocked_gates

    for key in ("gradients", "training"):
        gates = report.traces[key].get("gates", {})
        assert bool(gates) is (name != "conv1d")
        assert all(not blocked_gates(g) for g in gates.values()), gates


def test_masked_model_leaves_padded_steps_out() -> None:
    report, _ = _healthy_check("masked_padded")
    pp = report.traces["training"]["per_position"]
    assert pp["masked"] and 0.5 < pp["real_share"] < 1.0
    assert report.traces["training"]["baselines"]["position_mean"] == pp["position_mean"]


# -- the measures themselves (numpy only) -------------------------------------------
def test_position_stats_judge_each_position_against_its_own_spread() -> None:
    rng = np.random.default_rng(0)
    # Step 0 varies a lot, step 1 a twentieth as much: a model that follows
    # only the big step is not "fine on average".
    y = np.stack([rng.normal(size=200), 0.05 * rng.normal(size=200)], axis=1)[..., None]
    follows_big = y.copy()
    follows_big[:, 1] = 0.0
    s = position_stats(y[:100], y[100:], follows_big[100:], follows_big[100:], None, None)
    assert s["spread_ratio"] == pytest.approx(0.5, abs=0.01)  # (1 + 0) / 2
    mean_curve = np.broadcast_to(y[:100].mean(axis=0), y[100:].shape)
    s = position_stats(y[:100], y[100:], mean_curve, mean_curve, None, None)
    assert s["spread_ratio"] < 1e-9 and abs(s["explained"]) < 0.05
    perfect = position_stats(y[:100], y[100:], y[100:], mean_curve, None, None)
    assert perfect["explained"] == 1.0 and perfect["spread_ratio"] == pytest.approx(1.0)


def test_padded_steps_count_nowhere() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=(100, 6, 2))
    mask = np.ones((100, 6), dtype=bool)
    mask[::2, 3:] = False
    y[~mask] = 0.0
    pred = y.copy()
    pred[~mask] = 5.0  # whatever the model does on padding
    s = position_stats(y[:50], y[50:], pred[50:], pred[50:], mask[:50], mask[50:])
    assert s["explained"] == 1.0 and s["spread_ratio"] == pytest.approx(1.0) and s["masked"]
    unmasked_s = position_stats(y[:50], y[50:], pred[50:], pred[50:], None, None)
    assert unmasked_s["explained"] < 0.5


def test_input_mask_follows_keras_masking() -> None:
    x = np.zeros((4, 5, 2), dtype="float32")
    x[:, :3] = 1.0
    x[1, 3, 0] = 0.5  # one feature non-zero: a real step
    inp = keras.Input(shape=(5, 2))
    masking = keras.layers.Masking(mask_value=0.0)
    model = keras.Model(inp, keras.layers.LSTM(3)(masking(inp)))
    mask = input_mask(model.layers, x)
    assert mask is not None and mask.sum() == 4 * 3 + 1 and mask[1, 3] and not mask[0, 3]
    assert unmasked(np.ones((4, 5, 3)), mask).shape == (13, 3)
    assert unmasked(np.ones((4, 3)), mask).shape == (4, 3)
    assert input_mask(model.layers, x[:, :, :1]) is None  # not the input the Masking layer reads
    assert recurrent_activation(model.layers[-1]) == "tanh" and recurrent_activation(masking) is None


# -- the probe's loss on a masked output, against Keras' own ------------------------------
def _padded_sines(n: int = 64) -> np.ndarray:
    rng = np.random.default_rng(0)
    t = np.linspace(0, 2 * np.pi, 16)
    x = np.sin(rng.uniform(0.5, 2.0, (n, 1)) * t + rng.uniform(0, 6, (n, 1)))[..., None].astype("float32")
    for i, k in enumerate(rng.integers(5, 17, n)):
        x[i, k:] = 0.0
    return x


@pytest.mark.parametrize("repeat", [False, True], ids=["mask_reaches_output", "repeatvector_drops_mask"])
def test_probe_losses_apply_the_output_mask_as_fit_does(repeat: bool) -> None:
    from ae_magic.probes.batches import first_steps
    from ae_magic.probes.session import ProbeSession

    keras.utils.set_random_seed(0)
    x = _padded_sines()
    inp = keras.Input(shape=(16, 1))
    h = keras.layers.Masking(mask_value=0.0)(inp)
    if repeat:
        h = keras.layers.RepeatVector(16)(keras.layers.LSTM(8)(h))
    h = keras.layers.LSTM(8, return_sequences=True)(h)
    model = keras.Model(inp, keras.layers.TimeDistributed(keras.layers.Dense(1))(h))
    model.compile(optimizer="adam", loss="mse")
    sess = ProbeSession(model, x)
    try:
        split = sess.prepare(subset=None, batch_size=16)
        assert sess.out_masked is (not repeat)
        xv, yv = split["x_val"], split["y_val"]
        # Keras' own value on the same weights and batch: evaluate and compute_loss.
        want_val = model.evaluate(xv, yv, batch_size=len(xv), verbose=0)
        pred = sess.predict(xv)
        assert sess.loss_value(yv, pred) == pytest.approx(want_val, rel=1e-5)
        assert sess.predict_and_loss(xv, yv)[1] == pytest.approx(want_val, rel=1e-5)
        xb, yb = next(iter(first_steps(split, 1)))
        xb, yb = np.asarray(xb)[0], np.asarray(yb)[0]
        want_step = float(keras.ops.convert_to_numpy(model.compute_loss(x=xb, y=yb, y_pred=model(xb), training=False)))
        assert model.evaluate(xb, yb, batch_size=len(xb), verbose=0) == pytest.approx(want_step, rel=1e-5)
        assert sess.run_steps(0.0, 1)[0] == pytest.approx(want_step, rel=1e-5)
        # The padding counts when no mask reaches the output, and only then.
        plain = float(np.mean((pred - yv) ** 2))
        assert (plain == pytest.approx(want_val, rel=1e-5)) is repeat
    finally:
        sess.dispose()


# -- recurrent gates ---------------------------------------------------------------------
def _gate_broken(cell: str, gate: slice, value: float) -> str:
    # A healthy-looking cell whose bias on one gate is set, through the cell's
    # weights, far from 0: an LSTM output gate at -20 (closed: the hidden
    # state is 0) or a GRU update gate at +20 (stuck open: the state never
    # takes the input).
    return (
        _SINES
        + f"""
inp = keras.Input(shape=(16, 1))
broken = layers.{cell}(16, return_sequences=True)
h = broken(inp)
code = layers.{cell}(8)(h)
h = layers.RepeatVector(16)(code)
h = layers.{cell}(16, return_sequences=True)(h)
out = layers.TimeDistributed(layers.Dense(1))(h)
autoencoder = keras.Model(inp, out)
bias = keras.ops.convert_to_numpy(broken.cell.bias).copy()
bias[..., {gate.start}:{gate.stop}] = {value}
broken.cell.bias.assign(bias)
autoencoder.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
"""
    )


@pytest.mark.parametrize(
    ("cell", "gate", "value", "blocked"),
    [("LSTM", slice(48, 64), -20.0, "output_closed"), ("GRU", slice(0, 16), 20.0, "update_stuck_open")],
    ids=["lstm_output_gate_closed", "gru_update_gate_stuck_open"],
)
def test_gates_that_block_learning_get_ae305_on_the_cell_line(cell: str, gate: slice, value: float, blocked: str) -> None:
    report, ns = _check(_gate_broken(cell, gate, value))
    first = next(ly for ly in ns["autoencoder"].layers if type(ly).__name__ == cell)
    gates = report.traces["gradients"]["gates"][first.name]
    assert gates["kind"] == cell and gates[blocked] == 1.0
    found = [f for f in report.findings if f.code == "AE305" and f.layer == first.name]
    assert len(found) == 1, [(f.code, f.layer, f.message) for f in report.findings]
    f = found[0]
    assert blocked in f.evidence["blocked_gates"] and f.evidence["when"] == "at the initial weights"
    assert f.line is not None and "broken" in (f.source_line or "")
    assert "gate" in f.message and "forget" not in f.message
    # The other (healthy) recurrent layers' gates pass.
    assert not [g for g in report.findings if g.code == "AE305" and g.layer != first.name]


def test_saturated_lstm_candidate_is_folded_into_the_hidden_state_finding() -> None:
    report, ns = _check(SATURATED_LSTM)
    first = next(ly for ly in ns["autoencoder"].layers if type(ly).__name__ == "LSTM")
    assert report.traces["gradients"]["gates"][first.name]["candidate_saturated"] == 1.0
    # The input and output gates sit open (bias 10): that blocks nothing and is no finding.
    assert report.traces["gradients"]["gates"][first.name]["input_closed"] == 0.0
    found = [f for f in report.findings if f.code == "AE305" and f.layer == first.name]
    assert len(found) == 1 and "candidate_saturated" in found[0].evidence["blocked_gates"]
    assert "hidden state" in found[0].message and "tanh candidate" in found[0].message


def test_gates_recomputed_in_numpy_match_the_layers_own_hidden_state() -> None:
    from ae_magic.probes import sequence as seq

    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(6, 9, 3)).astype("float32")
    x[:2, 5:] = 0.0  # padded tails
    inp = keras.Input(shape=(9, 3))
    a = keras.layers.LSTM(5, return_sequences=True)(keras.layers.Masking(0.0)(inp))
    b = keras.layers.GRU(4, return_sequences=True)(a)
    c = keras.layers.GRU(4, return_sequences=True, reset_after=False)(b)
    d = keras.layers.Bidirectional(keras.layers.LSTM(3, return_sequences=True))(c)
    model = keras.Model(inp, [a, b, c, d])
    outs = [keras.ops.convert_to_numpy(o) for o in model(x)]
    rec = [ly for ly in model.layers if type(ly).__name__ in ("LSTM", "GRU")]
    bi = next(ly for ly in model.layers if type(ly).__name__ == "Bidirectional")
    inner = [*rec, bi.forward_layer, bi.backward_layer]
    with seq.record_calls({id(ly): ly for ly in inner}) as calls:
        model(x, training=False)
    mask = np.any(x != 0.0, axis=-1)
    want = [*outs[:3], outs[3][..., :3], outs[3][..., 3:]]
    for ly, out in zip(inner, want, strict=True):
        gates, m, tanh = seq._layer_gates(ly, *calls[id(ly)])
        assert tanh and np.array_equal(m, mask)
        np.testing.assert_allclose(gates["hidden"][mask], out[mask], atol=1e-5)
    stats = seq.gate_stats(model, model.layers, x)
    assert set(stats) == {ly.name for ly in rec} | {bi.name} and stats[bi.name]["units"] == 6
    assert all(s["steps"] == int(mask.sum()) for s in stats.values())


def test_one_stacked_pass_measures_what_the_two_passes_measure(monkeypatch: pytest.MonkeyPatch) -> None:
    """The activations (on the training rows) and the gates (on the validation rows) share one eager pass
    for a recurrent model: the same numbers as two passes, masks, Bidirectional and initial states included."""
    from ae_magic.probes import sequence as seq
    from ae_magic.probes import traces

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x_act = rng.normal(size=(40, 9, 3)).astype("float32")
    x_gate = rng.normal(size=(7, 9, 3)).astype("float32")
    x_act[:5, 6:] = 0.0
    x_gate[:2, 4:] = 0.0  # padded tails on both sides of the stack
    inp = keras.Input(shape=(9, 3))
    h = keras.layers.Masking(0.0)(inp)
    seqs, state_h, state_c = keras.layers.LSTM(5, return_sequences=True, return_state=True, activation="relu")(h)
    dec = keras.layers.LSTM(5, return_sequences=True)(seqs, initial_state=[state_h, state_c])
    d = keras.layers.Bidirectional(keras.layers.GRU(3, return_sequences=True))(dec)
    out = keras.layers.TimeDistributed(keras.layers.Dense(3, activation="sigmoid"))(d)
    model = keras.Model(inp, out)
    layers = traces.leaf_layers(model)
    with monkeypatch.context() as m:  # the two-pass fallback must not be what ran
        m.setattr(traces, "layer_activations", None)
        m.setattr(traces, "gate_stats", None)
        act, gates = traces.activations_and_gates(model, layers, x_act, x_gate)
    want_act = traces.layer_activations(model, layers, x_act)
    want_gates = seq.gate_stats(model, layers, x_gate)
    assert set(gates) == set(want_gates) and len(gates) == 3 and act.keys() == want_act.keys()
    for name, row in want_act.items():
        np.testing.assert_allclose(np.array(act[name], dtype=float), np.array(row, dtype=float), atol=1e-6)
    for name, g in want_gates.items():
        assert g.keys() == gates[name].keys()
        for key, value in g.items():
            assert gates[name][key] == pytest.approx(value, abs=1e-5), (name, key)


def test_forget_gate_stuck_open_is_never_a_finding() -> None:
    # Forget gates near 1 are what unit_forget_bias aims at: the cell keeps its memory.
    report, ns = _check(_gate_broken("LSTM", slice(16, 32), 20.0))
    first = next(ly for ly in ns["autoencoder"].layers if type(ly).__name__ == "LSTM")
    assert report.traces["gradients"]["gates"][first.name]["forget_open"] == 1.0
    assert not [f for f in report.findings if "blocked_gates" in f.evidence], [(f.code, f.message) for f in report.findings]


# -- AE104 on a sequence code (round 13) -------------------------------------------------------------------
# The blogs' LSTM autoencoder: LSTM(128) -> Dense(32) code -> RepeatVector on 30-step univariate signals.
# The code holds 32 values against the sequence's 30, and the model trains well (0.27x the mean's error).
OVERCOMPLETE_LSTM = """\
import numpy as np
import keras
from keras import layers
rng = np.random.default_rng(7)
t = np.linspace(0, 1, 30)
x = np.sin(2 * np.pi * rng.uniform(1.0, 2.5, size=(600, 1)) * t + rng.uniform(0, 6.3, size=(600, 1)))
x = (x + 0.03 * rng.standard_normal(x.shape))[..., None].astype("float32")
inputs = keras.Input(shape=(30, 1))
encoded = layers.Dense(CODE)(layers.LSTM(64)(inputs))
decoded = layers.LSTM(64, return_sequences=True)(layers.RepeatVector(30)(encoded))
lstm_ae = keras.Model(inputs, layers.TimeDistributed(layers.Dense(1))(decoded))
lstm_ae.compile(optimizer="adam", loss="mse")
"""


def test_a_sequence_code_as_wide_as_the_sequence_is_a_note_not_a_warning() -> None:
    report = ae_magic.check(OVERCOMPLETE_LSTM.replace("CODE", "32"), namespace={}, data="x", train=False)
    f = report.get("AE104")
    assert f is not None and f.severity == "info" and f.evidence["code_width"] == 32, report.text()
    assert f.source_line.startswith("encoded = layers.Dense(32)")
    # A narrower code: nothing to say.
    assert "AE104" not in ae_magic.check(OVERCOMPLETE_LSTM.replace("CODE", "8"), namespace={}, data="x", train=False).codes
    # The same widths through Dense layers on the flattened sequence stay a warning: a dense code can copy.
    dense = OVERCOMPLETE_LSTM.replace(
        "encoded = layers.Dense(CODE)(layers.LSTM(64)(inputs))", "encoded = layers.Dense(32)(layers.Flatten()(inputs))"
    ).replace("layers.LSTM(64, return_sequences=True)(layers.RepeatVector(30)(encoded))",
              "layers.Reshape((30, 1))(layers.Dense(30)(encoded))")
    f = ae_magic.check(dense, namespace={}, data="x", train=False).get("AE104")
    assert f is not None and f.severity == "warning" and "the input has 30" in f.message


# -- AE105: the decoder's last LSTM without return_sequences (round 13) ---------------------------------------
FLAT_DECODER = """\
import numpy as np
import keras
from keras import layers
rng = np.random.default_rng(0)
t = np.linspace(0, 2 * np.pi, 48)
x = (0.5 + 0.4 * np.sin(t + rng.uniform(0, 6.3, size=(300, 1))))[..., None].astype("float32")
model = keras.Sequential([
    keras.Input(shape=(48, 1)),
    layers.LSTM(32, return_sequences=True),
    layers.LSTM(8),
    layers.RepeatVector(48),
    layers.LSTM(8, return_sequences=True),
    layers.LSTM(32),
    layers.Dense(1),
])
model.compile(optimizer="adam", loss="mse")
"""


def test_a_decoder_lstm_that_drops_the_time_axis_is_named_with_its_line() -> None:
    report = ae_magic.check(FLAT_DECODER, namespace={}, data="x", train=False)
    f = report.get("AE105")
    assert f is not None and f.severity == "error", report.text()
    assert f.source_line == "layers.LSTM(32)," and "loses the time axis" in f.message, (f.source_line, f.message)
    assert "layers.LSTM(32, return_sequences=True)" in f.fix
    fixed = FLAT_DECODER.replace("    layers.LSTM(32),\n", "    layers.LSTM(32, return_sequences=True),\n")
    assert "AE105" not in ae_magic.check(fixed, namespace={}, data="x", train=False).codes


def test_a_repeatvector_of_the_wrong_length_is_named_at_its_line() -> None:
    """Round 19: ``RepeatVector(n_features)`` instead of the number of time steps: (30, 3) comes back (3, 3)."""
    cell = """\
import numpy as np
import keras
from keras import layers
x = np.random.default_rng(0).random((200, 30, 3)).astype("float32")
timesteps, n_features = x.shape[1], x.shape[2]
model = keras.Sequential()
model.add(keras.Input(shape=(timesteps, n_features)))
model.add(layers.LSTM(16))
model.add(layers.RepeatVector(REPEAT))
model.add(layers.LSTM(16, return_sequences=True))
model.add(layers.TimeDistributed(layers.Dense(n_features)))
model.compile(optimizer="adam", loss="mse")
"""
    report = ae_magic.check(cell.replace("REPEAT", "n_features"), namespace={}, data="x", seed=0, train=False)
    f = report.get("AE105")
    assert f is not None and f.line == 9 and "RepeatVector(n_features)" in f.source_line, report.text()
    assert "RepeatVector(30)" in f.fix
    report = ae_magic.check(cell.replace("REPEAT", "timesteps"), namespace={}, data="x", seed=0, train=False)
    assert "AE105" not in report.codes, report.text()
