"""Models with several outputs, one of them the reconstruction.

``keras.Model(inp, [recon, code])`` compiled with ``loss=["mse", None]`` (or
a dict that names one output, or no loss and ``add_loss`` terms) is trained
by ``fit`` on the reconstruction alone. The probes train and judge that
output, as ``fit`` does, instead of reporting "probes skipped"; the checks
that read the output's activation read that output. With losses on several
outputs (a classifier head beside the reconstruction, trained as
``fit(x, [x, y])``), the check has the reconstruction's target only: the
probes train and judge the one loss output shaped like the input, and a
note names the losses left out. Losses on several outputs shaped like the
input stay skipped, with the reason.
"""

from __future__ import annotations

import numpy as np

import ae_magic

HEAD = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(0)
w = rng.normal(size=(4, 24))
x = (1 / (1 + np.exp(-rng.normal(size=(1200, 4)) @ w / 2))).astype("float32")

inp = keras.Input(shape=(24,))
h = layers.Dense(16, activation="relu")(inp)
code = layers.Dense(4, name="code")(h)
h = layers.Dense(16, activation="relu")(code)
recon = layers.Dense(24, activation="sigmoid", name="recon")(h)
"""

RECON_FIRST = HEAD + """\
model = keras.Model(inp, [recon, code])
model.compile(optimizer="adam", loss=["binary_crossentropy", None])
"""

CODE_FIRST = HEAD + """\
model = keras.Model(inp, [code, recon])
model.compile(optimizer="adam", loss=[None, "binary_crossentropy"])
"""

DICT = HEAD + """\
model = keras.Model(inp, {"recon": recon, "code": code})
model.compile(optimizer="adam", loss={"recon": "binary_crossentropy"})
"""

WITH_HEAD = HEAD + """\
label = layers.Dense(3, activation="softmax", name="label")(code)
model = keras.Model(inp, [recon, label])
model.compile(optimizer="adam", loss=["binary_crossentropy", None])
"""

SEMI_SUPERVISED = HEAD + """\
label = layers.Dense(3, activation="softmax", name="label")(code)
model = keras.Model(inp, [recon, label])
model.compile(optimizer="adam", loss=["binary_crossentropy", "sparse_categorical_crossentropy"])
# model.fit(x, [x, y], epochs=20)
"""

TWO_LOSSES = HEAD + """\
model = keras.Model(inp, [recon, layers.Dense(24, name="other")(code)])
model.compile(optimizer="adam", loss=["binary_crossentropy", "mse"])
"""

VAE = """\
import numpy as np
import keras
from keras import layers, ops

rng = np.random.default_rng(5)
z = rng.normal(size=(1200, 3))
x = (1 / (1 + np.exp(-2 * (z @ rng.normal(size=(3, 30)))))).astype("float32")


class KLSampling(layers.Layer):
    def __init__(self, **kw):
        super().__init__(**kw)
        self.seed_generator = keras.random.SeedGenerator(7)

    def call(self, inputs):
        mu, logvar = inputs
        self.add_loss(-0.5 * ops.mean(ops.sum(1 + logvar - ops.square(mu) - ops.exp(logvar), axis=1)))
        return mu + ops.exp(0.5 * logvar) * keras.random.normal(ops.shape(mu), seed=self.seed_generator)


class BCE(layers.Layer):
    def call(self, inputs):
        t, r = inputs
        r = ops.clip(r, 1e-7, 1 - 1e-7)
        self.add_loss(ops.mean(ops.sum(-(t * ops.log(r) + (1 - t) * ops.log(1 - r)), axis=1)))
        return r


inp = keras.Input(shape=(30,))
h = layers.Dense(24, activation="relu")(inp)
mu = layers.Dense(3)(h)
logvar = layers.Dense(3)(h)
zz = KLSampling()([mu, logvar])
h = layers.Dense(24, activation="relu")(zz)
recon = layers.Dense(30, activation="sigmoid")(h)
recon = BCE()([inp, recon])
vae = keras.Model(inp, [recon, mu, logvar])
vae.compile(optimizer=keras.optimizers.Adam(3e-3))
"""


def _probed_and_silent(report: ae_magic.Report) -> None:
    assert report.internal_errors == [] and not report.coverage.get("skipped"), report.text()
    assert [f.code for f in report.findings if f.severity != "info"] == [], report.text()
    assert report.traces["training"]["recon"]["target_shape"] == [24]


def test_recon_and_code_outputs_with_one_loss_are_probed() -> None:
    report = ae_magic.check(RECON_FIRST, namespace={}, data="x", seed=0)
    _probed_and_silent(report)
    assert any("2 outputs" in n and "'recon'" in n for n in report.notes), report.notes


def test_the_trained_output_need_not_come_first() -> None:
    _probed_and_silent(ae_magic.check(CODE_FIRST, namespace={}, data="x", seed=0))


def test_dict_outputs_with_a_dict_loss_are_probed() -> None:
    _probed_and_silent(ae_magic.check(DICT, namespace={}, data="x", seed=0))


def test_checks_read_the_trained_outputs_activation() -> None:
    src = CODE_FIRST.replace('.astype("float32")\n', '.astype("float32") * 255\n', 1)
    report = ae_magic.check(src, namespace={}, data="x", seed=0, train=False)
    f = report.get("AE203")
    assert f is not None and f.evidence["output_activation"] == "sigmoid", report.text()


def test_a_head_with_its_own_weights_is_left_out_and_a_rerun_adopts_the_copy() -> None:
    ns: dict = {}
    first = ae_magic.check(WITH_HEAD, namespace=ns, data="x", seed=0)
    model = ns["model"]
    before = [np.array(v) for v in model.get_weights()]
    again = ae_magic.check(WITH_HEAD, namespace={}, data="x", seed=0)
    probe = ae_magic.probe(model, data=ns["x"], seed=0)
    for report in (first, again, probe):
        assert report.internal_errors == [] and not report.coverage.get("skipped"), report.text()
    # The 3-wide head is narrower than the 4-wide code by design: no bottleneck, so no AE103 "bypass".
    assert [f.code for f in first.findings if f.severity != "info"] == [], first.text()
    assert all(np.array_equal(a, np.array(b)) for a, b in zip(before, model.get_weights(), strict=True))


def test_a_vae_returning_its_code_trains_on_add_loss_through_the_reconstruction() -> None:
    report = ae_magic.check(VAE, namespace={}, data="x", seed=0)
    assert report.internal_errors == [] and not report.coverage.get("skipped"), report.text()
    lat = report.traces["training"]["latent"]
    assert lat is not None and lat["dims"] == 3
    assert any("shaped like the target" in n for n in report.notes), report.notes


def test_a_loss_on_two_outputs_is_skipped_with_the_reason() -> None:
    report = ae_magic.check(TWO_LOSSES, namespace={}, data="x", seed=0)
    assert report.internal_errors == []
    reason = report.coverage["skipped"].get("training", "")
    assert "more than one" in reason, report.coverage


def test_a_classifier_head_with_its_own_loss_is_probed_through_the_reconstruction() -> None:
    report = ae_magic.check(SEMI_SUPERVISED, namespace={}, data="x", seed=0)
    assert report.internal_errors == [] and not report.coverage.get("skipped"), report.text()
    assert [f.code for f in report.findings if f.severity in ("warning", "error")] == [], report.text()
    note = next((n for n in report.notes if "losses on 2 outputs" in n), "")
    assert "'label'" in note and "not measured" in note, report.notes
    # The label head's loss was not trained by the probes: never "no problems found" (verdict caveat).
    assert "no problems found" not in report.text().lower()
    assert report.traces["training"]["loss_name"] == "binary_crossentropy"


def test_a_fault_on_the_reconstruction_beside_a_classifier_head_is_found() -> None:
    src = SEMI_SUPERVISED.replace('optimizer="adam"', "optimizer=keras.optimizers.SGD(learning_rate=50.0)")
    report = ae_magic.check(src, namespace={}, data="x", seed=0)
    assert report.internal_errors == [] and not report.coverage.get("skipped"), report.text()
    codes = {f.code for f in report.findings}
    assert codes & {"AE401", "AE403", "AE404", "AE303"}, report.text()
