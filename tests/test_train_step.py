"""Probes through the model's own training step (issue 9, item 1).

The keras.io VAE (a subclassed ``keras.Model`` with ``encoder``/``decoder``
attributes, its own ``train_step`` computing reconstruction + KL, no
``call``, no ``get_config``, compiled with an optimizer only) can't be
copied: it is probed in place through its own step and restored byte for
byte. Its ``train_step`` is backend-specific (gradients are), written the
way the Keras guides write it per backend: ``tf.GradientTape``,
``jax.value_and_grad`` over a stateless pass, ``loss.backward()``; each test
runs the current backend's version and skips the other two.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

import ae_magic
from ae_magic.probes.updates import step_loss, update_ratios

BACKEND = keras.backend.backend()
BACKENDS = ["tensorflow", "jax", "torch"]

COMMON = '''\
import numpy as np
import keras
from keras import layers, ops
{imports}
rng = np.random.default_rng(0)
zt = rng.normal(size=(800, 4))
x = (1.0 / (1.0 + np.exp(-3.0 * (zt @ rng.normal(size=(4, 32)))))).astype("float32")


class Sampling(layers.Layer):
    def __init__(self, **kw):
        super().__init__(**kw)
        self.seed_generator = keras.random.SeedGenerator(1337)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        eps = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * eps


enc_in = keras.Input(shape=(32,))
h = layers.Dense(16, activation="relu")(enc_in)
z_mean = layers.Dense(4, name="z_mean")(h)
z_log_var = layers.Dense(4, name="z_log_var")(h)
z = Sampling()([z_mean, z_log_var])
encoder = keras.Model(enc_in, [z_mean, z_log_var, z], name="encoder")
dec_in = keras.Input(shape=(4,))
h = layers.Dense(16, activation="relu")(dec_in)
out = layers.Dense(32, activation="sigmoid")(h)
decoder = keras.Model(dec_in, out, name="decoder")


def vae_losses(data, z_mean, z_log_var, reconstruction):
    rec = ops.mean(ops.sum(keras.losses.binary_crossentropy(data[..., None], reconstruction[..., None]), axis=1))
    kl = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
    kl = ops.mean(ops.sum(kl, axis=1))
    return rec, kl


class VAE(keras.Model):
    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.total_loss_tracker = keras.metrics.Mean(name="total_loss")
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")

    @property
    def metrics(self):
        return [self.total_loss_tracker, self.reconstruction_loss_tracker, self.kl_loss_tracker]

{train_step}

vae = VAE(encoder, decoder)
vae.compile(optimizer=keras.optimizers.Adam(3e-3))
'''

TF_STEP = '''\
    def train_step(self, data):
        with tf.GradientTape() as tape:
            z_mean, z_log_var, z = self.encoder(data)
            reconstruction = self.decoder(z)
            reconstruction_loss, kl_loss = vae_losses(data, z_mean, z_log_var, reconstruction)
            total_loss = reconstruction_loss + kl_loss
        grads = tape.gradient(total_loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        self.total_loss_tracker.update_state(total_loss)
        self.reconstruction_loss_tracker.update_state(reconstruction_loss)
        self.kl_loss_tracker.update_state(kl_loss)
        return {
            "loss": self.total_loss_tracker.result(),
            "reconstruction_loss": self.reconstruction_loss_tracker.result(),
            "kl_loss": self.kl_loss_tracker.result(),
        }
'''

JAX_STEP = '''\
    def compute_loss_and_updates(self, trainable_variables, non_trainable_variables, data):
        mapping = list(zip(self.trainable_variables, trainable_variables))
        mapping += list(zip(self.non_trainable_variables, non_trainable_variables))
        with keras.StatelessScope(state_mapping=mapping) as scope:
            z_mean, z_log_var, z = self.encoder(data, training=True)
            reconstruction = self.decoder(z, training=True)
            reconstruction_loss, kl_loss = vae_losses(data, z_mean, z_log_var, reconstruction)
        new_non_trainable = [scope.get_current_value(v) for v in self.non_trainable_variables]
        return reconstruction_loss + kl_loss, (new_non_trainable, reconstruction_loss, kl_loss)

    def train_step(self, state, data):
        trainable_variables, non_trainable_variables, optimizer_variables, metrics_variables = state
        grad_fn = jax.value_and_grad(self.compute_loss_and_updates, has_aux=True)
        (total_loss, (non_trainable_variables, reconstruction_loss, kl_loss)), grads = grad_fn(
            trainable_variables, non_trainable_variables, data
        )
        trainable_variables, optimizer_variables = self.optimizer.stateless_apply(
            optimizer_variables, grads, trainable_variables
        )
        logs = {"loss": total_loss, "reconstruction_loss": reconstruction_loss, "kl_loss": kl_loss}
        state = (trainable_variables, non_trainable_variables, optimizer_variables, metrics_variables)
        return logs, state
'''

TORCH_STEP = '''\
    def train_step(self, data):
        self.zero_grad()
        z_mean, z_log_var, z = self.encoder(data)
        reconstruction = self.decoder(z)
        reconstruction_loss, kl_loss = vae_losses(data, z_mean, z_log_var, reconstruction)
        total_loss = reconstruction_loss + kl_loss
        total_loss.backward()
        trainable_weights = [v for v in self.trainable_weights]
        gradients = [v.value.grad for v in trainable_weights]
        with torch.no_grad():
            self.optimizer.apply(gradients, trainable_weights)
        self.total_loss_tracker.update_state(total_loss)
        self.reconstruction_loss_tracker.update_state(reconstruction_loss)
        self.kl_loss_tracker.update_state(kl_loss)
        return {
            "loss": self.total_loss_tracker.result(),
            "reconstruction_loss": self.reconstruction_loss_tracker.result(),
            "kl_loss": self.kl_loss_tracker.result(),
        }
'''


def vae_cell(backend: str, *, frozen: bool = False, pretrained: bool = False) -> str:
    """The keras.io VAE cell with ``backend``'s train_step (``frozen``: the encoder is frozen before training;
    ``pretrained``: its weights were loaded first, simulated by moving every weight off its initial value)."""
    step, imp = {"tensorflow": (TF_STEP, "import tensorflow as tf"), "jax": (JAX_STEP, "import jax"),
                 "torch": (TORCH_STEP, "import torch")}[backend]
    cell = COMMON.format(imports=imp, train_step=step)
    if backend != "tensorflow":
        # fit on JAX/torch builds an unbuilt model by calling it; this one has no call and its parts are built.
        cell = cell.replace("        self.decoder = decoder\n", "        self.decoder = decoder\n        self.built = True\n")
    if frozen:
        load = "encoder.set_weights([w + 0.01 for w in encoder.get_weights()])  # 'pretrained'\n" if pretrained else ""
        cell = cell.replace("vae = VAE(encoder, decoder)", load + "encoder.trainable = False\nvae = VAE(encoder, decoder)")
    return cell


def only(backend: str) -> None:
    if backend != BACKEND:
        pytest.skip(f"this cell's train_step is written for {backend}; Keras runs on {BACKEND}")


def state_of(model) -> dict:
    """Every variable value of the model, its metrics and its optimizer, and its attribute names."""
    out = {}
    for group, vs in (("model", model.variables), ("metrics", model.metrics_variables),
                      ("optimizer", model.optimizer.variables)):
        for i, v in enumerate(vs):
            out[f"{group}/{i}/{v.path}"] = np.array(keras.ops.convert_to_numpy(v.value), copy=True)
    return out


def assert_same(a: dict, b: dict) -> None:
    assert list(a) == list(b)
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].tobytes() == b[k].tobytes(), k


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_keras_io_vae_is_probed_through_its_own_step_and_restored(backend: str) -> None:
    only(backend)
    ns: dict = {}
    session = ae_magic.Session.from_cell(vae_cell(backend), namespace=ns, data="x")
    vae = ns["vae"]
    before = state_of(vae)
    attrs = dict(vae.__dict__)
    report = session.run()
    assert report.internal_errors == [], report.internal_errors
    cov = report.coverage
    assert "training" in cov["ran"] and "training" not in cov["skipped"], cov
    assert "own train_step" in cov["skipped"]["gradients"]
    assert not any("Probes skipped" in n for n in report.notes), report.notes
    assert any("probed in place, restored afterwards" in n for n in report.notes), report.notes
    tr = report.traces["training"]
    assert tr["train_step"] == "own" and tr["in_place"] and tr["loss_name"] == "train_step"
    assert set(tr["loss_terms"]) == {"loss", "reconstruction_loss", "kl_loss"}
    assert len(tr["loss_terms"]["kl_loss"]) == len(tr["loss"]) > 100
    assert np.allclose(tr["loss"], tr["loss_terms"]["loss"])
    assert tr["loss"][-1] < tr["loss"][0] and tr["val_mse"][-1] < tr["val_loss_before"]
    upd = report.traces["updates"]
    assert upd["steps"] == len(tr["loss"])
    assert [ly["class"] for ly in upd["layers"]] == ["Dense"] * 5
    assert upd["sub_models"]["encoder"] == [ly["layer"] for ly in upd["layers"][:3]]
    assert all(not ly["never_moved"] and ly["max_ratio"] > 0 for ly in upd["layers"])
    # A healthy VAE: nothing but the subclassed-model info.
    assert [f.code for f in report.findings if f.severity != "info"] == [], report.text()
    # Byte for byte: weights, seed state, metric state, optimizer variables (iterations) and attributes.
    assert_same(before, state_of(vae))
    assert set(vae.__dict__) == set(attrs) and all(vae.__dict__[k] is v for k, v in attrs.items())
    session.close()
    assert_same(before, state_of(vae))


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_vae_whose_random_encoder_is_frozen_gets_ae301_at_the_freezing_line(backend: str) -> None:
    only(backend)
    cell = vae_cell(backend, frozen=True)
    report = ae_magic.check(cell, namespace={}, data="x", seed=0)
    assert report.internal_errors == [], report.internal_errors
    # Frozen while still at its random initial weights: a fault, said once (not again from the update ratios).
    hits = [f for f in report.findings if f.code == "AE301"]
    assert len(hits) == 1 and hits[0].severity == "warning", report.text()
    f = hits[0]
    assert f.title == "Frozen at random initial weights"
    assert f.line == cell.splitlines().index("encoder.trainable = False") + 1
    assert len(f.evidence["layers"]) == 3 and "encoder.trainable = True" in f.fix
    assert not any(ly["never_moved"] for ly in report.traces["updates"]["layers"][3:])  # the decoder learns


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_vae_whose_pretrained_encoder_is_frozen_gets_ae301_as_info(backend: str) -> None:
    only(backend)
    cell = vae_cell(backend, frozen=True, pretrained=True)
    report = ae_magic.check(cell, namespace={}, data="x", seed=0)
    assert report.internal_errors == [], report.internal_errors
    f = report.get("AE301")
    # Frozen on purpose (trainable=False, trained weights) is said, as info: not a fault.
    assert f is not None and f.severity == "info", report.text()
    assert "frozen_untrained" not in report.traces
    assert f.line == cell.splitlines().index('h = layers.Dense(16, activation="relu")(enc_in)') + 1
    assert f.evidence["whole"] == ["encoder"] and len(f.evidence["layers"]) == 3 == len(f.evidence["frozen"])
    assert not any(ly["never_moved"] for ly in report.traces["updates"]["layers"][3:])  # the decoder learns
    assert "trainable=False" in f.message and "encoder.trainable = True" in f.fix
    assert "training" in report.coverage["ran"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_posterior_collapse_is_found_through_the_models_own_step(backend: str) -> None:
    """The keras.io VAE with the reconstruction averaged over the pixels instead of summed: the KL wins."""
    only(backend)
    summed = "rec = ops.mean(ops.sum(keras.losses.binary_crossentropy(data[..., None], reconstruction[..., None]), axis=1))"
    cell = vae_cell(backend)
    assert summed in cell
    cell = cell.replace(summed, "rec = ops.mean(keras.losses.binary_crossentropy(data[..., None], reconstruction[..., None]))")
    report = ae_magic.check(cell, namespace={}, data="x", seed=0)
    assert report.internal_errors == [], report.internal_errors
    f = report.get("AE407")
    assert f is not None, report.text()
    lat = report.traces["training"]["latent"]
    assert lat["kl_total"] < 0.5 * lat["kl_total_before"]
    # ...and the healthy keras.io VAE measures a live code (the silent case is test_keras_io_vae_*).
    healthy = ae_magic.check(vae_cell(backend), namespace={}, data="x", seed=0)
    assert healthy.get("AE407") is None and healthy.traces["training"]["latent"]["active_dims"] >= 1


def test_a_train_step_that_updates_only_the_decoder_gets_ae301_error() -> None:
    """The classic slip: gradients taken for the decoder's weights only."""
    only("tensorflow")
    cell = vae_cell("tensorflow")
    assert cell.count("self.trainable_weights") == 2
    cell = cell.replace("self.trainable_weights", "self.decoder.trainable_weights")
    report = ae_magic.check(cell, namespace={}, data="x", seed=0)
    assert report.internal_errors == [], report.internal_errors
    f = report.get("AE301")
    assert f is not None and f.severity == "error", report.text()
    assert f.evidence["whole"] == ["encoder"] and not f.evidence["frozen"]
    assert "no update from the train_step" in f.message


def _loss_after_tape(cell: str) -> str:
    """The keras.io slip: the loss lines dedented out of the ``with tf.GradientTape()`` block."""
    inside = ("            reconstruction_loss, kl_loss = vae_losses(data, z_mean, z_log_var, reconstruction)\n"
              "            total_loss = reconstruction_loss + kl_loss\n")
    assert inside in cell
    return cell.replace(inside, inside.replace("            ", "        "))


def test_a_train_step_computing_its_loss_after_the_tape_gets_ae301_at_that_line() -> None:
    """fit raises "No gradients provided for any variable": a finding at the loss line, not only "probes skipped"."""
    only("tensorflow")
    cell = _loss_after_tape(vae_cell("tensorflow"))
    report = ae_magic.check(cell, namespace={}, data="x", seed=0)
    assert report.internal_errors == [], report.internal_errors
    f = report.get("AE301")
    assert f is not None and f.severity == "error", report.text()
    lines = cell.splitlines()
    assert lines[f.line - 1].strip() == "total_loss = reconstruction_loss + kl_loss"
    assert "No gradients provided" in f.message and "after the `with` block" in f.message
    with_line = next(i for i, t in enumerate(lines, 1) if "GradientTape()" in t)
    assert f"block of line {with_line}" in f.fix
    assert "training" in report.coverage["skipped"]  # and the probes say they did not run


def test_the_loss_outside_the_tape_is_read_from_the_source() -> None:
    from ae_magic.checks.step_failure import _loss_outside_tape

    good = vae_cell("tensorflow")
    assert _loss_outside_tape(good) is None
    bad = _loss_after_tape(good)
    name, line, with_line, first, grad_line = _loss_outside_tape(bad)
    lines = bad.splitlines()
    assert name == "total_loss" and "total_loss =" in lines[line - 1] and "GradientTape" in lines[with_line - 1]
    assert "vae_losses(" in lines[first - 1] and "tape.gradient(" in lines[grad_line - 1]
    assert _loss_outside_tape("def train_step(self, data):\n    return {}\n") is None
    assert _loss_outside_tape("this is not python (") is None


SUBCLASSED_WITH_CALL = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(0)
x = rng.random((400, 32)).astype("float32")


class AE(keras.Model):
    def __init__(self, hidden):
        super().__init__()
        self.enc = hidden  # a layer object: no get_config, and not a plain value to construct a copy with
        self.drop = layers.Dropout(0.1)
        self.dec = layers.Dense(32, activation="sigmoid")

    def call(self, inputs, training=False):
        return self.dec(self.drop(self.enc(inputs), training=training))


ae = AE(layers.Dense(8, activation="relu"))
ae(x[:2])
ae.compile(optimizer="adam", loss="mse")
"""


def test_a_subclassed_model_with_call_but_no_config_is_probed_in_place_and_restored() -> None:
    ns: dict = {}
    session = ae_magic.Session.from_cell(SUBCLASSED_WITH_CALL, namespace=ns, data="x")
    ae = ns["ae"]
    before = state_of(ae)
    report = session.run()
    assert report.internal_errors == [], report.internal_errors
    assert {"gradients", "training"} <= set(report.coverage["ran"]), report.coverage
    assert any("probed in place, restored afterwards" in n for n in report.notes), report.notes
    assert "updates" not in report.traces  # per-layer gradients were read: no update trace needed
    assert_same(before, state_of(ae))
    assert not ae.optimizer.built


def test_update_ratios_and_step_loss() -> None:
    before = [[np.array([3.0, 4.0])], [np.zeros(2)]]
    after = [[np.array([3.0, 4.5])], [np.zeros(2)]]
    deltas, ratios = update_ratios(before, after)
    assert deltas == [0.5, 0.0] and ratios == [0.1, 0.0]
    assert step_loss({"loss": 2.0, "kl_loss": 1.0}) == 2.0
    assert step_loss({"reconstruction_loss": 2.0, "kl_loss": 1.0, "acc": 9.0}) == 3.0
    assert np.isnan(step_loss({"acc": 1.0}))


OWN_STEP_COPYABLE = """\
import numpy as np
import keras
from keras import layers, ops

rng = np.random.default_rng(0)
zt = rng.normal(size=(600, 4))
x = (1.0 / (1.0 + np.exp(-3.0 * (zt @ rng.normal(size=(4, 32)))))).astype("float32")


class AE(keras.Model):
    def __init__(self):
        super().__init__()
        self.enc = layers.Dense(16, activation="relu")
        self.code = layers.Dense(4)
        self.dec = layers.Dense(32, activation="sigmoid")

    def call(self, inputs):
        return self.dec(self.code(self.enc(inputs)))

    def train_step(self, *args, **kwargs):
        # Keras' own step, wrapped (logging, schedules...): the probes must still go through it.
        return super().train_step(*args, **kwargs)


ae = AE()
ae(x[:2])
ae.compile(optimizer=keras.optimizers.Adam(3e-3), loss="mse")
"""


def test_a_copyable_model_with_its_own_step_trains_a_copy_through_that_step() -> None:
    ns: dict = {}
    session = ae_magic.Session.from_cell(OWN_STEP_COPYABLE, namespace=ns, data="x")
    ae = ns["ae"]
    before = state_of(ae)
    report = session.run()
    assert report.internal_errors == [], report.internal_errors
    tr = report.traces["training"]
    assert tr["train_step"] == "own" and tr["in_place"] is False and tr["forward"] == "the model's own call"
    assert not any("in place" in n for n in report.notes)
    assert "training" in report.coverage["ran"] and "gradients" in report.coverage["skipped"]
    assert tr["val_mse"][-1] < 0.8 * tr["baselines"]["start"]
    assert [f.code for f in report.findings if f.severity != "info"] == [], report.text()
    assert_same(before, state_of(ae))
    assert not ae.optimizer.built  # the copy trained with its own optimizer


def test_weights_the_step_never_updates_get_ae301_at_their_line() -> None:
    cell = OWN_STEP_COPYABLE.replace("return self.dec(self.code(self.enc(inputs)))",
                                     "return self.dec(self.code(ops.stop_gradient(self.enc(inputs))))")
    report = ae_magic.check(cell, namespace={}, data="x", seed=0)
    assert report.internal_errors == [], report.internal_errors
    f = report.get("AE301")
    assert f is not None and f.severity == "error", report.text()  # the first layer never learns
    assert len(f.evidence["layers"]) == 1 and not f.evidence["frozen"]
    assert f.line == cell.splitlines().index('        self.enc = layers.Dense(16, activation="relu")') + 1
    moved = [ly for ly in report.traces["updates"]["layers"] if not ly["never_moved"]]
    assert [ly["class"] for ly in moved] == ["Dense", "Dense"]


def test_an_interrupted_in_place_probe_still_restores_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    from ae_magic import backends

    ns: dict = {}
    session = ae_magic.Session.from_cell(vae_cell(BACKEND), namespace=ns, data="x")
    vae = ns["vae"]
    before = state_of(vae)
    attrs = dict(vae.__dict__)
    real = backends.current().own_train_step
    calls = []

    def interrupted(model, data):
        calls.append(1)
        if len(calls) == 7:
            raise KeyboardInterrupt
        return real(model, data)

    monkeypatch.setattr(backends.current(), "own_train_step", interrupted)
    with pytest.raises(KeyboardInterrupt):
        session.run()
    assert len(calls) == 7
    assert_same(before, state_of(vae))
    assert set(vae.__dict__) == set(attrs) and all(vae.__dict__[k] is v for k, v in attrs.items())


def _saturating_bce_model():
    """A sigmoid + binary_crossentropy autoencoder whose outputs saturate (large kernels at init)."""
    keras.utils.set_random_seed(3)
    big = keras.initializers.RandomNormal(stddev=4.0, seed=1)
    inp = keras.Input(shape=(16,))
    h = keras.layers.Dense(8, activation="tanh", kernel_initializer=big)(inp)
    out = keras.layers.Dense(16, activation="sigmoid", kernel_initializer=big)(h)
    model = keras.Model(inp, out)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
    return model


def test_the_validation_loss_uses_the_training_steps_formula() -> None:
    """Issue 9 item 7: on TensorFlow a saturated sigmoid+BCE output's loss is computed from its logits in fit;
    the probe's validation curve must be the same number (``model.evaluate``), not the clipped probability form."""
    from ae_magic.probes.batches import first_steps
    from ae_magic.probes.session import ProbeSession

    rng = np.random.default_rng(0)
    x = (rng.random((240, 16)) > 0.5).astype("float32")
    model = _saturating_bce_model()
    sess = ProbeSession(model, x, seed=0)
    s = sess.prepare(subset=None, batch_size=32)
    (xb, yb), = list(first_steps(s, 1))
    tr = sess.train(steps=12)
    # At the user's weights (the copy starts there): Keras' evaluate and compute_loss, same compiled loss.
    start = model.evaluate(s["x_val"], s["y_val"], batch_size=len(s["x_val"]), verbose=0)
    assert tr["val_loss_before"] == pytest.approx(start, rel=1e-4)
    first = keras.ops.convert_to_numpy(model.compute_loss(xb[0], yb[0], model(xb[0], training=True)))
    assert tr["loss"][0] == pytest.approx(float(first), rel=1e-4)
    # The saturation makes the two formulas differ: this test tells them apart on TensorFlow.
    clipped = float(np.mean(keras.ops.convert_to_numpy(
        keras.losses.binary_crossentropy(s["y_val"], model.predict(s["x_val"], verbose=0)))))
    if BACKEND == "tensorflow":
        assert abs(start - clipped) > 0.05 * clipped
    # After training: the copy's weights, evaluated by Keras, give the last point of the curve.
    after = keras.models.clone_model(model)
    after.set_weights(sess.model.get_weights())
    after.compile(loss="binary_crossentropy")
    end = after.evaluate(s["x_val"], s["y_val"], batch_size=len(s["x_val"]), verbose=0)
    assert tr["val_loss"][-1] == pytest.approx(end, rel=1e-4) and tr["val_curve"]["loss"][-1] == tr["val_loss"][-1]
    sess.dispose()


def _renamed_vae(backend: str, *, parts: str, call_raises: bool = True, frozen: bool = False) -> str:
    """The keras.io VAE with its parts stored elsewhere than ``encoder``/``decoder`` and (``call_raises``) a call that raises.

    ``parts="attrs"``: ``self.enc_net``/``self.dec_net`` (found by shape);
    ``parts="dict"``: ``self.parts["enc"]``/``["dec"]`` (nothing the probes can find).
    """
    cell = vae_cell(backend, frozen=frozen)
    enc, dec = ("self.enc_net", "self.dec_net") if parts == "attrs" else ('self.parts["enc"]', 'self.parts["dec"]')
    if parts == "dict":
        cell = cell.replace("        self.encoder = encoder\n", '        self.parts = {"enc": encoder, "dec": decoder}\n')
        cell = cell.replace("        self.decoder = decoder\n", "")
    cell = cell.replace("self.encoder", enc).replace("self.decoder", dec)
    if call_raises:
        cell = cell.replace("    @property\n    def metrics(self):",
                            "    def call(self, inputs):\n        raise NotImplementedError('trained through train_step only')\n\n"
                            "    @property\n    def metrics(self):")
    return cell


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_vae_whose_parts_have_other_names_is_read_through_them(backend: str) -> None:
    """Issue 9 item 1: call() raises and the parts are self.enc_net/self.dec_net: found by shape, everything measured."""
    only(backend)
    cell = _renamed_vae(backend, parts="attrs")
    assert "self.encoder" not in cell and "raise NotImplementedError" in cell
    ns: dict = {}
    session = ae_magic.Session.from_cell(cell, namespace=ns, data="x")
    vae = ns["vae"]
    before, attrs = state_of(vae), dict(vae.__dict__)
    report = session.run()
    assert report.internal_errors == [], report.internal_errors
    tr = report.traces["training"]
    assert tr["forward"].startswith("self.dec_net(self.enc_net(x))"), tr["forward"]
    upd = report.traces["updates"]
    assert upd["sub_models"]["encoder"] == [ly["layer"] for ly in upd["layers"][:3]]
    assert upd["sub_models"]["decoder"] == [ly["layer"] for ly in upd["layers"][3:]]
    assert "reconstruction" not in report.coverage["skipped"] and "training" in report.coverage["ran"], report.coverage
    assert tr["val_mse"][-1] < tr["baselines"]["start"] and tr["latent"]["active_dims"] >= 1
    assert [f.code for f in report.findings if f.severity != "info"] == [], report.text()
    assert_same(before, state_of(vae))
    assert set(vae.__dict__) == set(attrs) and all(vae.__dict__[k] is v for k, v in attrs.items())
    session.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_vae_without_a_readable_reconstruction_trains_through_its_step_and_says_what_it_skipped(backend: str) -> None:
    """Issue 9 item 1: no call, no findable parts: the own step still trains (loss, update ratios, AE301), and the
    coverage, JSON and text name the forward-pass probes that did not run, with the reason; never 'Probes skipped'."""
    only(backend)
    cell = _renamed_vae(backend, parts="dict")
    ns: dict = {}
    session = ae_magic.Session.from_cell(cell, namespace=ns, data="x")
    vae = ns["vae"]
    before, attrs = state_of(vae), dict(vae.__dict__)
    report = session.run()
    assert report.internal_errors == [], report.internal_errors
    assert not any("Probes skipped" in n for n in report.notes), report.notes
    tr = report.traces["training"]
    assert tr["train_step"] == "own" and tr["forward"] is None and tr["in_place"]
    assert len(tr["loss"]) > 100 and tr["loss"][-1] < tr["loss"][0] and set(tr["loss_terms"]) == {"loss", "reconstruction_loss", "kl_loss"}
    cov = report.coverage
    assert "training" in cov["ran"], cov
    why = cov["skipped"]["reconstruction"]
    assert "call() does not return the reconstruction" in why and "the validation curve" in why and "AE407" in why
    assert report.to_dict()["coverage"]["skipped"]["reconstruction"] == why
    assert any(n == f"Not measured: {why}" for n in report.notes), report.notes  # the text and the panel show the notes
    assert not report.ok and not report.complete
    upd = report.traces["updates"]
    assert upd["steps"] == len(tr["loss"]) and [ly["class"] for ly in upd["layers"]] == ["Dense"] * 5
    assert all(not ly["never_moved"] and ly["max_ratio"] > 0 for ly in upd["layers"])
    # A healthy VAE: no finding above info, but the report is not a clean bill of health (see above).
    assert [f.code for f in report.findings if f.severity in ("error", "warning")] == [], report.text()
    assert_same(before, state_of(vae))
    assert set(vae.__dict__) == set(attrs) and all(vae.__dict__[k] is v for k, v in attrs.items())
    session.close()


def test_a_blind_train_step_that_updates_only_the_decoder_still_gets_ae301() -> None:
    """Without a readable reconstruction the update ratios still find the encoder the step never updates."""
    only("tensorflow")
    cell = _renamed_vae("tensorflow", parts="dict")
    assert cell.count("self.trainable_weights") == 2
    cell = cell.replace("self.trainable_weights", 'self.parts["dec"].trainable_weights')
    report = ae_magic.check(cell, namespace={}, data="x", seed=0)
    assert report.internal_errors == [], report.internal_errors
    assert report.traces["training"]["forward"] is None and "reconstruction" in report.coverage["skipped"]
    f = report.get("AE301")
    assert f is not None and f.severity == "error", report.text()
    assert len(f.evidence["layers"]) == 3 and not f.evidence["frozen"]
    assert "no update from the train_step" in f.message


UNBUILT_UNCOPYABLE = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(0)
x = rng.random((300, 32)).astype("float32")


class AE(keras.Model):
    def __init__(self, hidden):
        super().__init__()
        self.enc = hidden  # a layer object: no get_config, and not a plain value to construct a copy with
        self.dec = layers.Dense(32, activation="sigmoid")

    def call(self, inputs):
        return self.dec(self.enc(inputs))
{step}

ae = AE(layers.Dense(8, activation="relu"))
ae.compile(optimizer="adam", loss="mse")
"""
OWN_STEP_METHOD = """
    def train_step(self, *args, **kwargs):
        return super().train_step(*args, **kwargs)
"""


@pytest.mark.parametrize("own_step", [False, True], ids=["keras-step", "own-step"])
def test_an_unbuilt_model_that_cant_be_copied_is_left_unbuilt_and_the_report_says_how_to_probe_it(own_step: bool) -> None:
    """Issue 9 item 1: building the model would add weights to it (a change): the probes refuse, and the
    coverage (JSON too), the notes and the text say so and how to get it probed; the model stays unbuilt."""
    cell = UNBUILT_UNCOPYABLE.format(step=OWN_STEP_METHOD if own_step else "")
    ns: dict = {}
    session = ae_magic.Session.from_cell(cell, namespace=ns, data="x")
    ae = ns["ae"]
    assert not ae.built and ae.variables == []
    report = session.run()
    assert report.internal_errors == [], report.internal_errors
    skipped = report.coverage["skipped"]
    for family in ("gradients", "training"):
        assert "would change your model" in skipped[family] and "get_config" in skipped[family], skipped
        assert "call it once on a batch" in skipped[family].lower()
    assert report.to_dict()["coverage"]["skipped"] == skipped
    assert any("would change your model" in n for n in report.notes) and "would change your model" in report.text()
    assert not report.ok
    assert not ae.built and ae.variables == [] and not ae.enc.built
    session.close()


# -- AE407 from the KL term an own train_step reports (round 13) ----------------------------------------
# The sample is drawn inline in train_step and call() decodes z_mean: no sampling layer to measure, so the
# step's own 'kl_loss' is the evidence. The bug: the KL summed over the whole batch against a reconstruction
# averaged over it (about 32x the weight), so the posterior collapses.
INLINE_VAE = '''\
import numpy as np
import tensorflow as tf
import keras
from keras import layers
from ae_magic.datasets import load

data = load(limit=600, flatten=True)
enc_in = keras.Input(shape=(784,))
h = layers.Dense(200, activation="relu")(enc_in)
z_mean = layers.Dense(12, name="z_mean")(h)
z_log_var = layers.Dense(12, name="z_log_var")(h)
encoder = keras.Model(enc_in, [z_mean, z_log_var], name="encoder")
dec_in = keras.Input(shape=(12,))
decoder = keras.Model(dec_in, layers.Dense(784, activation="sigmoid")(layers.Dense(200, activation="relu")(dec_in)))


class VAE(keras.Model):
    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder, self.decoder = encoder, decoder

    def call(self, x):
        return self.decoder(self.encoder(x)[0])

    def train_step(self, x):
        with tf.GradientTape() as tape:
            z_mean, z_log_var = self.encoder(x)
            z = z_mean + tf.exp(0.5 * z_log_var) * tf.random.normal(tf.shape(z_mean))
            recon_loss = tf.reduce_mean(784 * keras.losses.binary_crossentropy(x, self.decoder(z)))
            kl_loss = -0.5 * (1 + z_log_var - tf.square(z_mean) - tf.exp(z_log_var))
            kl_loss = tf.reduce_sum(kl_loss)
            total_loss = recon_loss + kl_loss
        grads = tape.gradient(total_loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        return {"loss": total_loss, "recon_loss": recon_loss, "kl_loss": kl_loss}


vae = VAE(encoder, decoder)
vae.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3))
'''


def test_a_kl_term_the_own_step_drives_to_zero_is_ae407_at_its_line() -> None:
    only("tensorflow")
    report = ae_magic.check(INLINE_VAE, namespace={}, data="data", seed=0)
    f = report.get("AE407")
    assert f is not None, report.text()
    assert f.source_line == "kl_loss = tf.reduce_sum(kl_loss)" and f.evidence["kl_term"] == "kl_loss"
    assert f.evidence["kl_end"] <= 0.1 * f.evidence["kl_start"]
    assert [g.caused_by for g in report.findings if g.code in ("AE404", "AE405")] == ["AE407"], report.text()
    # The same VAE with the KL per sample, averaged over the batch like the reconstruction: silent.
    fixed = INLINE_VAE.replace("kl_loss = tf.reduce_sum(kl_loss)", "kl_loss = tf.reduce_mean(tf.reduce_sum(kl_loss, axis=1))")
    report = ae_magic.check(fixed, namespace={}, data="data", seed=0)
    assert [g.code for g in report.findings if g.severity != "info"] == [], report.text()


def test_kl_term_collapse_needs_a_falling_kl_and_an_averaged_output() -> None:
    from types import SimpleNamespace

    from ae_magic.checks.posterior import kl_term_collapse
    from ae_magic.report import Finding

    ctx = SimpleNamespace(source="", cell_line=lambda i: i, line_text=lambda i: None)
    collapsed = [Finding(code="AE404", severity="error", title="t", message="m")]
    falling = {"loss_terms": {"kl_loss": [40.0] * 10 + [5.0] * 100 + [0.5] * 10}, "output_spread": 0.002, "input_spread": 0.19}
    rising = {"loss_terms": {"kl_loss": [0.01] * 10 + [1.0] * 100 + [3.0] * 10}, "output_spread": 0.002, "input_spread": 0.19}
    assert [f.code for f in kl_term_collapse(ctx, falling, collapsed)] == ["AE407"]
    assert kl_term_collapse(ctx, rising, collapsed) == []  # a code that starts carrying the input
    assert kl_term_collapse(ctx, falling, []) == []  # the reconstructions still follow the input
    measured = dict(falling, latent={"dims": 4})
    assert kl_term_collapse(ctx, measured, collapsed) == []  # a sampling layer was measured: posterior_collapse judges
    # Round 57's ca08: the cell's own fit had collapsed the posterior before the probes, so the KL never falls:
    # it sits at the prior for the whole run. A fresh encoder's KL (about 0.01 nats) is not there, and a logged
    # KL weight at 0 (an annealing schedule) is not the term.
    at_prior = {"loss_terms": {"kl_loss": [4e-7] * 60 + [1e-6] * 60}, "output_spread": 0.0, "input_spread": 0.44}
    hit = kl_term_collapse(ctx, at_prior, collapsed)
    assert [f.code for f in hit] == ["AE407"] and hit[0].evidence["at_prior_throughout"]
    assert "stayed at the prior" in hit[0].message
    fresh = {"loss_terms": {"kl_loss": [0.01] * 120}, "output_spread": 0.002, "input_spread": 0.19}
    assert kl_term_collapse(ctx, fresh, collapsed) == []
    weight = {"loss_terms": {"kl_weight": [0.0] * 120}, "output_spread": 0.002, "input_spread": 0.19}
    assert kl_term_collapse(ctx, weight, collapsed) == []
    assert kl_term_collapse(ctx, at_prior, []) == []  # the reconstructions still follow the input


def test_a_kl_term_below_zero_names_the_flipped_sign_at_its_line() -> None:
    """Round 14: the KL without its leading minus; the run maximises it until the loss overflows (AE401 blamed the rate)."""
    only("tensorflow")
    src = INLINE_VAE.replace("kl_loss = -0.5 * (1 + z_log_var", "kl_loss = 0.5 * (1 + z_log_var").replace(
        "kl_loss = tf.reduce_sum(kl_loss)", "kl_loss = tf.reduce_mean(tf.reduce_sum(kl_loss, axis=1))")
    assert src.count("kl_loss = 0.5 * (1 + z_log_var") == 1
    report = ae_magic.check(src, namespace={}, data="data", seed=0)
    hits = [f for f in report.findings if "negative_kl" in f.evidence]
    assert len(hits) == 1 and hits[0].code in ("AE401", "AE403", "AE404", "AE405", "AE402"), report.text()
    f = hits[0]
    # Round 69: the formula's own line (loss_sign.reversed_kl), negated as the fix.
    assert f.source_line.startswith("kl_loss = 0.5 * (1 + z_log_var")
    assert "sign is flipped" in f.message and "diverges;" not in f.message and "kl_loss = -0.5 * (1 + z_log_var" in f.fix


def test_negative_kl_ignores_float_noise_and_other_terms() -> None:
    from ae_magic.checks.posterior import negative_kl

    assert negative_kl({"loss_terms": {"kl_loss": [0.5, 0.1, -1e-6, 0.0]}}) is None
    assert negative_kl({"loss_terms": {"reconstruction_loss": [-5.0, -6.0]}}) is None
    assert negative_kl({"loss_terms": {"kl": [0.2, -0.4, -3.0]}}) == ("kl", 1, -0.4)
    assert negative_kl({}) is None


def test_a_train_step_that_subtracts_the_kl_term_diverges_and_is_named_at_that_line() -> None:
    """Round 18: ``loss = reconstruction_loss - kl_loss`` maximises the KL; AE401 names the line, not the rate."""
    healthy = vae_cell(BACKEND)
    cell = healthy.replace("reconstruction_loss + kl_loss", "reconstruction_loss - kl_loss", 1)
    assert cell != healthy
    report = ae_magic.check(cell, namespace={}, data="x", seed=0)
    assert report.internal_errors == [], report.internal_errors
    f = report.get("AE401")
    assert f is not None and f.evidence.get("subtracted_term") == "kl_loss", report.text()
    assert "reconstruction_loss - kl_loss" in f.source_line and "reconstruction_loss + kl_loss" in f.fix
    # The ELBO written as a quantity to maximise, negated into the loss, is no sign error.
    from ae_magic.checks.loss_sign import subtracted_term

    assert subtracted_term("elbo = log_lik - kl\nloss = -elbo") is None
    assert subtracted_term("kl_loss = -0.5 * ops.sum(1 + lv - ops.square(m) - ops.exp(lv))") is None
    assert subtracted_term(healthy) is None
    assert subtracted_term("self.add_loss(-kl)") == (1, "kl")
