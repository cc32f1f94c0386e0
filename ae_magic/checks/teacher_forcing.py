"""A sequence model's second input that feeds its decoder: the target shifted by one step, or the target itself.

A seq2seq autoencoder trained with teacher forcing (the keras.io "sequence to sequence" recipe reused as an
autoencoder) takes two inputs: the sequence for the encoder, and for the decoder the same sequence shifted right
by one step behind a start token, so that step t reads the value of step t-1 and predicts step t. The decoder's
input reaches the output without passing the encoder's state: a bypass by the graph's reading (AE103), though it
carries only the past, which is how such a decoder is meant to learn. Fed the target itself, unshifted, each step
reads the very value it must predict and copies it: the encoder's state is never needed (round 74's dk02,
``decoder_input_ids = token_ids.copy()``). This module reads which one the cell's fit feeds, from the arrays
themselves (nothing is evaluated; the names are read from the namespace).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..context import Context
from ..probes.packed import fed_arrays

# Share of compared positions that must agree for the decoder's input to count as the target (or its shift).
AGREE = 0.9
# Rows compared.
ROWS = 256


def _agree(a: np.ndarray, b: np.ndarray) -> float:
    """The share of equal (or, for floats, close) entries of two arrays of one shape."""
    if a.shape != b.shape or a.size == 0:
        return 0.0
    if a.dtype.kind in "biu" and b.dtype.kind in "biu":
        return float(np.mean(a == b))
    return float(np.mean(np.isclose(a.astype(np.float64), b.astype(np.float64), rtol=1e-5, atol=1e-6)))


def decoder_feed(ctx: Context, input_name: str) -> tuple[str, str, Any] | None:
    """``(kind, array name, array)`` for the model input ``input_name`` when the cell's fit feeds it the target
    itself (``kind == "target"``) or the target shifted right by one step (``"shifted"``: teacher forcing); None
    when it is neither, when the model has one input, or when the feed can't be read."""
    model = ctx.model
    inputs = list(getattr(model, "inputs", None) or [])
    if model is None or len(inputs) < 2:
        return None
    names = [getattr(getattr(t, "_keras_history", None), "operation", None) for t in inputs]
    index = next((i for i, op in enumerate(names) if getattr(op, "name", None) == input_name), None)
    feed = fed_arrays(ctx.source, ctx.model_name, ctx.namespace or {}, model)
    if index is None or feed is None:
        return None
    arrays, fed_names, y = feed
    target = y if isinstance(y, np.ndarray) else (ctx.target if ctx.target is not None else ctx.data)
    try:
        arr, tgt = np.asarray(arrays[index])[:ROWS], np.asarray(target)[:ROWS]
    except Exception:  # a target numpy can't read: no reading
        return None
    if tgt.ndim == arr.ndim + 1 and tgt.shape[-1] == 1:
        tgt = tgt[..., 0]  # ids with a trailing axis of one
    if arr.ndim < 2 or arr.shape != tgt.shape or arr.shape[1] < 2:
        return None
    name = fed_names[index] if index < len(fed_names) else input_name
    if _agree(arr, tgt) >= AGREE:
        return "target", name, arrays[index]
    if _agree(arr[:, 1:], tgt[:, :-1]) >= AGREE:
        return "shifted", name, arrays[index]
    return None
