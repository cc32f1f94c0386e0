"""Round 21's relu LSTM: one exploding step in a run that learns is not "the loss oscillates" (AE403)
unless a run 4x as long still goes up and down (unit tests on the traces)."""

from __future__ import annotations

from ae_magic.checks.loss_curve import oscillating
from ae_magic.checks.training import _confirm_after_spike
from ae_magic.context import Context

# The probe run's held-out curve: learning, one spike to 9.3, then settled a little higher.
SPIKED = [0.54, 0.535, 0.519, 0.470, 0.453, 0.449, 0.45, 0.438, 0.424, 0.407, 0.399, 0.380, 0.350, 0.38, 0.330,
          9.30, 0.314, 0.454, 0.453, 0.437, 0.414]


def _trace(curve: list[float], diverged: bool = False) -> dict:
    return {"val_curve": {"loss": curve, "steps": list(range(len(curve)))}, "lr": 1e-3, "diverged": diverged,
            "loss": [0.5] * (8 * len(curve))}


def test_a_one_point_spike_is_left_out_of_the_rises_and_marked() -> None:
    (f,) = oscillating(Context(), _trace(SPIKED), None)
    assert f.evidence["transient_spike"] and f.evidence["low_before_spike"] == 0.33
    assert f.evidence["rises"] < 0.2  # the spike's 9 is not among them
    assert not oscillating(Context(), _trace([*SPIKED[:16], 0.32, 0.31, 0.3, 0.29, 0.28]), None)


def test_the_longer_run_decides() -> None:
    ctx = Context()
    (f,) = oscillating(ctx, _trace(SPIKED), None)
    recovered = _trace([0.54, 0.45, 0.40, 0.36, 0.33, 9.1, 0.45, 0.40, 0.36, 0.33, 0.31, 0.30, 0.29])
    assert _confirm_after_spike(ctx, [f], lambda: recovered) == []
    assert "AE403 is not reported" in ctx.notes[-1]
    stuck = _trace([0.54, 0.45, 0.40, 0.36, 0.33, 9.1, 0.45, 0.50, 0.42, 0.48, 0.41, 0.47, 0.44])
    assert _confirm_after_spike(Context(), [f], lambda: stuck) == [f]
    assert _confirm_after_spike(Context(), [f], lambda: _trace(SPIKED, diverged=True)) == [f]
