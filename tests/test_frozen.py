"""AE301 for layers frozen at their random initial weights (``checks/frozen.py``), on every backend.

A fine-tuning recipe copied onto a fresh model freezes random weights; a
pretrained (loaded, set or fitted) encoder frozen on purpose, and frozen
normalisation layers, say nothing of the kind.
"""

from __future__ import annotations

import numpy as np

import ae_magic

CELL = """\
import numpy as np
import keras
from keras import layers

x = np.random.default_rng(0).random((256, 64)).astype("float32")
encoder = keras.Sequential([keras.Input(shape=(64,)), layers.Dense(32, activation="relu"),
                            layers.Dense(8, activation="relu")], name="encoder")
{before}
decoder = keras.Sequential([keras.Input(shape=(8,)), layers.Dense(32, activation="relu"),
                            layers.Dense(64, activation="sigmoid")], name="decoder")
model = keras.Sequential([encoder, decoder])
model.compile(optimizer="adam", loss="mse")
"""


def _cell(before: str) -> str:
    return CELL.format(before=before)


def test_a_random_encoder_frozen_is_ae301_at_the_freezing_line() -> None:
    cell = _cell("encoder.trainable = False   # from a fine-tuning recipe")
    report = ae_magic.check(cell, namespace={}, data="x", train=False)
    assert report.internal_errors == []
    f = [f for f in report.findings if f.title == "Frozen at random initial weights"]
    assert len(f) == 1 and f[0].code == "AE301" and f[0].severity == "warning", report.text()
    assert f[0].line == cell.splitlines().index("encoder.trainable = False   # from a fine-tuning recipe") + 1
    assert len(f[0].evidence["layers"]) == 2  # both Dense layers of the encoder
    assert f[0].fix.startswith("encoder.trainable = True")


def test_it_needs_no_data() -> None:
    report = ae_magic.check(_cell("encoder.trainable = False"), namespace={})
    assert any(f.title == "Frozen at random initial weights" for f in report.findings), report.text()


def test_a_pretrained_encoder_frozen_on_purpose_is_not_reported() -> None:
    for load in ("encoder.set_weights([w + 0.01 for w in encoder.get_weights()])",
                 "encoder.compile(optimizer='adam', loss='mse')\n"
                 "encoder.fit(x, np.zeros((256, 8), 'float32'), epochs=1, verbose=0)"):
        cell = _cell(load + "\nencoder.trainable = False")
        report = ae_magic.check(cell, namespace={}, data="x", train=False)
        assert report.internal_errors == []
        assert not any(f.title == "Frozen at random initial weights" for f in report.findings), report.text()


def test_frozen_normalisation_and_bias_free_layers_are_not_reported() -> None:
    cell = CELL.replace('layers.Dense(32, activation="relu"),\n', 'layers.Dense(32, activation="relu"), '
                        'layers.BatchNormalization(trainable=False), layers.Dense(16, use_bias=False, trainable=False),\n', 1)
    report = ae_magic.check(_cell_from(cell), namespace={}, data="x", train=False)
    assert report.internal_errors == []
    assert not any(f.title == "Frozen at random initial weights" for f in report.findings), report.text()


def _cell_from(template: str) -> str:
    return template.format(before="")


def test_the_users_model_is_untouched() -> None:
    ns: dict = {}
    session = ae_magic.Session.from_cell(_cell("encoder.trainable = False"), namespace=ns, data="x")
    before = [np.array(v.numpy(), copy=True) for v in ns["model"].variables]
    session.run()
    after = [np.array(v.numpy(), copy=True) for v in ns["model"].variables]
    assert all(a.tobytes() == b.tobytes() for a, b in zip(before, after, strict=True))
    assert ns["encoder"].trainable is False
    session.close()
