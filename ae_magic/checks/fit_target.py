"""What the cell's ``fit`` trains against: AE204 for a target not shaped like the output, AE104 for a denoising
pair that ``fit`` never trains (``check_fit_skips_pair``).

AE204: the cell's ``fit`` trains the autoencoder against an array that is not shaped like its output.

``autoencoder.fit(x_train, y_train)`` with ``y_train`` the class labels, shape ``(n, 1)`` (round 48's aw07,
a classification tutorial's line kept): Keras broadcasts each sample's one value against the 256 outputs and
trains without a word, so the model learns to paint the label everywhere. Its loss falls; its reconstruction
ended 28x worse than the per-feature mean's. The check is given ``x_train`` and probes the reconstruction, so
nothing else reports it: the pair is read from the ``fit`` call in the cell's source.

Reported when the call's target is another array than its input, with as many samples, whose per-sample
shape differs from the output's but broadcasts to it (a shape that does not broadcast raises in fit, and the
cell's error says so). Not for a sparse categorical loss (its target is one axis short by design) nor for a
model with several outputs.
"""

from __future__ import annotations

import ast
from typing import Any

import numpy as np

from .. import keras_compat as kc
from ..context import Context
from ..fit_calls import argument, fit_calls
from ..report import Finding


def fit_pairs(ctx: Context) -> list[tuple[ast.Call, str, str]]:
    """``(call, input name, target name)`` for each ``<model>.fit(X, Y)`` in the cell with both given as names."""
    out = []
    for node in fit_calls(ctx.source, ctx.model_name):
        x, y = argument(node, 0, "x"), argument(node, 1, "y")
        if isinstance(x, ast.Name) and isinstance(y, ast.Name):
            out.append((node, x.id, y.id))
    return out


def check_fit_target(ctx: Context) -> list[Finding]:
    """AE204: fit's target broadcasts against the reconstruction instead of matching it."""
    model, ns = ctx.model, ctx.namespace or {}
    if model is None or not kc.is_compiled(model) or kc.canonical_loss(model) == "scce":
        return []
    try:
        outputs = keras_outputs(model)
    except Exception:
        return []
    if outputs is None:
        return []
    for call, x_name, y_name in fit_pairs(ctx):
        x, y = ns.get(x_name), ns.get(y_name)
        if x is None or y is None or x is y or not isinstance(y, np.ndarray) or not isinstance(x, np.ndarray):
            continue
        if x_name != ctx.data_name and x is not ctx.data:
            continue
        if y.ndim < 1 or len(y) != len(x) or tuple(y.shape[1:]) == outputs:
            continue
        try:
            broadcast = np.broadcast_shapes(tuple(y.shape[1:]), outputs) == outputs
        except ValueError:
            broadcast = False
        if not broadcast:
            continue
        line = ctx.cell_line(call.lineno)
        return [Finding(
            code="AE204", severity="warning", title="fit's target is not shaped like the reconstruction",
            message=(f"The cell trains `{ctx.model_name}` with `fit({x_name}, {y_name})`, and `{y_name}` has shape "
                     f"{tuple(y.shape)} against the output's {('n', *outputs)}: Keras broadcasts each sample's "
                     f"{int(np.prod(y.shape[1:])) if y.ndim > 1 else 1} value(s) across the whole output without a "
                     f"word, so the model learns to paint `{y_name}` everywhere instead of reconstructing "
                     f"`{x_name}`. The loss falls; the reconstruction does not come."),
            line=line, source_line=ctx.line_text(call.lineno),
            evidence={"input": x_name, "target": y_name, "target_shape": list(y.shape), "output_shape": list(outputs)},
            fix=f"{ctx.model_name}.fit({x_name}, {x_name})  # an autoencoder's target is its own input",
        )]
    return []


def check_fit_skips_pair(ctx: Context) -> list[Finding]:
    """AE104: checked as a denoiser (``--data NOISY --target CLEAN``), but the cell's ``fit`` trains the model to
    reproduce one of the two arrays from itself.

    Round 89's na09: ``denoiser.fit(x_noisy, x_noisy)`` (the keras blog's denoiser with its target copied from the
    input). The probes train the pair they are given, noisy into clean, and that trains well, so the report was
    silent about the model the cell trained: one that learns to copy the noise. The same for ``fit(x, x)`` with
    the noisy array made and never fed. Reported when no ``fit`` of the model pairs the two names.
    """
    data, target = ctx.data_name, ctx.target_name
    if not data or not target or data == target or not ctx.is_denoising:
        return []
    pairs = fit_pairs(ctx)
    if any(x == data and y == target for _, x, y in pairs):
        return []
    hit = next(((call, x) for call, x, y in pairs if x == y and x in (data, target)), None)
    if hit is None:
        return []
    call, name = hit
    y = argument(call, 1, "y")
    raw = y.lineno if y is not None else call.lineno
    what = (f"to reproduce the noisy `{data}` itself: the clean `{target}` is never its target, so it learns to copy "
            "the noise, not to remove it" if name == data else
            f"on the clean `{target}` alone: the noisy `{data}` is never fed, so it never learns to remove noise")
    return [Finding(
        code="AE104", severity="warning", title="fit does not train the denoising pair",
        message=(f"This was checked as a denoiser of `{data}` into `{target}`, but the cell's fit (line "
                 f"{ctx.cell_line(call.lineno)}) trains `{ctx.model_name}` {what}. An autoencoder fitted onto its own "
                 "input learns the identity as far as its code allows. The probes trained the pair they were given "
                 f"({data} -> {target}); the model as the cell trains it is another one."),
        line=ctx.cell_line(raw), source_line=ctx.line_text(raw),
        evidence={"fit_input": name, "fit_target": name, "data": data, "target": target},
        fix=f"{ctx.model_name}.fit({data}, {target}, ...)  # noisy input, clean target",
    )]


def keras_outputs(model: Any) -> tuple[int, ...] | None:
    """The per-sample shape of a single-output model's output, fully known; None otherwise."""
    if kc.model_kind(model) == "subclassed":
        return None
    outs = kc.keras.tree.flatten(model.outputs)
    if len(outs) != 1:
        return None
    shape = tuple(outs[0].shape[1:])
    return shape if all(isinstance(d, int) for d in shape) else None


CHECKS = [check_fit_target, check_fit_skips_pair]
