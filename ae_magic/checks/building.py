"""Is there a layer graph to check?

AE112 (unbuilt-model): the model has no input shape. AE113
(subclassed-model, info): a subclassed model has no graph, so the graph
checks are skipped.
"""

from __future__ import annotations

from .. import keras_compat as kc
from ..context import Context
from ..report import Finding


def check_unbuilt(ctx: Context) -> list[Finding]:
    """AE112: the chosen model has no input shape (and the cell did not raise about it)."""
    m = ctx.model
    if m is None:
        return []
    if ctx.cell_error is not None and kc.is_unbuilt_error(ctx.cell_error.exception):
        return []  # explained from the exception
    original = getattr(ctx, "unbuilt_original", None)
    if original is None and kc.is_built(m):
        return []
    if original is None and kc.model_kind(m) != "sequential":
        return []
    name = ctx.model_name or "model"
    line = ctx.cell_line(ctx.assign_lines.get(name))
    built = ctx.built_from_data
    shape = tuple(ctx.data.shape[1:]) if ctx.data is not None else None
    return [
        Finding(
            code="AE112",
            severity="warning" if built else "error",
            title="Model has no input shape",
            message=(
                f"`{name}` is a Sequential without `keras.Input(...)`, so it has no input shape, no weights and no "
                "graph until it first sees data; `.input`, `.summary()` and graph checks fail on it."
                + (f" ae_magic built a copy from the data's shape {shape} and diagnosed that." if built
                   else " Pass --data so ae_magic can build a copy from the data's shape.")
            ),
            line=line,
            source_line=ctx.line_text(ctx.assign_lines.get(name)),
            evidence={"built_from_data": built, "data_shape": list(shape) if shape else None},
            fix=f"{name} = keras.Sequential([keras.Input(shape={shape or '(n_features,)'}), ...])",
        )
    ]


def check_subclassed(ctx: Context) -> list[Finding]:
    """AE113 (info): subclassed models have no graph to analyse."""
    m = ctx.model
    if m is None or kc.model_kind(m) != "subclassed":
        return []
    return [
        Finding(
            code="AE113",
            severity="info",
            title="Subclassed model: no graph to analyse",
            message=(f"`{ctx.model_name}` is a subclassed keras.Model; its call() is Python code, not a layer graph, "
                     "so the structural checks (bottleneck, bypass, dangling layers, shapes) are skipped. "
                     + ("Data checks still run; the probes could not (see what was skipped)."
                        if "training" in ctx.skipped else "Data checks and probes still run; any probe that cannot is listed as skipped.")),
            evidence={"class": type(m).__name__},
            fix="Write the model with the Functional API (keras.Input + layer calls) to get the structural checks.",
        )
    ]


CHECKS = [check_unbuilt, check_subclassed]
