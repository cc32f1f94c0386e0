"""AE204 for sequence data whose time and feature axes are swapped (channels-first data, channels-last model).

Keras' Conv1D and recurrent layers read a sample as ``(time steps,
features)``. Data laid out channels-first, ``(channels, time)`` as
``np.stack(signals, axis=1)`` or a PyTorch pipeline gives, still fits a model
whose ``Input`` shape was read off the array: nothing raises, the model just
treats 4 sensors as 4 time steps of 128 features each, and trains to a
mediocre loss that no other check explains.

The measurement: how much neighbours along each axis are alike (the
correlation of consecutive entries, over an evenly spaced sample of rows).
A time axis is smooth (neighbouring steps of a signal correlate 0.75-1.0 in
every sequence cell of the zoo and the fresh rounds); an axis of separate
sensors is not (0.0-0.8 there, never below ``ROUGH`` on a smooth time axis).
When the axis the model reads as features is the smooth one, and the one it
reads as time is not, the axes are swapped.
"""

from __future__ import annotations

import ast
from typing import Any

import numpy as np

from .. import keras_compat as kc
from ..context import Context
from ..report import Finding
from .locate import assigned_at

# Layers that read axis 1 of their input as time.
SEQUENCE_LAYERS = (*kc.RECURRENT, "Conv1D", "Conv1DTranspose", "SeparableConv1D", "DepthwiseConv1D")
# Neighbours along the model's feature axis correlate at least this much (a signal sampled in time)...
SMOOTH = 0.8
# ...and along its time axis at most this much (separate sensors; any real time axis measured >= 0.69).
ROUGH = 0.5
# The feature axis is at least this many times the time axis (a few channels, a long signal) and this long.
LONGER = 2
MIN_SIGNAL = 16
SAMPLE_ROWS = 512


def neighbour_correlation(a: np.ndarray, axis: int) -> float | None:
    """Pearson correlation of consecutive entries of ``a`` along ``axis`` (None when it is undefined)."""
    moved = np.moveaxis(np.asarray(a, dtype="float64"), axis, -1)
    if moved.shape[-1] < 2:
        return None
    u, v = moved[..., :-1].ravel(), moved[..., 1:].ravel()
    ok = np.isfinite(u) & np.isfinite(v)
    u, v = u[ok], v[ok]
    if u.size < 8 or u.std() == 0 or v.std() == 0:
        return None
    return float(np.corrcoef(u, v)[0, 1])


def _reads_time(model: Any) -> str | None:
    """The first layer class of ``model`` that reads axis 1 as time, if any."""
    try:
        layers = list(model._flatten_layers(include_self=False))
    except Exception:
        layers = list(getattr(model, "layers", []) or [])
    for layer in layers:
        if type(layer).__name__ in SEQUENCE_LAYERS:
            return type(layer).__name__
    return None


def check_axis_order(ctx: Context) -> list[Finding]:
    """AE204 (warning): the data's axis 2 is a signal in time, axis 1 separate channels, but the model reads axis 1 as time."""
    d, m = ctx.data, ctx.model
    if d is None or m is None or getattr(d, "ndim", 0) != 3 or not np.issubdtype(d.dtype, np.number):
        return []
    shape = kc.safe_input_shape(m)
    if shape is None or len(shape) != 3:
        return []
    steps, width = d.shape[1], d.shape[2]
    if steps < 2 or width < MIN_SIGNAL or width < LONGER * steps:
        return []
    reader = _reads_time(m)
    if reader is None:
        return []
    rows = d[np.linspace(0, len(d) - 1, min(len(d), SAMPLE_ROWS)).astype(int)]
    along_time, along_features = neighbour_correlation(rows, 1), neighbour_correlation(rows, 2)
    if along_time is None or along_features is None or along_features < SMOOTH or along_time > ROUGH:
        return []
    name = ctx.data_name or "x"
    line, text = assigned_at(ctx, ctx.data_name)
    stack = _stack_axis_1(text)
    fix = (f"{name} = np.moveaxis({name}, 1, 2)  # ({width}, {steps}) per sample: time steps first, then the "
           f"{steps} channels; an Input shape written by hand becomes ({width}, {steps})")
    if stack:
        fix = f"# stack the signals as the last axis (channels-last), e.g.\n{_restacked(text or '')}"
    return [
        Finding(
            code="AE204",
            severity="warning",
            title="The data's time and feature axes look swapped",
            message=(f"`{name}` has samples of shape ({steps}, {width}), and `{ctx.model_name}`'s {reader} reads "
                     f"them as {steps} time steps of {width} features. But the values change smoothly along axis 2 "
                     f"(neighbours correlate {along_features:.2f}) and not along axis 1 ({along_time:.2f}): "
                     f"the {width} entries look like time, the {steps} like separate channels. "
                     "This is channels-first data (as np.stack(..., axis=1) or a PyTorch (N, C, T) array gives); "
                     f"Keras reads (N, time, channels), so the model runs over {steps} steps of "
                     f"{width} values and never sees the signal's shape in time."),
            line=line,
            source_line=text,
            evidence={"data_shape": list(d.shape), "neighbour_correlation_axis1": round(along_time, 3),
                      "neighbour_correlation_axis2": round(along_features, 3), "time_layer": reader},
            fix=fix,
        )
    ]


def _stack_axis_1(text: str | None) -> bool:
    """Whether the line that made the data stacks along axis 1 (``np.stack(..., axis=1)``)."""
    if not text:
        return False
    try:
        tree = ast.parse(text.strip())
    except SyntaxError:
        return False
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "stack":
            for kw in node.keywords:
                if kw.arg == "axis" and isinstance(kw.value, ast.Constant) and kw.value.value == 1:
                    return True
    return False


def _restacked(text: str) -> str:
    """``text`` with its ``axis=1`` stack made ``axis=-1``."""
    return text.strip().replace("axis=1", "axis=-1")


CHECKS = [check_axis_order]
