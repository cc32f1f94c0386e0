"""The user's model is byte-identical after a check: weights, optimizer
variables and compiled state, also when a probe raises or is interrupted."""

from __future__ import annotations

import random

import keras
import numpy as np
import pytest

import ae_magic
from ae_magic import Session, probes
from ae_magic.keras_compat import model_kind
from ae_magic.options import Options
from tests.zoo import HEALTHY


def _state(model) -> dict:
    """Everything a check could disturb, as bytes and identities."""
    opt = model.optimizer
    return {
        "vars": [(v.path, v.dtype, tuple(v.shape), np.asarray(v.numpy()).tobytes()) for v in model.variables],
        "opt_vars": [(v.path, np.asarray(v.numpy()).tobytes()) for v in opt.variables] if opt is not None else None,
        "opt_id": id(opt),
        "loss": model.loss,
        "compiled": model.compiled,
        "trainable": [layer.trainable for layer in model.layers],
    }


def _trained(name: str):
    """A zoo model after one epoch of fit, so its optimizer has real state."""
    keras.utils.set_random_seed(0)
    ns: dict = {}
    exec(HEALTHY[name], ns)
    model, x = ns["autoencoder"], ns["x"]
    model.fit(x, x, epochs=1, batch_size=64, verbose=0)
    return ns, model, x


@pytest.fixture(params=["dense", "subclassed"])
def trained(request):
    """A Functional model (probed on a clone) and a subclassed one (probed in
    place when it can't be cloned, with every variable restored)."""
    return _trained(request.param)


def _assert_same(model, before: dict) -> None:
    after = _state(model)
    assert after["vars"] == before["vars"]
    assert after["opt_vars"] == before["opt_vars"]
    assert after["opt_id"] == before["opt_id"] and after["loss"] is before["loss"]
    assert after["compiled"] == before["compiled"] and after["trainable"] == before["trainable"]


def test_model_identical_after_check(trained) -> None:
    _ns, model, x = trained
    before = _state(model)
    x_bytes = x.tobytes()
    np_state, py_state = np.random.get_state(), random.getstate()
    report = ae_magic.check(model=model, data=x, epochs=1, range_test=True)
    assert "training" in report.traces and not report.internal_errors
    _assert_same(model, before)
    assert x.tobytes() == x_bytes
    # The probe seeds its own generators and puts the user's back.
    assert random.getstate() == py_state
    after_np = np.random.get_state()
    assert after_np[0] == np_state[0] and np.array_equal(after_np[1], np_state[1]) and after_np[2:] == np_state[2:]


def test_model_identical_after_rerun(trained) -> None:
    _ns, model, x = trained
    before = _state(model)
    session = Session.from_model(model, x, options=Options(epochs=1))
    session.run()
    session.rerun(lr=0.05, epochs=1)
    if model_kind(model) == "subclassed":
        with pytest.raises(ae_magic.UsageError, match="subclassed"):
            session.rerun(latent=2, epochs=1)
    else:
        session.rerun(latent=2, epochs=1)
    session.close()
    _assert_same(model, before)


@pytest.mark.parametrize("where", ["gradient_probe", "range_test", "train", "run_steps"])
def test_model_identical_after_probe_exception(trained, monkeypatch, where: str) -> None:
    _ns, model, x = trained
    before = _state(model)
    original = getattr(probes.ProbeSession, where)

    def boom(self, *args, **kwargs):
        # Let the probe do real work on the copy first, then fail.
        if where in ("train", "range_test"):
            self.run_steps(1.0, 5)
        raise RuntimeError("probe bug")

    monkeypatch.setattr(probes.ProbeSession, where, boom)
    report = ae_magic.check(model=model, data=x, epochs=1, range_test=True)
    monkeypatch.setattr(probes.ProbeSession, where, original)
    assert any("probe bug" in e["error"] for e in report.internal_errors)
    assert not any(f.code.startswith(("AE3", "AE4")) and "probe bug" in f.message for f in report.findings)
    _assert_same(model, before)


@pytest.mark.parametrize("phase", ["training", "gradients", "lr_range"])
def test_model_identical_after_keyboard_interrupt(trained, monkeypatch, phase: str) -> None:
    _ns, model, x = trained
    before = _state(model)
    np_state = np.random.get_state()
    calls = {"n": 0}
    original = probes._emit

    def interrupt(progress, ph, step, total, loss, **extra):
        original(progress, ph, step, total, loss, **extra)
        if ph == phase:
            calls["n"] += 1
            if calls["n"] >= 2:  # mid-phase, after real steps on the copy
                raise KeyboardInterrupt

    monkeypatch.setattr(probes, "_emit", interrupt)
    with pytest.raises(KeyboardInterrupt):
        ae_magic.probe(model, x, epochs=1, range_test=True, progress=lambda event: None)
    assert calls["n"] >= 2
    _assert_same(model, before)
    assert np.array_equal(np.random.get_state()[1], np_state[1])


def test_uncompiled_model_stays_uncompiled() -> None:
    keras.utils.set_random_seed(0)
    ns: dict = {}
    src = HEALTHY["dense"].replace(
        'autoencoder.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")', ""
    )
    exec(src, ns)
    model = ns["autoencoder"]
    weights = [w.tobytes() for w in model.get_weights()]
    ae_magic.check(model=model, data=ns["x"], epochs=1, range_test=False)
    assert not model.compiled and getattr(model, "optimizer", None) is None
    assert [w.tobytes() for w in model.get_weights()] == weights
