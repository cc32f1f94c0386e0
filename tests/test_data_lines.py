"""Data findings point where the fix goes: the line that made the data, or the output layer."""

from __future__ import annotations

import numpy as np
import pytest

import ae_magic

SEQ_MODEL = """\
inp = keras.Input((20, 1))
h = layers.LSTM(8)(inp)
r = layers.RepeatVector(20)(h)
d = layers.LSTM(8, return_sequences=True)(r)
out = layers.TimeDistributed(layers.Dense(1, activation="sigmoid"))(d)
ae = keras.Model(inp, out)
ae.compile("adam", "mse")
"""
HEAD = "import numpy as np\nimport keras\nfrom keras import layers\n"


def test_data_made_in_the_cell_is_located_at_its_line() -> None:
    cell = HEAD + 'x = np.random.default_rng(0).integers(0, 256, size=(64, 20, 1)).astype("float32")\n' + SEQ_MODEL
    rep = ae_magic.check(cell, namespace={}, data="x", train=False)
    for code in ("AE201", "AE203"):
        f = rep.get(code)
        assert f is not None, rep.text()
        assert f.line == 4 and f.source_line.startswith("x = np.random"), (code, f.line)


def test_data_from_outside_the_cell_points_ae203_at_the_output_layer() -> None:
    x = np.random.default_rng(0).normal(size=(64, 20, 1)).astype("float32") * 3
    ns = {"x": x}
    rep = ae_magic.check(HEAD + SEQ_MODEL, namespace=ns, data="x", train=False)
    f = rep.get("AE203")
    # TimeDistributed(Dense(sigmoid)) squashes like its Dense: standardised targets are out of its reach.
    assert f is not None and f.evidence["output_activation"] == "sigmoid", rep.text()
    assert f.line == 8 and "TimeDistributed" in f.source_line
    assert rep.get("AE201") is None or rep.get("AE201").line is None  # nothing of the cell to point at


def test_linear_time_distributed_output_is_silent_on_standardised_data() -> None:
    x = np.random.default_rng(0).normal(size=(64, 20, 1)).astype("float32")
    cell = HEAD + SEQ_MODEL.replace(', activation="sigmoid"', "")
    rep = ae_magic.check(cell, namespace={"x": x}, data="x", train=False)
    assert rep.get("AE203") is None, rep.text()



def test_standardised_data_made_in_the_cell_points_ae203_at_the_output_layer() -> None:
    # Round 17 (a credit-card-fraud tutorial, written blind): the features were
    # standardised on purpose, so the fix is the relu output, not the data's line.
    cell = (HEAD + "raw = np.random.default_rng(0).normal(5.0, 40.0, size=(256, 12))\n"
            "x = ((raw - raw.mean(0)) / raw.std(0)).astype('float32')\n"
            "inp = keras.Input((12,))\n"
            "h = layers.Dense(6, activation='relu')(inp)\n"
            "out = layers.Dense(12, activation='relu')(h)\n"
            "ae = keras.Model(inp, out)\nae.compile('adam', 'mse')\n")
    rep = ae_magic.check(cell, namespace={}, data="x", train=False)
    f = rep.get("AE203")
    assert f is not None and f.evidence.get("standardised"), rep.text()
    assert f.line == 8 and f.source_line.startswith("out = layers.Dense(12"), (f.line, f.source_line)
    assert "linear output layer" in f.fix and "standardised" in f.message
    # 0-255 pixels under a sigmoid stay at the data's line: scaling them is the fix.
    pixels = cell.replace("x = ((raw - raw.mean(0)) / raw.std(0)).astype('float32')",
                          "x = np.clip(raw * 3 + 128, 0, 255).astype('float32')").replace("activation='relu')(h)",
                                                                                       "activation='sigmoid')(h)")
    rep = ae_magic.check(pixels, namespace={}, data="x", train=False)
    f = rep.get("AE203")
    assert f is not None and f.line == 5 and "/ 255.0" in f.fix, rep.text()


def test_data_scaled_into_minus_one_one_points_ae203_at_the_sigmoid_output() -> None:
    # Round 57's bz06: pixels scaled with `/ 127.5 - 1` (tanh's range, on purpose) under a sigmoid output.
    cell = (HEAD + "raw = np.random.default_rng(0).integers(0, 256, size=(256, 12))\n"
            "x = (raw.astype('float32') / 127.5 - 1.0)\n"
            "inp = keras.Input((12,))\n"
            "h = layers.Dense(6, activation='relu')(inp)\n"
            "out = layers.Dense(12, activation='sigmoid')(h)\n"
            "ae = keras.Model(inp, out)\nae.compile('adam', 'mse')\n")
    rep = ae_magic.check(cell, namespace={}, data="x", train=False)
    f = rep.get("AE203")
    assert f is not None, rep.text()
    assert f.line == 8 and f.source_line.startswith("out = layers.Dense(12"), (f.line, f.source_line)
    assert "activation='tanh'" in f.fix and "tanh's range" in f.message
    assert f.edit is not None and 'activation="tanh"' in f.edit["replacement"], f.edit
    # Data that only dips below 0 (an offset, not a deliberate [-1, 1]) keeps the data's line and its rescale.
    offset = cell.replace("/ 127.5 - 1.0", "/ 255.0 - 0.1")
    f = ae_magic.check(offset, namespace={}, data="x", train=False).get("AE203")
    assert f is not None and f.line == 5 and "min()) / (" in f.fix, f
    # A tanh output on the same data is silent.
    assert ae_magic.check(cell.replace("'sigmoid'", "'tanh'"), namespace={}, data="x", train=False).get("AE203") is None


def test_an_lstm_output_layer_bounds_the_reconstruction_by_its_tanh() -> None:
    # Round 17 (an ECG LSTM autoencoder, written blind): the decoder ends in LSTM(1),
    # whose tanh output can't reach z-scored R peaks at +6.
    cell = HEAD + SEQ_MODEL.replace(
        'out = layers.TimeDistributed(layers.Dense(1, activation="sigmoid"))(d)',
        "out = layers.LSTM(1, return_sequences=True)(d)")
    peaks = np.random.default_rng(0).normal(size=(64, 20, 1)).astype("float32")
    peaks[:, 10] += 5.0
    peaks = (peaks - peaks.mean()) / peaks.std()
    rep = ae_magic.check(cell, namespace={"x": peaks}, data="x", train=False)
    f = rep.get("AE203")
    assert f is not None and f.evidence["output_activation"] == "tanh", rep.text()
    assert f.line == 8 and f.source_line.startswith("out = layers.LSTM(1"), (f.line, f.source_line)
    assert "TimeDistributed(layers.Dense(1))" in f.fix
    # Targets inside (-1, 1): the LSTM's tanh reaches them, nothing to say.
    rep = ae_magic.check(cell, namespace={"x": np.tanh(peaks) * 0.9}, data="x", train=False)
    assert rep.get("AE203") is None, rep.text()


DENSE_LOSS = """\
import numpy as np
import keras
from keras import layers
rng = np.random.default_rng(0)
x = {data}
inp = keras.Input(shape=(12,))
h = layers.Dense(6, activation="relu")(inp)
out = layers.Dense(12{act})(h)
model = keras.Model(inp, out)
model.compile(optimizer="adam", loss={loss})
"""
STANDARDISED = 'rng.normal(size=(256, 12)).astype("float32")'


@pytest.mark.parametrize("loss", ['"kl_divergence"', '"poisson"', "keras.losses.MeanSquaredLogarithmicError()"])
def test_a_loss_whose_domain_the_targets_leave_is_named_at_the_compile_line(loss: str) -> None:
    """Standardised targets under a loss defined on [0, 1] or on non-negative values: the loss is the fix."""
    rep = ae_magic.check(DENSE_LOSS.format(data=STANDARDISED, act="", loss=loss), namespace={}, data="x", train=False)
    f = rep.get("AE203")
    assert f is not None and "loss_domain" in f.evidence, rep.text()
    assert f.line == 10 and "compile" in f.source_line
    assert "model.compile(optimizer='adam', loss='mse')" in f.fix


@pytest.mark.parametrize("data,act,loss", [
    ('rng.poisson(3.0, size=(256, 12)).astype("float32")', ', activation="softplus"', '"poisson"'),  # counts
    ('rng.dirichlet(np.ones(12), size=256).astype("float32")', ', activation="softmax"', '"kl_divergence"'),  # distributions
    ('rng.exponential(2.0, size=(256, 12)).astype("float32")', ', activation="relu"', '"msle"'),  # skewed positives
])
def test_a_loss_used_inside_its_domain_is_silent(data: str, act: str, loss: str) -> None:
    rep = ae_magic.check(DENSE_LOSS.format(data=data, act=act, loss=loss), namespace={}, data="x", train=False)
    assert not any("loss_domain" in f.evidence for f in rep.findings if f.code == "AE203"), rep.text()
