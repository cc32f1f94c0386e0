"""AE401-AE403: the probe run's loss curve diverged, barely moved, or oscillated.

The judges read ``traces["training"]`` only (``checks/training.py`` runs the probe).
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from ..context import Context
from ..numeric import all_finite
from ..report import Finding
from .locate import activity_regularizers
from .loss_sign import reversed_kl, subtracted_term
from .optimizer_source import capped_suggestion, opt_class, optimizer_line, rate_phrase

# AE401: the loss "ends clearly above where it started": the final
# validation loss above this multiple of the initial one...
DIVERGE_END = 1.5
# (the last this many validation evaluations all above it)...
ENDS_ABOVE_POINTS = 2
# ...or, on the way, a step or validation loss above this multiple of the
# initial loss (a blow-up that Adam later "recovers" from is still one;
# AUTOTRAINER flags any loss >= 1e3 in absolute terms).
DIVERGE_SPIKE = 10.0
# AE402: the validation MSE and loss both moved less than 1% over the whole
# run (TheDeepChecker: "drops < 5% per window"; ours is the whole run, so
# stricter). Healthy zoo models move >= 9% in the default run.
STAGNANT_REL = 0.01
# ...while the model is still no better than half the mean predictor's error
# (an already-trained model that has converged is not stagnant).
STAGNANT_GAP = 0.5
# AE403, on the validation curve (evaluated VAL_POINTS_PER_EPOCH times per
# epoch, so minibatch noise does not count): the rises add up to at least
# OSC_RATIO of the net decrease and to OSC_MIN_REL of the initial loss.
# Healthy zoo models measure rises <= 0.05 of the decrease and <= 2.2% of
# the initial loss.
OSC_RATIO = 0.3
OSC_MIN_REL = 0.05


# _transient: the curve had fallen below this share of its start before the spike, and came back within this
# factor of its best before it.
TRANSIENT_LEARNED = 0.8
TRANSIENT_BACK = 1.5


def _transient(curve: np.ndarray, start: float) -> bool:
    """A spike that was one point only, after which the curve went back below its start.

    Round 21: a relu LSTM sequence model (the machinelearningmastery recipe) under Adam(1e-3) jumps once
    from 0.3 to 11 and is back at 0.3 the next step; ``fit`` takes it to 0.07x the mean's error. A rate
    that diverges keeps the loss up for more than one point, or never brings it back below the start.
    """
    c = np.asarray(curve, dtype=np.float64)
    if not len(c) or not np.all(np.isfinite(c)):
        return False
    high = c > DIVERGE_SPIKE * start
    k = int(np.argmax(c))
    before, after = c[:k], c[k + 1:]
    if int(np.sum(high)) != 1 or not len(before) or not len(after):
        return False
    # It had learned before the spike (a first step that blows up, then sits at the mean, is a divergence) and
    # came back to about where it was.
    learned = float(np.min(before)) < TRANSIENT_LEARNED * start
    return learned and float(np.min(after)) < TRANSIENT_BACK * float(np.min(before))


# _pretrained_jolt: the probe run started at this share of the mean's loss or less (the cell trained the model).
PRETRAINED = 0.5


def _pretrained_jolt(tr: dict[str, Any], curve: np.ndarray, start: float) -> bool:
    """A training-loss spike of a model the cell had already trained, from the probes' fresh optimizer.

    Round 47 (as08): an inpainting conv autoencoder fit for two epochs in the cell starts the probe run at
    0.06x the mean's loss. The probes train with a new optimizer of the user's class (its state is not
    copied), and Adam's first steps move every weight by about the learning rate whatever its gradient:
    the training loss jumps 46x at step 1 and falls back, and the held-out loss, which never spiked, ends
    below its start. The held-out loss can jolt as well (round 66's cu07: 19x at step 10, then below its
    start); what tells it from a divergence is the same. ``fit`` continuing with its own optimizer state
    would not jolt; a rate that diverges does not bring the held-out loss below where a trained model began.
    """
    units = (tr.get("baselines") or {}).get("loss_units") or {}
    mean = units.get("mean")
    if not all_finite([mean]) or mean <= 0 or not len(curve) or not math.isfinite(float(curve[-1])):
        return False
    return start < PRETRAINED * mean and float(curve[-1]) < start


# _added_terms_spiked: the held-out reconstruction loss ended below this share of its start.
ADDED_SPIKE_LEARNED = 0.5


def _added_terms_spiked(tr: dict[str, Any], curve: np.ndarray, start: float) -> bool:
    """A training-loss spike that lives in the model's ``add_loss`` terms, not in its reconstruction.

    Round 28: keras.io's VQ-VAE adds a codebook and a commitment loss; while the codebook moves onto the
    encoder's outputs, the training loss (those terms included) rose from 0.24 to 11 and fell back, and the
    held-out loss, which is the compiled loss alone, fell the whole time, 0.23 -> 0.06. A learning rate that
    diverges shows in the reconstruction too: it never ends this far below its start with no point above it.
    """
    if not tr.get("adds_losses") or not len(curve) or not np.all(np.isfinite(curve)):
        return False
    return float(np.max(curve)) <= start and float(curve[-1]) < ADDED_SPIKE_LEARNED * start


# -- AE401 -------------------------------------------------------------------
def diverged(ctx: Context, tr: dict[str, Any], sugg: float | None) -> list[Finding]:
    """AE401: the loss became NaN/Inf, blew up, or ended clearly above where it started."""
    losses = np.asarray(tr["loss"], dtype=np.float64)
    curve = np.asarray(tr["val_curve"]["loss"], dtype=np.float64)
    start = float(tr["val_loss_before"])
    nonfinite = tr["diverged"] or not np.all(np.isfinite(losses)) or not np.all(np.isfinite(curve))
    if not math.isfinite(start) or start <= 0:
        # A held-out loss that is NaN from the start (a VAE taking sqrt(z_log_var)) is no reason to stay
        # silent about a loss that went NaN: judge it from the training steps' own start.
        first = float(losses[0]) if len(losses) and math.isfinite(losses[0]) and losses[0] > 0 else None
        if not nonfinite or (first is None and not tr["diverged"]):
            return []
        start = first if first is not None else 1.0
    final = float(curve[-1]) if len(curve) else start
    # Each curve against its own start: the training steps' loss is the
    # backend's (TensorFlow computes a sigmoid+BCE loss from the logits, far
    # above the clipped validation loss when the outputs saturate), so a
    # training loss is never compared with a validation one.
    val_peak = float(np.nanmax(curve)) if len(curve) and not np.all(np.isnan(curve)) else start
    # Ending above means staying above: the last ENDS_ABOVE_POINTS evaluations all are. One evaluation
    # that lands on a spike of an oscillating curve (0.99 -> 1.53 -> 0.66 -> 1.59 under RMSprop(0.02)) is
    # AE403's to judge, not a divergence.
    tail = curve[-ENDS_ABOVE_POINTS:] if len(curve) else np.asarray([start])
    ends_above = bool(np.all(np.isfinite(tail))) and float(np.min(tail)) > DIVERGE_END * start
    spiked_val = math.isfinite(val_peak) and val_peak > DIVERGE_SPIKE * start and not _transient(curve, start)
    blowup = _train_blowup(tr)
    spiked_train = blowup is not None
    if spiked_train and not spiked_val and not nonfinite and _added_terms_spiked(tr, curve, start):
        spiked_train = False
    if (spiked_train or spiked_val) and not nonfinite and not ends_above and _pretrained_jolt(tr, curve, start):
        # The held-out loss may jolt too (round 66's cu07: a masked LSTM the cell fit for 4 epochs went 19x up at
        # step 10 under the probes' fresh Adam, and was below its start by step 129).
        spiked_train = spiked_val = False
    if (spiked_train and not (spiked_val or nonfinite or ends_above) and _below_mean(tr, final)
            and _oscillation(tr) is not None and _rising_runs(curve, OSC_MIN_REL * start) >= 2):
        # The training loss blew up and came back, and the held-out loss never did: it went up and down and ended
        # about where it began, below the mean predictor's loss (round 71's dd09, RMSprop at 0.04: steps 0.16 ->
        # 1.8 -> 0.15, held-out 0.15 -> 0.28 -> 0.10 -> 0.28 -> 0.15, the mean's 0.30). Overshooting steps, but the
        # loss neither diverged nor ended above its start: AE403's to report, with the blow-up as its evidence.
        # Bumps 1000x above the mean's loss (round 69's cz03: a GRU the cell's RMSprop(0.5) had already wrecked)
        # are a divergence still, and so is one rise and a steady fall back (round 47's untrained twin of as08).
        spiked_train = False
    spiked = spiked_val or spiked_train
    peak, peak_from = (val_peak, start) if spiked_val or blowup is None or not spiked_train else blowup
    if not (nonfinite or ends_above or spiked):
        return []
    lr = tr["lr"]
    if nonfinite:
        bad = int(np.argmax(~np.isfinite(losses))) if not np.all(np.isfinite(losses)) else len(losses)
        what = f"the loss became NaN/Inf at step {bad} of {tr['steps_per_epoch'] * max(tr['epochs'], 1)}"
    elif spiked:
        what = f"the loss blew up to {peak:.3g} from {peak_from:.3g}"
    else:
        what = f"the validation loss ended at {final:.3g}, above where it started ({start:.3g})"
    advised = capped_suggestion(ctx, sugg)
    advice = (
        f"{lr:.3g} diverges; {rate_phrase(ctx, sugg)}."
        if sugg is not None and advised is not None and advised < lr
        else f"With learning rate {lr:.3g} the steps overshoot."
    )
    new_lr = advised if advised is not None and advised < lr else lr / 10
    fix = (
        f"optimizer = keras.optimizers.{opt_class(ctx)}(learning_rate={new_lr:.1g}, clipnorm=1.0)\n"
        "# and scale the data to about unit range if it is not (x / 255.0 or standardise)"
    )
    if nonfinite and bad == 0:
        # The first step's loss is computed at the initial weights, before any update: no rate explains it.
        g = next((f for f in ctx.found if f.code == "AE303" and f.evidence.get("before_any_step")), None)
        regs = activity_regularizers(ctx.model)
        advice = ("The first step's loss is computed at the initial weights, before any update, so the learning rate "
                  "is not the cause: a term of the loss is not finite there (a log, division or square root of 0, or "
                  "an overflow)"
                  + (f"; the gradient is NaN/Inf in {g.layer} (AE303)" if g is not None and g.layer else "")
                  + ("; the loss includes the activity_regularizer "
                     + ", ".join(f"{cls} of {name}" for name, cls in regs.items()) if regs else "")
                  + ".")
        fix = ("# make every loss term finite at the initial weights: guard each log, division and square root,\n"
               "# e.g. ops.log(ops.maximum(v, 1e-7)), and scale the data to about unit range")
    line, text = optimizer_line(ctx)
    sign = None if nonfinite and bad == 0 else subtracted_term(ctx.source)
    if sign is not None and ctx.cell_line(sign[0]) is not None:
        raw, term = sign
        line, text = ctx.cell_line(raw), ctx.line_text(raw)
        advice = (f"The loss subtracts `{term}` (line {line}): minimising the loss then maximises that term, so every "
                  "step pushes it up (a KL divergence grows without bound as z_mean and z_log_var do), whatever the "
                  "learning rate. The ELBO is maximised by minimising reconstruction + KL.")
        # As a comment: the line's names are locals of the train_step, which a code fix would turn into "...".
        fix = f"# line {line}: add the term instead of subtracting it\n# {_added(text or '', term)}"
    flipped = None if sign is not None or (nonfinite and bad == 0) else reversed_kl(ctx.source)
    if flipped is not None and ctx.cell_line(flipped[0]) is not None:
        raw, term = flipped
        line, text = ctx.cell_line(raw), ctx.line_text(raw)
        named = f"`{term}` " if term else ""
        advice = (f"The KL term {named}(line {line}) is minus the KL divergence as written: the KL of N(mu, exp(log_var)) "
                  "from N(0, 1) is -0.5 * sum(1 + log_var - mu^2 - exp(log_var)), never negative. Without the leading "
                  "minus, minimising the loss drives the term below zero without bound (log_var and mu grow), so the "
                  "loss falls below zero and ends in NaN, whatever the learning rate.")
        fix = f"# line {line}: negate the KL term\n# {_negated(text or '')}"
    return [
        Finding(
            code="AE401",
            severity="error",
            title="Loss diverged",
            message=f"In the probe run {what}. {advice}",
            line=line,
            source_line=text,
            evidence={
                "lr": lr,
                "suggested_lr": sugg,
                "loss_start": start,
                "loss_end": final,
                "loss_peak": peak,
                "nonfinite": bool(nonfinite),
                "before_any_step": bool(nonfinite and bad == 0),
                **({"subtracted_term": sign[1]} if sign is not None else {}),
                **({"reversed_kl": flipped[1] or True} if flipped is not None else {}),
            },
            fix=fix,
        )
    ]


def _negated(text: str) -> str:
    """``text`` (a cell line) with its KL factor ``0.5 *`` made ``-0.5 *`` where it has one."""
    out, n = re.subn(r"(?<![-\w.])0?\.5\s*\*", "-0.5 *", text.strip(), count=1)
    return out if n else text.strip() + "  # multiply the KL formula by -0.5"


def _added(text: str, term: str) -> str:
    """``text`` (a cell line) with ``- term`` made ``+ term``."""
    out = re.sub(r"-\s*(\w+\s*\*\s*)?" + re.escape(term), lambda m: "+ " + (m.group(1) or "") + term, text.strip(), count=1)
    return out.replace("add_loss(+ ", "add_loss(")


# -- AE402 -------------------------------------------------------------------
def stagnant(ctx: Context, tr: dict[str, Any], sugg: float | None) -> list[Finding]:
    """AE402: the validation loss and MSE barely moved while the model is no better than half the mean's error."""
    b = tr["baselines"]
    mse0, mse1 = b.get("start"), b.get("final")
    l0 = tr["val_loss_before"]
    l1 = tr["val_loss"][-1] if tr["val_loss"] else l0
    if not all_finite([mse0, mse1, l0, l1]) or mse0 <= 0 or l0 == 0:
        return []
    rel_mse = abs(mse0 - mse1) / mse0
    rel_loss = abs(l0 - l1) / abs(l0)
    if rel_mse >= STAGNANT_REL or rel_loss >= STAGNANT_REL or mse1 < STAGNANT_GAP * b["mean"]:
        return []
    lr = tr["lr"]
    steps = len(tr["loss"])
    cause = ""
    advised = capped_suggestion(ctx, sugg)
    generic_fix = ("# Check the gradient findings above (cut-off, vanishing or dead units), then try\n"
                   # Adam's usual range: 10x a low rate, never above 1e-2 (0.05 under SGD gave Adam(0.5) before).
                   f"optimizer = keras.optimizers.Adam(learning_rate={min(max(lr * 10, 1e-3), 1e-2):.1g})")
    if sugg is not None and advised is not None and advised > 3 * lr:
        cause = f" {lr:.3g} is too low; {rate_phrase(ctx, sugg)}."
        fix = f"optimizer = keras.optimizers.{opt_class(ctx)}(learning_rate={advised:.1g})"
    elif sugg is not None and advised is not None and advised < lr / 3:
        cause = f" {lr:.3g} is too high for this model; {rate_phrase(ctx, sugg)}."
        fix = f"optimizer = keras.optimizers.{opt_class(ctx)}(learning_rate={advised:.1g})"
    else:
        fix = generic_fix
    line, text = optimizer_line(ctx)
    return [
        Finding(
            code="AE402",
            severity="warning",
            title="Loss barely moves",
            message=(
                f"Over {steps} probe steps the validation loss went from {l0:.4g} to {l1:.4g} "
                f"({100 * rel_loss:.2g}%) and the reconstruction error from {mse0:.4g} to {mse1:.4g}, "
                f"while the per-feature mean already reaches {b['mean']:.4g}: the model is not learning.{cause}"
            ),
            line=line,
            source_line=text,
            evidence={
                "lr": lr,
                "suggested_lr": sugg,
                "val_loss_start": l0,
                "val_loss_end": l1,
                "mse_start": mse0,
                "mse_end": mse1,
                "mean_baseline": b["mean"],
                "steps": steps,
                # The rate the clause advises, checked by a run at that rate (rate_advice.py); the fix without it.
                **({"rate_advice": {"lr": advised, "text": cause, "fix": generic_fix}} if cause else {}),
            },
            fix=fix,
        )
    ]


# -- AE403 -------------------------------------------------------------------
def _oscillation(tr: dict[str, Any]) -> tuple[np.ndarray, float, float, float | None] | None:
    """``(curve judged, rises, net decrease, low before a one-point spike)`` when the validation curve's rises are
    large against its net decrease (AE403's measure), else None."""
    v = np.asarray(tr["val_curve"]["loss"], dtype=np.float64)
    if tr.get("has_batchnorm"):
        # BatchNorm's moving statistics are still settling early in a short
        # run, and the inference-mode validation loss jumps with them: judge
        # the last two thirds only.
        steps = tr["val_curve"]["steps"]
        v = v[next((i for i, st in enumerate(steps) if st >= steps[-1] / 3), 0) :]
    if len(v) < 5 or not np.all(np.isfinite(v)) or v[0] <= 0:
        return None
    # A one-point spike after learning (a relu LSTM's single exploding step) is one event, not an
    # up-and-down: it is left out of the rises, and what follows it is judged by a longer run (training.py).
    spike = _transient(v, float(v[0]))
    low_before = float(np.min(v[: int(np.argmax(v))])) if spike else None
    if spike:
        v = np.delete(v, int(np.argmax(v)))
    rises = float(np.sum(np.maximum(0.0, np.diff(v))))
    net = float(v[0] - v[-1])
    if rises < OSC_MIN_REL * v[0] or rises < OSC_RATIO * max(net, 0.0):
        return None
    return v, rises, net, low_before


def _rising_runs(curve: Any, min_rise: float) -> int:
    """How many times ``curve`` rises by at least ``min_rise`` between a low and the next high (its up-and-downs)."""
    v = np.asarray(curve, dtype=np.float64)
    runs, low = 0, None
    for a, b in itertools.pairwise(v):
        if b > a:
            low = a if low is None else low
        elif low is not None:
            runs += int(a - low >= min_rise)
            low = None
    if low is not None:
        runs += int(v[-1] - low >= min_rise)
    return runs


def _below_mean(tr: dict[str, Any], final: float) -> bool:
    """The held-out loss ``final`` is below the per-feature mean predictor's loss (in the loss's own units)."""
    b = tr.get("baselines") or {}
    mean = (b.get("loss_units") or {}).get("mean", b.get("mean"))
    return all_finite([mean, final]) and final < mean


def _train_blowup(tr: dict[str, Any]) -> tuple[float, float] | None:
    """``(peak, start)`` of the training steps' loss when it rose above DIVERGE_SPIKE times its start (not a
    one-step transient), else None."""
    losses = np.asarray(tr["loss"], dtype=np.float64)
    if not len(losses) or not math.isfinite(losses[0]) or losses[0] <= 0 or np.all(np.isnan(losses)):
        return None
    peak, start = float(np.nanmax(losses)), float(losses[0])
    if not math.isfinite(peak) or peak <= DIVERGE_SPIKE * start or _transient(losses, start):
        return None
    return peak, start


def oscillating(ctx: Context, tr: dict[str, Any], sugg: float | None) -> list[Finding]:
    """AE403: the validation curve's rises are large against its net decrease."""
    found = _oscillation(tr)
    if found is None:
        return []
    v, rises, net, low_before = found
    spike = low_before is not None
    if tr.get("has_batchnorm") and _steady_training(tr["loss"], len(v)):
        # The training-mode loss falls steadily: the steps do not overshoot; the
        # inference-mode curve follows moving statistics that lag behind the
        # weights (momentum 0.99 needs hundreds of steps; round 19's BN denoiser).
        return []
    lr = tr["lr"]
    advised = capped_suggestion(ctx, sugg)
    # A rate within 2x of the configured one is no advice (the range test's best is often the rate itself).
    new_lr = advised if advised is not None and advised < lr / 2 else lr / 3
    line, text = optimizer_line(ctx)
    blowup = _train_blowup(tr)
    start = float(tr.get("val_loss_before", float("nan")))
    if blowup is not None and math.isfinite(start) and _pretrained_jolt(tr, np.asarray(tr["val_curve"]["loss"]), start):
        # A model the cell trained, jolted by the probes' fresh optimizer (round 66's cu07): no overshoot of its own.
        blowup = None
    return [
        Finding(
            code="AE403",
            severity="warning",
            title="Loss oscillates",
            message=(
                f"The validation loss went up and down during the probe run: its rises add up to {rises:.3g}, "
                f"against a net decrease of {net:.3g} (from {v[0]:.4g} to {v[-1]:.4g}). "
                + (f"The training steps' loss jumped to {blowup[0]:.3g} from {blowup[1]:.3g} on the way and came "
                   "back. " if blowup else "")
                + f"The steps at learning rate {lr:.3g} overshoot."
                + (f" {_capital(rate_phrase(ctx, sugg))}." if sugg is not None else "")
            ),
            line=line,
            source_line=text,
            evidence={"val_curve": [float(x) for x in v], "rises": rises, "net_decrease": net, "lr": lr, "suggested_lr": sugg,
                      "fix_lr": new_lr,
                      **({"transient_spike": True, "low_before_spike": low_before} if spike else {}),
                      **({"train_spike": {"peak": blowup[0], "start": blowup[1]}} if blowup else {})},
            fix=(
                f"optimizer = keras.optimizers.{opt_class(ctx)}(learning_rate={new_lr:.1g})\n"
                "# or a schedule: keras.callbacks.ReduceLROnPlateau(factor=0.5, patience=2) in fit(callbacks=[...])"
            ),
        )
    ]



def tail_mean(curve: Any) -> float:
    """The mean of a curve's last third: where a run ends, read so that one point of an up-and-down does not decide."""
    v = np.asarray([x for x in curve if np.isfinite(x)], dtype=np.float64)
    return float(np.mean(v[-max(1, len(v) // 3):])) if len(v) else float("nan")


# confirm_oscillation: a bumpy run that ends at or below this share of the mean's error is learning; without
# a linear (PCA) bar, one that ends above OSC_FAR of it is far from any good fit.
OSC_LEARNED = 0.6
OSC_FAR = 0.8
# confirm_oscillation: the lower rate's run must end at least this much lower, the bar AE406's advice meets
# (faster_rate.FASTER_GAIN): a healthy LSTM's bumpy curve ends 2-6 % lower at a third of its rate, by chance.
LOWER_RATE_GAIN = 0.1
# confirm_oscillation, far from a fit: the fix's rate ending this much higher says the smaller rate learns slower
# (a tail mean's noise on a healthy curve is a few percent), so the bumps are not overshoot.
LOWER_RATE_WORSE = 0.05
# confirm_oscillation's slow start: a run ending at this share of the mean's error or above sits on its plateau,
# and a lower rate ending less than this much lower is within a tail mean's noise.
PLATEAU_NEAR_MEAN = 0.9
LOWER_RATE_NOISE = 0.03
# confirm_oscillation: a lower rate ending less than this much lower is weighed against a longer run at the
# configured rate (round 79's dy06: 11 % lower on a healthy masked
# LSTM's bumpy curve, which 30 epochs at the configured rate take to 0.07x the mean's error).
LOWER_RATE_CLEAR = 0.25


def _learns_through_noise(ctx: Context, tr: dict[str, Any], osc: Finding, leaves_mean: Callable[[], bool] | None) -> bool:
    """A bumpy run that is learning: no training-loss spike, no recurrent layer
    with unbounded units (a relu LSTM's state grows with a large step: its bumps are the rate's), and a longer
    run at the configured rate (``leaves_mean()``) past every AE405 bar. A smaller rate a little ahead after the
    same few steps is then within what a noisy held-out curve does (round 79's dy06, a healthy masked LSTM that
    30 epochs at its rate take to 0.07x the mean's error)."""
    from .. import probes as probe
    from ..probes.sequence import recurrent_activation
    from .recurrent_blowup import UNBOUNDED

    if osc.evidence.get("train_spike"):
        return False
    try:
        layers = probe.layers_by_name(ctx.model) if ctx.model is not None else {}
    except Exception:  # no layers to read: the rate stays the suspect
        return False
    if any(recurrent_activation(layer) in UNBOUNDED for layer in layers.values()):
        return False
    return leaves_mean is not None and leaves_mean()


def _noisy_learner(ctx: Context, tr: dict[str, Any], found: list[Finding], osc: Finding, new_lr: float,
                   there: float, here: float) -> list[Finding]:
    ctx.notes.append(
        f"The held-out loss went up and down during the probe run at learning rate {tr['lr']:.3g}, and the same "
        f"steps at {new_lr:.2g} ended only {100 * (1 - there / here):.0f}% lower ({there:.4g} against {here:.4g}, the "
        f"mean of the last third of each curve); a longer run at {tr['lr']:.3g} leaves the mean's error: a model "
        "learning through a noisy curve, not steps that overshoot, so AE403 is not reported.")
    return [f for f in found if f is not osc]


def confirm_oscillation(ctx: Context, tr: dict[str, Any], found: list[Finding], rerun: Any,
                        leaves_mean: Callable[[], bool] | None = None) -> list[Finding]:
    """Keep AE403 only for a run that has not learned well and that the rate its fix names does better on.

    ``rerun(lr)`` is the probe run repeated at another rate. Round 31: a
    healthy masked LSTM autoencoder's held-out loss went up and down under
    Adam(1e-3), the range test's best rate being that same 1e-3, and ended
    at 0.36-0.58x the mean's error: a model learning through bumps, which a
    20-epoch fit takes to 0.26x. A run that ends at or below OSC_LEARNED of
    the mean's error is not reported. Otherwise the same steps are run at
    the fix's rate: ending LOWER_RATE_GAIN lower confirms the rate; so does a
    run far from any good fit (halfway from the mean to the linear code's
    error), which a third of the rate may not be enough to rescue (a relu
    LSTM at Adam(0.01): 0.75x the mean, PCA near 0, 6 % lower at 0.002), as
    long as that third ends at least LOWER_RATE_NOISE lower (round 61's cj07,
    a healthy masked LSTM at 0.8x the mean, ended 1 % higher at a third), and
    unless the fix's rate ends LOWER_RATE_WORSE *higher*: a smaller rate that
    learns slower says the bumps are not overshoot (round 37's LSTM VAE, whose
    held-out curve is noisy because its validation samples z, 28 % higher;
    round 38's masked LSTM on padded gestures, one bump and 7 % higher).
    ``leaves_mean()`` says whether a longer run at the configured rate
    clearly leaves the mean's error: bumps on a plateau that the rate then
    leaves, with a smaller rate no better, are a slow start, not overshoot
    (round 45's LSTM with clipnorm and a decay schedule: flat and noisy for
    the probe run's 129 steps, 0.51x the mean's error after 495).
    """
    osc = next((f for f in found if f.code == "AE403" and not f.evidence.get("transient_spike")), None)
    new_lr = osc.evidence.get("fix_lr") if osc is not None else None
    if osc is None or not isinstance(new_lr, float) or not new_lr < tr["lr"]:
        return found
    b = tr.get("baselines") or {}
    final, mean, pca = b.get("final"), b.get("mean"), b.get("pca")
    if not all_finite([final, mean]) or mean <= 0:
        return found
    # A run that blew its training loss up tenfold on the way overshoots, however far it then got: only the
    # lower rate's run below decides.
    if final <= OSC_LEARNED * mean and not osc.evidence.get("train_spike"):
        ctx.notes.append(
            f"The held-out loss went up and down during the probe run at learning rate {tr['lr']:.3g}, but the run ended "
            f"at {final / mean:.2f}x the per-feature mean's error: a model learning through bumps, so AE403 is not reported."
        )
        return [f for f in found if f is not osc]
    lower = rerun(new_lr)
    here, there = tail_mean(tr["val_curve"]["loss"]), tail_mean(lower["val_curve"]["loss"])
    osc.evidence["lower_rate_run"] = {"lr": new_lr, "end": there, "configured_end": here,
                                      "val_curve": [float(x) for x in lower["val_curve"]["loss"]]}
    if not lower.get("diverged") and np.isfinite(there) and there <= (1 - LOWER_RATE_GAIN) * here:
        if there > (1 - LOWER_RATE_CLEAR) * here and _learns_through_noise(ctx, tr, osc, leaves_mean):
            # The smaller rate is ahead by more than the noise, so the advice stands, as a note: the configured
            # rate is not what stops this model.
            osc.severity = "info"
            osc.evidence["learns_at_configured_rate"] = True
            osc.message += (f" Repeated at {new_lr:.2g}, the same steps end {100 * (1 - there / here):.0f}% lower "
                            f"({there:.4g} against {here:.4g}, the mean of the last third of each held-out curve); "
                            f"but a longer run at {tr['lr']:.3g} leaves the mean's error, so the model learns at its "
                            "rate, through a noisy curve. Worth trying the smaller rate, not a fault.")
            return found
        osc.message += (f" Repeated at {new_lr:.2g}, the same steps end lower ({there:.4g} against {here:.4g}, the "
                        "mean of the last third of each held-out curve).")
        return found
    informative = pca is not None and all_finite([pca]) and pca < 0.9 * mean
    far = final > (mean - 0.5 * (mean - pca) if informative else OSC_FAR * mean)
    slower = not lower.get("diverged") and np.isfinite(there) and there >= (1 + LOWER_RATE_WORSE) * here
    # A plateau on the mean, and a lower rate no lower than a tail mean's noise: round 45's aj04 (1 % lower at a
    # third of the rate), not the relu LSTM at Adam(0.01) whose lower rate ends 6 % lower and whose longer run
    # also leaves the mean.
    plateau = final >= PLATEAU_NEAR_MEAN * mean and np.isfinite(there) and there >= (1 - LOWER_RATE_NOISE) * here
    if far and not slower and plateau and leaves_mean is not None and leaves_mean():
        ctx.notes.append(
            f"The held-out loss went up and down near the mean's error during the probe run at learning rate "
            f"{tr['lr']:.3g}, and the same steps at {new_lr:.2g} did not end clearly lower ({there:.4g} against "
            f"{here:.4g}); a longer run at {tr['lr']:.3g} leaves the mean's error: a slow start on a noisy plateau, "
            "not steps that overshoot, so AE403 is not reported."
        )
        return [f for f in found if f is not osc]
    if far and not slower and np.isfinite(there) and there <= (1 - LOWER_RATE_NOISE) * here:
        # Up and down far from any good fit, and a third of the rate ends lower (if not by LOWER_RATE_GAIN): the
        # rate is still the suspect. A third that ends no lower (round 61's cj07, a healthy masked LSTM: 1 %
        # higher) does not make it one: advice to lower it would not help. Nor does one a few percent lower on a
        # learning run of bounded units (round 79's dy06: 4 % lower, one 15 % spike on the way down).
        if _learns_through_noise(ctx, tr, osc, leaves_mean):
            return _noisy_learner(ctx, tr, found, osc, new_lr, there, here)
        return found
    if far and not slower and lower.get("diverged"):
        return found
    # Round 37: a healthy LSTM VAE (its validation samples z, so its curve is noisy) ended 0.60 at the configured
    # rate and 0.77 at a third of it. A rate whose smaller version learns clearly slower is not the bumps' cause,
    # even far from a good fit.
    ctx.notes.append(
        f"The held-out loss went up and down during the probe run at learning rate {tr['lr']:.3g}, but the same steps "
        f"at {new_lr:.2g} did not end clearly lower ({there:.4g} against {here:.4g}, the mean of the last third of each "
        "curve): the bumps are not steps that overshoot, so AE403 is not reported."
    )
    return [f for f in found if f is not osc]


def _steady_training(losses: Any, chunks: int) -> bool:
    """The training steps' loss, averaged in ``chunks`` windows, falls with rises under OSC_RATIO of its decrease."""
    t = np.asarray(losses, dtype=np.float64)
    t = t[np.isfinite(t)]
    if len(t) < 2 * max(chunks, 2):
        return False
    means = np.asarray([w.mean() for w in np.array_split(t, max(chunks, 2))])
    rises = float(np.sum(np.maximum(0.0, np.diff(means))))
    net = float(means[0] - means[-1])
    return net > 0 and rises < OSC_RATIO * net


# batchnorm_lag: the training-mode loss ends below this share of the mean predictor's loss (in the loss's units).
BN_LAG_BELOW_MEAN = 0.5


def batchnorm_lag(tr: dict[str, Any]) -> dict[str, float] | None:
    """A BatchNorm model whose training-mode loss fell steadily to well below the mean predictor's, while the
    inference-mode numbers (outputs, held-out error) read as collapsed: the moving statistics lag behind the
    weights (momentum 0.99 needs hundreds of steps, more than the probe run). ``{"train_loss", "mean_loss"}``
    when so, else None.

    Round 21: a BatchNorm conv denoiser at BCE 0.037 in training mode against the mean image's 0.29, its
    inference-mode outputs nearly alike after the probe run; ``fit`` for 15 epochs ends at 0.35x the mean's MSE.
    """
    if not tr.get("has_batchnorm"):
        return None
    losses = np.asarray(tr.get("loss") or [], dtype=np.float64)
    mean_loss = ((tr.get("baselines") or {}).get("loss_units") or {}).get("mean")
    if len(losses) < 12 or not isinstance(mean_loss, (int, float)) or not np.isfinite(mean_loss) or mean_loss <= 0:
        return None
    tail = losses[-max(3, len(losses) // 10):]
    end = float(np.mean(tail[np.isfinite(tail)])) if np.any(np.isfinite(tail)) else float("nan")
    if not np.isfinite(end) or end >= BN_LAG_BELOW_MEAN * mean_loss or not _steady_training(losses, 6):
        return None
    return {"train_loss": end, "mean_loss": float(mean_loss)}


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]
