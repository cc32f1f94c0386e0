"""Every healthy autoencoder of the zoo gets no warning and no error."""

from __future__ import annotations

import pytest
import zoo

import ae_magic


@pytest.mark.parametrize("name", sorted(zoo.HEALTHY))
def test_healthy_model_is_silent(name: str) -> None:
    report = ae_magic.check(zoo.HEALTHY[name], train=False, **zoo.HEALTHY_CALLS[name])
    loud = [(f.code, f.severity, f.message) for f in report.findings if f.severity in ("error", "warning")]
    assert loud == [], f"{name}: false alarm(s) {loud}"
    assert report.internal_errors == [], report.internal_errors
    assert report.cell_error is None
    assert report.model is not None and report.model["variable"] == "autoencoder"
    assert report.ok


def test_zoo_covers_required_shapes() -> None:
    # The issue names these shapes; the zoo must keep them (and at least ten).
    required = {
        "dense",
        "deep_dense",
        "conv_transpose",
        "conv_upsampling",
        "sequential_input",
        "composed",
        "lstm",
        "denoising",
    }
    assert required <= set(zoo.HEALTHY)
    assert len(zoo.HEALTHY) >= 10
    assert set(zoo.HEALTHY_CALLS) == set(zoo.HEALTHY)
