"""AE401 (loss-diverged) read from the weights: the cell's own training left NaN/Inf in the model.

Round 48's av08: a loss built as ``MeanSquaredError(reduction="sum")`` (kept from a custom-training-loop
tutorial that divided by the global batch size itself) under ``fit`` with SGD(0.01, momentum 0.9): each
step's gradient is the batch size (128) times the mean's, and the cell's three epochs ended in NaN. The
probes can't start from NaN weights; they start from fresh ones (``keras_compat.clone_model``), and their
shorter run at their own batch size need not blow up again, so the report read "no problems found". The
weights themselves are the evidence: the cell's training diverged.

Nothing runs the model: only the weights' values are read.
"""

from __future__ import annotations

import math
import re
import types
from typing import Any

import numpy as np

from .. import keras_compat as kc
from ..context import Context
from ..fit_calls import fit_batch_size, fit_calls
from ..report import Finding
from .locate import assigned_at, loss_def_line
from .loss_sign import reversed_kl, subtracted_term


def nonfinite_layers(model: Any) -> tuple[list[str], int, int]:
    """``(layer names, non-finite values, all values)`` over the model's weights."""
    names: list[str] = []
    bad = total = 0
    for v in list(getattr(model, "weights", []) or []):
        try:
            arr = np.asarray(kc.to_numpy(v))
        except Exception:
            continue
        if arr.dtype.kind not in "fc":
            continue
        total += arr.size
        n = int(arr.size - np.count_nonzero(np.isfinite(arr)))
        if n:
            bad += n
            layer = (getattr(v, "path", None) or v.name).split("/")[0]
            if layer not in names:
                names.append(layer)
    return names, bad, total


def _fit_line(ctx: Context) -> int | None:
    """The cell line of the first ``<model>.fit(...)`` call."""
    calls = fit_calls(ctx.source, ctx.model_name)
    return calls[0].lineno if calls else None


def summed_function(ctx: Context) -> tuple[str, int | None, str | None] | None:
    """``(name, line, text)`` of the cell's own loss function when its value sums over the batch, else None.

    Round 72's dg07, a PyTorch port: ``def sum_mse(y_true, y_pred): return ops.sum(ops.square(y_true - y_pred))``
    (``nn.MSELoss(reduction='sum')``) under SGD(0.01). Keras averages what a loss function returns per sample; a
    function that already reduced the batch to one number is not averaged again. Measured, not read: the function
    is called on a few of the data's samples against a shifted copy, then on the same samples twice over; a value
    that doubles sums over the batch. Only the function runs (no model, no forward pass).
    """
    loss = kc.compiled_loss(ctx.model) if ctx.model is not None and kc.is_compiled(ctx.model) else None
    fn = getattr(loss, "fn", loss)
    name = getattr(fn, "__name__", None)
    if not isinstance(fn, types.FunctionType) or not name or ctx.data is None:
        return None
    line, text = loss_def_line(ctx, name)
    if line is None:
        return None  # not the cell's own function (a Keras loss, an import)
    y = np.asarray(ctx.target if ctx.target is not None else ctx.data)[:8].astype("float32")
    if y.ndim < 2 or len(y) < 2:
        return None
    pred = (0.5 * y + 0.1).astype("float32")
    try:
        once = float(np.mean(kc.keras.ops.convert_to_numpy(fn(y, pred))))
        twice = float(np.mean(kc.keras.ops.convert_to_numpy(fn(np.concatenate([y, y]), np.concatenate([pred, pred])))))
    except Exception:  # a loss that can't be called on arrays this way: nothing measured, nothing said
        return None
    if not (math.isfinite(once) and math.isfinite(twice)) or once <= 0 or abs(twice / once - 2.0) > 0.05:
        return None
    return name, line, text


def summed_loss(ctx: Context) -> tuple[int | None, str | None] | None:
    """``(line, text)`` of the ``reduction="sum"`` the compiled loss was built with, or of the return of the cell's
    loss function that sums over the batch (:func:`summed_function`); else None."""
    loss = kc.compiled_loss(ctx.model) if ctx.model is not None and kc.is_compiled(ctx.model) else None
    if not isinstance(loss, kc.keras.losses.Loss) or str(getattr(loss, "reduction", "")) != "sum":
        own = summed_function(ctx)
        return None if own is None else (own[1], own[2])
    pattern = re.compile(r"reduction\s*=\s*['\"]sum['\"]")
    for i, text in enumerate((ctx.source or "").splitlines(), start=1):
        if pattern.search(text.split("#", 1)[0]):
            return ctx.cell_line(i), text.strip()
    return None, None


def check_nonfinite_weights(ctx: Context) -> list[Finding]:
    """AE401: NaN/Inf among the model's weights after the cell ran (its own training diverged)."""
    if ctx.model is None:
        return []
    layers, bad, total = nonfinite_layers(ctx.model)
    if not bad:
        return []
    fit = _fit_line(ctx)
    line, text = (ctx.cell_line(fit), ctx.line_text(fit)) if fit else assigned_at(ctx, ctx.model_name)
    message = (f"{bad} of the model's {total} weight values are NaN/Inf after the cell ran (in {', '.join(layers)}): "
               "its own training diverged, and the model as it stands outputs NaN for every input. The probes "
               "start from fresh initial weights of the same architecture, as re-running the cell would.")
    fix = ("# lower the learning rate (or use Adam), and re-run the cell from the model's definition:\n"
           "optimizer = keras.optimizers.Adam(learning_rate=1e-3)")
    evidence: dict[str, Any] = {"nonfinite_values": bad, "weight_values": total, "layers": layers}
    summed = summed_loss(ctx)
    if summed is not None:
        batch = _fit_batch_size(ctx) or 32
        message += (f" The cause: the loss sums over the batch (reduction='sum'), so each step's gradient is the batch "
                    f"size ({batch}) times the mean's, and the optimizer steps {batch}x as far as its learning rate says "
                    "(a custom training loop divides the sum by the global batch size itself; fit does not).")
        if summed[0] is not None:
            line, text = summed
        fix = _mean_fix(ctx)
        evidence["reduction"] = "sum"
    sign = subtracted_term(ctx.source) if summed is None else None
    flipped = reversed_kl(ctx.source) if summed is None and sign is None else None
    raw = (sign or flipped or (None,))[0]
    if raw is not None and ctx.cell_line(raw) is not None:
        # A loss with no lower bound diverges at any rate (round 69's da05: a KL written without its minus).
        line, text = ctx.cell_line(raw), ctx.line_text(raw)
        what = (f"subtracts `{sign[1]}`, so minimising it pushes that term up" if sign is not None
                else "adds minus the KL divergence (the KL is -0.5 * sum(1 + log_var - mu^2 - exp(log_var))), so "
                     "minimising it drives that term below zero")
        message += f" The cause: the loss {what} without bound (line {line}), whatever the learning rate."
        fix = f"# line {line}: make the term a positive KL that the loss adds, then re-run the cell"
        evidence["subtracted_term" if sign is not None else "reversed_kl"] = (sign or flipped)[1] or True
    return [Finding(code="AE401", severity="error", title="The cell's training diverged: the weights are NaN",
                    message=message, line=line, source_line=text, evidence=evidence, fix=fix)]


def _fit_batch_size(ctx: Context) -> int | None:
    """The ``batch_size`` the cell's fit call gives (a literal or a name in the namespace); None when absent."""
    return fit_batch_size(ctx.source, ctx.model_name, ctx.namespace)


def _mean_fix(ctx: Context) -> str:
    """The fix for a loss summed over the batch: the default reduction, or the cell's function reducing per sample."""
    own = summed_function(ctx)
    if own is None:
        return "loss_object = keras.losses.MeanSquaredError()  # the default reduction: the mean over the batch"
    return (f"# in `{own[0]}`, reduce each sample's features only and return one value per sample; Keras averages\n"
            "# over the batch, e.g.\nreturn ops.mean(ops.square(y_true - y_pred), axis=-1)")


CHECKS = [check_nonfinite_weights]


# The training findings a step batch-size times too long shows up as (round 48's av08, over three runs of the
# same cell: NaN weights; dead ReLUs, a collapsed output and an oscillating loss; a dead encoder).
UNSTABLE = ("AE401", "AE403", "AE303", "AE304", "AE404")


def name_summed_loss(ctx: Context, found: list[Finding]) -> list[Finding]:
    """AE401 at the ``reduction="sum"`` line when a loss summed over the batch drives a non-adaptive optimizer and the
    run (or the cell's own) shows the instability it causes; the findings it explains say so."""
    from .optimizer_source import rate_cap

    summed = summed_loss(ctx)
    opt = getattr(ctx.model, "optimizer", None)
    if summed is None or opt is None or rate_cap(opt) is not None:
        return found
    shown = [f for f in [*ctx.found, *found] if f.code in UNSTABLE and f.severity in ("warning", "error")]
    if not shown or any(f.evidence.get("reduction") == "sum" for f in shown):
        return found
    batch = _fit_batch_size(ctx) or 32
    try:
        lr = float(kc.keras.ops.convert_to_numpy(opt.learning_rate))
    except Exception:
        lr = None
    step = f" SGD's learning rate of {lr:g} then steps like {lr * batch:g} would on the mean." if lr else ""
    line, text = summed
    own = summed_function(ctx)
    how = (f"The loss function `{own[0]}` sums over the batch (its value doubles when the same samples come twice): "
           f"Keras averages what a loss function returns per sample, and a function that already reduced the batch to "
           f"one number is not averaged again, so fit adds up the {batch} samples' losses of a batch"
           if own is not None else
           f"The compiled loss is built with reduction='sum': fit adds up the {batch} samples' losses of a batch")
    cause = Finding(
        code="AE401", severity="error", title="The loss sums over the batch: every step is batch-size times too long",
        message=(f"{how} instead of averaging them, so each step's gradient is {batch}x the mean's.{step} A custom "
                 "training loop divides the sum by the global batch size itself (tf.nn.compute_average_loss); fit "
                 f"does not. What the run shows ({', '.join(sorted({f.code for f in shown}))}) follows from those steps."),
        line=line, source_line=text,
        evidence={"reduction": "sum", "batch_size": batch, "learning_rate": lr, "explains": sorted({f.code for f in shown}),
                  **({"loss_function": own[0]} if own is not None else {})},
        fix=_mean_fix(ctx),
    )
    return [cause, *found]
