"""Does the output depend on the input?

AE111 (output-ignores-input): the reconstruction is identical for different
inputs before training, or it changes but no gradient flows back to the
input. Both forward passes run on a copy of the model (``forward_copy``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import keras_compat as kc
from ..context import Context
from ..graph import GraphInfo
from ..report import Finding
from .locate import forward_copy, graph_of, label, loc, probe_inputs

# AE111: outputs for different inputs closer than this (relative) are identical.
IDENTICAL_RTOL = 1e-6


def check_output_ignores_input(ctx: Context) -> list[Finding]:
    """AE111: the reconstruction is identical for different inputs before training."""
    g = graph_of(ctx)
    m = ctx.model
    if m is None or (g is None and kc.model_kind(m) != "subclassed") or (not kc.is_built(m) and kc.model_kind(m) != "subclassed"):
        return []
    if g is not None and _plainly_connected(ctx, g):
        return []
    x = probe_inputs(ctx, 8)
    if x is None:
        return []
    copy = forward_copy(ctx, "AE111 (output ignores input) not checked")
    if copy is None:
        return []
    try:
        y = np.asarray(kc.keras.ops.convert_to_numpy(copy(x, training=False)), dtype="float64")
    except Exception:
        return []
    if y.ndim == 0 or y.shape[0] != x.shape[0]:
        return []
    finite = np.all(np.isfinite(y.reshape(len(y), -1)), axis=1)
    if finite.sum() < 2:
        # NaN/Inf outputs at the initial weights (a VAE's exp(log_var) on 0-255 pixels)
        # compare as "no difference", which is not "ignores the input": the data and
        # gradient checks name the cause (AE201, AE303), AE111 would only mislead.
        return []
    y, x = y[finite], x[finite]
    spread = float(np.max(np.abs(y - y[0:1])))
    scale = float(np.max(np.abs(y))) + 1e-12
    if spread > IDENTICAL_RTOL * max(scale, 1.0):
        return _gradient_cut(ctx, g, copy, x)
    cause = None
    if g is not None:
        for n in g.chain():
            if n.cls == "Lambda" or n.cls not in dir(kc.keras.layers):
                cause = n
                break
    node = cause or (g.nodes[g.outputs[0]] if g is not None and g.outputs else None)
    line, src = loc(ctx, node)
    return [
        Finding(
            code="AE111",
            severity="error",
            title="The output does not depend on the input",
            message=(
                f"`{ctx.model_name}` gives the same output for {len(x)} different inputs (largest difference "
                f"{spread:.2g}) before any training"
                + (f"; {label(ctx, cause)} is a custom layer on the only path and may replace its input" if cause else "")
                + ". Nothing the encoder sees reaches the reconstruction, so it cannot learn."
            ),
            line=line,
            layer=node.name if node else None,
            source_line=src,
            evidence={"inputs_compared": len(x), "max_output_difference": spread},
            fix="Make every layer's output depend on its input (no constants replacing it, no stop_gradient on the "
            "only path, no all-zero kernels).",
        )
    ]


# Layers that take integer ids: no gradient reaches their input by design.
_DISCRETE_INPUT_LAYERS = {"Embedding", "IntegerLookup", "StringLookup", "CategoryEncoding", "Hashing", "Discretization",
                          "TextVectorization"}


def _plainly_connected(ctx: Context, g: Any) -> bool:
    """True when the output can't help depending on the input, so no forward pass is needed.

    Built-in Keras layers (no Lambda, custom layer or raw op) pass a change of
    their input on unless a weight matrix is all zeros; copying the model for
    a forward pass costs more than the static checks together, so ordinary
    models skip it.
    """
    builtin = dir(kc.keras.layers)
    if any(not n.is_input and (n.cls == "Lambda" or n.cls not in builtin) for n in g.nodes):
        return False
    try:
        kernels = [v for v in ctx.model.weights if len(v.shape) >= 2]
        return all(np.any(kc.keras.ops.convert_to_numpy(v.value)) for v in kernels)
    except Exception:  # can't read the weights: measure instead
        return False


def _gradient_cut(ctx: Context, g: GraphInfo | None, copy: Any, x: np.ndarray) -> list[Finding]:
    """AE111, second form: the output changes with the input but its Jacobian is zero.

    A ``stop_gradient`` (or a non-differentiable op such as rounding) on the
    only path leaves the forward pass intact, so the encoder never learns.
    ``copy`` is ``ctx.forward_model()``: the backward pass runs on it too.
    """
    if g is None or any(n.cls in _DISCRETE_INPUT_LAYERS for n in g.nodes):
        return []
    # Built-in layers are differentiable: only a Lambda, a custom layer or a
    # raw op (keras.ops.stop_gradient on a KerasTensor) can cut the gradient,
    # so ordinary models skip the backward pass.
    if all(n.is_input or (n.cls != "Lambda" and n.cls in dir(kc.keras.layers)) for n in g.nodes):
        return []
    try:
        if any(not str(t.dtype).startswith("float") for t in kc.graph_inputs(copy)):
            return []
        gmax = kc.input_gradient_max(copy, x)
        if gmax == 0.0:
            # Exact zeros also come from saturation (a sigmoid at exactly 0/1 on 0-255
            # data or huge weights), which small inputs leave; a cut (round, cast,
            # argmax, stop_gradient) gives zero for every input.
            small = x * (0.1 / max(float(np.max(np.abs(x))), 1e-12))
            again = kc.input_gradient_max(copy, small.astype(x.dtype))
            if again is not None and (again > 0.0 or not np.isfinite(again)):
                return []
    except Exception:  # a model we cannot differentiate is not a finding
        return []
    if gmax is not None and (gmax > 0.0 or not np.isfinite(gmax)):
        return []  # a NaN/Inf gradient is an overflow (AE303's business), not a cut
    cause = next((n for n in g.chain() if n.cls == "Lambda" or n.cls not in dir(kc.keras.layers)), None)
    node = cause or (g.nodes[g.outputs[0]] if g.outputs else None)
    line, src = loc(ctx, node)
    return [
        Finding(
            code="AE111",
            severity="error",
            title="No gradient flows from the output back to the input",
            message=(
                f"`{ctx.model_name}`'s output changes with its input, but its gradient with respect to the input is "
                + ("absent" if gmax is None else "exactly zero")
                + (f"; {label(ctx, cause)} cuts it (a stop_gradient or a non-differentiable op)" if cause else "")
                + ". The loss cannot reach the layers before the cut, so the encoder never learns."
            ),
            line=line,
            layer=node.name if node else None,
            source_line=src,
            evidence={"inputs_compared": len(x), "input_gradient_max": gmax},
            fix="Remove the stop_gradient (or the rounding/casting op) from the path between the input and the output.",
        )
    ]


CHECKS = [check_output_ignores_input]
