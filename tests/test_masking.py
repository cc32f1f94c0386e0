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
