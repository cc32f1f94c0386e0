"""AE404: output collapse, the reconstructions nearly identical for different inputs after the probe run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..context import Context
from ..numeric import all_finite
from ..report import Finding
from . import gradients as G
from . import recurrent as R
from . import weight_penalty as WP
from .locate import (
    NOISE_FIX,
    activity_penalties,
    activity_regularizers,
    keyword_binding_line,
    keyword_line,
    noise_hint,
    trailing_noise,
    weaker_binding,
)
from .longer_run import BASELINE_CONFIRM_FACTOR, describe, sentence_start
from .loss_curve import STAGNANT_REL, batchnorm_lag
from .optimizer_source import capped_suggestion, opt_class, rate_phrase
from .penalty_share import dominant_added_penalty, weight_fix

# AE404: outputs vary across inputs less than 1% as much as the targets do
# (std across samples, averaged over features). Collapsed models measure
# ~0; healthy zoo models >= 0.04 after the default run.
COLLAPSE_RATIO = 0.01


# -- AE404 -------------------------------------------------------------------
def output_collapse(ctx: Context, tr: dict[str, Any], sugg: float | None) -> list[Finding]:
    """AE404: after the probe run the outputs barely vary across inputs compared with the targets."""
    flat = R.flat_in_time(ctx, tr)
    if flat is not None:
        return [flat]
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
    if not collapsed or not_started(tr):
        return []
    lag = batchnorm_lag(tr)
    if lag is not None:
        note = (f"AE404 (output collapse) was not reported: the outputs were nearly alike in inference mode after the "
                f"probe run, but the training-mode loss fell steadily to {lag['train_loss']:.3g}, well below the mean "
                f"predictor's {lag['mean_loss']:.3g}. BatchNormalization's moving statistics lag behind the weights "
                "over a short run; a longer fit catches them up.")
        _note(ctx, note)
        return []
    code = (ctx.traces.get("gradients") or {}).get("code_layer")
    grads = {ly["layer"]: ly for ly in (ctx.traces.get("gradients") or {}).get("layers", [])}
    after = {a["layer"]: a for a in tr.get("activations_after", [])}
    hints = []
    dead_hint = None
    dead_code = max((grads.get(code) or {}).get("dead_share") or 0.0, (after.get(code) or {}).get("dead_share") or 0.0)
    if code and dead_code >= 0.99:
        dead_hint = f"every unit of the code layer {code} is dead (outputs 0), so the decoder sees the same code for every input"
        hints.append(dead_hint)
    lr = tr["lr"]
    advised = capped_suggestion(ctx, sugg)
    rate_advice = None
    if sugg is not None and advised is not None and lr > 3 * advised:
        hints.append(f"learning rate {lr:.3g} is too high; {rate_phrase(ctx, sugg, cite=False)}")
        rate_advice = {"lr": advised, "text": hints[-1]}  # checked by a run at that rate (rate_advice.py)
    if any(ly["grad_norm"] == 0 or ly["none_vars"] for ly in grads.values() if ly["n_vars"]):
        hints.append("some layers get no gradient (see AE301)")
    live = [ly for ly in grads.values() if ly["n_vars"] and ly["grad_norm"] > 0]
    if len(live) >= 2 and live[0]["grad_norm"] < G.VANISH_RATIO * max(ly["grad_norm"] for ly in live[1:]):
        hints.append("the gradient vanishes on its way to the input (see AE302), so the encoder hardly learns")
    # An activity regularizer charges every nonzero activation; strong enough,
    # it pulls the code toward one point for every input (a sparse AE's l1(1e-2)).
    penalty = activity_penalties(ctx, dict.fromkeys(activity_regularizers(ctx.model)))
    # A stall that only the rate explains (nothing found in the structure or the gradients, and the range
    # test learns at 3x the rate or more): AE402 (loss barely moves) says so, at the compile line.
    explained = any(f.code.startswith("AE30") or f.code in ("AE106", "AE107", "AE110", "AE111")
                    for f in ctx.found if f.severity in ("warning", "error"))
    slow_rate = advised is not None and advised > 3 * lr
    if not hints and not explained and slow_rate and stalled_at_start(tr):
        return []
    # Dropout (or noise) after the output layer noises the reconstruction itself while training.
    noise = trailing_noise(ctx.model)
    blame_noise = bool(noise) and not hints
    if noise:
        hints.append(noise_hint(noise))
    n_causes = len(hints)  # the hints so far are candidate causes; those below describe the penalties
    # A code killed by its own activity penalty is what the penalty did, not a second cause (round 81's fa06).
    blame_penalty = bool(penalty) and not [h for h in hints if h != dead_hint or code not in penalty]
    # The same for a penalty a layer adds with add_loss that is most of the loss at the start (round 84's ia06).
    added = None if penalty else dominant_added_penalty(ctx, tr)
    blame_added = added is not None and not [h for h in hints if h != dead_hint]
    # A weight penalty that outweighs the reconstruction at the initial weights shrinks every weight toward zero.
    weights = WP.dominating_penalty(ctx, tr)
    blame_weights = weights is not None and not hints and not penalty
    if weights is not None:
        hints.append(WP.describe(weights))
    if added is not None:
        hints.append(f"the loss includes a penalty that {added['class'] or 'a layer'} '{added['layer']}' adds with "
                     f"add_loss, {added['share']:.0%} of the loss at the first step: the cheapest way to lower it is to "
                     "flatten what it measures, the same code for every input")
    if penalty:
        which = ", ".join(f"{name}'s {reg}" for name, reg in penalty.items())
        hints.append(f"the loss includes an activity regularizer ({which}), which charges every nonzero activation; "
                     "if it outweighs the reconstruction, the cheapest code is nearly the same for every input")
    spread_text = (
        f"at each {_positions(ctx)} they vary {100 * ratio:.2g}% as much across samples as the targets do "
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
    if blame_penalty:
        line, text, where, fix = _penalty_blame(ctx, penalty, code)
    elif blame_added:
        where = added["layer"]
        line, text = added["line"], added["text"]
        fix = weight_fix(added["weight"], added["value"])
    elif blame_noise:
        where = noise[0].name
        line, text = G.locate(ctx, where)
        fix = NOISE_FIX
    elif blame_weights:
        where = WP.heaviest(weights)
        line, text = WP.penalty_line(ctx, where)
        fix = WP.FIX
    else:
        line, text = G.locate(ctx, code)
        where = code

        def live_code(rate: float) -> str:
            return (
                "# Give the code a live, informative signal: ReLU/linear code units with He init,\n"
                "# data scaled to about unit range, and a moderate learning rate, e.g.\n"
                "code = layers.Dense(32, activation='relu', kernel_initializer='he_normal')(h)\n"
                # The model's own optimizer class: a rate the range test found for SGD is no rate for Adam.
                f"optimizer = keras.optimizers.{opt_class(ctx)}(learning_rate={rate:.1g})"
            )

        fix = live_code(_moderate_lr(lr, advised))
        if rate_advice is not None:
            # A run at the advised rate that does no better drops the rate from the fix too (round 64's cp03
            # was told Adam(3e-06)): the conventional rate instead (rate_advice.verify_rate_advice).
            rate_advice["fix"] = live_code(_moderate_lr(lr, None))
            if penalty and not [h for h in hints[:n_causes] if h not in (dead_hint, rate_advice["text"])]:
                # Only the rate stood between the code's activity penalty and the blame (round 89's nc01, a
                # sparse autoencoder whose KL weight is 100x the book's): if the rate is not confirmed, the
                # penalty is what is left.
                p_line, p_text, p_where, p_fix = _penalty_blame(ctx, penalty, code)
                rate_advice["instead"] = {"line": p_line, "source_line": p_text, "layer": p_where, "fix": p_fix}
    return [
        Finding(
            code="AE404",
            severity="error",
            title="Output collapse",
            message=msg,
            line=line,
            source_line=text,
            layer=where,
            evidence={"output_spread": out_s, "input_spread": in_s, "ratio": ratio, "threshold": COLLAPSE_RATIO, **seq_evidence,
                      **({"activity_regularizer": penalty} if penalty else {}),
                      **({"added_penalty": {k: v for k, v in added.items() if k not in ("line", "text")}} if added else {}),
                      **({"weight_penalty": weights} if weights is not None else {}),
                      **({"rate_advice": rate_advice} if rate_advice is not None else {})},
            fix=fix,
        )
    ]


def _penalty_blame(ctx: Context, penalty: dict[str, str], code: str) -> tuple[int | None, str | None, str, str]:
    """``(line, text, layer, fix)`` for an output collapse that the code's activity regularizer explains: the
    ``activity_regularizer=`` line, or the line that made the regularizer when it is passed by name."""
    reg_layer = code if code in penalty else next(iter(penalty))
    line, text = keyword_line(ctx, G.locate(ctx, reg_layer)[0], "activity_regularizer")
    fix = ("# a sparsity penalty far below the reconstruction loss (about 1e-5 per unit for L1):\n"
           "activity_regularizer=keras.regularizers.l1(1e-5)")
    # The regularizer made on a line of its own and passed by name (round 89's nc01: ``kld_reg =
    # KLDivergenceRegularizer(weight=5.0, target=0.005)``): its strength is set there.
    raw = None if line is None else line - ctx.options.line_offset
    bound = keyword_binding_line(ctx, raw, "activity_regularizer")
    if bound is not None and bound != raw and ctx.cell_line(bound) is not None:
        line, text = ctx.cell_line(bound), ctx.line_text(bound)
        weaker = weaker_binding(ctx, bound)
        if weaker is not None:
            fix = f"{weaker}  # a penalty well below the reconstruction"
    return line, text, reg_layer, fix


def confirm_collapse(
    ctx: Context, trace: dict[str, Any], found: list[Finding], longer_run: Callable[[], dict[str, Any]]
) -> list[Finding]:
    """Keep an AE404 that nothing found so far explains only when a run 4x as long (``longer_run()``) has not left
    the mean.

    A GRU sequence autoencoder can sit on the mean curve for hundreds of
    steps before it finds the phase (round 41's w08: RMSprop with a
    piecewise schedule, at the mean for 9 epochs of a healthy 20-epoch fit,
    then 0.43x its error). A collapse that a penalty, noise on the output,
    a dead code or a structure, data or gradient fault explains is reported
    as measured. When the longer run also collapses, the finding says so.
    """
    from ..report import CAUSES

    # An AE402 of the run ("loss barely moves") is the same plateau seen through the loss (round 41's w08 gave
    # one or the other on repeated checks): judged with it. A schedule's AE402 (found before the run) explains it.
    targets = [f for f in found if f.code in ("AE404", "AE402") and f.severity in ("warning", "error")]
    if not targets or any(k in f.evidence for f in targets for k in ("activity_regularizer", "weight_penalty")):
        return found
    causes = set(CAUSES.get("AE404", ())) | set(CAUSES.get("AE402", ())) | {"AE402"}
    # Dead units in the weights the cell's own fit left are not a firm cause: the longer run tests them (round 47's au05).
    spared = {"AE304"} if G.died_in_cell_fit(ctx) else set()
    if trailing_noise(ctx.model) or any(f.code in causes - spared and f.severity in ("warning", "error")
                                        for f in [*ctx.found, *found] if all(f is not t for t in targets)):
        return found
    if any("every unit of the code layer" in f.message for f in targets):
        return found
    longer = longer_run()
    if longer["diverged"]:
        return found
    n = len(trace["loss"])
    if output_collapse(ctx, longer, None):
        for f in targets:
            if f.code == "AE404":
                f.message += f" {sentence_start(describe(longer, BASELINE_CONFIRM_FACTOR))} is still collapsed."
        return found
    lb = longer.get("baselines") or {}
    final, mean = lb.get("final"), lb.get("position_mean") or lb.get("mean")
    if not all_finite([final, mean]) or mean <= 0:
        return found
    if final > LEFT_MEAN * mean and not _accelerating(trace, longer, targets):
        return found
    what = " and ".join(sorted({"AE404 (output collapse)" if f.code == "AE404" else "AE402 (loss barely moves)"
                                for f in targets}))
    seen = ("the reconstructions were nearly alike" if any(f.code == "AE404" for f in targets)
            else "the held-out error had barely moved")
    note = (f"{what} {'were' if ' and ' in what else 'was'} not reported: after the {n}-step probe run {seen}, "
            f"but {describe(longer, BASELINE_CONFIRM_FACTOR)} took the held-out error to {final / mean:.2f}x the "
            "mean's: a slow start, not a stall.")
    _note(ctx, note)
    return [f for f in found if all(f is not t for t in targets)]


# _accelerating: the longer run's steps after the probe run's length lower the held-out MSE at least this many
# times as fast per step as the probe run's did, and it ends this share of the mean's error or lower.
ESCAPE_PACE = 2.0
ESCAPE_BELOW = 0.98


def _accelerating(trace: dict[str, Any], longer: dict[str, Any], targets: list[Finding]) -> bool:
    """A plateau (AE402, or an AE404 the longer run no longer shows) that the longer run is leaving: a slow start.

    Round 49's bc10 (a return_state LSTM autoencoder under SGD(0.05, momentum), flat at the mean for about 20
    epochs of a healthy fit): the 145-step probe run lowered the held-out MSE 0.8%; the 4x run's later 435 steps
    lowered it 8% more, 3.4x the pace per step, to 0.92x the mean's (AE402 on one check, AE404 on another). A
    rate too low moves at a steady pace, and stays. The longer run repeats the probe run's first steps (same
    start, same seed), so its later steps' pace is (probe final - longer final) over the steps after the probe
    run's length. (Asked only once the longer run is not collapsed.)
    """
    b, lb = trace.get("baselines") or {}, longer.get("baselines") or {}
    start, mid, end, mean = b.get("start"), b.get("final"), lb.get("final"), b.get("mean")
    n, m = len(trace.get("loss") or []), len(longer.get("loss") or [])
    if not all_finite([start, mid, end, mean]) or m <= n or n <= 0 or mean <= 0:
        return False
    early = max((start - mid) / n, 0.0)
    later = (mid - end) / (m - n)
    return later > 0 and later >= ESCAPE_PACE * early and end <= ESCAPE_BELOW * mean


def _note(ctx: Context, text: str) -> None:
    """Add ``text`` to the report's notes once (a finding left out says why)."""
    if text not in ctx.notes:
        ctx.notes.append(text)


# confirm_collapse: the longer run has left the mean when its held-out error ends at most this share of the mean's.
LEFT_MEAN = 0.8


def _positions(ctx: Context) -> str:
    """What one position of the data is called: a sequence's time step and feature, an image's pixel and channel."""
    nd = getattr(ctx.target if ctx.target is not None else ctx.data, "ndim", 3)
    return "time step and feature" if nd == 3 else "pixel and channel" if nd >= 4 else "feature"


def not_started(tr: dict[str, Any]) -> bool:
    """The outputs are as alike as at the initial weights, the error is still far above the mean's, and falling.

    Not a collapse (a model that converged to an average) but one that has
    not got going yet: plain SGD at 0.01 on a conv autoencoder still creeping
    down from its start at 2.6x the mean after the probe run. The longer run
    of :func:`~ae_magic.checks.baseline.confirm_unbeaten` judges it.
    """
    pp = tr.get("per_position") or {}
    ratio, before, expl = pp.get("spread_ratio"), pp.get("spread_ratio_before"), pp.get("explained")
    if not all_finite([ratio, before, expl]) or expl > -NOT_REACHED:
        return False
    mse = [v for v in (tr.get("val_curve") or {}).get("mse") or [] if all_finite([v])]
    if len(mse) < 3:
        return False
    third = mse[-(len(mse) // 3 + 1)]
    return ratio >= 0.8 * before and third > 0 and (third - mse[-1]) / third >= STILL_FALLING


def stalled_at_start(tr: dict[str, Any]) -> bool:
    """The outputs are as alike as at the initial weights and neither the loss nor the error moved.

    Adadelta at Keras 3's default rate (0.001) leaves an autoencoder where
    it started: outputs as alike as at init (a random net's are), the loss
    flat. That is a stall, which AE402 names with the rate to use, not a
    model that learned to output the average.
    """
    pp = tr.get("per_position") or {}
    ratio, before = pp.get("spread_ratio"), pp.get("spread_ratio_before")
    b = tr.get("baselines") or {}
    mse0, mse1 = b.get("start"), b.get("final")
    l0 = tr.get("val_loss_before")
    l1 = tr["val_loss"][-1] if tr.get("val_loss") else l0
    if not all_finite([ratio, before, mse0, mse1, l0, l1]) or mse0 <= 0 or l0 == 0:
        return False
    return ratio >= 0.8 * before and abs(mse0 - mse1) / mse0 < STALLED_REL and abs(l0 - l1) / abs(l0) < STALLED_REL


# stalled_at_start: the loss and the error moved less than AE402's bar (relative) over the whole probe run,
# so AE402 is there to carry the finding.
STALLED_REL = STAGNANT_REL

# not_started: the held-out MSE is still this far above the per-position
# mean's (explained < -0.25: 1.25x its error, confirm_baseline's slow-start
# bar), and fell at least STILL_FALLING over the last third of the run.
NOT_REACHED = 0.25
STILL_FALLING = 0.1


def _moderate_lr(lr: float, sugg: float | None) -> float:
    """The range test's rate when it is clearly below the configured one,
    else a conventional 1e-3 (never above the configured rate): a suggestion
    of half a rate that collapsed the model is no fix). A rate far below the usual range (under 1e-5: round 87's
    lc05, Adam(1e-6), was told to keep 1e-6) gets the range test's rate when it is higher, else 1e-3."""
    if sugg is not None and sugg <= lr / 3:
        return sugg
    if lr < 1e-5:
        return sugg if sugg is not None and sugg > lr else 1e-3
    return min(lr, 1e-3)

