"""AE201 for the other arrays a several-input model is fed (checks/side_inputs.py).

Round 59's cf10: a conditional AE fed ``[x_train, side]`` where ``side`` held raw readings near 1e5; the data
checks read only ``--data``'s array, so the report had the symptoms and not the cause. Healthy feeds stay
silent: one-hot labels, integer ids read by an Embedding, a side input the model normalises itself, and a
standardised side input.
"""

from __future__ import annotations

import ae_magic

CELL = """\
import numpy as np
import keras
from keras import layers

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
n = 600
labels = rng.integers(0, 5, n)
centres = rng.normal(size=(5, 24))
x_train = (centres[labels] + 0.3 * rng.normal(size=(n, 24))).astype("float32")
SIDE

x_in = keras.Input(shape=(24,), name="signal")
c_in = keras.Input(shape=SHAPE, name="side", dtype=DTYPE)
c = READ
h = layers.Concatenate()([x_in, c])
h = layers.Dense(32, activation="relu")(h)
z = layers.Dense(4)(h)
h = layers.Concatenate()([z, c])
h = layers.Dense(32, activation="relu")(h)
out = layers.Dense(24)(h)
cae = keras.Model([x_in, c_in], out)
cae.compile(optimizer="adam", loss="mse")
cae.fit([x_train, side], x_train, epochs=1, batch_size=64, verbose=0)
"""

RAW = ('side = np.stack([labels * 2.5e4 + rng.normal(0, 3e3, n), rng.uniform(9e4, 1.1e5, n)], 1).astype("float32")',
       "(2,)", '"float32"', "c_in")


def _cell(side: str, shape: str, dtype: str, read: str) -> str:
    return CELL.replace("SIDE", side).replace("SHAPE", shape).replace("DTYPE", dtype).replace("READ", read)


def _loud(report: ae_magic.Report) -> list:
    return [f for f in report.findings if f.severity in ("warning", "error")]


def test_an_unscaled_side_input_is_ae201_at_its_line():
    report = ae_magic.check(_cell(*RAW), namespace={}, data="x_train", train=False)
    assert not report.internal_errors, report.internal_errors
    hits = [f for f in report.findings if f.code == "AE201" and f.evidence.get("array") == "side"]
    assert len(hits) == 1, report.text()
    f = hits[0]
    assert f.line == 11 and f.source_line.startswith("side = np.stack"), (f.line, f.source_line)
    assert f.evidence["input"] == "side" and f.evidence["max"] > 5e4, f.evidence
    assert "side.std(axis=0)" in f.fix


def test_side_inputs_that_are_labels_ids_normalised_or_standardised_stay_silent():
    healthy = [
        # one-hot labels
        ('side = keras.utils.to_categorical(labels, 5).astype("float32")', "(5,)", '"float32"', "c_in"),
        # integer ids up to 4999 read by an Embedding (round 59's cf05)
        ("side = rng.integers(0, 5000, (n, 1))", "(1,)", '"int32"', "layers.Flatten()(layers.Embedding(5000, 4)(c_in))"),
        # integer ids one-hot encoded in a Lambda
        ("side = rng.integers(0, 120, (n, 1))", "(1,)", '"int32"',
         "layers.Lambda(lambda t: keras.ops.one_hot(keras.ops.squeeze(t, -1), 120))(c_in)"),
        # raw readings the model normalises itself (adapted Normalization)
        (RAW[0] + "\nnorm = layers.Normalization()\nnorm.adapt(side)", "(2,)", '"float32"', "norm(c_in)"),
        # raw readings standardised in the cell
        (RAW[0] + "\nside = (side - side.mean(0)) / side.std(0)", "(2,)", '"float32"', "c_in"),
    ]
    for side, shape, dtype, read in healthy:
        cell = _cell(side, shape, dtype, read)
        report = ae_magic.check(cell, namespace={}, data="x_train", train=False)
        assert not report.internal_errors, (side, report.internal_errors)
        assert [f for f in _loud(report) if f.code == "AE201"] == [], (side, report.text())


def test_the_data_array_itself_is_left_to_the_data_checks():
    # --data names the unscaled array: the data checks' AE201 names it once, this check does not repeat it.
    cell = _cell(*RAW)
    report = ae_magic.check(cell, namespace={}, data="side", target="x_train", train=False)
    assert not report.internal_errors, report.internal_errors
    assert not [f for f in report.findings if f.code == "AE201" and f.evidence.get("array") == "side"], report.text()
