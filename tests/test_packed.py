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


DICT_CVAE = """\
import numpy as np
import keras
from keras import layers, ops

keras.utils.set_random_seed(0)
rng = np.random.default_rng(2)
n, d, k = 600, 32, 3
labels = rng.integers(0, k, n)
c_train = keras.utils.to_categorical(labels, k).astype("float32")
x_train = np.clip(rng.random((k, d))[labels] + 0.05 * rng.normal(size=(n, d)), 0, 1).astype("float32")


class Sampling(layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(1)  # JAX needs seeded draws

    def call(self, inputs):
        z_mean, z_log_var = inputs
        self.add_loss(ops.mean(-0.5 * ops.sum(1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=-1)))
        eps = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * eps


spec_in = keras.Input(shape=(d,), name="spectrum")
lab_in = keras.Input(shape=(k,), name="label")
h = layers.Dense(32, activation="relu")(layers.Concatenate()([spec_in, lab_in]))
z = Sampling()([layers.Dense(2)(h), layers.Dense(2)(h)])
h = layers.Dense(32, activation="relu")(layers.Concatenate()([z, lab_in]))
cvae = keras.Model({"spectrum": spec_in, "label": lab_in}, layers.Dense(d, activation="sigmoid")(h))


def reconstruction_loss(y_true, y_pred):
    return d * keras.losses.binary_crossentropy(y_true, y_pred)


cvae.compile(optimizer=keras.optimizers.Adam(1e-3), loss=reconstruction_loss)
cvae.fit({"spectrum": x_train, "label": c_train}, x_train, epochs=1, batch_size=64, verbose=0)
"""


def test_a_model_built_on_a_dict_of_inputs_with_a_cell_loss_is_probed():
    """Round 59's cf02: a CVAE built as Model({"spectrum": .., "label": ..}) with a loss function the cell wrote.
    The data was judged against the first input (AE204, an error, probes skipped), the copy failed on the
    unregistered loss, and the wrapper called the copy with a list."""
    report = ae_magic.check(DICT_CVAE, namespace={}, data="x_train")
    assert not report.internal_errors, report.internal_errors
    assert report.get("AE204") is None, report.text()
    assert {"gradients", "training"} <= set(report.coverage["ran"]), report.coverage
    assert _loud(report) == [], report.text()


def test_data_that_fits_no_input_of_a_several_input_model_is_still_ae204():
    ns: dict = {}
    ae_magic.check(DICT_CVAE, namespace=ns, data="x_train", train=False)
    ns2 = {"wrong": np.zeros((10, 7), dtype="float32")}
    report = ae_magic.check(model=ns["cvae"], namespace=ns2, data="wrong", train=False)
    f = report.get("AE204")
    assert f is not None and f.severity == "error", report.text()
