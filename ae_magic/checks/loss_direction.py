"""AE108 for a hand-written loss that is not lowest at a perfect reconstruction.

A similarity returned as a loss (``return tf.image.ssim(...)`` instead of
``1 - ssim``), a correlation, or a sign slip makes training move the output
away from the target: the loss falls while the reconstruction gets worse
(round 25: inverted images). Measured in the loss's own units on the
held-out split the training probe already holds: the loss of the target
itself against the loss of the per-feature mean (``baselines.loss_units``).
"""

from __future__ import annotations

import ast
import re
from typing import Any

import numpy as np

from .. import keras_compat as kc
from ..context import Context
from ..numeric import all_finite
from ..report import Finding
from .baseline import STANDARD_LOSSES, explained_unbeaten, hand_written_units
from .locate import loss_def_line, loss_line, loss_return_line


def check_loss_direction(ctx: Context) -> list[Finding]:
    """AE108: the compiled (hand-written) loss of the target itself is no lower than the mean's."""
    tr = ctx.traces.get("training") or {}
    name = tr.get("loss_name")
    if not isinstance(name, str) or kc.canonical_name(name) in STANDARD_LOSSES:
        return []
    units = (tr.get("baselines") or {}).get("loss_units") or {}
    mean, exact = units.get("mean"), units.get("target")
    if not all_finite([mean, exact]) or exact < mean - 1e-6 * max(abs(mean), 1.0):
        return []
    line, src = loss_def_line(ctx, name)
    return [Finding(
        code="AE108", severity="error", title="The loss is not lowest at a perfect reconstruction",
        message=(f"The loss `{name}` gives {exact:.4g} for an output equal to the target, and {mean:.4g} for the "
                 "per-feature mean of the data: it is not lowest at a perfect reconstruction, so minimising it moves "
                 "the output away from the target. A similarity (SSIM, a correlation) returned as a loss needs "
                 "`1 - similarity` (or its negative)."),
        line=line, source_line=src,
        evidence={"loss": name, "loss_of_target": exact, "loss_of_mean": mean},
        fix="return 1.0 - similarity  # a loss must be smallest when y_pred equals y_true",
    )]


check_loss_direction.family = "training"  # type: ignore[attr-defined]


def _hand_written(ctx: Context) -> tuple[str, dict[str, Any]] | None:
    """The compiled loss's name and its loss-unit baselines, for a loss that is not one of Keras' own."""
    tr = ctx.traces.get("training") or {}
    units = hand_written_units(tr)
    return None if units is None else (str(tr.get("loss_name")), units)


def check_loss_unbounded(ctx: Context) -> list[Finding]:
    """AE108: a hand-written loss that keeps falling as the output moves past the target (a signed error).

    Round 27: a channel-weighted loss summing ``y_true - y_pred`` with no square or absolute value is zero at
    the target and falls without bound as the output grows: the run drives the outputs up (the loss went to
    -17.6 while the reconstruction error grew 600x). Measured on the probe's held-out split: the loss at the
    target, and at outputs moved half and one feature std past it, up and down. A sound loss rises both ways.
    """
    found = _hand_written(ctx)
    if found is None:
        return []
    name, units = found
    exact, shifted, mean = units.get("target"), units.get("shifted") or {}, units.get("mean")
    if not all_finite([exact]):
        return []
    if all_finite([mean]) and exact >= mean - 1e-6 * max(abs(mean), 1.0):
        # Not lowest at the target at all: check_loss_direction's finding, at the same line, says what to change
        # (round 86's ka02, an SSIM returned as the loss, got both, and this one's "signed error" was wrong there).
        return []
    for way in ("up", "down"):
        one, two = [*(shifted.get(way) or []), None, None][:2]
        if not all_finite([one, two]):
            continue
        tol = 1e-6 * max(abs(exact), 1.0)
        if one < exact - tol and two < one - tol:
            line, src = _line_in_loss(ctx, name, "signed")
            return [Finding(
                code="AE108", severity="error", title="The loss falls without bound past the target",
                message=(f"The loss `{name}` gives {exact:.4g} for an output equal to the target, {one:.4g} for an "
                         f"output {shifted['step']:.3g} {'above' if way == 'up' else 'below'} it and {two:.4g} at twice "
                         "that: it keeps falling as the output moves past the target, so training pushes the outputs "
                         "away without bound while the loss goes down. A signed error (`y_true - y_pred` without a "
                         "square or an absolute value) does this."),
                line=line, source_line=src,
                evidence={"loss": name, "loss_of_target": exact, "step": shifted["step"], "direction": way,
                          "loss_past_target": [one, two]},
                fix="err = ops.square(y_true - y_pred)  # or ops.abs(...): a loss must be smallest at y_pred == y_true",
            )]
    return []


check_loss_unbounded.family = "training"  # type: ignore[attr-defined]


# The loss of outputs set to other samples' targets, below this share of the mean's: it does not compare each
# sample with its own target (a sound loss charges about twice the mean's there).
SHUFFLED_SHARE = 0.5


def check_loss_batch_blind(ctx: Context) -> list[Finding]:
    """AE108: a hand-written loss that cannot tell which output belongs to which sample (reduced over the batch).

    Round 27: a weighted MSE written as ``ops.mean(y_true - y_pred, axis=0)`` squared compares the batch's
    average output with its average target. Every sample's own reconstruction is free, and the model outputs
    roughly the mean image while the loss reads near zero.
    """
    found = _hand_written(ctx)
    if found is None:
        return []
    name, units = found
    exact, mean, shuffled = units.get("target"), units.get("mean"), units.get("shuffled")
    if not all_finite([exact, mean, shuffled]) or not mean > exact + 1e-6 * max(abs(mean), 1.0):
        return []  # a loss not lowest at the target is check_loss_direction's
    if shuffled - exact > SHUFFLED_SHARE * (mean - exact) or check_loss_unbounded(ctx):
        return []  # (a signed error is blind to the batch too; its own finding says more)
    line, src = _line_in_loss(ctx, name, "batch")
    return [Finding(
        code="AE108", severity="error", title="The loss does not compare each sample with its own target",
        message=(f"The loss `{name}` gives {shuffled:.4g} when every output is set to another sample's target, "
                 f"less than for the per-feature mean ({mean:.4g}; {exact:.4g} at the targets themselves): it cannot "
                 "tell which output belongs to which sample. It reduces over the batch axis before comparing "
                 "(`ops.mean(..., axis=0)`), so only the batch's average output is trained, and the model learns "
                 "the average sample."),
        line=line, source_line=src,
        evidence={"loss": name, "loss_of_target": exact, "loss_of_mean": mean, "loss_of_shuffled_targets": shuffled},
        fix="err = ops.mean(ops.square(y_true - y_pred), axis=-1)  # reduce over features, per sample: never axis=0",
    )]


check_loss_batch_blind.family = "training"  # type: ignore[attr-defined]


# The loss of each target scaled by 1/2 and by 2, within this share of (mean's loss - target's loss) of the
# target's own loss: the loss cannot see a sample's scale.
SCALE_BLIND_SHARE = 1e-3


def check_loss_scale_blind(ctx: Context) -> list[Finding]:
    """AE108: a loss that scores each sample's direction only (cosine similarity), measured to have cost the run.

    Round 43's ac04: ``loss="cosine_similarity"`` on absorbance spectra. Half and twice each target score exactly
    as the target does, so the intensity (the concentration) is never learned: the held-out MSE ended at 5.8x
    the per-feature mean's, and the report named the collapse it caused, or nothing of the loss. Any loss, Keras'
    own or hand-written, whose value at scaled targets equals its value at the targets; reported only when the
    probe run's reconstruction did not beat the mean (an output that is renormalised by design stays silent).
    """
    tr = ctx.traces.get("training") or {}
    if kc.canonical_name(str(tr.get("loss_name"))) in ("cce", "scce"):
        return []  # a categorical loss normalises its output by design; on a reconstruction it is AE108's own reading
    if any(f.code == "AE203" for f in ctx.found):
        # Targets the output cannot produce (0-255 under a sigmoid, round 88's mb07): the loss clips an output
        # "equal to the target", and its halves and doubles, to the same probability, so they score alike for
        # any loss. The reading says nothing of the loss; AE203 names the targets.
        return []
    b = tr.get("baselines") or {}
    units = b.get("loss_units") or {}
    exact, mean, scaled = units.get("target"), units.get("mean"), units.get("scaled") or []
    if not all_finite([exact, mean, *scaled]) or len(scaled) != 2 or not mean > exact + 1e-6 * max(abs(mean), 1.0):
        return []
    if max(abs(v - exact) for v in scaled) > SCALE_BLIND_SHARE * (mean - exact):
        return []
    final, mse_mean = b.get("final"), b.get("mean")
    if not all_finite([final, mse_mean]) or final < mse_mean:
        return []  # the reconstruction beat the mean anyway: the loss's blind spot cost nothing measurable
    name = str(tr.get("loss_name"))
    line, src = loss_return_line(ctx, name)  # a hand-written loss's return, else where the loss is set
    if line is None:
        line, src = loss_line(ctx)
    cause = Finding(
        code="AE108", severity="error", title="The loss cannot see the scale of the reconstruction",
        message=(f"The loss `{name}` gives {exact:.4g} for an output equal to the target, and the same for the target "
                 f"scaled by half or by two ({scaled[0]:.4g}, {scaled[1]:.4g}): it scores only the direction of each "
                 "sample, so the model is never taught its intensity. Measured: after the probe run the "
                 f"reconstruction error (MSE on held-out samples) is {final:.4g}, no better than predicting the "
                 f"per-feature mean ({mse_mean:.4g})."),
        line=line, source_line=src,
        evidence={"loss": name, "loss_of_target": exact, "loss_of_mean": mean, "loss_of_scaled_targets": list(scaled),
                  "final_mse": final, "mean_baseline": mse_mean},
        fix="loss='mse'  # or add the MSE to the similarity: loss = mse + (1 - cosine) keeps the scale",
    )
    if any(f.code in ("AE404", "AE405") for f in ctx.found):
        return [cause]
    # What it cost, as the probe run measured it, shown under the cause (the training judge, which ran before
    # this check, may have read a curve still moving as no verdict at all).
    return [cause, *explained_unbeaten(tr, cause)]


check_loss_scale_blind.family = "training"  # type: ignore[attr-defined]


def _line_in_loss(ctx: Context, name: str, kind: str) -> tuple[int | None, str | None]:
    """The line of the loss function ``name`` that does the damage, else its ``return`` (:func:`~.locate.loss_def_line`).

    ``kind`` "signed": the first line subtracting the function's two arguments with no square or absolute
    value on it; "batch": the first line reducing along ``axis=0``.
    """
    try:
        tree = ast.parse(ctx.source or "")
    except SyntaxError:
        return None, None
    for node in ast.walk(tree):
        if not (isinstance(node, ast.FunctionDef) and node.name == name):
            continue
        args = [a.arg for a in node.args.args if a.arg != "self"][:2]
        if kind == "signed" and len(args) == 2:
            a, b = (re.escape(x) for x in args)
            pattern = re.compile(rf"\b{a}\s*-\s*{b}\b|\b{b}\s*-\s*{a}\b")
            skip = re.compile(r"square|abs|\*\*|huber|log_?cosh")
        else:
            pattern, skip = re.compile(r"axis\s*=\s*0\b"), None
        lines = range(node.lineno, (node.end_lineno or node.lineno) + 1)
        hits = [ln for ln in lines if pattern.search((ctx.line_text(ln) or "").split("#", 1)[0])
                and not (skip and skip.search((ctx.line_text(ln) or "").split("#", 1)[0]))]
        # Prefer the line that involves both the target and the output (the comparison itself).
        both = [ln for ln in hits if all(re.search(rf"\b{re.escape(x)}\b", ctx.line_text(ln) or "") for x in args)]
        if both or hits:
            line = (both or hits)[0]
            return ctx.cell_line(line), ctx.line_text(line)
    return loss_def_line(ctx, name)


CHECKS: list[Any] = [check_loss_direction, check_loss_unbounded, check_loss_batch_blind, check_loss_scale_blind]


# -- a model's own train_step whose loss moves the output away from the input ----------------------------
# The step's loss "fell": its last fifth's mean is below its first tenth's by at least this share of the
# curve's whole range (a trend, not noise), and the reconstruction error then ended above DIVERGE_END x its
# start and above the per-feature mean's.
STEP_FALL_SHARE = 0.3


def step_loss_away(ctx: Context, tr: dict[str, Any]) -> list[Finding]:
    """AE108: the model's own train_step lowered its loss steadily while the reconstruction got worse.

    Round 33: ``loss = tf.reduce_mean(tf.image.ssim(x, reconstruction))`` in a train_step (a similarity, not
    ``1 - ssim``) falls from 0.005 to -0.1 while the reconstruction error triples. A compiled loss is tested
    in its own units (:func:`check_loss_direction`); a train_step's loss can't be evaluated apart from its
    step, so the run itself is the evidence: the step did what it was told, and what it was told is not a
    reconstruction. Without this, AE401 blames the learning rate.
    """
    from .loss_curve import DIVERGE_END, ENDS_ABOVE_POINTS

    if tr.get("train_step") != "own":
        return []
    losses = np.asarray(tr.get("loss") or [], dtype=np.float64)
    curve = np.asarray((tr.get("val_curve") or {}).get("loss") or [], dtype=np.float64)
    start = tr.get("val_loss_before")
    mean = (tr.get("baselines") or {}).get("mean")
    if len(losses) < 10 or len(curve) < ENDS_ABOVE_POINTS or not all_finite([start, mean]) or start <= 0:
        return []
    if not (np.all(np.isfinite(losses)) and np.all(np.isfinite(curve))):
        return []  # a NaN is AE401's
    head = float(np.mean(losses[: max(3, len(losses) // 10)]))
    tail = float(np.mean(losses[-max(3, len(losses) // 5):]))
    span = float(np.max(losses) - np.min(losses))
    fell = span > 0 and head - tail >= STEP_FALL_SHARE * span and head - tail > 1e-6 * max(abs(head), 1.0)
    worse = float(np.min(curve[-ENDS_ABOVE_POINTS:])) > max(DIVERGE_END * start, mean)
    if not (fell and worse):
        return []
    line, src = _step_loss_line(ctx)
    final = float(curve[-1])
    return [Finding(
        code="AE108", severity="error", title="The train_step's loss is not lowest at a perfect reconstruction",
        message=(f"The model's own train_step lowered its loss steadily ({head:.4g} to {tail:.4g}) while the "
                 f"reconstruction error rose from {start:.4g} to {final:.4g}, worse than outputting the per-feature "
                 f"mean ({mean:.4g}): the step minimises what it was given, and that is not lowest when the output "
                 "equals the input, so training moves the output away. A similarity (SSIM, a correlation) "
                 "minimised as a loss does this: it needs `1 - similarity`. The learning rate is not the cause."),
        line=line, source_line=src,
        evidence={"step_loss_start": head, "step_loss_end": tail, "reconstruction_start": float(start),
                  "reconstruction_end": final, "mean_baseline": float(mean)},
        fix="loss = 1.0 - similarity  # the step's loss must be smallest when the reconstruction equals the input",
    )]


def _step_loss_line(ctx: Context) -> tuple[int | None, str | None]:
    """The line in the model class's train_step that assigns the loss passed to ``tape.gradient`` (or the
    ``loss`` name), else the ``def train_step`` / ``def compute_loss`` line; (None, None) when not in the cell."""
    model = ctx.model
    try:
        tree = ast.parse(ctx.source or "")
    except SyntaxError:
        return None, None
    classes = {c.name: c for c in ast.walk(tree) if isinstance(c, ast.ClassDef)}
    for cls in type(model).__mro__ if model is not None else ():
        node = classes.get(cls.__name__)
        fn = next((f for f in (node.body if node else []) if isinstance(f, ast.FunctionDef)
                   and f.name in ("train_step", "compute_loss")), None)
        if fn is None:
            continue
        grads = [n.args[0] for n in ast.walk(fn) if isinstance(n, ast.Call) and getattr(n.func, "attr", "") in
                 ("gradient", "grad", "value_and_grad") and n.args and isinstance(n.args[0], ast.Name)]
        name = grads[0].id if grads else "loss"
        sets = [n.lineno for n in ast.walk(fn) if isinstance(n, (ast.Assign, ast.AugAssign, ast.AnnAssign))
                and any(isinstance(t, ast.Name) and t.id == name
                        for t in (n.targets if isinstance(n, ast.Assign) else [n.target]))]
        if not sets and fn.name == "compute_loss":
            sets = [n.lineno for n in ast.walk(fn) if isinstance(n, ast.Return) and n.value is not None][-1:]
        line = min(sets) if sets else fn.lineno
        return ctx.cell_line(line), ctx.line_text(line)
    return None, None
