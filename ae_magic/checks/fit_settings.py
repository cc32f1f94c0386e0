"""What the cell's own ``fit`` call is given beside the data: callbacks that read a loss the wrong way, and sample
weights that shrink every step.

* ``EarlyStopping(monitor="val_loss", mode="max", restore_best_weights=True)`` (round 49's az04): "max" makes
  the *highest* loss the best epoch, so training stops once the loss has fallen for ``patience`` epochs and the
  worst weights, those of the first epoch, are put back (0.999x the mean's error, against 0.26x with "min").
  ``ReduceLROnPlateau`` and ``ModelCheckpoint(save_best_only=True)`` read ``mode`` the same way (the rate cut
  while the loss falls; the worst epoch kept). Reported when a callback made in the cell monitors a loss or
  error (``loss``, ``val_loss``, ``mse``, ``mae``...) with ``mode="max"``, or an accuracy with ``mode="min"``.
* ``fit(..., sample_weight=1 / counts[labels])`` (round 49's az06): inverse-frequency weights never
  renormalised average 1e-3, and a non-adaptive optimizer's step is the learning rate times the loss's
  gradient: SGD moved 1000x slower than configured and the loss froze near the mean. Adam divides the scale
  out and is left alone. Reported when the weights' mean is below LOW_WEIGHT.

Nothing runs the model: the callbacks' settings and the weights' values are read.
"""

from __future__ import annotations

import ast
from typing import Any

import numpy as np

from .. import keras_compat as kc
from ..context import Context
from ..fit_calls import fit_calls, parse
from ..report import Finding
from .optimizer_source import rate_cap

# Sample weights averaging below this make a non-adaptive optimizer's steps that much shorter (az06: 1.3e-3).
LOW_WEIGHT = 0.1
_CALLBACKS = {"EarlyStopping": "AE405", "ModelCheckpoint": "AE405", "ReduceLROnPlateau": "AE402"}
_LOSSY = ("loss", "mse", "mae", "error", "crossentropy", "divergence", "huber", "logcosh")


def _inverted(monitor: str, mode: str) -> bool:
    m = monitor.lower()
    if mode == "max":
        return any(k in m for k in _LOSSY)
    if mode == "min":
        return "acc" in m or "auc" in m or "precision" in m or "recall" in m
    return False


def check_callback_modes(ctx: Context) -> list[Finding]:
    """AE405/AE402: a callback in the cell reads its monitored quantity the wrong way round (mode)."""
    tree = parse(ctx.source)
    if tree is None or ctx.model is None:
        return []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id if isinstance(node.func, ast.Name) else ""
        if name not in _CALLBACKS:
            continue
        kw = {k.arg: k.value for k in node.keywords}
        try:
            monitor = ast.literal_eval(kw["monitor"]) if "monitor" in kw else "val_loss"
            mode = ast.literal_eval(kw["mode"]) if "mode" in kw else "auto"
        except ValueError:
            continue
        if not (isinstance(monitor, str) and isinstance(mode, str) and _inverted(monitor, mode)):
            continue
        restores = name == "EarlyStopping" and _true(kw.get("restore_best_weights"))
        what = {
            "EarlyStopping": ("stops once it has improved for `patience` epochs"
                              + (" and, with restore_best_weights=True, puts back the worst epoch's weights"
                                 if restores else "")),
            "ModelCheckpoint": "keeps the worst epoch's weights as the best",
            "ReduceLROnPlateau": "cuts the learning rate while the model improves",
        }[name]
        good = "min" if mode == "max" else "max"
        line = ctx.cell_line(node.lineno)
        mode_line = getattr(kw.get("mode"), "lineno", node.lineno)
        return [Finding(
            code=_CALLBACKS[name], severity="warning", title=f"{name} reads '{monitor}' the wrong way round",
            message=(f"`{name}(monitor={monitor!r}, mode={mode!r})`: mode={mode!r} makes the "
                     f"{'highest' if mode == 'max' else 'lowest'} {monitor} the best, but lower is better for a loss "
                     f"(higher for an accuracy), so the callback {what}. fit then returns a model that stopped "
                     "learning where it should have gone on."),
            line=ctx.cell_line(mode_line) if mode_line else line, source_line=ctx.line_text(mode_line),
            evidence={"callback": name, "monitor": monitor, "mode": mode, "restore_best_weights": restores},
            fix=f"mode={good!r},  # or 'auto', which Keras reads from the name '{monitor}'",
        )]
    return []


def _true(node: Any) -> bool:
    try:
        return node is not None and ast.literal_eval(node) is True
    except ValueError:
        return False


def check_sample_weight_scale(ctx: Context) -> list[Finding]:
    """AE402: the cell's fit passes sample weights whose mean shrinks a non-adaptive optimizer's every step."""
    model = ctx.model
    if not ctx.source or model is None or not kc.is_compiled(model):
        return []
    opt = getattr(model, "optimizer", None)
    if opt is None or rate_cap(opt) is not None:
        return []
    for node in fit_calls(ctx.source, ctx.model_name):
        arg = next((k.value for k in node.keywords if k.arg == "sample_weight"), None)
        if not isinstance(arg, ast.Name):
            continue
        w = (ctx.namespace or {}).get(arg.id)
        try:
            w = np.asarray(w, dtype=np.float64)
        except (TypeError, ValueError):
            continue
        if w.size == 0 or not np.all(np.isfinite(w)) or w.min() < 0:
            continue
        mean = float(w.mean())
        if mean >= LOW_WEIGHT or mean <= 0:
            continue
        try:
            lr = float(kc.keras.ops.convert_to_numpy(opt.learning_rate))
        except Exception:
            lr = None
        cls = type(opt).__name__
        return [Finding(
            code="AE402", severity="warning", title="Sample weights shrink every step",
            message=(f"The cell's fit passes sample_weight={arg.id}, whose values average {mean:.3g} "
                     f"(from {float(w.min()):.3g} to {float(w.max()):.3g}). fit multiplies each sample's loss by its weight, "
                     f"so the gradient shrinks by that factor, and {cls} steps by its learning rate times the gradient: "
                     + (f"{lr:g} acts like {lr * mean:.2g}. " if lr else "every step is that much shorter. ")
                     + "The loss barely moves. Weights that average 1 keep the ratio between samples and the step size."),
            line=ctx.cell_line(node.lineno), source_line=ctx.line_text(node.lineno),
            evidence={"sample_weight": arg.id, "mean": mean, "min": float(w.min()), "max": float(w.max()),
                      "optimizer": cls, "learning_rate": lr},
            fix=f"{arg.id} = {arg.id} / {arg.id}.mean()  # the same ratios, averaging 1",
        )]
    return []


CHECKS = [check_callback_modes, check_sample_weight_scale]
