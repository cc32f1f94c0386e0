"""AE201 for a target left in raw units while the model's input reaches its layers at unit scale.

A model may standardise its own input (an adapted ``Normalization`` first,
round 18's housing table) or be fed standardised noisy inputs against a raw
clean target. Either way the layers with weights see unit-scale values, and
the data checks are content; but the reconstruction is compared with the raw
target, so a linear output must produce values in the tens of thousands,
and the squared error is the largest columns' alone. The loss barely moves
(AE402) or settles on the mean (AE405), and neither names why.

Not reported when the output is brought back to raw units by the model itself
(a ``Normalization(invert=True)`` or ``Rescaling`` as the output layer), for
a loss on a log scale, or when the input itself is far from unit (AE201 on the
data says that already).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import keras_compat as kc
from ..context import Context
from ..fit_calls import fit_calls
from ..report import Finding
from .data import SCALE_LIMIT  # the same bar as the data's own AE201
from .locate import output_activation
from .preprocess import input_as_seen, weighted_calls

SAMPLE_ROWS = 2048
# Losses that add squared or absolute errors in the target's own units.
UNIT_LOSSES = {None, "mse", "mae", "huber"}
# Output layers that map a unit-scale value back to raw units.
RESCALING_OUTPUTS = {"Normalization", "Rescaling"}


def _rows(a: np.ndarray) -> np.ndarray:
    idx = np.linspace(0, len(a) - 1, min(len(a), SAMPLE_ROWS)).astype(int)
    return np.asarray(a[idx], dtype=np.float64)


def _far_from_unit(s: np.ndarray) -> tuple[bool, float, float]:
    """``(far, largest |value|, largest feature std)`` of a sample of rows."""
    flat = s.reshape(len(s), -1)
    flat = flat[np.isfinite(flat).all(axis=1)]
    if flat.size == 0:
        return False, 0.0, 0.0
    beyond = float(np.count_nonzero(np.abs(flat) > SCALE_LIMIT)) / flat.size
    max_std = float(flat.std(axis=0).max())
    return (beyond > 0.001 or max_std > SCALE_LIMIT), float(np.abs(flat).max()), max_std


def check_target_scale(ctx: Context) -> list[Finding]:
    """AE201: the layers see unit-scale inputs, but the target they must reproduce is in raw units."""
    d = ctx.data
    target = ctx.target if ctx.target is not None else d
    g = ctx.graph
    if d is None or target is None or g is None or not getattr(g, "has_graph", False) or ctx.model is None:
        return []
    if not all(np.issubdtype(a.dtype, np.number) for a in (d, target)) or d.size == 0 or target.size == 0:
        return []
    if kc.canonical_loss(ctx.model) not in UNIT_LOSSES:
        return []
    seen, by = input_as_seen(ctx, _rows(d))
    if seen is not None and _far_from_unit(seen)[0]:
        return []  # the input itself is far from unit: the data's AE201
    far, peak, max_std = _far_from_unit(_rows(target))
    if not far:
        return []
    act, node = output_activation(g)
    if node is None or act != "linear" or node.cls in RESCALING_OUTPUTS:
        return []  # a bounded output is AE203's; a rescaling output reaches raw units by design
    if _rescaled_after_last_layer(ctx, _rows(d)[:64], peak):
        return []  # keras.ops after the last weighted layer bring it back to raw units (round 49's ba06: y * sigma + mu)
    from . import gradients as G

    line, text = G.locate(ctx, node.name)
    var = ctx.target_name or ctx.data_name or "x"
    made = (f"`{by}` standardises the input inside the model" if by is not None
            else "the model's layers see the input at about unit scale")
    fix = _fix(ctx, by, var)
    fit_line = _fit_line(ctx) if fix.startswith("# train against") else None
    if fit_line is not None:
        # The fix changes the fit's target (round 86's kb03: an adapted Normalization inside an LSTM autoencoder,
        # the raw windows as target): named there; the output layer stays the layer.
        line, text = ctx.cell_line(fit_line), ctx.line_text(fit_line)
    return [
        Finding(
            code="AE201",
            severity="warning",
            title="The target is not normalised",
            message=(f"{made}, but the target it must reconstruct, `{var}`, is in raw units: values up to "
                     f"{peak:.4g}, a feature std up to {max_std:.4g}. The linear output `{node.name}` has to "
                     "produce those values from unit-scale activations, and the squared error is ruled by the "
                     "largest columns: the loss barely moves, and a low loss would say nothing about the small "
                     "columns."),
            line=line,
            source_line=text,
            layer=node.name,
            evidence={"target_abs_max": peak, "target_max_feature_std": max_std, "input_scaled_by": by},
            fix=fix,
        )
    ]


def _rescaled_after_last_layer(ctx: Context, rows: np.ndarray, peak: float) -> bool:
    """The forward copy's output is the last weighted layer's output brought to the target's raw scale by what
    follows it (weightless ops such as ``ops.add(ops.multiply(y, sigma), mu)``): the output reaches at least a
    quarter of the target's peak (and SCALE_LIMIT) where that layer's own output does not. Never the user's model."""
    run = weighted_calls(ctx, rows)
    if run is None or not run[1]:
        return False
    final, inner = run[0], run[1][-1][1]
    if inner.shape != final.shape or not np.isfinite(final).all():
        return False
    bar = max(SCALE_LIMIT, 0.25 * peak)
    return float(np.abs(final).max()) >= bar > float(np.abs(inner).max())


def _fix(ctx: Context, by: str | None, var: str) -> str:
    model = ctx.model_name or "model"
    if by is not None:
        layer = _layer(ctx, by)
        if layer is not None and type(layer).__name__ == "Normalization":
            norm = ctx.var_of(layer) or "normalizer"
            return (f"# train against the target as the model sees its input (or end the model with\n"
                    f"# layers.Normalization(invert=True) adapted on {var}):\n"
                    f"{model}.fit({ctx.data_name or 'x'}, keras.ops.convert_to_numpy({norm}({var})), ...)")
    return f"{var} = ({var} - {var}.mean(axis=0)) / ({var}.std(axis=0) + 1e-8)  # keep the mean/std to undo it"


def _fit_line(ctx: Context) -> int | None:
    """The source line of the cell's first ``<model>.fit(...)`` call; None when it has none."""
    calls = fit_calls(ctx.source, ctx.model_name)
    return calls[0].lineno if calls else None


def _layer(ctx: Context, name: str) -> Any:
    try:
        return ctx.model.get_layer(name)
    except Exception:
        return None


CHECKS = [check_target_scale]
