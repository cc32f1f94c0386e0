"""AE406: a faster learning rate, from the range test, confirmed by a repeat of the probe run.

``confirm_suggested_rate`` runs the repeat (same initial weights, batches and
steps) and stores it in ``traces["lr_range"]["confirm"]``; ``faster`` judges it.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from ..context import Context
from ..report import Finding
from .loss_curve import DIVERGE_END, DIVERGE_SPIKE, oscillating
from .loss_curve import diverged as diverged_loss
from .optimizer_source import opt_class, optimizer_line, rate_cap

# AE406: the probe run is repeated from the same initial weights at the
# suggested rate (same batches, same steps); the suggestion is reported
# only when its final validation loss is at least FASTER_GAIN (10%) lower
# than the configured rate's, its run never diverges (the AE401 rules), and
# it is more than FASTER_MIN_RATIO (2x) away from the configured rate.
FASTER_GAIN = 0.1
FASTER_MIN_RATIO = 2.0
# Adaptive optimizers rescale each step, so a range test's "fast" rate for
# them (0.05, 0.1) trains the probe's few hundred steps well yet kills ReLU
# units and collapses outputs in a full fit: their suggestions are capped
# at ADAPTIVE_MAX_LR (the top of the usual Adam range), SGD's are not.
# The repeat run must not pay for its lower loss with a collapsed output
# (spread under this share of the configured run's) or with ReLU layers
# that died (AE304's share after the run) while the configured run's live.
SPREAD_KEEP = 0.5


def confirm_suggested_rate(sess: Any, options: Any, trace: dict[str, Any], lr_trace: dict[str, Any],
                           ctx: Context | None = None) -> None:
    """Repeat the probe run at the range test's suggestion and store it as ``lr_trace["confirm"]``.

    Only when the suggestion is more than FASTER_MIN_RATIO away from the
    configured rate and the probe run did not diverge; ``faster`` judges it.
    A faster suggestion that :func:`confirmed` is then tried STEP_UP times
    higher, up to STEPS_UP times (never past the optimizer's cap): the
    range test read from the weights the cell left can undershoot, and a
    user who follows it would be told a rate 3-10x higher next (round 79's
    dy08: 1e-4 -> 5e-4, then 2e-3 from there). A higher rate replaces it
    only when its own run is confirmed and ends FASTER_GAIN lower still.
    """
    sugg = lr_trace.get("suggested")
    cap = rate_cap(sess.optimizer)
    if sugg is not None and cap is not None and sugg > cap:
        lr_trace["capped_from"], sugg = sugg, cap
    ratio = sugg / trace["lr"] if sugg is not None and trace["lr"] > 0 else None
    if ratio is None or 1 / FASTER_MIN_RATIO <= ratio <= FASTER_MIN_RATIO or trace["diverged"]:
        return
    # The whole probe run again at the suggested rate: same initial
    # weights, same batches, same number of steps.
    best = _repeat(sess, options, trace, float(sugg), ctx)
    for _ in range(STEPS_UP if ratio > 1 else 0):
        if not confirmed(best):
            break
        higher = float(f"{best['lr'] * STEP_UP:.1g}")
        if cap is not None and higher > cap:
            higher = float(cap)
        if higher <= best["lr"] * (1 + 1e-9):
            break
        alt = _repeat(sess, options, trace, higher, ctx)
        if not confirmed(alt) or alt["suggested"]["loss"][-1] > (1 - FASTER_GAIN) * best["suggested"]["loss"][-1]:
            break
        alt["stepped_up_from"] = {"lr": best["lr"], "val_loss": best["suggested"]["loss"][-1],
                                  **({"stepped_up_from": best["stepped_up_from"]} if "stepped_up_from" in best else {})}
        best = alt
    lr_trace["confirm"] = best


# confirm_suggested_rate: a confirmed faster suggestion is tried this many times higher, at most STEPS_UP times.
STEP_UP = 3.0
STEPS_UP = 2


def _repeat(sess: Any, options: Any, trace: dict[str, Any], lr: float, ctx: Context | None) -> dict[str, Any]:
    """The probe run repeated at ``lr``, as ``lr_trace["confirm"]`` holds it."""
    alt = sess.train(epochs=options.epochs, steps=options.steps, lr=lr)
    c = {
        "lr": float(lr),
        "configured_lr": float(trace["lr"]),
        "steps": len(alt["loss"]),
        "val_start": alt["val_loss_before"],
        "configured": {"steps": list(trace["val_curve"]["steps"]), "loss": list(trace["val_curve"]["loss"])},
        "suggested": {"steps": list(alt["val_curve"]["steps"]), "loss": list(alt["val_curve"]["loss"])},
        "suggested_train_loss": alt["loss"],
        "suggested_diverged": bool(alt["diverged"]),
        "output_spread": {"configured": trace.get("output_spread"), "suggested": alt.get("output_spread")},
        "newly_dead": _newly_dead(trace, alt),
    }
    if ctx is not None:
        # What AE401/AE403/AE404 would say of each run: advice must not trade a lower loss for a new fault.
        new = set(_curve_faults(ctx, alt)) - set(_curve_faults(ctx, trace))
        c["new_faults"] = sorted(new)
    return c


def confirmed(c: dict[str, Any]) -> bool:
    """Whether a repeat run (``lr_trace["confirm"]``) makes its rate advice: it never diverges (AE401's rules),
    keeps its outputs' spread and its units alive, adds no curve fault, and ends FASTER_GAIN lower than the
    configured run."""
    conf = np.asarray(c["configured"]["loss"], dtype=np.float64)
    sug = np.asarray(c["suggested"]["loss"], dtype=np.float64)
    train = np.asarray(c.get("suggested_train_loss") or [], dtype=np.float64)
    if len(conf) < 2 or len(sug) < 2 or not np.all(np.isfinite(conf)):
        return False
    start = float(sug[0])
    # Never diverges: finite all the way, no spike above DIVERGE_SPIKE x its
    # start, and it does not end above DIVERGE_END x its start (AE401's rules).
    train_ok = len(train) == 0 or (np.all(np.isfinite(train)) and (train[0] <= 0 or np.max(train) <= DIVERGE_SPIKE * train[0]))
    stable = (
        not c.get("suggested_diverged")
        and bool(np.all(np.isfinite(sug)))
        and bool(train_ok)
        and (start <= 0 or (np.max(sug) <= DIVERGE_SPIKE * start and sug[-1] <= DIVERGE_END * start))
    )
    spreads = c.get("output_spread") or {}
    sc, ss = spreads.get("configured"), spreads.get("suggested")
    kept = not (isinstance(sc, float) and isinstance(ss, float) and np.isfinite(sc) and sc > 0) or ss >= SPREAD_KEEP * sc
    end_c, end_s = float(conf[-1]), float(sug[-1])
    return bool(stable and kept and not c.get("newly_dead") and not c.get("new_faults")
                and end_s <= end_c - FASTER_GAIN * abs(end_c))


def _curve_faults(ctx: Context, tr: dict[str, Any]) -> list[str]:
    """Warning/error codes the loss-curve and collapse judges give a run (on a scratch copy of ``ctx``)."""
    from .output_collapse import output_collapse

    scratch = copy.copy(ctx)
    scratch.notes, scratch.traces, scratch.skipped = list(ctx.notes), dict(ctx.traces), dict(ctx.skipped)
    found = diverged_loss(scratch, tr, None)
    if not found:
        found = output_collapse(scratch, tr, None) + oscillating(scratch, tr, None)
    return [f.code for f in found if f.severity in ("warning", "error")]


def _newly_dead(trace: dict[str, Any], alt: dict[str, Any]) -> list[str]:
    """Non-output layers whose ReLU units are dead (AE304's share) after the repeat run but not after the configured one."""
    from .training import DEAD_SHARE_AFTER

    before = {a["layer"]: a.get("dead_share") for a in trace.get("activations_after") or []}
    return [
        a["layer"] for a in alt.get("activations_after") or []
        if not a.get("is_output") and (a.get("dead_share") or 0) >= DEAD_SHARE_AFTER
        and (before.get(a["layer"]) or 0) < DEAD_SHARE_AFTER
    ]


# -- AE406 -------------------------------------------------------------------
def faster(ctx: Context, tr: dict[str, Any], lr_trace: dict[str, Any] | None) -> list[Finding]:
    """AE406: the probe run repeated at the range test's rate ends clearly lower and never diverges."""
    if not lr_trace or "confirm" not in lr_trace:
        return []
    c = lr_trace["confirm"]
    if not confirmed(c):
        return []
    end_c, end_s = float(c["configured"]["loss"][-1]), float(c["suggested"]["loss"][-1])
    lr, sugg = tr["lr"], c["lr"]
    line, text = optimizer_line(ctx)
    gain = (end_c - end_s) / abs(end_c) if end_c else None
    stepped = c.get("stepped_up_from")
    first = stepped
    while first is not None and "stepped_up_from" in first:
        first = first["stepped_up_from"]
    up = (f" At the range test's own {first['lr']:.1g} the same run ended at {first['val_loss']:.4g}."
          if first is not None else "")
    return [
        Finding(
            code="AE406",
            severity="info",
            title="A faster learning rate",
            message=(
                f"A learning-rate range test suggests {sugg:.1g}"
                + (f" (its own {lr_trace['capped_from']:.1g}, capped at the top of the usual range for "
                   f"{opt_class(ctx)})" if lr_trace.get("capped_from") and first is None else "")
                + (f" (it pointed at {first['lr']:.1g}; {sugg:.1g} was tried as well, {sugg / first['lr']:.0f}x "
                   "higher, and did better)" if first is not None else "")
                + ". The probe run repeated at that rate (same initial "
                f"weights, same batches, {c['steps']} steps) ends at a validation loss of {end_s:.4g} against "
                f"{end_c:.4g} with your {lr:.3g}"
                + (f" ({100 * gain:.0f}% lower)" if gain is not None else "")
                + ", and never diverges."
                + up
            ),
            line=line,
            source_line=text,
            evidence={
                "lr": lr,
                "suggested_lr": sugg,
                "steps": c["steps"],
                "val_loss_configured": end_c,
                "val_loss_suggested": end_s,
                "gain": gain,
                "curves": {"configured": c["configured"], "suggested": c["suggested"]},
                **({"stepped_up_from": stepped} if stepped is not None else {}),
            },
            fix=f"optimizer = keras.optimizers.{opt_class(ctx)}(learning_rate={sugg:.1g})",
        )
    ]

