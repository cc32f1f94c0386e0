"""Round 21's healthy false alarms, each a measurement read too literally (unit tests on the traces)."""

from __future__ import annotations

import numpy as np

from ae_magic.checks import gradients
from ae_magic.checks.loss_curve import _transient, batchnorm_lag
from ae_magic.context import Context
from ae_magic.report import Finding


def test_one_spike_after_learning_that_comes_back_is_transient() -> None:
    """A relu LSTM jumps once from 0.33 to 9.3 and is back at 0.31: not a divergence."""
    curve = np.array([0.54, 0.52, 0.47, 0.45, 0.42, 0.38, 0.33, 9.3, 0.31, 0.45, 0.41])
    assert _transient(curve, 0.54)


def test_a_first_step_blow_up_that_never_learns_is_no_transient() -> None:
    """Adam(0.1): the first update jumps to 411 and the model then sits at the mean; AE401 keeps it."""
    curve = np.array([1.01, 411.0, 2.4, 1.3, 1.0, 0.97, 1.04, 0.92])
    assert not _transient(curve, 1.01)
    sustained = np.array([0.54, 0.45, 0.40, 9.0, 12.0, 0.5, 0.45])  # two points up: a divergence
    assert not _transient(sustained, 0.54)


def _bn_trace(losses: list[float], mean_loss: float, bn: bool = True) -> dict:
    return {"has_batchnorm": bn, "loss": losses, "baselines": {"loss_units": {"mean": mean_loss}}}


def test_batchnorm_lag_needs_a_steady_training_loss_well_below_the_mean() -> None:
    falling = list(np.linspace(0.6, 0.04, 60))
    assert batchnorm_lag(_bn_trace(falling, 0.29)) is not None
    assert batchnorm_lag(_bn_trace(falling, 0.29, bn=False)) is None  # no BatchNorm: the outputs are what they are
    assert batchnorm_lag(_bn_trace(list(np.linspace(0.6, 0.25, 60)), 0.29)) is None  # at the mean in training mode too


def test_units_dead_at_init_that_the_run_revives_are_a_note() -> None:
    ctx = Context()
    ctx.traces["gradients"] = {"layers": [{"layer": "dense_2", "dead_share": 0.75}]}
    ctx.traces["training"] = {"activations_after": [{"layer": "dense_2", "dead_share": 0.375}]}
    f = Finding(code="AE304", severity="warning", title="Dead ReLU units", message="75% dead.",
                evidence={"dead_share": {"dense_2": 0.75}, "threshold": 0.7, "when": "at the initial weights"})
    gradients.refine(ctx, [f])
    assert f.severity == "info" and f.evidence["dead_share_after_probe"] == {"dense_2": 0.375}
    still = Finding(code="AE304", severity="warning", title="Dead ReLU units", message="75% dead.",
                    evidence={"dead_share": {"dense_2": 0.75}, "threshold": 0.7, "when": "at the initial weights"})
    ctx.traces["training"] = {"activations_after": [{"layer": "dense_2", "dead_share": 0.75}]}
    gradients.refine(ctx, [still])
    assert still.severity == "warning"


def test_a_loss_nan_from_the_held_out_start_is_still_ae401() -> None:
    """Round 21: a VAE taking sqrt(z_log_var) has a NaN held-out loss before any step; the steps' loss goes NaN
    at step 2. That was silent (the check read the NaN start as 'nothing to judge'): a false OK."""
    from ae_magic.checks.loss_curve import diverged

    tr = {"loss": [399.2, 398.3, float("nan"), float("nan")], "val_curve": {"loss": [float("nan")] * 3},
          "val_loss_before": float("nan"), "diverged": True, "lr": 1e-3, "steps_per_epoch": 43, "epochs": 1}
    found = diverged(Context(), tr, None)
    assert [f.code for f in found] == ["AE401"] and "NaN" in found[0].message
