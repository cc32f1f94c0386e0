"""AE401-AE407: a short training run on a copy of the model.

``check_training`` runs (on the probe session's copy) the learning-rate range
test when ``options.range_test`` is on, the probe run, and the short
confirmation run behind AE406; it stores ``traces["lr_range"]`` and
``traces["training"]`` and judges them. The judges read the traces only; each
lives in the module named for what it finds: ``loss_curve`` (AE401-AE403),
``output_collapse`` (AE404), ``baseline`` (AE405), ``faster_rate`` (AE406),
``posterior`` (AE407).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import probes as probe
from ..context import Context
from ..numeric import all_finite
from ..report import CAUSES, Finding
from . import gradients as G
from .baseline import (
    BASELINE_CONFIRM_FACTOR,
    baseline,
    blame_dominant_penalty,
    confirm_baseline,
    confirm_penalty,
    confirm_unbeaten,
    explained_unbeaten,
    far_from_pca,
    left_baseline,
    name_slow_steps,
    penalty_unbeaten,
    unbeaten,
    unconfirmed_baseline,
)
from .baseline import PLATEAU_REL as PLATEAU_REL
from .baseline import SETTLE_MARGIN as SETTLE_MARGIN
from .baseline import settling_limit as settling_limit
from .batch_sum import name_batch_sum
from .clipping import name_tight_clip
from .diverged_weights import name_summed_loss
from .faster_rate import FASTER_GAIN as FASTER_GAIN
from .faster_rate import confirm_suggested_rate, faster
from .loss_curve import confirm_oscillation, oscillating, stagnant
from .loss_curve import diverged as diverged_loss
from .loss_direction import step_loss_away
from .loss_weights import name_low_loss_weight
from .masking import name_mask_collision
from .nonfinite_source import unguarded_loss_log
from .optimizer_source import capped_suggestion
from .output_collapse import confirm_collapse, output_collapse
from .pairing import pairing, unpaired_fix, unpaired_line, unpaired_sentence
from .per_sample_loss import name_per_sample_loss
from .posterior import confirm_posterior, is_collapse, kl_term_collapse, name_negative_kl, posterior_collapse
from .rate_advice import name_high_rate, name_slow_rate, verify_rate_advice
from .recurrent_blowup import recurrent_blowup
from .sampling import check_sampling
from .split_gradients import name_kl_only_encoder
from .step_dataflow import name_decoder_without_data
from .step_failure import failed_step
from .wrecked_start import name_wrecking_rate

# (The ``X as X`` imports re-export the thresholds and the settling limit that
# tests and docs name as ``training.X``.)

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
        return failed_step(ctx, exc)


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
        confirm_suggested_rate(sess, o, trace, lr_trace, ctx)
    found = judge(ctx, trace, lr_trace)
    suspect = [f for f in found if f.code in LR_CODES]
    if lr_trace is None and suspect and not all(_caused(ctx, found, f.code) for f in suspect):
        # The range test was off (the fast default): run it now that the
        # learning rate is suspect, so the messages can name a better one.
        # Not when a cause found before explains every such finding
        # (unscaled data, a saturating or cut-off layer): the rate is then
        # not the fault, and a rate measured on that model would not carry
        # over to the fixed one.
        ctx.traces["lr_range"] = lr_trace = sess.range_test(progress=o.progress)
        lr_trace["configured"] = trace["lr"]
        lr_trace["on_demand"] = True
        found = judge(ctx, trace, lr_trace)
    runs: dict[str, dict[str, Any]] = {}

    def at_rate(lr: float) -> dict[str, Any]:
        # The run at another rate is a comparison only: an own-step session's update ratios (AE301) stay the
        # configured run's.
        kept = getattr(sess, "updates", None)
        try:
            return sess.train(steps=len(trace["loss"]), lr=lr, progress=o.progress,
                              val_points=len(trace["val_curve"]["steps"]))
        finally:
            if kept is not None:
                sess.updates = kept

    def longer_run() -> dict[str, Any]:
        # One longer run serves every confirmation (AE405, AE407), evaluated
        # as often as the probe run was (not 4x as often). When only AE405
        # asks, it ends once the held-out MSE is clearly past any AE405 bar:
        # the slow start has shown itself, and the rest would only cost time.
        if "longer" not in runs:
            stop = None if any(map(is_collapse, found)) else left_baseline(trace)
            # (It also ends once it froze: every gradient zero and the weights unchanged, a dead network's 4x run.)
            runs["longer"] = sess.train(steps=BASELINE_CONFIRM_FACTOR * len(trace["loss"]), progress=o.progress,
                                        val_points=len(trace["val_curve"]["steps"]), stop=stop, until_frozen=True)
            ctx.cache["longer_training"] = runs["longer"]  # the gradient checks' refine reads it (AE302)
        return runs["longer"]

    cause = _cause_before_training(ctx, "AE405", firm=True)
    if cause == "AE304" and G.died_in_cell_fit(ctx):
        # Dead units in the weights the cell's own short fit left (round 47's au05, a healthy slow starter whose
        # 3 epochs left 6 of its 8 code units dead) may be a phase of the slow start, not its cause: the longer
        # run tells (and refine then judges AE304 on it too).
        cause = None
    if any(f.code == "AE405" for f in found) and not trace["diverged"] and cause and not any(map(is_collapse, found)):
        # A structure, data or gradient fault found before the run already
        # explains a model that does not beat the mean (a sigmoid output on
        # standardised targets): the run 4x as long would only tell whether
        # the consequence lasts, so AE405 stays what the probe run measured.
        found = unconfirmed_baseline(found, cause)
    elif any(f.code == "AE405" for f in found) and not trace["diverged"]:
        found = confirm_baseline(ctx, trace, found, longer_run)
    elif not trace["diverged"] and penalty_unbeaten(ctx, trace) and not _explained(ctx, found, spare_killed=True):
        # A penalty on the code and an end near the mean: the longer run tells a slow start from a held code.
        found = confirm_penalty(ctx, trace, found, longer_run)
    elif not trace["diverged"] and unbeaten(trace) and not _explained(ctx, found):
        # Still above the mean when the short run ended: a slow start, or a model that settles there.
        found = confirm_unbeaten(ctx, trace, found, longer_run)
    elif (not trace["diverged"] and (unbeaten(trace) or far_from_pca(trace))
          and (error := _explaining_error(ctx, found)) is not None):
        found = found + explained_unbeaten(trace, error)
    if not trace["diverged"]:
        found = blame_dominant_penalty(ctx, trace, found)
    if any(map(is_collapse, found)) and not trace["diverged"]:
        found = confirm_posterior(ctx, trace, found, longer_run)
    if not trace["diverged"] and any(f.code in ("AE404", "AE402") for f in found):
        found = confirm_collapse(ctx, trace, found, longer_run)
    if any(f.code == "AE403" and f.evidence.get("transient_spike") for f in found):
        found = _confirm_after_spike(ctx, found, longer_run)
    elif any(f.code == "AE403" for f in found) and not trace["diverged"]:

        def leaves_mean() -> bool:
            # The longer run at the configured rate (shared with AE405's confirmation) past every AE405 bar.
            stop = left_baseline(trace)
            longer = longer_run()
            final = longer["baselines"].get("final")
            return stop is not None and not longer["diverged"] and all_finite([final]) and stop(0, float(final))

        found = confirm_oscillation(ctx, trace, found, at_rate, leaves_mean)
    if (not trace["diverged"] and "longer" not in runs and not G.probe_learned(ctx)[0]
            and any(f.code == "AE302" and f.severity in ("warning", "error") for f in ctx.found)):
        # Small gradients at the initial weights: AE302 stands only if the loss does not move under the
        # optimizer. A probe run that did not learn may be a slow start; the longer run tells (refine reads it).
        longer_run()
    if (not trace["diverged"] and "longer" not in runs and not G.probe_learned(ctx)[0] and G.died_in_cell_fit(ctx)
            and any(f.code == "AE304" and f.severity == "warning" and f.evidence.get("when") == "at the initial weights"
                    for f in ctx.found)):
        # Units dead in the weights the cell's own fit left, and a probe run from them not yet clearly learning
        # (round 77's dr06, unseeded: 6 of an ECG model's 8 code units dead after its 3-epoch fit, the probe run
        # ending 1.09x the mean's error, a slow starter that 25 epochs take to 0.1x): refine's AE304 judges the
        # longer run (gradients._learns_anyway).
        longer_run()
    if (not trace["diverged"] and "longer" not in runs and not G.probe_learned(ctx)[0]
            and not any(f.code in ("AE404", "AE405") and f.severity in ("warning", "error") for f in found)
            and any(f.code == "AE106" and f.severity == "warning" and f.evidence.get("activation") in G.ZERO_CENTRED
                    for f in ctx.found)):
        # A tanh code, a slow starter (round 37: a BatchNorm + SGD-momentum expression AE whose probe run ended
        # at 0.93x the mean's error): refine judges the structure's risk on the longer run when it stays unsaturated.
        longer_run()
    found = verify_rate_advice(ctx, trace, found, at_rate)
    found = name_slow_steps(trace, runs.get("longer"), found)  # after it: a rate the repeat confirmed stays the fix
    found = name_slow_rate(ctx, trace, found, runs.get("longer"), at_rate)
    found = name_high_rate(ctx, trace, found, at_rate)
    found = name_wrecking_rate(ctx, sess, trace, found, at_rate)
    found = name_tight_clip(ctx, sess, trace, found)
    found = name_summed_loss(ctx, found)
    found = _name_nan_term(ctx, trace, found)
    found = _name_unguarded_log(ctx, trace, found)
    found = name_low_loss_weight(ctx, trace, found)
    found = name_per_sample_loss(ctx, trace, found)
    found = name_batch_sum(ctx, trace, found)
    found = name_decoder_without_data(ctx, trace, found)
    found = name_kl_only_encoder(ctx, trace, found)
    return name_negative_kl(ctx, trace, name_mask_collision(ctx, _name_heavy_dropout(ctx, _name_unpaired(ctx, trace, found))))


def _name_nan_term(ctx: Context, tr: dict[str, Any], found: list[Finding]) -> list[Finding]:
    """AE401 on a model whose own train_step reports its loss terms: name the term that went NaN first, at its line.

    Round 23: a VAE with a linear ``sigma`` head takes ``ops.log(sigma)`` in its KL: ``kl_loss`` is NaN from the
    first step while ``reconstruction_loss`` stays finite. The sum's NaN says nothing about where it comes from.
    """
    from .posterior import term_line

    terms = {k: np.asarray(v, dtype=np.float64) for k, v in (tr.get("loss_terms") or {}).items() if len(v)}
    f = next((f for f in found if f.code == "AE401"), None)
    if f is None or len(terms) < 2:
        return found
    bad_at = {k: int(np.argmax(~np.isfinite(v))) for k, v in terms.items() if not np.all(np.isfinite(v))}
    if not bad_at:
        return found
    first = min(bad_at.values())
    if first > 0:
        return found  # a term that blows up over the steps is a divergence (a flipped KL sign, a rate), not its formula
    parts = [k for k, at in bad_at.items() if at == first and k not in ("loss", "total_loss", "total")]
    fine = [k for k, v in terms.items() if k not in bad_at or bad_at[k] > first]
    if len(parts) != 1 or not fine:
        return found
    term = parts[0]
    line, text = term_line(ctx, term)
    f.message += (f" The train_step reports its loss terms: `{term}` is NaN/Inf from step {first} while "
                  f"`{fine[0]}` stays finite, so the NaN comes from how `{term}` is computed"
                  + (f" (line {line})" if line is not None else "")
                  + ": a log or square root of a value that can be 0 or negative (a head with no positive "
                  "activation), or a division by one.")
    f.evidence["nan_term"] = {"term": term, "step": first, "finite": fine}
    f.fix = (f"# make what {term} takes a log or square root of positive: e.g. a log-variance head and exp(),\n"
             "#   sigma = ops.exp(0.5 * z_log_var); or a softplus/exponential activation on the head")
    f.edit = None
    if line is not None:
        f.line, f.source_line, f.layer = line, text, None
    return found


# A loss NaN by this step at the latest is the loss's formula, not steps that overshoot.
EARLY_NAN = 10


def _name_unguarded_log(ctx: Context, tr: dict[str, Any], found: list[Finding]) -> list[Finding]:
    """AE401 whose loss went NaN within EARLY_NAN steps, where the loss's code takes a log or square root of a
    bare variable: named at that line, not at the learning rate.

    Round 86's kc05: a Conv1D VAE with a learned output variance whose NLL layer writes ``0.5 * ops.log(x_logvar)
    + ... / x_logvar`` of a linear head (a log-variance read as a variance): NaN at step 2 under Adam(1e-3), and
    AE401 told the user the steps overshoot.
    """
    f = next((f for f in found if f.code == "AE401" and f.evidence.get("nonfinite")), None)
    if f is None or any(k in f.evidence for k in ("subtracted_term", "reversed_kl", "nan_term", "sampling")):
        return found
    losses = np.asarray(tr.get("loss") or [], dtype=np.float64)
    bad = int(np.argmax(~np.isfinite(losses))) if len(losses) and not np.all(np.isfinite(losses)) else None
    hit = unguarded_loss_log(ctx) if bad is not None and bad <= EARLY_NAN else None
    if hit is None or ctx.cell_line(hit[0]) is None:
        return found
    raw, fn, arg = hit
    line = ctx.cell_line(raw)
    # The rate advice after the first sentence ("the steps overshoot") is what this replaces.
    f.message = f.message.split(". ", 1)[0] + "."
    f.message += (f" The loss takes {fn}(`{arg}`) at line {line}, of a value the model computes with nothing that "
                  f"keeps it positive: wherever `{arg}` reaches 0 or below, the loss is NaN, within the first steps "
                  "whatever the learning rate. A head named for a log-variance is used through exp(), not as the "
                  "variance itself.")
    f.line, f.source_line, f.layer, f.edit = line, ctx.line_text(raw), None, None
    f.evidence["unguarded"] = {"function": fn, "argument": arg, "line": line, "step": bad}
    f.fix = (f"# line {line}: keep what {fn}() takes positive; for a log-variance head use it as such, e.g.\n"
             f"# 0.5 * {arg} + 0.5 * ops.square(x - x_mu) * ops.exp(-{arg})   (or a softplus activation on the head)")
    return found


# A Dropout rate at or above this, on a model whose outputs collapse or do not beat the mean, is named as the cause.
HEAVY_DROPOUT = 0.5
# A Dropout rate that is a warning on its own, with no symptom measured yet.
EXTREME_DROPOUT = 0.8


def _name_heavy_dropout(ctx: Context, found: list[Finding]) -> list[Finding]:
    """AE404/AE405 on a model with Dropout(rate >= HEAVY_DROPOUT): the message names the rate and its line.

    Round 22: TF1's ``keep_prob = 0.8`` passed to ``layers.Dropout``, whose argument is the share to *drop*:
    80% of the units dropped after every hidden layer, and the model learns the mean (1.0x; 0.06x with 0.2).
    """
    from ..probes.traces import leaf_layers
    from .locate import layer_line

    # A cause found before the run (unscaled data, a sigmoid on z-scores) keeps the blame.
    hit = [f for f in found if f.code in ("AE404", "AE405") and _cause_before_training(ctx, f.code) is None]
    if ctx.model is None or (not hit and any(f.code in ("AE404", "AE405") for f in found)):
        return found
    heavy = [ly for ly in leaf_layers(ctx.model) if "Dropout" in type(ly).__name__
             and float(getattr(ly, "rate", 0.0) or 0.0) >= HEAVY_DROPOUT]
    if not heavy:
        return found
    rate = max(float(ly.rate) for ly in heavy)
    line, text = next((layer_line(ctx, ly) for ly in heavy if layer_line(ctx, ly)[0] is not None), (None, None))
    if not hit:
        # No symptom in the short run (the model still learns something), but a rate no autoencoder wants,
        # or one spelled as a keep probability (round 25: KEEP_PROB = 0.9 after every conv block, 5x the
        # error of rate 0.1 after 30 epochs).
        if not (rate >= EXTREME_DROPOUT or "keep" in (text or "").lower()):
            return found
        b = (ctx.traces.get("training") or {}).get("baselines") or {}
        final, mean = b.get("final"), b.get("mean")
        where = (f" In the probe run the held-out error ended at {final:.3g}, {final / mean:.0%} of the mean's."
                 if isinstance(final, float) and isinstance(mean, float) and mean > 0 else "")
        f = Finding(code="AE405", severity="warning", title="Dropout drops most of the signal",
                    message=(f"The model drops {rate:.0%} of its units at every training step ({len(heavy)} Dropout "
                             f"layer{'s' if len(heavy) > 1 else ''} with rate >= {HEAVY_DROPOUT:g}). Dropout's argument "
                             f"is the share to drop, not to keep (TF1's keep_prob): the decoder learns from {1 - rate:.0%} of "
                             f"the signal and its reconstructions stay far above what the same model reaches.{where}"),
                    line=line, source_line=text, layer=heavy[0].name,
                    evidence={"heavy_dropout": {"rate": rate, "layers": [ly.name for ly in heavy]}},
                    fix=f"layers.Dropout({1 - rate:.1g})  # the share to drop; keep_prob={rate:g} means rate={1 - rate:.1g}")
        found.append(f)
        return found
    for f in hit:
        f.message += (f" The model drops {rate:.0%} of its units at every training step ({len(heavy)} Dropout layer"
                      f"{'s' if len(heavy) > 1 else ''} with rate >= {HEAVY_DROPOUT:g}): Dropout's argument is the share "
                      "to drop, not to keep (TF1's keep_prob), and so little gets through that the decoder can only "
                      "learn the average.")
        f.evidence["heavy_dropout"] = {"rate": rate, "layers": [ly.name for ly in heavy]}
        f.fix = f"layers.Dropout({1 - rate:.1g})  # the share to drop; keep_prob={rate:g} means rate={1 - rate:.1g}"
        f.edit = None
        if line is not None:
            f.line, f.source_line, f.layer = line, text, heavy[0].name
    return found


def _confirm_after_spike(ctx: Context, found: list[Finding], longer_run: Any) -> list[Finding]:
    """Keep an AE403 whose curve had a one-point spike only when a run 4x as long still goes up and down.

    Round 21: a relu LSTM under Adam(1e-3) spikes once (0.3 -> 9), settles a little higher for the rest
    of the short probe run, and a run 4x as long takes it on down to half the mean's error; ``fit`` for
    20 epochs ends at 0.07x. The spike is what relu recurrences do now and then, not a rate that overshoots
    every step.
    """
    low = next(f.evidence["low_before_spike"] for f in found if f.code == "AE403")
    longer = longer_run()
    v = [x for x in longer["val_curve"]["loss"] if np.isfinite(x)]
    if longer["diverged"] or not v or not v[-1] < low:
        return found
    ctx.notes.append(
        f"The validation loss spiked once during the probe run and settled higher after it (it had reached {low:.4g} "
        f"before the spike), but a run of {len(longer['loss'])} steps recovered and went on below that, to {v[-1]:.4g}: "
        "one exploding step, not a rate that overshoots every step, so AE403 is not reported. If fit shows such "
        "spikes often, clipnorm=1.0 in the optimizer stops them."
    )
    return [f for f in found if f.code != "AE403"]


# _name_unpaired: with input and target measured unpaired, a run that ends at this share of the mean's error or
# above is held there by the data (matched denoising pairs end far below the mean).
UNPAIRED_NEAR_MEAN = 0.9


def _name_unpaired(ctx: Context, trace: dict[str, Any], found: list[Finding]) -> list[Finding]:
    """AE404/AE405 on a target whose rows do not belong to the input's rows: the message names that cause and its line.

    Nothing in the input predicts a target shuffled apart from it, so the
    run can only learn the mean; the symptom's own advice (rates, capacity)
    would send the user the wrong way. When the run ended just under
    AE405's bar (round 45: channels-first noisy images reshaped, not
    transposed, a conv denoiser at 0.96x the mean's error, its inputs'
    positions scrambled against the target's), the measured pairing and an
    end within UNPAIRED_NEAR_MEAN of the mean are AE405 on their own.
    """
    hit = [f for f in found if f.code in ("AE404", "AE405")]
    p = pairing(ctx) if ctx.target is not None and ctx.target is not ctx.data else None
    if not p or (p["paired"] and p.get("noise_to_target") is None):
        return found
    b = trace.get("baselines") or {}
    final, mean = b.get("final"), b.get("mean")
    if not hit and not trace.get("diverged") and all_finite([final, mean]) and mean > 0 and final >= UNPAIRED_NEAR_MEAN * mean:
        hit = [Finding(
            code="AE405", severity="warning", title="Worse than a trivial baseline",
            message=(f"After the probe run the reconstruction error (MSE on held-out samples) is {final:.4g}, "
                     f"{final / mean:.2f}x what predicting the per-feature mean of the target reaches ({mean:.4g})."),
            evidence={"final_mse": final, "mean_mse": mean},
        )]
        found = found + hit
    line, text = unpaired_line(ctx)
    for f in hit:
        f.message += unpaired_sentence(ctx, p)
        f.evidence["pairing"] = p
        f.fix = unpaired_fix(ctx)
        if line is not None:
            f.line, f.source_line, f.layer = line, text, None
    return found


def _caused(ctx: Context, found: list[Finding], code: str) -> bool:
    """A warning or error that report.CAUSES lists as a cause of ``code`` is among the findings so far.

    Units alive at the initial weights that the run's learning rate killed
    (AE304 with ``evidence["lr"]``) do not count: the rate is the fault
    there, and the range test names a better one (round 13: Adam(0.1) on a
    deep ReLU autoencoder, dead units and a constant output).
    """
    causes = set(CAUSES.get(code, ()))
    return any(f.code in causes and f.severity in ("warning", "error") and not _killed_by_the_rate(f)
               for f in [*ctx.found, *found])


def _killed_by_the_rate(f: Finding) -> bool:
    return f.code == "AE304" and f.evidence.get("lr") is not None


def _cause_before_training(ctx: Context, code: str, *, firm: bool = False) -> str | None:
    """The first code in ``CAUSES[code]`` found as a warning or error before the training probe ran, if any.

    Only the structure, data and gradient checks count (``ctx.found``), not
    the symptoms the same probe run measured (AE402 beside AE405 is no
    explanation of it). ``firm``: leave out the causes a longer run has to bear out (``TENTATIVE``).
    """
    before = {f.code for f in ctx.found if f.severity in ("warning", "error")}
    return next((c for c in CAUSES.get(code, ()) if c in before and not (firm and c in TENTATIVE)), None)


# Causes that a longer run must bear out before they explain a model on the mean: small gradients at the
# initial weights are AE302 only when the loss does not move (Adam rescales them; round 29's inpainting model
# of separable convs left the mean after 4x the probe run).
TENTATIVE = {"AE302"}


def _explained(ctx: Context, found: list[Finding], *, spare_killed: bool = False) -> bool:
    """A warning or error found so far already explains a model that does not beat the mean (report.CAUSES).

    The longer run behind an unbeaten probe run is for a failure that
    nothing else explains; with a cause named (a bad initializer, unscaled
    data, a mismatched loss) it would only add a consequence, at the cost
    of a run 4x as long.
    """
    causes = (set(CAUSES["AE405"]) | {"AE405"}) - TENTATIVE
    return any(f.code in causes and f.severity in ("warning", "error") and not (spare_killed and _killed_by_the_rate(f))
               for f in [*ctx.found, *found])


def _explaining_error(ctx: Context, found: list[Finding]) -> Finding | None:
    """The first structure, data or gradient error found so far that report.CAUSES lists as a cause of AE405 (a
    warning is not enough), when no training symptom already says what the run did (AE401 diverged, AE404
    collapsed). Round 39: a tied decoder multiplying by a frozen copy of its kernel (AE301 error) ended the run at
    3x the mean's error, and the report said nothing of what that cost."""
    if any(f.code in ("AE401", "AE404") for f in [*ctx.found, *found]):
        return None
    causes = {c for c in CAUSES["AE405"] if c.startswith(("AE1", "AE2", "AE3"))}
    return next((f for f in [*ctx.found, *found] if f.code in causes and f.severity == "error"), None)


CHECKS: list = [check_training]

# Findings whose message and fix name a learning rate from the range test.
LR_CODES = {"AE401", "AE402", "AE403", "AE404"}


def judge(ctx: Context, tr: dict[str, Any], lr_trace: dict[str, Any] | None) -> list[Finding]:
    """AE401-AE406 (and AE304/AE305 after the run) from the traces."""
    out: list[Finding] = []
    sugg = (lr_trace or {}).get("suggested")
    # A train_step whose loss falls while the reconstruction worsens optimises the wrong thing: that, not
    # the learning rate, is why the reconstruction error "diverged".
    diverged = step_loss_away(ctx, tr) or diverged_loss(ctx, tr, sugg)
    # A relu LSTM's state overflowing: the cause of the blow-up AE401 measures (which then goes under it).
    out += recurrent_blowup(ctx, tr)
    out += diverged
    collapse = [] if diverged else output_collapse(ctx, tr, sugg)
    out += collapse
    if not diverged:
        out += stagnant(ctx, tr, sugg)
        out += oscillating(ctx, tr, sugg)
        if not collapse:
            out += baseline(ctx, tr)
        out += posterior_collapse(ctx, tr, collapse + out)
        out += kl_term_collapse(ctx, tr, out)
        out += faster(ctx, tr, lr_trace)
    out += _after_run_units(ctx, tr, sugg)
    return check_sampling(ctx, tr, out)


# -- AE304/AE305 after the run ------------------------------------------------
def _after_run_units(ctx: Context, tr: dict[str, Any], sugg: float | None = None) -> list[Finding]:
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
    # Units measured alive at the initial weights that the run killed: the steps did it (most often a rate too high).
    killed = [a for a in fresh_dead if (a.get("dead_share") or 0.0) >= DEAD_SHARE_AFTER]
    was_alive = bool(killed) and all((init.get(a["layer"]) or {}).get("dead_share") is not None for a in killed)
    return G._dead(ctx, fresh_dead, "after the probe run", threshold=DEAD_SHARE_AFTER,
                   killed_at=tr.get("lr") if was_alive else None, sugg=capped_suggestion(ctx, sugg)) + _harmless_if_learned(
        ctx, tr, G._saturated(ctx, fresh_sat, "after the probe run"))


def _harmless_if_learned(ctx: Context, tr: dict[str, Any], found: list[Finding]) -> list[Finding]:
    """AE305 after a run that learned is info: the units saturated, and the reconstruction got good anyway.

    Round 37: a tied-weights tanh autoencoder under SGD(0.1, Nesterov) drives 82 % of its 32 code units to
    +-1 (a near-binary code) while the held-out MSE falls from 0.72 to 0.20, well below the mean's 0.33.
    "They barely learn" was a false alarm there; a stack whose saturation stops learning never meets this.
    """
    learned, start, final, mean = G.probe_learned(ctx)
    if not found or not learned or tr.get("diverged"):
        return found
    for f in found:
        f.severity = "info"
        f.evidence["learned"] = {"mse_start": start, "mse_end": final, "mean_baseline": mean}
        f.message += (f" Measured, it did no harm here: the probe run lowered the held-out MSE from {start:.3g} to "
                      f"{final:.3g} (the per-feature mean reaches {mean:.3g}), so the saturated units code the input "
                      "as near-binary values. Worth changing only if longer training stalls.")
    return found


# -- refine ------------------------------------------------------------------
def refine(ctx: Context, findings: list[Finding]) -> list[Finding]:
    """AE111 (output ignores input) becomes an error when the run shows collapse."""
    if any(f.code == "AE404" for f in findings):
        for f in findings:
            if f.code == "AE111" and f.severity != "error":
                f.severity = "error"
                f.message += " The training probe confirms it: the outputs collapsed to one reconstruction."
    return findings
