"""Round 78 (session 42): fresh cells written blind (Keras 2 ports; tabular and recommender autoencoders;
sequence and two-head signal models); the fixes its misses asked for.

* du08 (a healthy I-AutoRec: a masked MSE over observed ratings, a sigmoid hidden layer, and a 3-epoch fit at
  Adam(1e-2) in the cell): AE305 said every hidden unit sat in the flat part of the sigmoid "at the initial
  weights", which were the weights the cell's fit left, while the probe run from them went on learning. AE305
  at those weights is info when the run learned (no stall finding): the units saturated in training.
* dv03 (Machine Learning Mastery's LSTM autoencoder: LSTM(100) on 9-step sequences): AE104 was a note, as for
  every sequence code. A recurrent code with at least 4x as many units as the sequence has values has room to
  hold every value: a warning. A code about as wide as the sequence stays a note.
* du04 (a feature-extraction autoencoder: ``n_bottleneck = 32`` on 30 features, behind a 30-wide hidden
  layer, with an ``encoder`` model built to the bottleneck): AE104 named that hidden layer. It names the code
  the cell means (its encoder's output), and the line that binds the width (``n_bottleneck = 32``).
* dv06 (a GRU autoencoder with a next-step head, ``loss=["binary_crossentropy", "mse"]`` on z-scored readings):
  AE203 named the data and AE108 the linear output layer. With a linear output and targets below 0, the loss
  is what to change: both name the ``loss=`` line, and the fix changes that list entry.
"""

from __future__ import annotations

import ae_magic


def _line(src: str, text: str) -> int:
    return next(i for i, line in enumerate(src.splitlines(), 1) if text in line)


def _loud(report: ae_magic.Report, code: str | None = None) -> list[ae_magic.Finding]:
    return [f for f in report.findings if (code is None or f.code == code) and f.severity in ("warning", "error")]


AUTOREC = """\
import numpy as np
import keras
from keras import layers, ops

rng = np.random.default_rng(3)
n_users, n_items, rank = 800, 120, 4
U = rng.normal(size=(n_users, rank))
V = rng.normal(size=(n_items, rank))
full = np.clip(3.0 + 0.8 * (U @ V.T) / np.sqrt(rank) + 0.25 * rng.normal(size=(n_users, n_items)), 1.0, 5.0)
mask = rng.random((n_users, n_items)) < 0.25
R_train = np.where(mask, full, 0.0).astype("float32")


def masked_mse(y_true, y_pred):
    observed = ops.cast(ops.not_equal(y_true, 0.0), "float32")
    sq = ops.square(y_true - y_pred) * observed
    return ops.sum(sq, axis=-1) / ops.maximum(ops.sum(observed, axis=-1), 1.0)


class AutoRec(keras.Model):
    def __init__(self, n_items, hidden=32, **kwargs):
        super().__init__(**kwargs)
        self.encode = layers.Dense(hidden, activation="sigmoid")
        self.decode = layers.Dense(n_items)

    def call(self, inputs):
        return self.decode(self.encode(inputs))


keras.utils.set_random_seed(1)
autorec = AutoRec(n_items)
autorec.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-2), loss=masked_mse)
FIT
"""


FIT = "autorec.fit(R_train, R_train, epochs=3, batch_size=32, verbose=0)"


def test_units_the_cells_fit_saturated_are_info_when_the_probe_run_learns() -> None:
    report = ae_magic.check(AUTOREC.replace("FIT", FIT), namespace={}, data="R_train")
    assert not report.internal_errors
    assert not _loud(report), [(f.code, f.message) for f in _loud(report)]
    sat = report.get("AE305")  # (the cell's fit saturates over half the units on all three backends)
    assert sat is not None and sat.severity == "info" and sat.evidence.get("saturated_in_cell_fit"), report.text()
    assert "the cell's own fit left" in sat.message


def test_a_sigmoid_code_the_cells_fit_saturated_keeps_its_warning_not_an_error() -> None:
    # The same model as layers: AE106 (a narrow sigmoid code) stays the structure's warning, and the saturation
    # measured at the weights the cell's fit left, in a run that learned, does not make it an error.
    functional = AUTOREC.replace(AUTOREC[AUTOREC.index("class AutoRec"):AUTOREC.index("keras.utils.set_random_seed")], "")
    functional = functional.replace("autorec = AutoRec(n_items)", (
        "inp = keras.Input(shape=(n_items,))\n"
        "autorec = keras.Model(inp, layers.Dense(n_items)(layers.Dense(32, activation='sigmoid')(inp)))"))
    report = ae_magic.check(functional.replace("FIT", FIT), namespace={}, data="R_train")
    code = report.get("AE106")
    assert code is not None and code.severity == "warning", report.text()
    if code.evidence.get("measured_saturated_share", {}).get("initial", 0) >= 0.5:
        assert code.evidence.get("saturated_in_cell_fit"), code.message


SEQUENCE_AE = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(3)
n_in = STEPS
starts = rng.uniform(0.0, 0.5, size=(400, 1))
slopes = rng.uniform(0.02, 0.06, size=(400, 1))
sequences = (starts + slopes * np.arange(n_in)[None, :] + rng.normal(0, 0.01, (400, n_in)))
sequences = sequences.reshape((400, n_in, 1)).astype("float32")

model = keras.Sequential()
model.add(keras.Input(shape=(n_in, 1)))
model.add(layers.LSTM(UNITS, activation="relu"))
model.add(layers.RepeatVector(n_in))
model.add(layers.LSTM(UNITS, activation="relu", return_sequences=True))
model.add(layers.TimeDistributed(layers.Dense(1)))
model.compile(optimizer="adam", loss="mse")
"""


def test_a_recurrent_code_with_room_for_every_value_is_a_warning() -> None:
    src = SEQUENCE_AE.replace("STEPS", "9").replace("UNITS", "100")
    f = ae_magic.check(src, namespace={}, data="sequences", train=False).get("AE104")
    assert f is not None and f.severity == "warning", f
    assert f.line == _line(src, "layers.LSTM(100") and f.evidence.get("sequence_code")
    assert "11x as many units" in f.message and "layers.LSTM(4, ...)" in f.fix


def test_a_recurrent_code_about_as_wide_as_the_sequence_stays_a_note() -> None:
    # 64 units on 32 values (round 76's healthy do10) and 36 on 30: the usual LSTM autoencoder, a note.
    for steps, units in (("32", "64"), ("30", "36")):
        f = ae_magic.check(SEQUENCE_AE.replace("STEPS", steps).replace("UNITS", units), namespace={},
                           data="sequences", train=False).get("AE104")
        assert f is not None and f.severity == "info", (steps, units, f)


FEATURE_AE = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(0)
X_train = rng.random((500, 30)).astype("float32")
n_inputs = X_train.shape[1]
n_bottleneck = WIDTH

visible = keras.Input(shape=(n_inputs,))
e = layers.Dense(n_inputs * 2)(visible)
e = layers.LeakyReLU()(e)
e = layers.Dense(n_inputs)(e)
e = layers.LeakyReLU()(e)
bottleneck = layers.Dense(n_bottleneck)(e)
d = layers.Dense(n_inputs)(bottleneck)
d = layers.LeakyReLU()(d)
output = layers.Dense(n_inputs, activation="linear")(d)
model = keras.Model(inputs=visible, outputs=output)
encoder = keras.Model(inputs=visible, outputs=bottleneck)
model.compile(optimizer="adam", loss="mse")
"""


def test_the_code_the_cell_means_and_the_line_that_binds_its_width() -> None:
    src = FEATURE_AE.replace("WIDTH", "32")
    f = ae_magic.check(src, namespace={}, data="X_train", train=False).get("AE104")
    assert f is not None and f.severity == "warning", f
    assert f.line == _line(src, "n_bottleneck = 32") and f.evidence["width_from"] == "n_bottleneck"
    assert f.evidence["code_width"] == 32 and f.evidence.get("meant_code")
    assert f.message.startswith("The code of `model`") and "`bottleneck`" in f.message
    assert f.fix.startswith("n_bottleneck = 3 ")
    # A bottleneck narrower than the input: nothing to say, whatever the hidden layers' widths.
    assert ae_magic.check(FEATURE_AE.replace("WIDTH", "8"), namespace={}, data="X_train", train=False).get("AE104") is None


TWO_HEADS = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(5)
raw = rng.normal(size=(700, 4)).cumsum(axis=0) + rng.normal(size=(700, 4))
SCALING
X_win = np.stack([scaled[s : s + 20] for s in range(0, 660, 2)]).astype("float32")
y_next = np.stack([scaled[s + 20] for s in range(0, 660, 2)]).astype("float32")

inputs = keras.Input(shape=(20, 4))
enc = layers.GRU(8)(inputs)
dec = layers.GRU(16, return_sequences=True)(layers.RepeatVector(20)(enc))
recon_out = layers.TimeDistributed(layers.Dense(4), name="recon")(dec)
next_out = layers.Dense(4, name="next_step")(enc)
engine_ae = keras.Model(inputs, [recon_out, next_out])
engine_ae.compile(optimizer="adam",
                  loss=["binary_crossentropy", "mse"],
                  loss_weights=[1.0, 0.5])
"""


def test_binary_crossentropy_on_standardised_targets_names_the_loss_entry() -> None:
    src = TWO_HEADS.replace("SCALING", "scaled = (raw - raw.mean(axis=0)) / raw.std(axis=0)")
    report = ae_magic.check(src, namespace={}, data="X_win", train=False)
    at = _line(src, 'loss=["binary_crossentropy", "mse"]')
    range_ = report.get("AE203")
    assert range_ is not None and range_.line == at, report.text()
    assert range_.fix.startswith('loss=["mse", "mse"]')
    mismatch = report.get("AE108")
    assert mismatch is not None and mismatch.line == at and "loss='mse'" in mismatch.fix


def test_binary_crossentropy_on_unit_range_targets_keeps_the_output_layer() -> None:
    # Min-max scaled into [0, 1]: the linear output is what to change (a sigmoid, or from_logits), at its layer.
    src = TWO_HEADS.replace("SCALING", "scaled = (raw - raw.min(axis=0)) / (raw.max(axis=0) - raw.min(axis=0))")
    report = ae_magic.check(src, namespace={}, data="X_win", train=False)
    assert report.get("AE203") is None, report.text()
    mismatch = report.get("AE108")
    assert mismatch is not None and mismatch.line == _line(src, "recon_out = ") and "sigmoid" in mismatch.fix


SKIPPED_CODE = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(2)
X = rng.normal(size=(600, 16)).astype("float32")
inp = keras.Input(shape=(16,))
h1 = layers.Dense(32, activation="relu")(inp)
h2 = layers.Dense(16, activation="relu")(h1)
code = layers.Dense(3, name="embedding")(h2)
g1 = layers.Dense(16, activation="relu")(READS)
out = layers.Dense(16)(layers.Dense(32, activation="relu")(g1))
customer_ae = keras.Model(inp, out)
embedder = keras.Model(inp, code)
customer_ae.compile(optimizer="adam", loss="mse")
"""


def test_a_decoder_that_skips_the_encoders_code_is_one_finding() -> None:
    # Round 78's du05: the bypass check and the encoder-model check both named the decoder's first layer.
    src = SKIPPED_CODE.replace("READS", "h2")
    report = ae_magic.check(src, namespace={}, data="X", train=False)
    bypass = [f for f in report.findings if f.code == "AE103"]
    assert len(bypass) == 1, [f.message for f in bypass]
    assert bypass[0].line == _line(src, "g1 = ") and "`embedder` outputs that code" in bypass[0].message
    assert not [f for f in ae_magic.check(SKIPPED_CODE.replace("READS", "code"), namespace={}, data="X",
                                          train=False).findings if f.code == "AE103"]
