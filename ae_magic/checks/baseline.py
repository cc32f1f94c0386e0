"""AE405: worse than a trivial baseline (the per-feature mean, or PCA of the code's width).

``baseline`` judges the probe run's trace; ``confirm_baseline`` keeps the finding
only when a longer run still sits on the baseline (a slow start is not a fault).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import keras_compat as kc
from ..context import Context
from ..numeric import all_finite
from ..report import Finding
from . import gradients as G
from . import weight_penalty as WP
from .locate import (
    NOISE_FIX,
    assigned_at,
    keyword_line,
    loss_return_line,
    noise_hint,
    trailing_noise,
)
from .longer_run import BASELINE_CONFIRM_FACTOR as BASELINE_CONFIRM_FACTOR
from .longer_run import describe
from .longer_run import sentence_start as _sentence
from .optimizer_source import optimizer_line
from .penalty_share import added_penalty_weight, dominant_added_penalty, penalties, weight_fix

# AE405: no better than the per-feature mean (within 2%), or less than a
# quarter of the way from the mean predictor to the PCA code of the same
# width, and no longer improving (the last third of the run improved the
# held-out MSE by < 1%). The plateau condition keeps slow starters (conv
# models still learning the mean image) out.
MEAN_MARGIN = 0.02
PCA_PROGRESS = 0.25
PLATEAU_REL = 0.01
# ...or improving so slowly that, at the pace of the last third, reaching the
# bar would take more than this many further runs of the probe's length.
PACE_RUNS = 10
# The PCA baseline only counts when the data has structure a code can
# capture: PCA at least 10% better than the mean predictor.
STRUCTURE_GAIN = 0.1
# ...or settling on the mean: the last half of the held-out MSE curve, cut
# into three equal windows, falls by shrinking amounts (a geometric
# approach, ratio r = drop2 / drop1 < 1) whose limit, last window minus
# drop2 * r / (1 - r), is at or above the mean bar. A curve that falls by
# steady or growing amounts (a slow starter on its way down) has no such
# limit and is left alone; SETTLE_MIN_POINTS curve points are needed. The
# bar for the limit is SETTLE_MARGIN below the mean (the extrapolation of a
# short curve is rough): an LSTM creeping onto the mean curve measures a
# limit of 0.96x the mean, a dense model on misaligned targets 0.96x; the
# healthy zoo's slow starters (conv, LSTM) end far below the mean anyway.
SETTLE_MIN_POINTS = 6
SETTLE_MARGIN = 0.05
# Settling *on the mean* also means outputs that hardly vary with the input:
# a model converging to the mean (curve) measures an output spread under 0.1
# of the targets' (per time step and feature for sequences); a slow starter
# whose curve is still falling through the mean from far above already
# follows its input (a deep MAE anomaly detector on ECG-like beats: 0.3-0.5,
# its held-out MSE 0.7-0.99x the mean after 4x the probe run, varying with
# TensorFlow's thread scheduling). Above this ratio a decelerating curve is
# not read as settling on the mean; plateau and pace still apply.
SETTLE_SPREAD = 0.2



# confirm_baseline: the longer run counts as a slow start only when it ends
# within this factor of the per-feature mean's error (or below it).
SLOW_START_MAX = 1.25
# unbeaten: with no PCA bar (a code as wide as the input) a probe run ending this far above the mean's error
# is judged on the longer run.
UNBEATEN_WIDE = 1.05
# _held_by_penalty: a model with an activity regularizer that ends the longer run at this many times the
# PCA code's error, on data where PCA beats the mean by this factor at least, is held there by the penalty.
PENALTY_HELD = 3.0
PENALTY_PCA_GAIN = 0.5
# penalty_unbeaten: a penalised model whose probe run ends at this share of the mean's error or above.
PENALTY_NEAR_MEAN = 0.9
# confirm_penalty: ...and whose longer run still ends at this share of the mean's error or above.
PENALTY_STILL_NEAR = 0.75
# Adadelta below this learning rate takes tiny steps (Keras' default 0.001; the pre-2.3 default was 1.0).
ADADELTA_SLOW = 0.1


# left_baseline: the longer run may end once its held-out MSE is this far
# below the nearest AE405 bar (a margin that minibatch noise does not undo).
LEFT_MARGIN = 0.75


def left_baseline(trace: dict[str, Any]) -> Callable[[int, float], bool] | None:
    """The ``stop`` rule of the AE405 confirmation run: True once the held-out MSE is clearly past every AE405 bar.

    The bars are those of :func:`baseline` (no better than the mean; far
    from PCA where the data has linear structure), read from the probe
    run's baselines, which the longer run shares. None when they are not
    finite (the run then goes its full length).
    """
    b = trace["baselines"]
    mean, pca = b.get("mean"), b.get("pca")
    if not all_finite([mean]) or mean <= 0:
        return None
    bar = (1 - MEAN_MARGIN) * mean
    if pca is not None and all_finite([pca]) and pca < (1 - STRUCTURE_GAIN) * mean:
        bar = min(bar, mean - PCA_PROGRESS * (mean - pca))
    limit = LEFT_MARGIN * bar

    def stop(step: int, held_out_mse: float) -> bool:
        return math.isfinite(held_out_mse) and held_out_mse <= limit

    return stop


def unbeaten(trace: dict[str, Any]) -> bool:
    """The probe run ended no better than the per-feature mean on data with linear structure (PCA far better).

    Not a finding by itself: a slow starter is still on its way down from
    above the mean when the short run ends. :func:`confirm_unbeaten` asks a
    longer run.
    """
    b = trace["baselines"]
    final, mean, pca = b.get("final"), b.get("mean"), b.get("pca")
    if not all_finite([final, mean]) or mean <= 0 or _beats_mean_in_own_units(trace):
        return False
    if pca is None:
        # No PCA bar (a code as wide as the input): a model that has not clearly reached even the mean.
        # Round 30: a denoiser whose corruption replaced 90% of the pixels ended the probe run at 1.15x the
        # mean's error, still creeping down; such a code could copy its input, so the mean is a low bar.
        return final > UNBEATEN_WIDE * mean
    return all_finite([pca]) and final >= (1 - MEAN_MARGIN) * mean and pca < (1 - STRUCTURE_GAIN) * mean


# The note's words when the longer run still ended above the mean: read by the rate checks that replace it.
NOT_SHOWN = "not shown to leave the mean"


def confirm_unbeaten(
    ctx: Context, trace: dict[str, Any], found: list[Finding], longer_run: Callable[[], dict[str, Any]],
) -> list[Finding]:
    """AE405 (and AE404) judged on the longer run when the probe run ended above the mean while still falling.

    A run BASELINE_CONFIRM_FACTOR times as long (ended early once it is
    clearly below the bars, :func:`left_baseline`) is judged by the same
    rules as the probe run: a model that settles no better than the mean
    there (Dropout(0.9) before the output: the output falls from its start
    toward the mean, then stays above it) is AE405; a slow starter that
    leaves the mean is nothing.
    """
    from .output_collapse import output_collapse

    n = len(trace["loss"])
    longer = longer_run()
    if longer["diverged"]:
        return found
    more = output_collapse(ctx, longer, None)
    more += [] if more else baseline(ctx, longer, rebound=True)
    final, mean = longer["baselines"].get("final"), trace["baselines"].get("mean")
    for f in more:
        f.message += (f" (Judged on {_longer(longer)}: the {n}-step probe run ended above the per-feature mean's "
                      f"error while still falling, and the longer run settles there.)")
        if f.code == "AE405" and all_finite([final, mean]) and final > SLOW_START_MAX * mean:
            _blame_slow_optimizer(ctx, f)
        f.evidence["confirm"] = {
            "steps": len(longer["loss"]),
            "final_mse": longer["baselines"].get("final"),
            "probe_run_final_mse": trace["baselines"].get("final"),
            "val_curve": {"steps": list(longer["val_curve"]["steps"]), "mse": list(longer["val_curve"].get("mse") or [])},
        }
    if longer.get("latent") and not any(f.code == "AE407" for f in found) and all_finite([final, mean]) and final > mean:
        # Round 38: a VAE on raw daily returns (std 0.01) against a unit-variance Gaussian reconstruction term.
        # The run 4x as long still ended above the mean's error with every code dimension at the prior (KL ~1e-4
        # nats): not a slow start but a posterior collapse. (A longer run above the mean alone is not enough, see
        # the module's notes: only with the code measured at the prior.)
        from .posterior import posterior_collapse

        code = posterior_collapse(ctx, longer, more, averaged=True)
        for f in code:
            f.message += (f" (Judged on {_longer(longer)}: the {n}-step probe run ended above the per-feature mean's "
                          f"error while still falling; the longer run ends at {final:.3g}, still above the mean's "
                          f"{mean:.3g}, with the code at the prior.)")
        more = code + more
    if not more:
        final = longer["baselines"].get("final")
        if all_finite([final, mean]) and final > mean:
            # Still above the mean after the longer run: falling, but no start was shown (round 50's be07 ended
            # the 4x run 1,200x above the mean's error and was called "a slow start").
            ctx.notes.append(
                f"The held-out MSE ended the {n}-step probe run above the per-feature mean's error, still falling; "
                f"{_longer(longer)} took it to {final:.4g}, still above the mean's {mean:.4g}: {NOT_SHOWN} (a slow "
                "starter gets there on a longer fit; a model that can't learn does not)."
            )
        else:
            ctx.notes.append(
                f"The held-out MSE ended the {n}-step probe run above the per-feature mean's error, still falling; "
                f"{_longer(longer)} took it to {final:.4g} (the mean reaches {trace['baselines']['mean']:.4g}): a slow start."
            )
    return found + more


def _blind_and_still_on_it(trace: dict[str, Any], longer: dict[str, Any], found: list[Finding]) -> bool:
    """AE405 blamed a blind loss, and the longer run's held-out MSE did not pass the bars :func:`left_baseline` draws."""
    if not any(f.code == "AE405" and f.evidence.get("blind_loss") for f in found):
        return False
    mse = [v for v in (longer["val_curve"].get("mse") or []) if all_finite([v])]
    passed = left_baseline(trace)
    return bool(mse) and passed is not None and not passed(len(longer["loss"]), mse[-1])


def _longer(longer: dict[str, Any]) -> str:
    """How the confirmation run is named in messages: its length, and whether it ended early."""
    return describe(longer, BASELINE_CONFIRM_FACTOR)


def confirm_baseline(
    ctx: Context, trace: dict[str, Any], found: list[Finding], longer_run: Callable[[], dict[str, Any]]
) -> list[Finding]:
    """Keep AE405 only when a run BASELINE_CONFIRM_FACTOR times as long (``longer_run()``) still sits on the baseline."""
    n = len(trace["loss"])
    longer = longer_run()
    still = [] if longer["diverged"] else baseline(ctx, longer)
    final = longer["baselines"].get("final")
    mean = trace["baselines"].get("mean")
    # A slow start has to show it: the longer run ends near or below the
    # mean's error. One that ends far above it (a linear output under BCE
    # drifting to 2.4x the mean on JAX) or diverges has not started at all.
    started = (not longer["diverged"] and isinstance(final, (int, float)) and isinstance(mean, (int, float))
               and math.isfinite(final) and final <= SLOW_START_MAX * mean)
    if not still and started and not longer["diverged"] and _blind_and_still_on_it(trace, longer, found):
        # A loss proven blind to the reconstruction (blind_loss) can't lead the model off the baseline: a longer run
        # whose MSE wanders in the loss's null space is no slow start (round 46's ap06 on torch, seed 0: the 4x run
        # ended at 1.229 against the mean's 1.036, still falling, and AE405 was dropped). Only a run that really
        # passes the bars clears it.
        still = [f for f in found if f.code == "AE405"]
    held = _held_by_penalty(ctx, trace, longer, added=False) if not still and started else None
    on_output = _penalty_on_output(ctx, trace)
    if held is None and not still and started and on_output is not None:
        # A penalty a layer adds on the output itself (round 53's bp09) is blamed as an activity penalty is: the
        # longer run may creep down while the penalty holds the reconstruction far from a linear code.
        held = _held_by_penalty(ctx, trace, longer, added=True)
        if held is not None:
            # Only the output's penalties: on_output is one of them, so the filter never leaves none.
            held["layers"] = {k: p for k, p in held["layers"].items() if _applied_to_output(ctx.model, k)}
    if held is not None:
        return [_blamed_on_penalty(ctx, f, held, longer) if f.code == "AE405" else f for f in found]
    weights = _held_by_weights(ctx, trace, longer) if not still and started else None
    if weights is not None:
        for f in found:
            if f.code == "AE405":
                f.message = (f"{_longer(longer).capitalize()} took the held-out MSE only to {final:.4g}, "
                             f"{final / trace['baselines']['pca']:.1f}x the error of a linear (PCA) code of the same "
                             f"width ({trace['baselines']['pca']:.4g}; the per-feature mean reaches {mean:.4g}).")
                _blamed_on_weights(ctx, f, weights)
        return found
    if not still and started:
        ctx.notes.append(
            f"The held-out MSE stayed near the baseline over the {n}-step probe run, but {_longer(longer)} "
            f"took it to {final:.4g} against the per-feature mean's {mean:.4g}: "
            + ("a slow start, so AE405 is not reported." if final <= mean else
               # Still above the mean but no longer settled there (round 53's bp09 ended the 4x run at 1.08x the
               # mean's error and was called "a slow start").
               f"still falling but still above the mean, {NOT_SHOWN}; AE405 is not reported as settled there.")
        )
        kept = [f for f in found if f.code != "AE405"]
        if any(f.code == "AE407" for f in kept):
            # AE407 may have leaned on the AE405 just retracted (an output
            # "no better than the mean"): judge the code again on the longer run.
            from .posterior import is_collapse, posterior_collapse

            if longer.get("latent") and not posterior_collapse(ctx, longer, []):
                # Only the measured collapse: a sampling layer's broken contract (round 55's bu08, a sample that
                # ignores z_mean) does not lean on AE405 and stands however the longer run ends.
                kept = [f for f in kept if not is_collapse(f)]
        return kept
    for f in found:
        if f.code == "AE405":
            f.message += (
                f" {_sentence(_longer(longer))} confirms it: "
                f"the held-out MSE ends at {final:.4g}."
            )
            if not started and not longer["diverged"]:
                _blame_slow_optimizer(ctx, f)
            weights = WP.dominating_penalty(ctx, trace)
            noise = trailing_noise(ctx.model)
            if noise and "optimizer" not in f.evidence:
                f.message += f" The cause: {noise_hint(noise)}."
                f.layer = noise[0].name
                f.line, f.source_line = G.locate(ctx, f.layer)
                f.fix, f.edit = NOISE_FIX, None
                f.evidence["noise_after_output"] = [ly.name for ly in noise]
            elif weights is not None and "optimizer" not in f.evidence:
                _blamed_on_weights(ctx, f, weights)
            elif on_output is not None and "optimizer" not in f.evidence:
                _blamed_on_output_penalty(ctx, f, *on_output)
            elif "optimizer" not in f.evidence and (code := _held_code(ctx, trace, longer, found)) is not None:
                _blamed_on_penalty(ctx, f, code, longer)
                for stalled in found:
                    if stalled.code == "AE402" and "optimizer" not in stalled.evidence:
                        stalled.evidence["held_by_penalty"] = True  # report.causes_of: shown under this AE405
            f.evidence["confirm"] = {
                "steps": len(longer["loss"]),
                "final_mse": final,
                "val_curve": {"steps": list(longer["val_curve"]["steps"]), "mse": list(longer["val_curve"].get("mse") or [])},
            }
    return found


def name_slow_steps(trace: dict[str, Any], longer: dict[str, Any] | None, found: list[Finding]) -> list[Finding]:
    """AE402 at the optimizer that :func:`_blame_slow_optimizer` named: its steps are too small to move the model.

    The catalogue's AE402 is the loss that barely moves because the learning rate is too low. Round 63's cn08 (the
    Keras blog's denoiser with ``optimizer="adadelta"``, 1e-3 since Keras 2.3) moved its held-out error 1.2 % over
    the probe run, over the stagnation bar's 1 %, at six times the mean's error; its AE405 named the optimizer. The
    rate is the fault, and the error far above the mean is what it costs, so AE405 is shown under this one.
    """
    slow = next((f for f in found if f.code == "AE405" and "optimizer" in f.evidence), None)
    if slow is None or longer is None:
        return found
    b, opt = trace["baselines"], slow.evidence["optimizer"]
    stagnant = next((f for f in found if f.code == "AE402" and "optimizer" not in f.evidence
                     and "advised_rate_run" not in f.evidence), None)
    if stagnant is not None:
        # The run moved under the stagnation bar: that AE402 stands, with the optimizer as its cause and fix.
        stagnant.message += (f" {opt['class']} at learning rate {opt['learning_rate']:.3g} takes steps too small to "
                             "move it: the learning rate is too low for this optimizer.")
        stagnant.fix, stagnant.edit = slow.fix, None
        stagnant.line, stagnant.source_line = slow.line, slow.source_line
        stagnant.evidence["optimizer"] = dict(opt)
        return found
    if any(f.code == "AE402" for f in found):
        return found
    start, end, final = b.get("start"), b.get("final"), longer["baselines"].get("final")
    steps, more = len(trace["loss"]), len(longer["loss"])
    moved = f" (from {start:.4g} to {end:.4g}, and to {final:.4g} in a run of {more} steps)" if all_finite(
        [start, end, final]) else ""
    return [*found, Finding(
        code="AE402", severity="warning", title="The optimizer's steps are too small to move the loss",
        message=(f"{opt['class']} at learning rate {opt['learning_rate']:.3g} barely moves the model: over {steps} probe "
                 f"steps the held-out error went down by {100 * (start - end) / start:.2g}%{moved}, still far above "
                 f"predicting the per-feature mean ({b['mean']:.4g}). The learning rate is too low for this optimizer."
                 if all_finite([start, end]) and start > 0 else
                 f"{opt['class']} at learning rate {opt['learning_rate']:.3g} barely moves the model: the held-out error "
                 "stays far above predicting the per-feature mean. The learning rate is too low for this optimizer."),
        line=slow.line, source_line=slow.source_line,
        evidence={"optimizer": dict(opt), "lr": opt["learning_rate"], "mse_start": start, "mse_end": end,
                  "longer_final_mse": final, "mean_baseline": b.get("mean"), "steps": steps},
        fix=slow.fix,
    )]


def _penalty_on_output(ctx: Context, trace: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """A layer that adds a penalty with ``add_loss`` to the model's output itself (the reconstruction), with its
    values before and after the run; None otherwise.

    Round 53's bp09: a KL sparsity layer (mean activation to rho = 0.05) called on the reconstruction instead of
    the hidden code, with the data's mean 0.19: the penalty pulls every output pixel's mean to 0.05 against the
    reconstruction loss, and the model settles on a dim average. A penalty on the code is judged by
    :func:`_held_by_penalty`; one on the output contradicts the target wherever the target is not what it asks.
    """
    added = {k: p for k, p in penalties(ctx, trace).items() if p["kind"] == "added"}
    return next(((name, pen) for name, pen in added.items() if _applied_to_output(ctx.model, name)), None)


def _applied_to_output(model: Any, name: str) -> bool:
    """Layer ``name`` reads the model's output tensor, or returns it (a pass-through ``return activations``)."""
    try:
        outs = {id(t) for t in kc.keras.tree.flatten(model.outputs)}
    except Exception:  # a subclassed model: no output tensors to compare
        return False
    layer = _layer_named(model, name)
    for node in getattr(layer, "_inbound_nodes", []) or []:
        tensors = [*(getattr(node, "input_tensors", []) or []), *(getattr(node, "output_tensors", []) or [])]
        if any(id(t) in outs for t in tensors):
            return True
    return False


def _blamed_on_output_penalty(ctx: Context, f: Finding, name: str, pen: dict[str, Any]) -> None:
    """AE405 named where the penalty on the output is applied: the layer's call in the cell."""
    layer = _layer_named(ctx.model, name)
    weight, value, _wline, _wtext = added_penalty_weight(ctx, pen.get("class"), layer)
    f.message += (f" The cause: {pen.get('class') or 'a layer'} '{name}' adds a penalty with add_loss on the model's "
                  f"output, the reconstruction itself, not on the code (it adds {pen['after']:.3g} to the loss after the run): "
                  "it pulls every reconstruction toward what the penalty asks for, against the "
                  "reconstruction loss, and the model settles on an average.")
    f.line, f.source_line = G.locate(ctx, name)
    f.layer = name
    code = _code_variable(ctx)
    f.fix = ("# apply the penalty to the code (the narrowest layer's output), not to the reconstruction:\n"
             f"{code} = {pen.get('class') or 'PenaltyLayer'}(...)({code})")
    f.edit = None
    f.evidence["penalty_on_output"] = {"layer": name, "class": pen.get("class"), "before": pen["before"],
                                       "after": pen["after"], **({"weight": value} if weight else {})}


def _code_variable(ctx: Context) -> str:
    """The name the cell gives the code's tensor (its narrowest layer's output), else ``code``."""
    node = getattr(ctx.graph, "code_node", None)
    name = getattr(node, "variable", None) or next(
        (c.variable for c in ctx.calls if node is not None and c.layer_name == node.name and c.variable), None)
    return str(name) if name else "code"


def penalty_unbeaten(ctx: Context, trace: dict[str, Any]) -> bool:
    """A model with a penalty on its code ends the probe run near the mean's error where a linear code does far better.

    Round 31: a decorrelation penalty added with ``add_loss`` at weight 10 (j08) and an L1 activity
    penalty of 1e-2 (round 26's z04) end the probe run at 0.98-1.0x the mean's error, still creeping down,
    with PCA of the code's width at 0.16-0.26x: neither on the mean by AE405's 2 % margin, nor settled. The
    longer run tells a slow start from a code the penalty holds (:func:`confirm_penalty`).
    """
    b = trace["baselines"]
    final, mean, pca = b.get("final"), b.get("mean"), b.get("pca")
    if not all_finite([final, mean, pca]) or mean <= 0 or not 0 < pca <= PENALTY_PCA_GAIN * mean:
        return False
    return final >= PENALTY_NEAR_MEAN * mean and (bool(penalties(ctx, trace)) or WP.weight_penalties(ctx) is not None)


def confirm_penalty(
    ctx: Context, trace: dict[str, Any], found: list[Finding], longer_run: Callable[[], dict[str, Any]],
) -> list[Finding]:
    """AE405 at the penalty when the longer run still ends PENALTY_HELD times the PCA code's error or more.

    Units of the code that the run killed (AE304 blaming the rate) are the penalty's doing then: a dead code
    pays no penalty. They are folded into the finding instead of a learning-rate fault of their own.
    """
    n = len(trace["loss"])
    longer = longer_run()
    held = None if longer["diverged"] else _held_by_penalty(ctx, trace, longer)
    end, mean = longer["baselines"].get("final"), trace["baselines"].get("mean")
    if held is not None and not (all_finite([end, mean]) and end >= PENALTY_STILL_NEAR * mean):
        held = None  # it left the mean on the longer run (a VQ-VAE's codebook losses at 0.59x): learning, not held
    near = all_finite([end, mean]) and end >= PENALTY_STILL_NEAR * mean
    weights = _held_by_weights(ctx, trace, longer) if held is None and near and not longer["diverged"] else None
    if weights is not None:
        # l2(0.1) on every layer (round 31's i04): the same verdict, named where the weight penalty is written.
        f = Finding(code="AE405", severity="warning", title="Worse than a trivial baseline",
                    message=(f"{_longer(longer).capitalize()} took the held-out MSE only to {end:.4g}, {end / mean:.2f}x "
                             f"the per-feature mean's error ({mean:.4g}; a linear (PCA) code of the same width reaches "
                             f"{trace['baselines']['pca']:.4g})."))
        _blamed_on_weights(ctx, f, weights)
        return [*found, f]
    if held is None:
        if not longer["diverged"]:
            ctx.notes.append(
                f"The held-out MSE ended the {n}-step probe run near the per-feature mean's error on a model with a "
                f"penalty on its code; {_longer(longer)} took it to {longer['baselines'].get('final'):.4g}: a slow "
                "start, not a code the penalty holds."
            )
        return found
    killed = [f for f in found if f.code == "AE304" and f.evidence.get("lr") is not None]
    f = Finding(code="AE405", severity="warning", title="Worse than a trivial baseline", message="")
    f = _blamed_on_penalty(ctx, f, held, longer)
    if killed:
        dead = {k: v for x in killed for k, v in (x.evidence.get("dead_share") or {}).items()}
        f.message += (" The run also killed " + ", ".join(f"{share:.0%} of {name}'s units" for name, share in dead.items())
                      + ": a code that outputs zero pays no penalty, so the steps drove it there (not the learning rate).")
        f.evidence["dead_share"] = dead
    return [x for x in found if x not in killed] + [f]


def _held_by_penalty(
    ctx: Context, trace: dict[str, Any], longer: dict[str, Any], *, added: bool = True
) -> dict[str, Any] | None:
    """A penalty on the code is holding the model far from a linear code after the longer run, else None.

    Round 19: ``l1(1e-2)`` on a sparse autoencoder's 32-unit code. The
    longer run left the mean (0.6x its error), so it read as a slow start;
    but a PCA code of the same width reaches 0.03x, and with ``l1(1e-5)``
    the model reaches 0.09x. A healthy slow starter heads for the linear
    code; one held at PENALTY_HELD times its error by a penalty that
    charges every nonzero code value is not starting slowly. Round 31: the
    same for a penalty a layer adds with ``add_loss`` (``added``; only where
    nothing else was found: an AE405 confirmed on its own keeps to activity
    regularizers, so an unrelated ``add_loss`` term is not blamed).
    """
    pens = {k: p for k, p in penalties(ctx, trace).items() if added or p["kind"] == "activity"}
    pens = {k: p for k, p in pens.items() if p["kind"] != "activity" or _favours_zero(ctx.model, k)}
    b = trace["baselines"]
    pca, mean, final = b.get("pca"), b.get("mean"), longer["baselines"].get("final")
    if not pens or not all_finite([pca, mean, final]) or not 0 < pca <= PENALTY_PCA_GAIN * mean:
        return None
    if final < PENALTY_HELD * pca:
        return None
    return {"layers": pens, "final_mse": final, "pca": pca, "mean": mean, "ratio_to_pca": final / pca}


# _favours_zero: the activity regularizer is called on this many rows of a zero code and of a code at TARGET_ACTIVITY.
_PROBE_ROWS = 8
TARGET_ACTIVITY = 0.1


def _held_code(
    ctx: Context, trace: dict[str, Any], longer: dict[str, Any], found: list[Finding]
) -> dict[str, Any] | None:
    """A penalty on the code (an activity regularizer or an ``add_loss`` term on a hidden layer) holds a confirmed
    AE405 far from a linear code, and nothing else found explains it, else None.

    Round 63's co10 (Ng's KL sparsity summed over 64 sigmoid units at beta=3, beside a mean MSE): the cell's own
    fit had already pinned every unit's mean activity at rho, so the penalty's value was small when the probe
    started, the run stayed on the mean and AE405 was confirmed; the penalty was never named. With a cause of
    AE405 found (other than the stalled loss it shares with this one) the penalty is not blamed: a VAE's KL term,
    or a harmless penalty beside a real fault, stays out of it.
    """
    from ..report import CAUSES

    others = set(CAUSES["AE405"]) - {"AE402"}
    if longer["diverged"] or any(f.code in others and f.severity in ("warning", "error")
                                 for f in [*ctx.found, *found]):
        return None
    held = _held_by_penalty(ctx, trace, longer, added=True)
    if held is None:
        return None
    held["layers"] = {k: p for k, p in held["layers"].items() if not _applied_to_output(ctx.model, k)}
    return held if held["layers"] else None


def _favours_zero(model: Any, name: str) -> bool:
    """The activity regularizer charges a zero code no more than a code active at TARGET_ACTIVITY: it pulls the code
    toward zero (L1, L2), so a strong one can hold it there. A sparsity *target* (Geron's and Ng's KL divergence to
    a mean activation rho) charges a zero code most: it holds the mean activity at rho, never at zero (round 39:
    ``KLDivergenceRegularizer(0.05, target=0.1)`` under SGD(0.5, momentum), a slow starter blamed on it)."""
    layer = _layer_named(model, name)
    reg = getattr(layer, "activity_regularizer", None)
    units = getattr(layer, "units", None) or getattr(layer, "filters", None) or 8
    if reg is None:
        return True
    try:
        ops = kc.keras.ops
        zero = float(kc.to_numpy(reg(ops.zeros((_PROBE_ROWS, int(units))))))
        active = float(kc.to_numpy(reg(ops.full((_PROBE_ROWS, int(units)), TARGET_ACTIVITY))))
    except Exception:  # a regularizer that can't be called on a plain code: read as one that favours zero
        return True
    return not (np.isfinite(zero) and np.isfinite(active)) or zero <= active


def _held_by_weights(ctx: Context, trace: dict[str, Any], longer: dict[str, Any]) -> dict[str, Any] | None:
    """A weight penalty that outweighs the reconstruction is holding the model far from a linear code after
    the longer run (as :func:`_held_by_penalty` for activity penalties), else None.

    ``l2(0.05)`` on every layer of a dense autoencoder: on JAX the longer run
    leaves the mean (0.77x its error), which reads as a slow start, but PCA
    of the same width reaches 0.07x and ``l2(1e-4)`` takes the model to 0.08x.
    """
    b = trace["baselines"]
    pca, mean, final = b.get("pca"), b.get("mean"), longer["baselines"].get("final")
    if not all_finite([pca, mean, final]) or not 0 < pca <= PENALTY_PCA_GAIN * mean or final < PENALTY_HELD * pca:
        return None
    return WP.dominating_penalty(ctx, trace)


def _blamed_on_penalty(ctx: Context, f: Finding, held: dict[str, Any], longer: dict[str, Any]) -> Finding:
    """AE405 named at the penalty: it, not a slow start, holds the reconstruction back."""
    from . import gradients as G

    name, pen = next(iter(held["layers"].items()))
    f.message = (f"{_longer(longer).capitalize()} took the held-out MSE only to {held['final_mse']:.4g}, "
                 f"{held['ratio_to_pca']:.1f}x the error of a linear (PCA) code of the same width "
                 f"({held['pca']:.4g}; the per-feature mean reaches {held['mean']:.4g}). ")
    f.layer = name
    f.edit = None
    f.evidence["held_by_penalty"] = held
    if pen["kind"] == "activity":
        which = ", ".join(f"{layer}'s {p['as_written']}" for layer, p in held["layers"].items() if p["kind"] == "activity")
        f.message += (f"The loss includes an activity regularizer ({which}) that charges every nonzero code value: "
                      "strong enough, it holds the code near zero, and the reconstruction stays a blur of averages "
                      "instead of improving.")
        f.line, f.source_line = keyword_line(ctx, G.locate(ctx, name)[0], "activity_regularizer")
        f.fix = ("# a sparsity penalty far below the reconstruction loss (about 1e-5 per unit for L1):\n"
                 "activity_regularizer=keras.regularizers.l1(1e-5)")
        return f
    if _applied_to_output(ctx.model, name):
        f.message = f.message.rstrip()
        _blamed_on_output_penalty(ctx, f, name, pen)
        return f
    layer = _layer_named(ctx.model, name)
    weight, value, line, text = added_penalty_weight(ctx, pen.get("class"), layer)
    how = ("the optimizer lowers the penalty by flattening what it measures" if pen["after"] <= pen["before"] else
           # co10: the cell's own fit had already pinned the code where the penalty is cheapest; it stays there.
           "the code stays pinned where the penalty is cheapest")
    f.message += (f"The loss includes a penalty that {pen.get('class')} '{name}' adds with add_loss; the run took it "
                  f"from {pen['before']:.4g} to {pen['after']:.4g}: {how}, and the reconstruction stays a blur of "
                  "averages instead of improving."
                  + (f" Its weight, `{weight}` = {value:.4g}, is too strong beside the reconstruction." if weight else ""))
    if line is not None:
        f.line, f.source_line = line, text
    else:
        f.line, f.source_line = G.locate(ctx, name)
    f.fix = weight_fix(weight, value)
    return f


def blame_dominant_penalty(ctx: Context, trace: dict[str, Any], found: list[Finding]) -> list[Finding]:
    """AE405 named at the weight of a penalty a layer adds with ``add_loss`` that was most of the first step's loss.

    Round 84's ia06 (a contractive encoder adding ``LAMBDA * ||dh/dx||^2`` with ``LAMBDA = 100``): the cheapest way
    to lower that term is to saturate the sigmoid code (``h * (1 - h)`` goes to 0). The run saturated 79% of the
    code's units and ended on the mean's error; AE405 hung under the saturation and named the model's line,
    where the weight is what a fix changes. An AE405 already named at a penalty keeps its place.
    """
    added = dominant_added_penalty(ctx, trace)
    if added is None or _applied_to_output(ctx.model, added["layer"]):
        return found
    for f in found:
        if (f.code != "AE405" or f.severity not in ("warning", "error")
                or any(k in f.evidence for k in ("held_by_penalty", "weight_penalty", "penalty_on_output"))):
            continue
        f.message += (f" The cause: {added['class'] or 'a layer'} '{added['layer']}' adds a penalty with add_loss that "
                      f"was {added['share']:.0%} of the loss at the first step (the run took it from {added['before']:.4g} "
                      f"to {added['after']:.4g}): the optimizer spends its steps on the penalty, which it lowers by "
                      "flattening or saturating the code, not on the reconstruction."
                      + (f" Its weight, `{added['weight']}` = {added['value']:.4g}, is too strong." if added["weight"] else ""))
        f.line, f.source_line, f.layer, f.edit = added["line"], added["text"], added["layer"], None
        f.fix = weight_fix(added["weight"], added["value"])
        f.evidence["added_penalty"] = {k: v for k, v in added.items() if k not in ("line", "text")}
    return found


def _layer_named(model: Any, name: str) -> Any:
    try:
        return next((ly for ly in model._flatten_layers(include_self=False) if ly.name == name), None)
    except Exception:  # not a Keras 3 model: no layer to read the weight from
        return None


def _blamed_on_weights(ctx: Context, f: Finding, weights: dict[str, Any]) -> None:
    """AE405 named where the weight penalty is written: it outweighs the reconstruction (checks/weight_penalty.py)."""
    f.message += f" The cause: {WP.describe(weights)}."
    where = WP.heaviest(weights)
    f.line, f.source_line = WP.penalty_line(ctx, where)
    f.layer = where
    f.fix = WP.FIX
    f.edit = None
    f.evidence["weight_penalty"] = weights


def _blame_slow_optimizer(ctx: Context, f: Finding) -> None:
    """Name a slow optimizer as the likely cause of a model that has not left its start on the longer run.

    SGD without momentum at its default 0.01 moves an autoencoder's weights
    far more slowly than Adam (round 17: a Conv1D ECG autoencoder at 1.6x
    the mean after 25 epochs of SGD, 0.02x with Adam(1e-3)). Adadelta's
    default learning rate is 0.001 since Keras 2.3 (it was 1.0, which the
    old Keras blog's ``optimizer='adadelta'`` relied on); at 0.001 its steps
    are a few millionths (round 18: a denoiser at 2.5x the mean).
    """
    opt = getattr(ctx.model, "optimizer", None)
    kind = type(opt).__name__
    try:
        lr = float(np.asarray(opt.learning_rate))
    except Exception:
        lr = float("nan")
    if kind == "SGD" and not float(getattr(opt, "momentum", 0.0) or 0.0) > 0:
        f.message += (f" The model trains with plain SGD (learning rate {lr:.3g}, no momentum), which moves it so slowly "
                      "that it has not reached even the mean's error; adaptive optimizers rescale each step.")
        f.fix = "optimizer = keras.optimizers.Adam(learning_rate=1e-3)  # instead of plain SGD"
        f.evidence["optimizer"] = {"class": "SGD", "learning_rate": lr, "momentum": 0.0}
    elif kind == "Adadelta" and lr < ADADELTA_SLOW:
        f.message += (f" The model trains with Adadelta at learning rate {lr:.3g}: Keras' default since 2.3 is 0.001 "
                      "(it was 1.0, which older tutorials' optimizer='adadelta' relied on), and at that rate "
                      "Adadelta's steps are so small that the model has not reached even the mean's error.")
        f.fix = ("optimizer = keras.optimizers.Adam(learning_rate=1e-3)  "
                 "# or keras.optimizers.Adadelta(learning_rate=1.0), the old default")
        f.evidence["optimizer"] = {"class": "Adadelta", "learning_rate": lr}
    else:
        return
    f.line, f.source_line = optimizer_line(ctx)


def explained_unbeaten(trace: dict[str, Any], cause: Finding) -> list[Finding]:
    """AE405 as the probe run measured it, shown under ``cause``: the run ended far above the mean's error.

    An unbeaten probe run is confirmed on a longer run only when nothing
    explains it; with an error already found that does (round 31's j02: a
    k-sparse layer that reduced over the batch ended the run at 2.8x the
    mean's error), the measurement is still the evidence of what that error
    costs, and it is reported as it stands, not extrapolated.
    """
    b = trace["baselines"]
    final, mean, pca = b.get("final"), b.get("mean"), b.get("pca")
    if not all_finite([final, mean]) or mean <= 0:
        return []
    if final >= SLOW_START_MAX * mean:
        what = f"{final / mean:.1f}x the error of predicting the per-feature mean ({mean:.4g})"
    elif far_from_pca(trace):
        # Round 43's ae04: a causal conv stack whose code saw 7 of 64 steps (AE111) ended the run at 0.83x the
        # mean's error, 146x a linear code's of the same width, and still creeping down: below the mean, so the
        # cost of the error was not reported at all.
        what = (f"{final / pca:.0f}x the error of a linear (PCA) code of the same width ({pca:.4g}; the per-feature "
                f"mean reaches {mean:.4g})")
    else:
        return []
    return [Finding(
        code="AE405", severity="warning", title="Worse than a trivial baseline",
        message=(f"After the probe run the reconstruction error (MSE on held-out samples) is {final:.4g}, {what}. "
                 f"{cause.code} above explains it; the run was not extended to see whether the model would get "
                 "closer later: fix that first."),
        line=cause.line, layer=cause.layer, source_line=cause.source_line,
        evidence={"final_mse": final, "mean_baseline": mean, "pca_baseline": pca,
                  "confirm": {"skipped": f"explained by {cause.code}"}},
        fix="# the fault above is the cause: fix it, then check again",
    )]


def far_from_pca(trace: dict[str, Any]) -> bool:
    """The probe run ended below the mean's error but less than PCA_PROGRESS of the way from the mean to a
    linear (PCA) code of the same width, on data with linear structure (PCA clearly better than the mean).

    Not a finding by itself (a slow starter is on its way): :func:`explained_unbeaten` reports it only under
    an error that explains it.
    """
    b = trace["baselines"]
    final, mean, pca = b.get("final"), b.get("mean"), b.get("pca")
    if not all_finite([final, mean, pca]) or mean <= 0 or _beats_mean_in_own_units(trace):
        return False
    if not pca < (1 - STRUCTURE_GAIN) * mean:
        return False
    return bool((mean - final) / (mean - pca) < PCA_PROGRESS)


def unconfirmed_baseline(found: list[Finding], cause: str) -> list[Finding]:
    """AE405 as the probe run measured it, not confirmed on a longer run because ``cause`` already explains it.

    The message says so: the finding is a fact about the probe run (the
    catalogue's "after the probe run"), and a longer run might still leave
    the mean.
    """
    for f in found:
        if f.code == "AE405":
            f.message += (f" Not confirmed on a longer run: {cause} above already explains it; "
                          "fix that first, and the model may then leave the mean.")
            f.evidence["confirm"] = {"skipped": f"explained by {cause}"}
    return found


# -- AE405 -------------------------------------------------------------------
# confirm_unbeaten: a longer run whose held-out MSE ends at least this much
# above its own best, no better than the mean, went back up and stayed: not
# a slow start (Dropout(0.9) before the output: down to 1.16x the mean, back
# up to 1.58x, then creeping 1% per third of the run).
REBOUND = 1.2


def baseline(ctx: Context, tr: dict[str, Any], *, rebound: bool = False) -> list[Finding]:
    """AE405: the held-out MSE is no better than the mean (or far from PCA) and no longer improving.

    ``rebound``: also when the curve ended REBOUND times above its own best
    (judging a longer run, where a rise that stays is no slow start).
    """
    b = tr["baselines"]
    final, mean, pca = b.get("final"), b.get("mean"), b.get("pca")
    if not all_finite([final, mean]) or mean <= 0:
        return []
    if _beats_mean_in_own_units(tr):
        return []
    # Plateau: over the last third of the run the held-out MSE improved by
    # less than PLATEAU_REL (epochs can be a handful of steps on small data).
    steps = list(tr["val_curve"]["steps"])
    mse = list(tr["val_curve"].get("mse") or [])
    if len(mse) < 3 or len(mse) != len(steps):
        return []
    k = max(i for i, st in enumerate(steps) if st <= steps[-1] * 2 / 3)
    prev = mse[k]
    if not all_finite([prev]):
        return []
    structured = pca is not None and all_finite([pca]) and pca < (1 - STRUCTURE_GAIN) * mean
    progress = (mean - final) / (mean - pca) if structured else None
    no_better = final >= (1 - MEAN_MARGIN) * mean and (structured or pca is None)
    far = structured and progress is not None and progress < PCA_PROGRESS
    if not (no_better or far):
        return []
    # Stuck: the last third improved < PLATEAU_REL, or at its pace reaching
    # the bar would take more than PACE_RUNS more runs of this length, or
    # (no better than the mean) the curve is settling on the mean: its
    # extrapolated limit is at or above the bar, though it still creeps down.
    target = (1 - MEAN_MARGIN) * mean if no_better else mean - PCA_PROGRESS * (mean - pca)
    gain = prev - final
    plateau = gain < PLATEAU_REL * prev
    slow = gain <= 0 or (final - target) / gain > 3 * PACE_RUNS
    limit = settling_limit(steps, mse)
    settling = (no_better and limit is not None and limit >= (1 - SETTLE_MARGIN) * mean
                and not _follows_input(tr))
    finite = [v for v in mse if all_finite([v])]
    best = min(finite) if finite else None
    rose = rebound and no_better and best is not None and best > 0 and final >= REBOUND * best
    if not (plateau or slow or settling or rose):
        return []
    zero = b.get("zero")
    if no_better:
        what = f"no better than predicting the per-feature mean of the data ({mean:.4g})"
        if all_finite([zero]) and zero > mean and abs(final - zero) <= 0.15 * zero:
            what += f"; it sits near an all-zero output ({zero:.4g}), the trivial solution for mostly-zero data."
            # Advise cross-entropy only to a model that does not train with it already (round 45's aj08 did).
            if "crossentropy" in str(tr.get("loss_name") or "").lower():
                what += " It may escape with much longer training, or a higher learning rate gets there sooner"
            else:
                what += (" It may escape with much longer training, but a loss that rewards the bright pixels"
                         " (binary_crossentropy for [0, 1] images) or a higher learning rate gets there sooner")
    else:
        what = (
            f"far from what a linear code of the same width reaches: PCA with {b['pca_width']} components "
            f"gets {pca:.4g}, the per-feature mean {mean:.4g}"
        )
    # A verdict on the whole model: located where the cell binds it (or at a loss that can't see a reconstruction).
    line, text = assigned_at(ctx, ctx.model_name)
    blind = blind_loss(tr)
    if blind is not None:

        at = loss_return_line(ctx, str(tr.get("loss_name")))
        line, text = at if at[0] is not None else (line, text)
        if "scrambled" in blind:
            saw = (f"it charges each sample's own values in a scrambled order (no reconstruction at all) "
                   f"{blind['scrambled']:.3g}, against {blind['mean']:.3g} for the per-feature mean")
        else:
            saw = (f"it charges outputs that miss every value by half a standard deviation in random directions "
                   f"{blind['jittered']:.3g}, against {blind['shifted']:.3g} when they all miss the same way")
        what += (f". The loss `{tr.get('loss_name')}` is the cause: {saw}, so it reads only per-sample statistics "
                 "(a mean, a sum) and the model lowers it without reconstructing: square the error before averaging "
                 "it (the mean of the squared error)")
    found = [
        Finding(
            code="AE405",
            severity="warning",
            title="Worse than a trivial baseline",
            line=line,
            source_line=text,
            message=(
                f"After the probe run the reconstruction error (MSE on held-out samples) is {final:.4g} and "
                + (
                    f"settling there (extrapolating the last half of the curve, it approaches {limit:.4g}): "
                    if settling and not plateau
                    else f"back up from its best {best:.4g} and staying there: "
                    if rose and not (plateau or slow or settling)
                    else "no longer improving: "
                )
                + f"{what}."
            ),
            evidence={
                "final_mse": final,
                "mean_baseline": mean,
                "pca_baseline": pca,
                "pca_width": b.get("pca_width"),
                "zero_output": zero,
                "progress_to_pca": progress,
                "extrapolated_mse": limit,
                "best_mse": best,
                "settling": bool(settling),
            },
            fix=(
                "# Check the other findings first (activations vs data range, learning rate, dead units).\n"
                "# A plain ReLU autoencoder with a linear/sigmoid output matching the data range and\n"
                "# Adam(1e-3) should beat the mean quickly."
            ),
        )
    ]
    if blind is not None:
        found[0].evidence["blind_loss"] = blind
        found[0].fix = ("return ops.mean(ops.square(y_true - y_pred), axis=-1)  # the error squared per value, then "
                        "averaged: lowest only when every value is reconstructed")
    return found


# The losses whose output is the reconstruction itself, so its MSE against the target is a fair yardstick.
STANDARD_LOSSES = ("mse", "mae", "huber", "bce", "cce", "scce", "kld", "add_loss")


def hand_written_units(tr: dict[str, Any]) -> dict[str, Any] | None:
    """The probe run's baselines in its loss's own units (``baselines.loss_units``) when the compiled loss is
    hand-written (not one of Keras' own, whose units the MSE baselines already speak); None otherwise."""
    name = tr.get("loss_name")
    if not isinstance(name, str) or kc.canonical_name(name) in STANDARD_LOSSES:
        return None
    return (tr.get("baselines") or {}).get("loss_units") or {}


def _beats_mean_in_own_units(tr: dict[str, Any]) -> bool:
    """A hand-written loss that its model beats the mean on, in that loss's own units.

    Such a loss may read the output as something other than the target's values (round 25: one-hot
    blocks read as logits by a softmax cross-entropy inside the loss), so the output's MSE against the
    target says nothing about it; the loss itself does.
    """
    units = hand_written_units(tr)
    if units is None:
        return False
    own = list(tr.get("val_loss") or [])
    mean, exact = units.get("mean"), units.get("target")
    if not own or not all_finite([own[-1], mean, exact]) or mean <= 0:
        return False
    # Only a loss that is lowest at the target itself (an inverted one is AE108, checks/loss_direction.py), and
    # one that can see a reconstruction at all (blind_loss).
    return exact < mean and own[-1] < (1 - MEAN_MARGIN) * mean and blind_loss(tr) is None


# blind_loss: the loss charges each sample's own values, scrambled, at most this share of the mean's loss.
BLIND_SHARE = 0.5


def blind_loss(tr: dict[str, Any]) -> dict[str, float] | None:
    """``{"scrambled", "mean", "target"}`` in the loss's own units when a hand-written loss scores each sample's
    values in a scrambled order (no reconstruction at all) far below the per-feature mean: it reads only
    per-sample statistics, so the model can lower it without reconstructing anything. None otherwise.

    Round 38: a ``keras.losses.Loss`` subclass returning ``ops.square(ops.mean(y_true - y_pred, axis=-1))``
    fits each image's mean brightness; the loss fell to 0.0007 while the MSE ended at 2.9x the mean's.
    """
    units = hand_written_units(tr)
    if units is None:
        return None
    scrambled, mean, exact = units.get("scrambled"), units.get("mean"), units.get("target")
    if not all_finite([scrambled, mean, exact]) or mean <= exact:
        return None
    if scrambled - exact <= BLIND_SHARE * (mean - exact):
        return {"scrambled": float(scrambled), "mean": float(mean), "target": float(exact)}
    # Round 46: weights per feature make a scrambled sample cost something even to a loss that only reads each
    # sample's (weighted) mean error. Misses of half a std in random directions against the same misses all one
    # way tell it regardless: a per-element loss charges both alike.
    jittered = units.get("jittered")
    shifted = units.get("shifted") or {}
    lifts = [v[0] for v in (shifted.get("up"), shifted.get("down")) if v and all_finite([v[0]])]
    if not lifts or not all_finite([jittered]):
        return None
    lifted = float(np.mean(lifts))
    if lifted <= exact or jittered - exact > BLIND_SHARE * (lifted - exact):
        return None
    return {"jittered": float(jittered), "shifted": lifted, "mean": float(mean), "target": float(exact)}


def _follows_input(tr: dict[str, Any]) -> bool:
    """The outputs vary with the input at least SETTLE_SPREAD as much as the targets do (not the mean's flat output)."""
    ratio = (tr.get("per_position") or {}).get("spread_ratio")
    if ratio is None:
        out_s, in_s = tr.get("output_spread"), tr.get("input_spread")
        if not all_finite([out_s, in_s]) or not in_s or in_s <= 0:
            return False
        ratio = out_s / in_s
    return all_finite([ratio]) and ratio >= SETTLE_SPREAD


def settling_limit(steps: list[int], values: list[float]) -> float | None:
    """Where the last half of a falling curve is heading, or None when it has no limit in sight.

    The points at or after half the run are cut into three equal windows;
    their means a, b, c give the drops d1 = a - b and d2 = b - c. A curve
    that stopped falling (d2 <= 0 after a fall, or no fall at all) is at its
    limit, c. One that falls by shrinking drops (0 < d2 < d1) approaches
    c - d2 * r / (1 - r) with r = d2 / d1, the sum of the geometric series of
    the drops still to come (an exponential approach sampled at equal steps).
    Steady or growing drops (a slow starter) give None.
    """
    pts = [v for st, v in zip(steps, values, strict=False) if st >= steps[-1] / 2] if steps else []
    if len(pts) < SETTLE_MIN_POINTS or not all_finite(pts):
        return None
    k = len(pts) // 3
    a, b, c = (float(np.mean(w)) for w in (pts[-3 * k : -2 * k], pts[-2 * k : -k], pts[-k:]))
    d1, d2 = a - b, b - c
    if d2 <= 0:
        return c
    if d1 <= d2:
        return None
    r = d2 / d1
    return c - d2 * r / (1 - r)

