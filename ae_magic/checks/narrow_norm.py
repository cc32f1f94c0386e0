"""Does a normalisation layer leave its input any value to pass on?

A ``LayerNormalization`` subtracts the mean of the values it normalises and
divides by their spread: over ``w`` values it leaves ``w - 2`` free numbers.
Over a 2-unit code (a code kept at 2 units "so it can be plotted", round
56's by10) that is none: every sample's code becomes ``+-(1, -1)`` times gamma
plus beta, one bit, and the decoder can draw at most two pictures. Over one
value the output is beta for every input. ``rms_scaling`` and
``UnitNormalization`` only divide by the spread (``w - 1`` free numbers), so
over one value they leave its sign. A ``GroupNormalization`` normalises each
group the same way.

The check reads the layers' built shapes (nested and subclassed models
included, through their tracked layers); no forward pass, no data. Width 1 of
a centring normalisation is AE111 (the output can't depend on the input);
a sign left of the code is AE106 (a saturating bottleneck: the layer is a
sign function with a slope only near zero).
"""

from __future__ import annotations

from typing import Any

from ..context import Context
from ..probes import leaf_layers
from ..report import Finding
from .locate import forward_copy, layer_line

# The normalisations that rescale each sample by its own values (BatchNormalization uses the batch: not here).
_PER_SAMPLE = ("LayerNormalization", "UnitNormalization", "RMSNormalization", "GroupNormalization")


def _input_shape(layer: Any) -> tuple[int | None, ...] | None:
    """The layer's built input shape, or None when it was never built or called."""
    shapes = getattr(layer, "_build_shapes_dict", None) or {}
    shape = next(iter(shapes.values()), None) if len(shapes) == 1 else None
    if shape is None:
        try:  # UnitNormalization has no build shapes; a functional model's layer knows its input tensor
            shape = layer.input.shape
        except Exception:
            return None
    try:
        return tuple(None if d is None else int(d) for d in shape)
    except (TypeError, ValueError):
        return None


def _normalised(layer: Any, shape: tuple[int | None, ...]) -> tuple[int | None, int]:
    """``(how many values each normalisation sees, how many free numbers it removes)``."""
    cls = type(layer).__name__
    rank = len(shape)
    if cls == "GroupNormalization":
        axis = int(getattr(layer, "axis", -1)) % rank
        groups = int(getattr(layer, "groups", 1) or 1)
        channels = shape[axis]
        if channels is None or channels % groups:
            return None, 2
        size = channels // groups
        for i, d in enumerate(shape[1:], start=1):
            if i != axis:
                if d is None:
                    return None, 2
                size *= d
        return size, 2
    axes = getattr(layer, "axis", -1)
    axes = [axes] if isinstance(axes, int) else list(axes)
    size = 1
    for a in axes:
        d = shape[int(a) % rank]
        if d is None:
            return None, 2
        size *= d
    centres = cls in ("LayerNormalization",) and not getattr(layer, "rms_scaling", False)
    return size, 2 if centres else 1


def check_narrow_normalisation(ctx: Context) -> list[Finding]:
    """AE111/AE106: a per-sample normalisation over so few values that nothing (or only a sign) survives it."""
    if ctx.model is None:
        return []
    try:
        layers = leaf_layers(ctx.model)
    except Exception:
        return []
    if not any(type(layer).__name__ in _PER_SAMPLE for layer in layers):
        return []
    shapes = [_input_shape(layer) for layer in layers]
    if any(s is None for layer, s in zip(layers, shapes, strict=True) if type(layer).__name__ in _PER_SAMPLE):
        shapes = _built_copy_shapes(ctx, layers, shapes)
    findings: list[Finding] = []
    for layer, shape in zip(layers, shapes, strict=True):
        cls = type(layer).__name__
        if cls not in _PER_SAMPLE:
            continue
        if not shape or len(shape) < 2:
            continue
        size, removed = _normalised(layer, shape)
        if size is None or size - removed > 0:
            continue
        findings.append(_finding(ctx, layer, cls, size, removed))
    return findings


def _built_copy_shapes(ctx: Context, layers: list[Any], shapes: list[Any]) -> list[Any]:
    """The shapes of the forward copy's layers where the user's were never built (a subclassed model the cell
    did not call): the copy is built on a data sample, and its layers come in the same order."""
    if ctx.data is None:
        return shapes
    copy = forward_copy(ctx, "The normalisation-width check (AE106/AE111) not run")
    try:
        theirs = leaf_layers(copy) if copy is not None else []
    except Exception:
        return shapes
    if [type(a).__name__ for a in theirs] != [type(b).__name__ for b in layers]:
        return shapes
    return [s if s is not None else _input_shape(c) for s, c in zip(shapes, theirs, strict=True)]


def _finding(ctx: Context, layer: Any, cls: str, size: int, removed: int) -> Finding:
    line, src = layer_line(ctx, layer)
    constant = size - removed < 0
    what = "value" if size == 1 else "values"
    if constant:
        title = f"{cls} over {size} {what}: its output is the same for every input"
        effect = (f"over {size} {what} it subtracts the mean (the value itself) and leaves 0, so it outputs its "
                  "beta for every sample: nothing after it can depend on the input")
    else:
        title = f"{cls} over {size} {what} leaves only a sign"
        effect = (f"over {size} {what} the normalised values are +-1 (times gamma, plus beta) for every sample, "
                  "except where they nearly tie: what passes on is one bit, a sign, and the slope is zero "
                  "everywhere else, so the gradient through it vanishes")
    per = "each group of" if cls == "GroupNormalization" else "the"
    message = (f"`{layer.name}` ({cls}) normalises {per} {size} {what} of each sample on its own: {effect}. "
               "Every path through it carries no more than that; a code of this width needs no normalisation, "
               "or one over the batch (BatchNormalization).")
    fix = (f"# remove the {cls} after this narrow layer (or use layers.BatchNormalization(), which normalises "
           "over the batch and keeps each sample's values)")
    return Finding(
        code="AE111" if constant else "AE106",
        severity="error" if constant else "warning",
        title=title,
        message=message,
        line=line,
        layer=layer.name,
        source_line=src,
        evidence={"layer_class": cls, "normalised_values": size, "free_values_left": max(size - removed, 0),
                  "removes": "mean and spread" if removed == 2 else "spread"},
        fix=fix,
    )


CHECKS = [check_narrow_normalisation]
