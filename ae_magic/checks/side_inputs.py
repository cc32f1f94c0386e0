"""AE201 for the other arrays a several-input model is fed: a conditional AE's label, a side channel.

The data checks read the array ``--data`` names. A model the cell's fit feeds several arrays
(``fit([x, cond], x)``) also trains on the others, and one left unscaled (round 59's cf10: a side input of raw
readings near 1e5 beside a standardised signal) saturates the layers that read it just as unscaled data would;
the report then had only the symptoms (AE303, AE401). Each other fed array is judged by the same scale rule as
the data (``data.SCALE_LIMIT``), except one that is indices: an integer array read by an ``Embedding`` (or a
lookup/encoding layer), and one the model rescales itself (its first reader is a normalisation or rescaling layer).
Nothing runs the model; the arrays are read from the namespace by the names the fit call writes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..context import Context
from ..probes.packed import fed_arrays
from ..report import Finding
from .data import SAMPLE_ROWS, SCALE_LIMIT
from .locate import assigned_at

# Layers that read integer indices, not a signal: an array they read has no scale to judge.
INDEX_READERS = ("Embedding", "StringLookup", "IntegerLookup", "CategoryEncoding", "Hashing", "HashedCrossing")
# Layers that bring what they read to their own scale: the array's raw scale is not what the weights see.
SCALERS = ("Normalization", "Rescaling", "BatchNormalization", "LayerNormalization", "GroupNormalization",
           "UnitNormalization", "RMSNormalization", "Discretization")


def _readers(model: Any, tensor: Any) -> list[Any] | None:
    """The layers of ``model`` called on ``tensor`` (one of its inputs); None when the graph can't be read."""
    found = []
    try:
        for layer in model.layers:
            for node in getattr(layer, "_inbound_nodes", None) or []:
                if any(t is tensor for t in (getattr(node, "input_tensors", None) or [])):
                    found.append(layer)
                    break
    except Exception:  # a model without a readable graph
        return None
    return found


def _judged(arr: np.ndarray, readers: list[Any] | None) -> bool:
    """Whether ``arr``'s scale is the weights' business: not indices, not rescaled by the model itself."""
    kinds = [type(layer).__name__ for layer in readers or []]
    if any(k in INDEX_READERS or k in SCALERS for k in kinds):
        return False
    if arr.dtype.kind not in "biu":
        return True
    # Integer ids may be looked up inside code: without a graph, or read by a Lambda or a layer class of the
    # cell's own (``ops.one_hot(ids, 120)``), an integer array is left alone.
    return readers is not None and not any(
        type(layer).__name__ == "Lambda" or not str(type(layer).__module__).startswith("keras") for layer in readers)


def check_side_input_scale(ctx: Context) -> list[Finding]:
    """AE201 on a fed array other than ``--data``'s whose values are far from unit scale."""
    model = ctx.model
    if model is None or len(getattr(model, "inputs", None) or []) < 2:
        return []
    ns = ctx.namespace or {}
    feed = fed_arrays(ctx.source, ctx.model_name, ns, model)
    if feed is None:
        return []
    arrays, names, _ = feed
    inputs = list(model.inputs)
    found: list[Finding] = []
    for i, (arr, name) in enumerate(zip(arrays, names, strict=True)):
        if name == ctx.data_name or ns.get(name) is ctx.data or arr is ctx.data or arr.size == 0:
            continue  # the data checks judge --data's own array
        if not _judged(arr, _readers(model, inputs[i]) if i < len(inputs) else None):
            continue
        step = max(1, len(arr) // SAMPLE_ROWS)
        s = arr[::step].reshape(len(arr[::step]), -1).astype(np.float64)
        s = s[np.isfinite(s).all(axis=1)]
        if not s.size:
            continue  # non-finite values: the nonfinite checks' business
        beyond = float(np.count_nonzero(np.abs(s) > SCALE_LIMIT)) / s.size
        max_std = float(s.std(axis=0).max())
        if beyond <= 0.001 and max_std <= SCALE_LIMIT:
            continue
        lo, hi = float(np.min(arr)), float(np.max(arr))
        entry = getattr(inputs[i], "name", None) or f"input {i + 1}"
        line, text = assigned_at(ctx, name)
        found.append(Finding(
            code="AE201", severity="warning", title=f"The model's input `{name}` is not normalised",
            message=(f"The cell's fit feeds `{ctx.model_name}` {len(arrays)} arrays; `{name}` (its input "
                     f"'{entry}') has values from {lo:.4g} to {hi:.4g}, feature std up to {max_std:.4g}, while the "
                     "checks' data is at unit scale. The layers that read it get activations and gradients "
                     "hundreds of times too large, so the rate that suits the rest overshoots, and the units they "
                     "feed saturate or die: the reconstruction learns little or nothing."),
            line=line, source_line=text,
            evidence={"array": name, "input": entry, "min": lo, "max": hi, "share_beyond_20": beyond,
                      "max_feature_std": max_std},
            fix=(f"{name} = {name}.astype('float32') / 255.0  # 0-255 pixels" if lo >= 0 and 1 < hi <= 255
                 else f"{name} = ({name} - {name}.mean(axis=0)) / ({name}.std(axis=0) + 1e-8)  "
                      "# standardise it like the data, with the training rows' mean and std"),
        ))
    return found


CHECKS = [check_side_input_scale]
