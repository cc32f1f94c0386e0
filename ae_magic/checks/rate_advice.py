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
from .longer_run import BASELINE_CONFIRM_FACTOR, describe
from .optimizer_source import ADAPTIVE, opt_class, optimizer_line, rate_cap

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
        instead = advice.get("instead")
        if instead:  # what the finding blames once the rate is out of the picture (an activity penalty)
            f.line, f.source_line, f.layer, f.fix = instead["line"], instead["source_line"], instead["layer"], instead["fix"]
        f.evidence["advised_rate_unconfirmed"] = run
    if not confirmed:
        what = "diverged" if alt.get("diverged") else f"ended with a held-out MSE of {alt_final:.4g}"
        ctx.notes.append(f"The learning-rate range test pointed at {lr:.1g}, but the same {steps} steps at that rate {what} "
                         f"(the configured rate: {final:.4g}), so no rate is advised.")
    return found


def _slow_note(note: str) -> bool:
    """The note the longer run left: "a slow start", or still above the mean and not shown to leave it."""
    from .baseline import NOT_SHOWN

    return "a slow start" in note or (NOT_SHOWN in note and not note.startswith("A slow learner"))


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
# An adaptive optimizer's rate below this, measured slow that way, is AE402 (too low to train), not a note...
ADAPTIVE_MIN_LR = 1e-5
# ...judged so while its 4x run ends above this share of the mean's error.
TINY_RATE_END = 0.8


def name_slow_rate(ctx: Context, trace: dict[str, Any], found: list[Finding], longer: dict[str, Any] | None,
                   at_rate: Callable[[float], dict[str, Any]]) -> list[Finding]:
    """A note with a measured faster rate when the run 4x as long still ended above the mean's error (taken for a
    slow start) and the probe run's steps at 10 or 100 times the rate (FAST_FACTORS) beat the mean clearly.

    Round 49's ba05: a clone of a pretrained model (``clone_model`` re-initialises it) "fine-tuned" at
    Adam(1e-5). The 4x run went from far above the mean's error to 1.10x it, still falling, and the note called
    it "a slow start" as if it had shown one. A slow learner is no fault by itself (the zoo's
    conv2d_slow_adam_1e4, Adam(1e-4), is healthy and gets there), and AE406 belongs to the range test: the note
    says what was measured instead, the faster rate included, and returns ``found`` unchanged; except for an
    adaptive optimizer below ADAPTIVE_MIN_LR, where the same measurement is AE402 (round 87's lc05, Adam(1e-6)).
    """
    b = trace.get("baselines") or {}
    mean, lr = b.get("mean"), trace.get("lr")
    lb = (longer or {}).get("baselines") or {}
    final = lb.get("final")
    # Below ADAPTIVE_MIN_LR a 4x run that ends just under the mean (0.94x on one of lc05's draws) is no slow start
    # shown either.
    tiny = opt_class(ctx) in ADAPTIVE and all_finite([lr]) and float(lr) < ADAPTIVE_MIN_LR
    if (longer is None or longer.get("diverged") or trace.get("diverged") or not all_finite([mean, final, lr])
            or mean <= 0 or final <= (TINY_RATE_END if tiny else 1.0) * mean
            or any(f.code in ("AE401", "AE402", "AE404", "AE405", "AE406") for f in found)
            or not any(_slow_note(n) for n in ctx.notes)):
        return found
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
    steps = len(trace.get("loss") or [])
    ctx.notes[:] = [n for n in ctx.notes if not _slow_note(n)]
    name = opt_class(ctx)
    if tiny:
        # Round 87's lc05: an LSTM autoencoder at Adam(learning_rate=1e-6). Healthy slow starters run adaptive
        # optimizers at 5e-5 and up; a rate 1000x below Keras' default, measured not to leave the mean while 100x
        # does, is the fault, not a slow start.
        line, text = optimizer_line(ctx)
        return [*found, Finding(
            code="AE402", severity="warning", title="The learning rate is too low to train",
            message=(f"At the configured learning rate {float(lr):.3g}, far below {name}'s usual range (1e-4 to 1e-2), "
                     f"the held-out MSE ends the {steps}-step probe run at {b.get('final'):.4g} and "
                     f"{describe(longer, BASELINE_CONFIRM_FACTOR)} at {final:.4g}, against what predicting the "
                     f"per-feature mean reaches ({mean:.4g}). The same {steps} steps at {faster:.2g} end at "
                     f"{alt_final:.4g}: each step moves the weights too little, and a fit of any usual length ends "
                     "where it started."),
            line=line, source_line=text,
            evidence={"lr": float(lr), "final_mse": b.get("final"), "longer_final_mse": final, "mean_baseline": mean,
                      "faster_run": {"lr": faster, "final_mse": alt_final, "steps": steps}},
            fix=f"optimizer = keras.optimizers.{name}(learning_rate={max(faster, 1e-4):.1g})",
        )]
    ctx.notes.append(
        f"A slow learner, not shown to leave the mean: at the configured learning rate {float(lr):.3g} the held-out MSE "
        f"ends the {steps}-step probe run at {b.get('final'):.4g} and {describe(longer, BASELINE_CONFIRM_FACTOR)} "
        f"at {final:.4g}, still above the per-feature mean's {mean:.4g} though falling. The same {steps} steps at "
        f"{faster:.2g} end at {alt_final:.4g}: a long fit may get there at the configured rate, a faster one sooner."
    )
    return found


# name_high_rate: an adaptive optimizer set above the top of its usual range (optimizer_source.ADAPTIVE_MAX_LR)
# is run again at Keras' default rate for the same steps; the configured run must end at least FAR_FROM_PCA times
# a linear code's error, and the default-rate run at or below HIGH_GAIN of the configured run's.
FAR_FROM_PCA = 3.0
HIGH_GAIN = 0.5


def name_high_rate(ctx: Context, trace: dict[str, Any], found: list[Finding],
                   at_rate: Callable[[float], dict[str, Any]]) -> list[Finding]:
    """AE405 "far worse than a linear code", caused by the rate: an adaptive optimizer above its usual range whose
    run ends far above a PCA code of the same width, while the same steps at Keras' default rate end at half.

    Round 50's bg10: a patch Transformer autoencoder under Adam(0.05). The loss bounces and creeps down; the
    probe run ended at 0.29x the mean's error (so no AE405 against the mean) but 45x a 6-wide PCA code's, and
    nothing was reported. Adam rescales each step to about the rate, so 0.05 moves every weight by up to 0.05 a
    step whatever its gradient: too coarse to settle. A healthy model at such a rate that learns as well as at
    the default is silent (the run at the default rate must end at HIGH_GAIN or less).
    """
    from .optimizer_source import ADAPTIVE_DEFAULT_LR, ADAPTIVE_MAX_LR, RATE_BOUND, opt_class, optimizer_line

    b = trace.get("baselines") or {}
    final, pca, mean, lr = b.get("final"), b.get("pca"), b.get("mean"), trace.get("lr")
    opt = getattr(ctx.model, "optimizer", None)
    inner = getattr(opt, "inner_optimizer", None) or opt
    if (trace.get("diverged") or not all_finite([final, pca, mean, lr]) or type(inner).__name__ not in RATE_BOUND
            or float(lr) <= ADAPTIVE_MAX_LR * 1.0001 or not 0 < pca < final / FAR_FROM_PCA
            or any(f.code.startswith("AE40") and f.severity in ("warning", "error") for f in found)
            or any(f.severity in ("warning", "error") for f in ctx.found)):
        return found
    try:
        alt = at_rate(ADAPTIVE_DEFAULT_LR)
    except Exception:  # the comparison could not run: nothing is claimed
        return found
    alt_final = (alt.get("baselines") or {}).get("final")
    if alt.get("diverged") or not all_finite([alt_final]) or alt_final > HIGH_GAIN * final:
        return found
    steps = len(trace.get("loss") or [])
    line, src = optimizer_line(ctx)
    name = opt_class(ctx)
    against = "hardly better than" if final > 0.5 * mean else "though below"
    # (The longer run may have edged under the mean and been called a slow start: the rate run says otherwise.)
    ctx.notes[:] = [n for n in ctx.notes if not _slow_note(n)]
    return [*found, Finding(
        code="AE405", severity="warning", title="Far worse than a linear code: the learning rate is too high",
        message=(f"After the probe run the reconstruction error (MSE on held-out samples) is {final:.4g}, "
                 f"{final / pca:.0f}x that of a linear (PCA) code of the same width ({pca:.4g}), {against} the "
                 f"per-feature mean's {mean:.4g}. The learning rate {float(lr):.3g} is above {name}'s usual range (up to "
                 f"{ADAPTIVE_MAX_LR:g}): {name} moves each weight by about the rate every step, whatever its gradient, so "
                 f"the loss bounces instead of settling. The same {steps} steps at {ADAPTIVE_DEFAULT_LR:g} end at "
                 f"{alt_final:.4g}, {final / alt_final:.1f}x lower."),
        line=line, source_line=src,
        evidence={"final_mse": final, "pca_baseline": pca, "mean_baseline": mean, "lr": float(lr),
                  "default_rate_run": {"lr": ADAPTIVE_DEFAULT_LR, "final_mse": alt_final, "steps": steps}},
        fix=f"optimizer=keras.optimizers.{name}(learning_rate={ADAPTIVE_DEFAULT_LR:g})",
    )]
