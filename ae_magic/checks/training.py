"""AE401-AE406: a short training run on a copy of the model.

``check_training`` runs (on the probe session's copy) the learning-rate range
test when ``options.range_test`` is on, the probe run, and the short
confirmation run behind AE406; it stores ``traces["lr_range"]`` and
``traces["training"]`` and judges them. The judges read the traces only.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import probes as probe
from ..context import Context
from ..numeric import all_finite
from ..probes.traces import leaf_layers
from ..report import Finding
from . import gradients as G
from . import recurrent as R

# AE401: the loss "ends clearly above where it started": the final
# validation loss above this multiple of the initial one...
DIVERGE_END = 1.5
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
# AE404: outputs vary across inputs less than 1% as much as the targets do
# (std across samples, averaged over features). Collapsed models measure
# ~0; healthy zoo models >= 0.04 after the default run.
COLLAPSE_RATIO = 0.01
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
# AE406: the probe run is repeated from the same initial weights at the
# suggested rate (same batches, same steps); the suggestion is reported
# only when its final validation loss is at least FASTER_GAIN (10%) lower
# than the configured rate's, its run never diverges (the AE401 rules), and
# it is more than FASTER_MIN_RATIO (2x) away from the configured rate.
FASTER_GAIN = 0.1
FASTER_MIN_RATIO = 2.0
# Dead ReLU units after the probe run: a higher bar than at initialisation
# (small layers lose units during ordinary training; zoo max 0.63).
DEAD_SHARE_AFTER = 0.9


def check_training(ctx: Context) -> list[Finding]:
    """Run the range test (optional), the probe run and judge AE401-AE406."""
    if "training" in ctx.skipped:  # e.g. nothing trainable (AE301 says so)
        return []
    try:
        return _run(ctx)
    except probe.ProbeError as exc:
        G.skip(ctx, "training", exc)
        return []


def _run(ctx: Context) -> list[Finding]:
    sess = probe.prepared_session(ctx)
    o = ctx.options
    lr_trace = None
    if o.range_test:
        lr_trace = sess.range_test(progress=o.progress)
        ctx.traces["lr_range"] = lr_trace
    trace = sess.train(epochs=o.epochs, steps=o.steps, progress=o.progress)
    ctx.traces["training"] = trace
    if lr_trace is not None:
        lr_trace["configured"] = trace["lr"]
        sugg = lr_trace.get("suggested")
        ratio = sugg / trace["lr"] if sugg is not None and trace["lr"] > 0 else None
        if ratio is not None and not 1 / FASTER_MIN_RATIO <= ratio <= FASTER_MIN_RATIO and not trace["diverged"]:
            # The whole probe run again at the suggested rate: same initial
            # weights, same batches, same number of steps.
            alt = sess.train(epochs=o.epochs, steps=o.steps, lr=sugg)
            lr_trace["confirm"] = {
                "lr": float(sugg),
                "configured_lr": float(trace["lr"]),
                "steps": len(alt["loss"]),
                "val_start": alt["val_loss_before"],
                "configured": {"steps": list(trace["val_curve"]["steps"]), "loss": list(trace["val_curve"]["loss"])},
                "suggested": {"steps": list(alt["val_curve"]["steps"]), "loss": list(alt["val_curve"]["loss"])},
                "suggested_train_loss": alt["loss"],
                "suggested_diverged": bool(alt["diverged"]),
            }
    found = judge(ctx, trace, lr_trace)
    if lr_trace is None and any(f.code in LR_CODES for f in found):
        # The range test was off (the fast default): run it now that the
        # learning rate is suspect, so the messages can name a better one.
        ctx.traces["lr_range"] = lr_trace = sess.range_test(progress=o.progress)
        lr_trace["configured"] = trace["lr"]
        lr_trace["on_demand"] = True
        found = judge(ctx, trace, lr_trace)
    if any(f.code == "AE405" for f in found) and not trace["diverged"]:
        found = _confirm_baseline(ctx, sess, trace, found)
    return found


# AE405 is confirmed on a run this many times as long as the probe run: a
# plateau at the mean that a healthy model leaves later (a GRU seq2seq at
# Adam(1e-3) sits at the mean for ~8 epochs, then falls to 0.76x of it by 30;
# measured) is a slow start, not a fault.
BASELINE_CONFIRM_FACTOR = 4


def _confirm_baseline(ctx: Context, sess: Any, trace: dict[str, Any], found: list[Finding]) -> list[Finding]:
    """Keep AE405 only when a run BASELINE_CONFIRM_FACTOR times as long still sits on the baseline."""
    n = len(trace["loss"])
    longer = sess.train(steps=BASELINE_CONFIRM_FACTOR * n, progress=ctx.options.progress)
    still = [] if longer["diverged"] else _baseline(ctx, longer)
    final = longer["baselines"].get("final")
    mean = trace["baselines"].get("mean")
    if not still:
        ctx.notes.append(
            f"The held-out MSE stayed near the baseline over the {n}-step probe run, but a run {BASELINE_CONFIRM_FACTOR}x "
            f"as long ({len(longer['loss'])} steps) took it to {final:.4g} against the per-feature mean's {mean:.4g}: "
            "a slow start, so AE405 is not reported."
        )
        return [f for f in found if f.code != "AE405"]
    for f in found:
        if f.code == "AE405":
            f.message += (
                f" A run {BASELINE_CONFIRM_FACTOR}x as long ({len(longer['loss'])} steps) confirms it: "
                f"the held-out MSE ends at {final:.4g}."
            )
            f.evidence["confirm"] = {
                "steps": len(longer["loss"]),
                "final_mse": final,
                "val_curve": {"steps": list(longer["val_curve"]["steps"]), "mse": list(longer["val_curve"].get("mse") or [])},
            }
    return found


CHECKS: list = [check_training]

# Findings whose message and fix name a learning rate from the range test.
LR_CODES = {"AE401", "AE402", "AE403", "AE404"}


def judge(ctx: Context, tr: dict[str, Any], lr_trace: dict[str, Any] | None) -> list[Finding]:
    """AE401-AE406 (and AE304/AE305 after the run) from the traces."""
    out: list[Finding] = []
    sugg = (lr_trace or {}).get("suggested")
    diverged = _diverged(ctx, tr, sugg)
    out += diverged
    collapse = [] if diverged else _collapse(ctx, tr, sugg)
    out += collapse
    if not diverged:
        out += _stagnant(ctx, tr, sugg)
        out += _oscillating(ctx, tr, sugg)
        if not collapse:
            out += _baseline(ctx, tr)
        out += _posterior_collapse(ctx, tr, collapse + out)
        out += _faster(ctx, tr, lr_trace)
    out += _after_run_units(ctx, tr)
    return out


# -- AE407 -------------------------------------------------------------------
# A VAE's code has collapsed when at most this share of its dimensions is
# active (z_mean varies across inputs, probes/latent.py)...
POSTERIOR_ACTIVE_SHARE = 0.2
# ...and either no dimension carries more than POSTERIOR_KL_MAX nats (the
# code transmits nothing about the input), or moving z by one prior standard
# deviation moves the output by less than POSTERIOR_SENSITIVITY of the
# targets' spread, or the output is already judged collapsed / no better
# than the mean (AE404/AE405). A VAE with a few active dimensions that
# reconstructs well (more latent room than the data needs) stays silent.
POSTERIOR_KL_MAX = 0.05
POSTERIOR_SENSITIVITY = 0.1


def _posterior_collapse(ctx: Context, tr: dict[str, Any], found: list[Finding]) -> list[Finding]:
    lat = tr.get("latent")
    if not lat or not lat.get("dims"):
        return []
    dims, active = lat["dims"], lat["active_dims"]
    sens = lat.get("z_sensitivity")
    ignored = sens is not None and sens < POSTERIOR_SENSITIVITY
    averaged = any(f.code in ("AE404", "AE405") for f in found)
    # Driven to the prior: the code carries (almost) nothing now, and less
    # than half of what it carried at the initial weights. A slow starter
    # whose code starts near the prior and grows is not this.
    before = lat.get("kl_total_before")
    driven = max(lat["kl_per_dim"]) < POSTERIOR_KL_MAX and before is not None and lat["kl_total"] < 0.5 * before
    collapsed = active <= POSTERIOR_ACTIVE_SHARE * dims and (ignored or averaged)
    if not (driven or collapsed):
        return []
    name = lat["layer"]
    user_layers = leaf_layers(ctx.model) if ctx.model is not None else []
    idx = lat.get("layer_index")
    if idx is not None and idx < len(user_layers):
        name = user_layers[idx].name
    line, src = G.locate(ctx, name)
    kl = lat["kl_per_dim"]
    return [
        Finding(
            code="AE407",
            severity="warning",
            title="Posterior collapse: the decoder ignores the code",
            message=(
                f"After the probe run the code of the sampling layer '{name}' carries almost nothing about the input: "
                f"its KL divergence from the prior is {lat['kl_total']:.3g} nats over {dims} dimensions (at most "
                f"{max(kl):.3g} in one"
                + (f"; {before:.3g} at the start of the run" if before is not None else "")
                + f"), {active} of {dims} dimensions vary across inputs (variance of z_mean above 0.01), and "
                "moving z by one standard deviation moves the reconstruction by "
                + (f"{sens:.2g}" if sens is not None else "an unknown share")
                + " of the data's spread. The KL term pulls every code to the prior, so the decoder learns to "
                "output an average instead of decoding z. This usually means the KL term outweighs the "
                "reconstruction term (a mean-reduced reconstruction loss against a summed KL, or a large beta)."
            ),
            line=line,
            layer=name,
            source_line=src,
            evidence={
                "kl_per_dim": kl,
                "kl_total_before": before,
                "active_dims": active,
                "dims": dims,
                "z_sensitivity": sens,
                "mean_variance_per_dim": lat.get("mean_variance"),
            },
            fix=(
                "# weigh the reconstruction as a sum over features (per sample), as the KL is:\n"
                "recon = ops.mean(ops.sum(ops.square(target - recon_out), axis=-1))\n"
                "# or scale the KL term down (beta < 1) or warm it up from 0 over the first epochs"
            ),
        )
    ]


# -- AE401 -------------------------------------------------------------------
def _diverged(ctx: Context, tr: dict[str, Any], sugg: float | None) -> list[Finding]:
    losses = np.asarray(tr["loss"], dtype=np.float64)
    curve = np.asarray(tr["val_curve"]["loss"], dtype=np.float64)
    start = float(tr["val_loss_before"])
    nonfinite = tr["diverged"] or not np.all(np.isfinite(losses)) or not np.all(np.isfinite(curve))
    if not math.isfinite(start) or start <= 0:
        return []
    final = float(curve[-1]) if len(curve) else start
    # Each curve against its own start: the training steps' loss is the
    # backend's (TensorFlow computes a sigmoid+BCE loss from the logits, far
    # above the clipped validation loss when the outputs saturate), so a
    # training loss is never compared with a validation one.
    val_peak = float(np.nanmax(curve)) if len(curve) and not np.all(np.isnan(curve)) else start
    train_start = float(losses[0]) if len(losses) and math.isfinite(losses[0]) and losses[0] > 0 else None
    train_peak = float(np.nanmax(losses)) if len(losses) and not np.all(np.isnan(losses)) else None
    ends_above = math.isfinite(final) and final > DIVERGE_END * start
    spiked_val = math.isfinite(val_peak) and val_peak > DIVERGE_SPIKE * start
    spiked_train = (train_start is not None and train_peak is not None and math.isfinite(train_peak)
                    and train_peak > DIVERGE_SPIKE * train_start)
    spiked = spiked_val or spiked_train
    peak, peak_from = (val_peak, start) if spiked_val or not spiked_train else (train_peak, train_start)
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
    advice = (
        f"{lr:.3g} diverges; around {sugg:.1g} learns fastest (learning-rate range test)."
        if sugg is not None and sugg < lr
        else f"With learning rate {lr:.3g} the steps overshoot."
    )
    new_lr = sugg if sugg is not None and sugg < lr else lr / 10
    return [
        Finding(
            code="AE401",
            severity="error",
            title="Loss diverged",
            message=f"In the probe run {what}. {advice}",
            line=_optimizer_line(ctx)[0],
            source_line=_optimizer_line(ctx)[1],
            evidence={
                "lr": lr,
                "suggested_lr": sugg,
                "loss_start": start,
                "loss_end": final,
                "loss_peak": peak,
                "nonfinite": bool(nonfinite),
            },
            fix=(
                f"optimizer = keras.optimizers.{_opt_class(ctx)}(learning_rate={new_lr:.1g}, clipnorm=1.0)\n"
                "# and scale the data to about unit range if it is not (x / 255.0 or standardise)"
            ),
        )
    ]


# -- AE402 -------------------------------------------------------------------
def _stagnant(ctx: Context, tr: dict[str, Any], sugg: float | None) -> list[Finding]:
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
    if sugg is not None and sugg > 3 * lr:
        cause = f" {lr:.3g} is too low; around {sugg:.1g} learns fastest (learning-rate range test)."
        fix = f"optimizer = keras.optimizers.{_opt_class(ctx)}(learning_rate={sugg:.1g})"
    elif sugg is not None and sugg < lr / 3:
        cause = f" {lr:.3g} is too high for this model; around {sugg:.1g} learns fastest (learning-rate range test)."
        fix = f"optimizer = keras.optimizers.{_opt_class(ctx)}(learning_rate={sugg:.1g})"
    else:
        fix = (
            "# Check the gradient findings above (cut-off, vanishing or dead units), then try\n"
            f"optimizer = keras.optimizers.Adam(learning_rate={max(lr * 10, 1e-3):.1g})"
        )
    line, text = _optimizer_line(ctx)
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
            },
            fix=fix,
        )
    ]


# -- AE403 -------------------------------------------------------------------
def _oscillating(ctx: Context, tr: dict[str, Any], sugg: float | None) -> list[Finding]:
    v = np.asarray(tr["val_curve"]["loss"], dtype=np.float64)
    if tr.get("has_batchnorm"):
        # BatchNorm's moving statistics are still settling early in a short
        # run, and the inference-mode validation loss jumps with them: judge
        # the last two thirds only.
        steps = tr["val_curve"]["steps"]
        v = v[next((i for i, st in enumerate(steps) if st >= steps[-1] / 3), 0) :]
    if len(v) < 5 or not np.all(np.isfinite(v)) or v[0] <= 0:
        return []
    rises = float(np.sum(np.maximum(0.0, np.diff(v))))
    net = float(v[0] - v[-1])
    if rises < OSC_MIN_REL * v[0] or rises < OSC_RATIO * max(net, 0.0):
        return []
    lr = tr["lr"]
    new_lr = sugg if sugg is not None and sugg < lr else lr / 3
    line, text = _optimizer_line(ctx)
    return [
        Finding(
            code="AE403",
            severity="warning",
            title="Loss oscillates",
            message=(
                f"The validation loss went up and down during the probe run: its rises add up to {rises:.3g}, "
                f"against a net decrease of {net:.3g} (from {v[0]:.4g} to {v[-1]:.4g}). "
                f"The steps at learning rate {lr:.3g} overshoot."
                + (f" Around {sugg:.1g} learns fastest (learning-rate range test)." if sugg is not None else "")
            ),
            line=line,
            source_line=text,
            evidence={"val_curve": [float(x) for x in v], "rises": rises, "net_decrease": net, "lr": lr, "suggested_lr": sugg},
            fix=(
                f"optimizer = keras.optimizers.{_opt_class(ctx)}(learning_rate={new_lr:.1g})\n"
                "# or a schedule: keras.callbacks.ReduceLROnPlateau(factor=0.5, patience=2) in fit(callbacks=[...])"
            ),
        )
    ]


# -- AE404 -------------------------------------------------------------------
def _collapse(ctx: Context, tr: dict[str, Any], sugg: float | None) -> list[Finding]:
    out_s, in_s = tr["output_spread"], tr["input_spread"]
    if not all_finite([out_s, in_s]) or in_s <= 0:
        return []
    ratio = out_s / in_s
    # Sequences (and masked data): per time step x feature against the targets'
    # own variation there, padded steps left out (checks/recurrent.py).
    per_position = R.position_collapse(tr)
    if per_position is not None:
        ratio, collapsed, seq_evidence = per_position
    else:
        collapsed, seq_evidence = ratio < COLLAPSE_RATIO, {}
    if not collapsed:
        return []
    code = (ctx.traces.get("gradients") or {}).get("code_layer")
    grads = {ly["layer"]: ly for ly in (ctx.traces.get("gradients") or {}).get("layers", [])}
    after = {a["layer"]: a for a in tr.get("activations_after", [])}
    hints = []
    dead_code = max((grads.get(code) or {}).get("dead_share") or 0.0, (after.get(code) or {}).get("dead_share") or 0.0)
    if code and dead_code >= 0.99:
        hints.append(f"every unit of the code layer {code} is dead (outputs 0), so the decoder sees the same code for every input")
    lr = tr["lr"]
    if sugg is not None and lr > 3 * sugg:
        hints.append(f"learning rate {lr:.3g} is too high; around {sugg:.1g} learns fastest")
    if any(ly["grad_norm"] == 0 or ly["none_vars"] for ly in grads.values() if ly["n_vars"]):
        hints.append("some layers get no gradient (see AE301)")
    spread_text = (
        f"at each time step and feature they vary {100 * ratio:.2g}% as much across samples as the targets do "
        f"there, and explain {100 * (seq_evidence.get('explained_variance') or 0.0):.2g}% of the targets' "
        "variance per position (the mean curve explains 0%)"
        + (", padded steps left out" if seq_evidence.get("masked") else "")
        if seq_evidence
        else f"they vary {out_s:.3g} across samples against {in_s:.3g} for the targets ({100 * ratio:.2g}%)"
    )
    msg = (
        f"After the probe run the reconstructions are nearly identical for different inputs: {spread_text}. "
        "The model outputs an average instead of encoding its input"
        + (": " + "; ".join(hints) + "." if hints else ".")
    )
    line, text = G.locate(ctx, code)
    return [
        Finding(
            code="AE404",
            severity="error",
            title="Output collapse",
            message=msg,
            line=line,
            source_line=text,
            layer=code,
            evidence={"output_spread": out_s, "input_spread": in_s, "ratio": ratio, "threshold": COLLAPSE_RATIO, **seq_evidence},
            fix=(
                "# Give the code a live, informative signal: ReLU/linear code units with He init,\n"
                "# data scaled to about unit range, and a moderate learning rate, e.g.\n"
                "code = layers.Dense(32, activation='relu', kernel_initializer='he_normal')(h)\n"
                f"optimizer = keras.optimizers.Adam(learning_rate={_moderate_lr(lr, sugg):.1g})"
            ),
        )
    ]


def _moderate_lr(lr: float, sugg: float | None) -> float:
    """The range test's rate when it is clearly below the configured one,
    else a conventional 1e-3 (never above the configured rate): a suggestion
    of half a rate that collapsed the model is no fix."""
    if sugg is not None and sugg <= lr / 3:
        return sugg
    return min(lr, 1e-3)


# -- AE405 -------------------------------------------------------------------
def _baseline(ctx: Context, tr: dict[str, Any]) -> list[Finding]:
    b = tr["baselines"]
    final, mean, pca = b.get("final"), b.get("mean"), b.get("pca")
    if not all_finite([final, mean]) or mean <= 0:
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
    settling = no_better and limit is not None and limit >= (1 - SETTLE_MARGIN) * mean
    if not (plateau or slow or settling):
        return []
    zero = b.get("zero")
    if no_better:
        what = f"no better than predicting the per-feature mean of the data ({mean:.4g})"
        if all_finite([zero]) and zero > mean and abs(final - zero) <= 0.15 * zero:
            what += (
                f"; it sits near an all-zero output ({zero:.4g}), the trivial solution for mostly-zero data."
                " It may escape with much longer training, but a loss that rewards the bright pixels"
                " (binary_crossentropy for [0, 1] images) or a higher learning rate gets there sooner"
            )
    else:
        what = (
            f"far from what a linear code of the same width reaches: PCA with {b['pca_width']} components "
            f"gets {pca:.4g}, the per-feature mean {mean:.4g}"
        )
    return [
        Finding(
            code="AE405",
            severity="warning",
            title="Worse than a trivial baseline",
            message=(
                f"After the probe run the reconstruction error (MSE on held-out samples) is {final:.4g} and "
                + (
                    f"settling there (extrapolating the last half of the curve, it approaches {limit:.4g}): "
                    if settling and not plateau
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
                "settling": bool(settling),
            },
            fix=(
                "# Check the other findings first (activations vs data range, learning rate, dead units).\n"
                "# A plain ReLU autoencoder with a linear/sigmoid output matching the data range and\n"
                "# Adam(1e-3) should beat the mean quickly."
            ),
        )
    ]


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


# -- AE406 -------------------------------------------------------------------
def _faster(ctx: Context, tr: dict[str, Any], lr_trace: dict[str, Any] | None) -> list[Finding]:
    if not lr_trace or "confirm" not in lr_trace:
        return []
    c = lr_trace["confirm"]
    conf = np.asarray(c["configured"]["loss"], dtype=np.float64)
    sug = np.asarray(c["suggested"]["loss"], dtype=np.float64)
    train = np.asarray(c.get("suggested_train_loss") or [], dtype=np.float64)
    if len(conf) < 2 or len(sug) < 2 or not np.all(np.isfinite(conf)):
        return []
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
    end_c, end_s = float(conf[-1]), float(sug[-1])
    if not stable or end_s > end_c - FASTER_GAIN * abs(end_c):
        return []
    lr, sugg = tr["lr"], lr_trace["suggested"]
    line, text = _optimizer_line(ctx)
    gain = (end_c - end_s) / abs(end_c) if end_c else None
    return [
        Finding(
            code="AE406",
            severity="info",
            title="A faster learning rate",
            message=(
                f"A learning-rate range test suggests {sugg:.1g}. The probe run repeated at that rate (same initial "
                f"weights, same batches, {c['steps']} steps) ends at a validation loss of {end_s:.4g} against "
                f"{end_c:.4g} with your {lr:.3g}"
                + (f" ({100 * gain:.0f}% lower)" if gain is not None else "")
                + ", and never diverges."
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
            },
            fix=f"optimizer = keras.optimizers.{_opt_class(ctx)}(learning_rate={sugg:.1g})",
        )
    ]


# -- AE304/AE305 after the run ------------------------------------------------
def _after_run_units(ctx: Context, tr: dict[str, Any]) -> list[Finding]:
    init = {ly["layer"]: ly for ly in (ctx.traces.get("gradients") or {}).get("layers", [])}
    fresh_dead = [
        a
        for a in tr.get("activations_after", [])
        if (init.get(a["layer"]) or {}).get("dead_share") is None or init[a["layer"]]["dead_share"] < G.DEAD_SHARE
    ]
    fresh_sat = [
        a
        for a in tr.get("activations_after", [])
        if (init.get(a["layer"]) or {}).get("saturated_share") is None
        or init[a["layer"]]["saturated_share"] < G.SATURATED_SHARE
    ]
    return G._dead(ctx, fresh_dead, "after the probe run", threshold=DEAD_SHARE_AFTER) + G._saturated(
        ctx, fresh_sat, "after the probe run"
    )


# -- refine ------------------------------------------------------------------
def refine(ctx: Context, findings: list[Finding]) -> list[Finding]:
    """AE111 (output ignores input) becomes an error when the run shows collapse."""
    if any(f.code == "AE404" for f in findings):
        for f in findings:
            if f.code == "AE111" and f.severity != "error":
                f.severity = "error"
                f.message += " The training probe confirms it: the outputs collapsed to one reconstruction."
    return findings


# -- helpers -------------------------------------------------------------------
def _opt_class(ctx: Context) -> str:
    opt = getattr(ctx.model, "optimizer", None)
    return type(opt).__name__ if opt is not None else "Adam"


def _optimizer_line(ctx: Context) -> tuple[int | None, str | None]:
    """The cell line that sets the learning rate (compile / optimizer), when known."""
    if not ctx.source:
        return None, None
    lines = ctx.source.splitlines()
    for pattern in ("learning_rate", "optimizers.", ".compile("):
        for i, text in enumerate(lines, start=1):
            if pattern in text:
                return ctx.cell_line(i), text.strip()
    return None, None
