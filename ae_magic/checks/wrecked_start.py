"""The probes start from the weights the cell's own fit left: when those are wrecked, is the rate the cause?

The probes copy the user's model as it is, trained weights included, so a cell whose own ``fit`` ran at a rate
that kills the model (round 51's bi08: SGD(1.0, momentum=0.9) on a ReLU autoencoder; bh10: Géron's stacked AE
with Adam(learning_rate=1.5)) hands them a wreck: every ReLU dead, an exactly zero gradient, an output that
never moves. The gradient checks then report AE301 "cut off" and AE304 "dead units" at those weights, which
is true of the weights but does not say why they are so. Here the probe run is repeated from fresh initial
weights of the same architecture, as re-running the cell would start, once at the configured rate and once at
a lower one. When the configured rate again ends no better than the mean while the lower one learns, the rate
is named (AE401), at the line that sets it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .. import keras_compat as kc
from ..context import Context
from ..numeric import all_finite
from ..report import Finding
from .fresh_model import fresh_model
from .gradients import cell_steps
from .optimizer_source import ADAPTIVE, ADAPTIVE_DEFAULT_LR, opt_class, optimizer_line

# The probe run at the weights the cell left ended at or above this share of the mean's error (not learning).
STUCK = 0.8
# From fresh weights: the configured rate ends at or above STUCK of the mean's error, the lower rate at or
# below LEARNS of it.
LEARNS = 0.6
# The lower rate: the configured one over LOWER_BY, at most Keras' Adam default for an adaptive optimizer.
LOWER_BY = 10.0
# The cell's own fit blew up: an epoch's loss reached this many times the loss at fresh initial weights.
BLOWN_UP = 10.0


def _wrecked_at_start(ctx: Context) -> bool:
    """The gradient checks found zero gradients (AE301) or dead units (AE304) at the probes' initial weights."""
    return any(f.code in ("AE301", "AE304") and f.severity in ("warning", "error") for f in ctx.found)


def _explained_before(ctx: Context) -> bool:
    """A structure or data finding (AE1xx/AE2xx warning or error) that may explain the wreck itself."""
    return any(f.code[:3] in ("AE1", "AE2") and f.severity in ("warning", "error") for f in ctx.found)


def _fresh_weights(ctx: Context, sess: Any) -> list[np.ndarray] | None:
    """Fresh initial values for every variable of the probes' copy (``clone_model`` re-initialises), or None."""
    if getattr(sess, "in_place", False):
        return None
    fresh = fresh_model(ctx)  # drawn inside kc.seeded: the user's global random state is put back
    if fresh is None:
        return None
    try:
        values = [np.array(kc.to_numpy(v), copy=True) for v in fresh.variables]
    except Exception:  # values that can't be read: no fresh start to compare with
        return None
    current = [tuple(v.shape) for v in sess.model.variables]
    if [tuple(v.shape) for v in values] != current:
        return None  # the probes' copy is not the same list of variables (a joined or picked output)
    return values


def name_wrecking_rate(ctx: Context, sess: Any, trace: dict[str, Any], found: list[Finding],
                       at_rate: Callable[[float], dict[str, Any]]) -> list[Finding]:
    """AE401 "the learning rate wrecks the model", measured from fresh initial weights; ``found`` otherwise."""
    b = trace.get("baselines") or {}
    final, mean, lr = b.get("final"), b.get("mean"), trace.get("lr")
    steps = cell_steps(ctx)
    if (steps <= 0 or not _wrecked_at_start(ctx) or _explained_before(ctx) or not all_finite([final, mean, lr])
            or mean <= 0 or final < STUCK * mean or getattr(sess, "heads", None) is not None
            or any(f.code == "AE401" for f in found)):
        return found
    fresh = _fresh_weights(ctx, sess)
    if fresh is None:
        return found
    # SGD's rates span decades (0.01 to 1 are all in use): two lower rates. Adam's top is about 1e-3.
    lowers = ([min(float(lr) / LOWER_BY, ADAPTIVE_DEFAULT_LR)] if opt_class(ctx) in ADAPTIVE
              else [float(lr) / LOWER_BY, float(lr) / LOWER_BY ** 2])
    kept = sess.initial
    sess.initial = (fresh, kept[1])
    try:
        at_cfg = at_rate(float(lr))
        lows = [(low, at_rate(low)) for low in lowers]
    except Exception:  # the comparison could not run: nothing is claimed
        return found
    finally:
        sess.initial = kept
        sess.restore(kept)
    cfg_final = (at_cfg.get("baselines") or {}).get("final")
    runs = [(low, (run.get("baselines") or {}).get("final")) for low, run in lows if not run.get("diverged")]
    runs = [(low, v) for low, v in runs if all_finite([v])]
    if not runs:
        return found
    lower, low_final = min(runs, key=lambda r: r[1])
    if low_final > LEARNS * mean:
        return found  # the lower rates do not learn either: not the rate
    blew = _cell_fit_blew_up(ctx, at_cfg)
    if not at_cfg.get("diverged") and all_finite([cfg_final]) and cfg_final < STUCK * mean and blew is not None:
        return [*found, _blown_up_in_cell(ctx, trace, lr, steps, blew, cfg_final, lower, low_final, mean)]
    if not at_cfg.get("diverged") and all_finite([cfg_final]) and cfg_final < STUCK * mean:
        ctx.notes.append(
            f"The probes started from the weights the cell's own training left ({steps} steps), where they found "
            f"dead units or no gradient. From fresh initial weights the same {len(trace.get('loss') or [])} steps at "
            f"the configured rate {float(lr):.3g} learn (held-out MSE {cfg_final:.4g}, the mean's {mean:.4g}): the "
            "cell's own fit left the model in that state.")
        return found
    n = len(trace.get("loss") or [])
    how = "diverge" if at_cfg.get("diverged") or not all_finite([cfg_final]) else f"end at a held-out MSE of {cfg_final:.4g}"
    line, src = optimizer_line(ctx)
    name = opt_class(ctx)
    for f in ctx.found:
        if f.code in ("AE301", "AE304") and "see AE401" not in f.message:
            f.message += (f" (These are the weights the cell's own training left, {steps} steps at learning rate "
                          f"{float(lr):.3g}: see AE401.)")
    return [*found, Finding(
        code="AE401", severity="error", title="The learning rate wrecks the model",
        message=(f"The weights the cell's own training left ({steps} steps) are wrecked: units that pass no gradient "
                 f"(see AE301/AE304), and the probe run from them ends at {final:.4g}, no better than the per-feature "
                 f"mean's {mean:.4g}. From fresh initial weights, as re-running the cell would start, the same {n} steps "
                 f"at the configured rate {float(lr):.3g} {how}, and at {lower:.2g} they end at {low_final:.4g}: the "
                 f"learning rate is too high for this model ({name}): a few steps that large push the units where no "
                 "input reaches them (dead or saturated), and nothing flows back from there."),
        line=line, source_line=src,
        evidence={"cell_steps": steps, "lr": float(lr), "final_mse": final, "mean_baseline": mean,
                  "fresh_at_configured": {"final_mse": cfg_final, "diverged": bool(at_cfg.get("diverged"))},
                  "fresh_at_lower": {"lr": lower, "final_mse": low_final, "steps": n}},
        fix=f"optimizer=keras.optimizers.{name}(learning_rate={lower:.2g})",
    )]


def _cell_fit_blew_up(ctx: Context, fresh_run: dict[str, Any]) -> tuple[list[float], float] | None:
    """``(the cell's epoch losses, the loss at fresh weights)`` when the cell's own fit (its ``History``, which Keras
    keeps on the model) reached BLOWN_UP times the loss the probes measured at fresh initial weights; else None."""
    hist = getattr(getattr(ctx.model, "history", None), "history", None)
    losses = hist.get("loss") if isinstance(hist, dict) else None
    start = next((float(v) for v in (fresh_run.get("loss") or []) if all_finite([v])), None)
    if not losses or start is None or start <= 0:
        return None
    try:
        epochs = [float(v) for v in losses]
    except (TypeError, ValueError):
        return None
    finite = [v for v in epochs if all_finite([v])]
    return (epochs, start) if finite and max(finite) >= BLOWN_UP * start else None


def _blown_up_in_cell(ctx: Context, trace: dict[str, Any], lr: float, steps: int, blew: tuple[list[float], float],
                      cfg_final: float, lower: float, low_final: float, mean: float) -> Finding:
    """AE401 for a cell whose own fit blew up at the configured rate and left the units dead, where the probes'
    run from fresh weights at that rate happened to come through (round 81's fc05: Adam(0.1) on a Conv1D
    autoencoder; epoch losses about 8,500 then the mean's, every ReLU dead)."""
    epochs, start = blew
    n = len(trace.get("loss") or [])
    line, src = optimizer_line(ctx)
    name = opt_class(ctx)
    shown = ", ".join(f"{v:.3g}" for v in epochs[:6]) + (", ..." if len(epochs) > 6 else "")
    for f in ctx.found:
        if f.code in ("AE301", "AE304") and "see AE401" not in f.message:
            f.message += (f" (These are the weights the cell's own training left, {steps} steps at learning rate "
                          f"{float(lr):.3g}: see AE401.)")
    better = low_final < cfg_final
    return Finding(
        code="AE401", severity="error", title="The learning rate wrecks the model",
        message=(f"The cell's own fit at learning rate {float(lr):.3g} blew up: its epoch losses were {shown}, against "
                 f"{start:.3g} at fresh initial weights, and the {steps} steps left units that pass no gradient (see "
                 f"AE301/AE304). From fresh weights the probes' {n} steps at that rate came through this time "
                 f"(held-out MSE {cfg_final:.4g}, the mean's {mean:.4g})"
                 + (f", and at {lower:.2g} they end at {low_final:.4g}" if better else "")
                 + f": at a rate this high for {name}, one step large enough to push the units where no input "
                 "reaches them is a matter of luck, and the cell's run met it."),
        line=line, source_line=src,
        evidence={"cell_steps": steps, "lr": float(lr), "cell_epoch_losses": epochs, "loss_at_fresh_weights": start,
                  "mean_baseline": mean, "fresh_at_configured": {"final_mse": cfg_final, "diverged": False},
                  "fresh_at_lower": {"lr": lower, "final_mse": low_final, "steps": n}},
        fix=f"optimizer=keras.optimizers.{name}(learning_rate={lower:.2g})",
    )
