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
