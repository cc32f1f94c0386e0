"""A VAE's sampling layer that does not draw z = z_mean + exp(0.5 * z_log_var) * eps (round 21).

Measured on the probe's copy with set inputs (probes/latent.py ``sampling_contract``):
``sqrt(z_log_var)`` gives NaN for negative log-variances (AE401, named at the sampling line); an
added instead of multiplied noise term gives a spread that ignores the log-variance (AE407).
Healthy layers, including a log-standard-deviation head and a layer taking [z_log_var, z_mean],
stay silent.
"""

from __future__ import annotations

import pytest

import ae_magic
from ae_magic.checks.sampling import faults

VAE = """\
import numpy as np
import keras
from keras import layers, ops
rng = np.random.default_rng(0)
centres = rng.random((6, 32))
x_train = np.clip(centres[rng.integers(0, 6, 600)] + 0.05 * rng.standard_normal((600, 32)), 0, 1).astype("float32")


class Sampling(layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(3)

    def call(self, inputs):
        {unpack}
        self.add_loss(-0.5 * ops.mean(ops.sum(1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=-1)))
        eps = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
        return {sample}


x = keras.Input(shape=(32,))
h = layers.Dense(32, activation="relu")(x)
z_mean = layers.Dense(4)(h)
z_log_var = layers.Dense(4)(h)
z = Sampling()({wiring})
out = layers.Dense(32, activation="sigmoid")(layers.Dense(32, activation="relu")(z))
vae = keras.Model(x, out)
vae.compile(optimizer="adam", loss="binary_crossentropy")
"""
MEAN_FIRST = {"unpack": "z_mean, z_log_var = inputs", "wiring": "[z_mean, z_log_var]"}
RETURN_LINE = 18


def _check(sample: str, **kw: str) -> ae_magic.Report:
    src = VAE.format(sample=sample, **{**MEAN_FIRST, **kw})
    return ae_magic.check(src, namespace={}, data="x_train", epochs=2)


def test_a_square_root_of_the_log_variance_is_named_at_the_sampling_line() -> None:
    report = _check("z_mean + ops.sqrt(z_log_var) * eps")
    f = report.get("AE401")
    assert f is not None and f.severity == "error", report.text()
    assert f.line == RETURN_LINE and "ops.sqrt(z_log_var)" in f.source_line
    assert "returns NaN for a log-variance of -2" in f.message
    assert "exp(0.5 * z_log_var) * epsilon" in f.fix and f.edit is None


def test_noise_added_instead_of_scaled_is_ae407_at_the_sampling_line() -> None:
    report = _check("z_mean + ops.exp(0.5 * z_log_var) + eps")
    f = next((f for f in report.findings if f.code == "AE407" and "sampling" in f.evidence), None)
    assert f is not None and f.title == "The sample does not follow z_mean and z_log_var", report.text()
    assert f.line == RETURN_LINE and f.layer.startswith("sampling")
    assert set(f.evidence["faults"]) >= {"spread", "offset"}
    # The sample still follows z_mean: its head is not cut off.
    assert not any("sampling_layer" in g.evidence for g in report.findings), report.text()


def test_a_sample_that_drops_z_mean_cuts_its_head_off_the_reconstruction() -> None:
    report = _check("ops.exp(0.5 * z_log_var) * eps")
    contract = next((f for f in report.findings if f.code == "AE407" and "sampling" in f.evidence), None)
    assert contract is not None and contract.line == RETURN_LINE, report.text()
    cut = next((f for f in report.findings if f.code == "AE301" and "sampling_layer" in f.evidence), None)
    assert cut is not None and cut.severity == "warning", report.text()
    assert cut.line == 23 and cut.source_line.strip() == "z_mean = layers.Dense(4)(h)"
    assert cut.evidence["sample_moved_by"] < 0.3


@pytest.mark.parametrize("sample, kw", [
    ("z_mean + ops.exp(0.5 * z_log_var) * eps", {}),
    ("z_mean + ops.exp(z_log_var) * eps", {}),  # a head read as a log standard deviation
    ("z_mean + ops.exp(0.5 * z_log_var) * eps", {"unpack": "z_log_var, z_mean = inputs",
                                                  "wiring": "[z_log_var, z_mean]"}),
])
def test_healthy_sampling_layers_are_silent(sample: str, kw: dict[str, str]) -> None:
    report = _check(sample, **kw)
    assert not [f for f in report.findings if "sampling" in f.evidence], report.text()
    assert report.get("AE401") is None, report.text()
    assert report.traces["training"]["sampling"]["rows"], "the contract was not measured"


def _rows(stds: tuple[float, ...], mean0: float = 0.0, shifted: float = 3.0) -> list[dict]:
    """Rows at log-variances -2, 0, 2 (and, with five stds, at the positive scales 0.25 and 4)."""
    rows = [{"z_mean": 0.0, "log_var": lv, "finite": True, "mean": mean0, "std": s}
            for lv, s in zip((-2.0, 0.0, 2.0, 0.25, 4.0), stds, strict=False)]
    return [*rows, {"z_mean": 3.0, "log_var": 0.0, "finite": True, "mean": mean0 + shifted, "std": stds[1]}]


def test_the_contract_reading() -> None:
    assert faults({"rows": _rows((0.37, 1.0, 2.7))}) == []
    assert faults({"rows": _rows((0.135, 1.0, 7.4))}) == []  # log-std convention
    assert faults({"rows": _rows((1.0, 1.0, 1.0), mean0=1.0)}) == ["spread", "offset"]
    assert faults({"rows": _rows((0.37, 1.0, 2.7), shifted=0.0)}) == ["mean"]  # z ignores z_mean
    # A layer taking a standard deviation itself (z_mean + sigma * eps, round 23): |sigma| on -2 and 2.
    assert faults({"rows": _rows((2.0, 0.0, 2.0, 0.25, 4.0))}) == []
    assert faults({"rows": _rows((1.0, 1.0, 1.0, 1.0, 1.0), mean0=1.0)}) == ["spread", "offset"]
    nan = _rows((0.37, 1.0, 2.7))
    nan[0] = {**nan[0], "finite": False, "mean": None, "std": None}
    assert faults({"rows": nan}) == ["nan"]


def test_a_cell_run_again_with_its_layer_fixed_is_probed_with_the_new_code() -> None:
    """A parked probe copy is reused only for the same code: the config alone can't tell sqrt from exp."""
    from ae_magic.probes.session import reuse_key

    keys = []
    for sample in ("z_mean + ops.sqrt(z_log_var) * eps", "z_mean + ops.exp(0.5 * z_log_var) * eps"):
        ns: dict = {}
        exec(VAE.format(sample=sample, **MEAN_FIRST), ns)
        keys.append(reuse_key(ns["vae"], ns["x_train"], None, 0))
    assert keys[0] is not None and keys[0] != keys[1]
    assert _check("z_mean + ops.sqrt(z_log_var) * eps").get("AE401") is not None
    assert _check("z_mean + ops.exp(0.5 * z_log_var) * eps").get("AE401") is None


def test_inputs_passed_in_the_other_order_are_named_at_the_call() -> None:
    """Round 22: `Sampling()([z_log_var, z_mean])` for a layer that unpacks `z_mean, z_log_var`."""
    src = VAE.format(sample="z_mean + ops.exp(0.5 * z_log_var) * eps", unpack="z_mean, z_log_var = inputs",
                     wiring="[z_log_var, z_mean]")
    report = ae_magic.check(src, namespace={}, data="x_train", train=False)
    f = next((f for f in report.findings if f.title == "The sampling layer gets its inputs in the other order"), None)
    assert f is not None and f.code == "AE407" and f.line == 25, report.text()
    assert "Sampling()([z_mean, z_log_var])" in f.fix


@pytest.mark.parametrize("unpack, wiring", [
    ("z_mean, z_log_var = inputs", "[z_mean, z_log_var]"),
    ("z_log_var, z_mean = inputs", "[z_log_var, z_mean]"),  # another order, kept consistently
])
def test_inputs_in_the_order_the_layer_unpacks_them_are_silent(unpack: str, wiring: str) -> None:
    from ae_magic.checks.sampling import swapped_inputs

    src = VAE.format(sample="z_mean + ops.exp(0.5 * z_log_var) * eps", unpack=unpack, wiring=wiring)
    assert swapped_inputs(src) is None


def test_positional_parameters_and_bound_instances_are_read() -> None:
    from ae_magic.checks.sampling import swapped_inputs

    src = ("class S(Layer):\n    def call(self, mu, log_var):\n        return mu\n"
           "sampler = S()\nz = sampler(log_var, mu)\n")
    assert swapped_inputs(src) == (5, "S", ["log_var", "mu"], ["mu", "log_var"])
    assert swapped_inputs(src.replace("sampler(log_var, mu)", "sampler(mu, log_var)")) is None


def test_a_nan_the_run_never_met_is_not_reported() -> None:
    """A layer taking a variance (sqrt) gives NaN on negative inputs, which a positive head never sends."""
    from ae_magic.checks.sampling import check_sampling
    from ae_magic.context import Context

    nan = _rows((0.37, 1.0, 2.7))
    nan[0] = {**nan[0], "finite": False, "mean": None, "std": None}
    assert check_sampling(Context(), {"sampling": {"layer": "s", "rows": nan}}, []) == []
