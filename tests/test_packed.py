"""A model the cell feeds several arrays is probed through one packed array (probes/packed.py).

A conditional autoencoder, ``cae.fit([x_train, y_train], x_train)``, used to be "probes skipped" though fit
trains it. The probes now pack the arrays the cell's fit names into one array per sample and train a copy
through a wrapper that cuts it back into the inputs.
"""

from __future__ import annotations

import numpy as np

import ae_magic
from ae_magic.probes.packed import Unpack, pack

COND = """\
import numpy as np
import keras
from keras import layers

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
n = 600
labels = rng.integers(0, 5, n)
y_train = keras.utils.to_categorical(labels, 5).astype("float32")
centres = rng.normal(size=(5, 30))
x_train = (centres[labels] + 0.3 * rng.normal(size=(n, 30))).astype("float32")

x_in = keras.Input(shape=(30,), name="x")
c_in = keras.Input(shape=(5,), name="cond")
h = layers.Concatenate()([x_in, c_in])
h = layers.Dense(32, activation="relu")(h)
z = layers.Dense(4)(h)
h = layers.Concatenate()([z, c_in])
h = layers.Dense(32, activation="relu")(h)
out = layers.Dense(30)(h)
cae = keras.Model([x_in, c_in], out)
cae.compile(optimizer=OPTIMIZER, loss="mse")
FIT
"""
FIT = "cae.fit([x_train, y_train], x_train, epochs=1, batch_size=64, verbose=0)"


def _cell(optimizer: str = '"adam"', fit: str = FIT) -> str:
    return COND.replace("OPTIMIZER", optimizer).replace("FIT", fit)


def _loud(report: ae_magic.Report) -> list:
    return [f for f in report.findings if f.severity in ("warning", "error")]


def test_a_conditional_autoencoder_is_probed_and_a_healthy_one_stays_silent():
    report = ae_magic.check(_cell(), namespace={}, data="x_train")
    assert not report.internal_errors, report.internal_errors
    assert {"gradients", "training"} <= set(report.coverage["ran"]), report.coverage
    assert not report.coverage.get("skipped"), report.coverage
    assert _loud(report) == [], report.text()
    assert any("joined them into one array" in n for n in report.notes), report.notes


def test_a_conditional_autoencoder_with_a_wrecking_rate_is_named():
    # No fit in the cell: the probes start from fresh weights and meet the rate themselves. (The probes read
    # the feed from a fit call; a bare `_ = cae.fit` reference does not count, so one fit of 0 epochs stays.)
    fit = "cae.fit([x_train, y_train], x_train, epochs=0, verbose=0)"
    report = ae_magic.check(_cell("keras.optimizers.Adam(2.0)", fit=fit), namespace={}, data="x_train")
    assert not report.internal_errors, report.internal_errors
    assert {"AE401", "AE403"} & {f.code for f in _loud(report)}, report.text()


def test_the_user_model_is_not_changed_by_the_packed_probes():
    ns: dict = {}
    ae_magic.check(_cell(), namespace=ns, data="x_train", train=False)  # the cell runs; keep its model
    model = ns["cae"]
    before = [w.copy() for w in model.get_weights()]
    opt_before = [np.array(v) for v in model.optimizer.variables]
    report = ae_magic.check(model=model, namespace=ns, data="x_train", source=_cell())
    assert not report.internal_errors, report.internal_errors
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))
    assert all(np.array_equal(a, np.array(b)) for a, b in zip(opt_before, model.optimizer.variables, strict=True))


def test_a_dict_feed_is_packed_in_the_model_s_input_order():
    fit = 'cae.fit({"cond": y_train, "x": x_train}, x_train, epochs=1, batch_size=64, verbose=0)'
    report = ae_magic.check(_cell(fit=fit), namespace={}, data="x_train")
    assert not report.internal_errors, report.internal_errors
    assert "training" in report.coverage["ran"], report.coverage
    assert _loud(report) == [], report.text()


def test_a_feed_that_is_not_plain_names_is_still_skipped_with_its_reason():
    fit = "cae.fit([x_train, y_train * 2], x_train, epochs=1, batch_size=64, verbose=0)"
    report = ae_magic.check(_cell(fit=fit), namespace={}, data="x_train")
    assert not report.internal_errors, report.internal_errors
    assert "training" in report.coverage["skipped"], report.coverage
    assert "several inputs" in report.coverage["skipped"]["training"]
    assert "no problems found" not in report.text()


def test_unpack_cuts_the_packed_array_back():
    a = np.arange(12, dtype="float32").reshape(3, 2, 2)
    b = np.arange(6, dtype="float32").reshape(3, 2)
    parts = Unpack([(2, 2), (2,)])(pack([a, b]))
    assert np.array_equal(np.asarray(parts[0]), a) and np.array_equal(np.asarray(parts[1]), b)
