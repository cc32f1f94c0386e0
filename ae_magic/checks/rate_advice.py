"""A learning rate that AE402 or AE404 advises, checked by a run at that rate before it is given.

The range test's suggestion is read from a few hundred steps of a rising rate. On a model sitting on a
plateau it is noise: round 49's bc10 (a healthy return_state LSTM autoencoder under SGD(0.05), flat at the
mean for about 20 epochs before it learns) was told "0.05 is too high; around 0.001 learns fastest", and at
0.001 SGD moves even less. AE406's advice is confirmed on the held-out loss before it is given (issue item 8);
the rate clauses inside AE402 ("too low"/"too high") and AE404 ("learning rate X is too high") now are too:
the same steps at the advised rate must end with a held-out MSE at least CONFIRM_GAIN lower, or the clause is
taken out and a note says what the run at that rate did.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..context import Context
from ..numeric import all_finite
from ..report import Finding

# The advised rate's run must end at or below this share of the configured run's held-out MSE (10% lower).
CONFIRM_GAIN = 0.9


def verify_rate_advice(ctx: Context, trace: dict[str, Any], found: list[Finding],
                       at_rate: Callable[[float], dict[str, Any]]) -> list[Finding]:
    """Keep each AE402/AE404 rate clause only when a run at its rate ends clearly lower; else drop it, with a note."""
    asked = [f for f in found if f.code in ("AE402", "AE404") and isinstance(f.evidence.get("rate_advice"), dict)]
    final = (trace.get("baselines") or {}).get("final")
    if not asked or trace.get("diverged") or not all_finite([final]):
        return found
    lr = float(asked[0].evidence["rate_advice"]["lr"])
    try:
        alt = at_rate(lr)
    except Exception:  # the check could not run: the clause goes, unconfirmed advice is not given
        alt = {"diverged": True, "baselines": {}}
    alt_final = (alt.get("baselines") or {}).get("final")
    confirmed = not alt.get("diverged") and all_finite([alt_final]) and alt_final <= CONFIRM_GAIN * final
    steps = len(trace.get("loss") or [])
    for f in asked:
        advice = f.evidence.pop("rate_advice")
        run = {"lr": lr, "final_mse": alt_final, "configured_final_mse": final, "steps": steps}
        if confirmed:
            f.message += (f" (Checked: the same {steps} steps at {lr:.1g} end with a held-out MSE of {alt_final:.4g}, "
                          f"against {final:.4g} at the configured rate.)")
            f.evidence["advised_rate_run"] = run
            continue
        f.message = _without(f.message, advice["text"])
        if advice.get("fix"):
            f.fix = advice["fix"]
        f.evidence["advised_rate_unconfirmed"] = run
    if not confirmed:
        what = "diverged" if alt.get("diverged") else f"ended with a held-out MSE of {alt_final:.4g}"
        ctx.notes.append(f"The learning-rate range test pointed at {lr:.1g}, but the same {steps} steps at that rate {what} "
                         f"(the configured rate: {final:.4g}), so no rate is advised.")
    return found


def _without(message: str, clause: str) -> str:
    """``message`` with ``clause`` taken out of its "...: a; b." list of causes, or off its end."""
    for old, new in ((f"; {clause}", ""), (f"{clause}; ", ""), (f": {clause}.", "."), (clause, "")):
        if old in message:
            return message.replace(old, new, 1)
    return message


# name_slow_rate: the faster runs try these many times the configured rate, in turn (capped for an adaptive
# optimizer), and one must end at or below FAST_BELOW of the mean's error and FAST_GAIN of the longer run's
# (ba05: 10x ended at 0.98x the mean's error, 100x at 0.30x).
FAST_FACTORS = (10.0, 100.0)
FAST_BELOW = 0.9
FAST_GAIN = 0.8


def name_slow_rate(ctx: Context, trace: dict[str, Any], found: list[Finding], longer: dict[str, Any] | None,
                   at_rate: Callable[[float], dict[str, Any]]) -> list[Finding]:
    """A note with a measured faster rate when the run 4x as long still ended above the mean's error (taken for a
    slow start) and the probe run's steps at 10 or 100 times the rate (FAST_FACTORS) beat the mean clearly.

    Round 49's ba05: a clone of a pretrained model (``clone_model`` re-initialises it) "fine-tuned" at
    Adam(1e-5). The 4x run went from far above the mean's error to 1.10x it, still falling, and the note called
    it "a slow start" as if it had shown one. A slow learner is no fault by itself (the zoo's
    conv2d_slow_adam_1e4, Adam(1e-4), is healthy and gets there), and AE406 belongs to the range test: the note
    says what was measured instead, the faster rate included. Returns ``found`` unchanged.
    """
    b = trace.get("baselines") or {}
    mean, lr = b.get("mean"), trace.get("lr")
    lb = (longer or {}).get("baselines") or {}
    final = lb.get("final")
    if (longer is None or longer.get("diverged") or trace.get("diverged") or not all_finite([mean, final, lr])
            or mean <= 0 or final <= mean or any(f.code in ("AE401", "AE402", "AE404", "AE405", "AE406") for f in found)
            or not any("a slow start" in n for n in ctx.notes)):
        return found
    from .optimizer_source import rate_cap

    cap = rate_cap(getattr(ctx.model, "optimizer", None))
    for factor in FAST_FACTORS:
        faster = float(lr) * factor if cap is None else min(float(lr) * factor, cap)
        if faster <= float(lr) * 2:
            return found
        try:
            alt = at_rate(faster)
        except Exception:  # the comparison could not run: nothing is claimed
            return found
        alt_final = (alt.get("baselines") or {}).get("final")
        if alt.get("diverged") or not all_finite([alt_final]):
            return found  # (a faster rate that diverges: the rate is not simply too low)
        if alt_final <= FAST_BELOW * mean and alt_final <= FAST_GAIN * final:
            break
    else:
        return found
    steps, m = len(trace.get("loss") or []), len(longer.get("loss") or [])
    ctx.notes[:] = [n for n in ctx.notes if "a slow start" not in n]
    ctx.notes.append(
        f"A slow learner, not shown to leave the mean: at the configured learning rate {float(lr):.3g} the held-out MSE "
        f"ends the {steps}-step probe run at {b.get('final'):.4g} and a run {m // max(steps, 1)}x as long ({m} steps) "
        f"at {final:.4g}, still above the per-feature mean's {mean:.4g} though falling. The same {steps} steps at "
        f"{faster:.2g} end at {alt_final:.4g}: a long fit may get there at the configured rate, a faster one sooner."
    )
    return found
