"""A Masking layer whose mask value is also data inside the sequences (round 16).

Padding sits at the start or the end of a sequence; whole steps equal to the
mask value between real steps are data that the recurrent layers then skip.
"""

from __future__ import annotations

import numpy as np

from ae_magic.checks.masking import mask_collision
from ae_magic.context import Context
from ae_magic.keras_compat import keras


def _model(value: float = 0.0) -> object:
    inp = keras.Input((12, 3))
    h = keras.layers.Masking(mask_value=value)(inp)
    h = keras.layers.LSTM(4)(h)
    h = keras.layers.RepeatVector(12)(h)
    out = keras.layers.TimeDistributed(keras.layers.Dense(3))(keras.layers.LSTM(4, return_sequences=True)(h))
    return keras.Model(inp, out)


def _data() -> np.ndarray:
    return np.random.default_rng(0).uniform(0.1, 1.0, (200, 12, 3)).astype("float32")


def test_mask_value_inside_the_sequences_is_found() -> None:
    x = _data()
    x[::3, 4:7, :] = 0.0  # a device "off" for three steps in a third of the windows
    m = mask_collision(Context(model=_model(), data=x))
    assert m is not None and m["mask_value"] == 0.0 and 0.3 < m["share"] < 0.36 and m["steps"] == 3.0


def test_padding_at_either_end_is_padding() -> None:
    post, pre = _data(), _data()
    post[::2, 8:, :] = 0.0
    pre[::2, :5, :] = 0.0
    assert mask_collision(Context(model=_model(), data=post)) is None
    assert mask_collision(Context(model=_model(), data=pre)) is None
    # One zero channel inside a step is no masked step (Masking needs every feature at the value).
    part = _data()
    part[:, 5, 0] = 0.0
    assert mask_collision(Context(model=_model(), data=part)) is None


def test_padding_with_another_value_than_the_data_takes() -> None:
    x = _data()
    x[::3, 4:7, :] = 0.0
    assert mask_collision(Context(model=_model(-1.0), data=x)) is None


def test_a_collision_in_many_sequences_is_reported_on_its_own_and_padding_stays_silent() -> None:
    """Round 19: rectified signals zero-padded and masked at 0.0 beat the mean, so no AE404/AE405 came to name it."""
    from ae_magic.checks.masking import STANDALONE_SHARE, check_mask_collision

    x = _data()
    x[::3, 4:7, :] = 0.0
    found = check_mask_collision(Context(model=_model(), data=x))
    assert [f.code for f in found] == ["AE204"] and found[0].severity == "warning"
    assert found[0].layer.startswith("masking") and "mask_value=-1.0" in found[0].fix
    rare = _data()
    rare[::10, 4:7, :] = 0.0  # 10 % of the windows: below the standalone bar, left to AE404/AE405's evidence
    assert mask_collision(Context(model=_model(), data=rare))["share"] < STANDALONE_SHARE
    assert check_mask_collision(Context(model=_model(), data=rare)) == []
    post = _data()
    post[::2, 8:, :] = 0.0
    assert check_mask_collision(Context(model=_model(), data=post)) == []


def test_a_masking_layer_is_never_taken_for_the_code() -> None:
    """Round 19: the Masking layer (as wide as the input) was named as a code "as wide as the input" (a warning)."""
    import ae_magic

    cell = """\
import numpy as np
import keras
from keras import layers
rng = np.random.default_rng(0)
x = np.zeros((300, 24, 1), dtype="float32")
for i, n in enumerate(rng.integers(14, 25, size=300)):
    x[i, :n, 0] = 0.5 + 0.4 * np.sin(0.3 * np.arange(n) + rng.uniform(0, 6))
inputs = keras.Input(shape=(24, 1))
h = layers.Masking(mask_value=0.0)(inputs)
h = layers.GRU(64)(h)
h = layers.RepeatVector(24)(h)
outputs = layers.TimeDistributed(layers.Dense(1))(layers.GRU(64, return_sequences=True)(h))
seq_ae = keras.Model(inputs, outputs)
seq_ae.compile(optimizer="adam", loss="mse")
"""
    report = ae_magic.check(cell, namespace={}, data="x", seed=0, train=False)
    f = report.get("AE104")
    assert f is not None and f.severity == "info" and f.layer.startswith("gru"), report.text()
    assert "AE204" not in report.codes, report.text()  # post padding only: no collision
