"""Data that a preprocessing default or the loss quietly spoils (round 22), each named at its line.

* AE205 "pad_sequences made the data integers": ``keras.utils.pad_sequences``
  returns ``dtype="int32"`` unless told otherwise (it was written for token
  ids), so float signals padded with it are truncated toward zero: readings
  in g or mV become a staircase of a few integers, mostly 0 (round 22: 0.75x
  the mean's error against 0.37x with ``dtype="float32"``).
* AE205 "Float values were stored into an integer array": ``x[i] = raw[i] /
  255.0`` into ``x = np.empty_like(raw)`` of uint8 pixels truncates every
  value (round 28: 99.4 % zeros left).
* AE108 "A percentage loss on targets that cross zero": mean absolute
  percentage error divides each error by its target, so targets near zero
  (every z-scored signal has them) get weights without bound and the large
  values are barely fitted (round 22: 3x the MSE of the same GRU trained on
  ``"mse"``).
* AE205 "The input noise swamps the signal": a ``GaussianNoise`` layer on the
  input whose standard deviation is several times the data's own (a level
  meant for z-scored data, used on data min-max scaled into [0, 1]); the
  encoder sees mostly noise and the model learns little more than the mean
  (round 22: 0.80x the mean's error against 0.26x with ``stddev=0.05``).
"""

from __future__ import annotations

import ast
from typing import Any

import numpy as np

from .. import keras_compat as kc
from ..context import Context
from ..report import Finding
from .locate import loss_line

# pad_sequences: at most this many distinct values in an integer array that the cell padded.
FEW_LEVELS = 16
# MAPE: the share of targets within NEAR_ZERO of the targets' standard deviation from zero.
NEAR_ZERO = 0.05
NEAR_ZERO_SHARE = 0.02
# Input noise: its standard deviation against the data's.
NOISE_RATIO = 3.0


def _tree(ctx: Context) -> ast.Module | None:
    try:
        return ast.parse(ctx.source or "")
    except SyntaxError:
        return None


def _call_name(node: ast.Call) -> str:
    f = node.func
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""


def check_int_padding(ctx: Context) -> list[Finding]:
    """AE205: the data is an integer array of a few levels, made by a ``pad_sequences`` call without ``dtype=``."""
    x = ctx.data
    if x is None or getattr(x, "dtype", None) is None or x.dtype.kind not in "iu":
        return []
    tree = _tree(ctx)
    if tree is None:
        return []
    call = next((n for n in ast.walk(tree) if isinstance(n, ast.Call) and _call_name(n) == "pad_sequences"
                 and not any(k.arg == "dtype" for k in n.keywords) and len(n.args) < 4), None)
    if call is None or getattr(ctx.graph, "token_input", False) or _whole_numbers(ctx, call):
        # Token ids read by an Embedding, or sequences of whole numbers: int32 is what they are (round 85's jb08).
        return []
    levels = np.unique(np.asarray(x).ravel()[:200_000])
    if len(levels) > FEW_LEVELS:
        return []
    zeros = float(np.mean(np.asarray(x) == 0))
    raw = call.lineno
    return [Finding(
        code="AE205",
        severity="warning",
        title="pad_sequences made the data integers",
        message=(f"{ctx.data_name or 'The data'} is an {x.dtype} array holding only {len(levels)} distinct values "
                 f"({', '.join(f'{v:g}' for v in levels[:8])}{', ...' if len(levels) > 8 else ''}; {zeros:.0%} zeros): "
                 "keras.utils.pad_sequences returns dtype='int32' unless told otherwise, so the float sequences it "
                 "padded were truncated toward zero. The model learns a staircase of a few integers, mostly 0, "
                 "instead of the signals."),
        line=ctx.cell_line(raw),
        source_line=ctx.line_text(raw),
        evidence={"dtype": str(x.dtype), "levels": [float(v) for v in levels], "zero_share": zeros},
        fix="# keep the values: pad_sequences(..., dtype='float32', padding='post')",
    )]


def _whole_numbers(ctx: Context, call: ast.Call) -> bool:
    """The sequences ``pad_sequences`` padded (a name the cell bound) hold whole numbers only: truncation lost nothing."""
    arg = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "sequences"), None)
    seqs = (ctx.namespace or {}).get(arg.id) if isinstance(arg, ast.Name) else None
    if not isinstance(seqs, (list, tuple, np.ndarray)) or len(seqs) == 0:
        return False
    try:
        values = np.concatenate([np.asarray(s, dtype=np.float64).ravel() for s in list(seqs)[:500]])
    except (TypeError, ValueError):  # ragged rows of rows, or values that are not numbers: unknown
        return False
    return bool(values.size) and bool(np.all(np.isfinite(values))) and bool(np.all(values == np.round(values)))


def _float_stores(tree: ast.Module) -> list[tuple[str, ast.Assign]]:
    """Each ``name[...] = <a true division or a float literal>`` in the cell, in source order: a store into
    ``name``'s own dtype."""
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Assign):
            continue
        if not any((isinstance(n, ast.BinOp) and isinstance(n.op, ast.Div))
                   or (isinstance(n, ast.Constant) and isinstance(n.value, float)) for n in ast.walk(node.value)):
            continue
        out += [(t.value.id, node) for t in node.targets if isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name)]
    return sorted(out, key=lambda item: item[1].lineno)


def _float_store(ctx: Context, tree: ast.Module, name: str, x: Any) -> tuple[str, ast.Assign] | None:
    """The float store into the data's own array: into ``name`` itself, or into an integer array the data is a view
    of (``x_flat = images.reshape(n, -1)``) or is assigned from (round 86's kb07)."""
    sources = {n.id for node in ast.walk(tree) if isinstance(node, ast.Assign)
               and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
               for n in ast.walk(node.value) if isinstance(n, ast.Name)}
    for stored, node in _float_stores(tree):
        if stored == name:
            return stored, node
        value = (ctx.namespace or {}).get(stored)
        if not isinstance(value, np.ndarray) or value.dtype.kind not in "iub":
            continue
        if stored in sources or (isinstance(x, np.ndarray) and np.shares_memory(x, value)):
            return stored, node
    return None


def check_truncated_store(ctx: Context) -> list[Finding]:
    """AE205: float values written element-wise into an integer array (``np.empty_like`` of uint8 pixels).

    Round 28: ``x = np.empty_like(x_raw)`` keeps x_raw's uint8, and ``x[i] = x_raw[i] / 255.0`` then stores
    every pixel truncated: 0 everywhere but the pixels that were exactly 255. NumPy casts on item assignment
    without a word, and the images are gone before any model sees them.
    """
    x, name = ctx.data, ctx.data_name
    if x is None or not name or getattr(x, "dtype", None) is None or x.dtype.kind not in "iub":
        return []
    tree = _tree(ctx)
    found = _float_store(ctx, tree, name, x) if tree is not None else None
    if found is None:
        return []
    stored, store = found
    levels = np.unique(np.asarray(x).ravel()[:200_000])
    if len(levels) > FEW_LEVELS:
        return []
    zeros = float(np.mean(np.asarray(x) == 0))
    raw = store.lineno
    # Named where the integer buffer is made (`images = np.empty_like(thumbs)`): its dtype is what the fix changes.
    made = max((n.lineno for n in ast.walk(tree) if isinstance(n, ast.Assign) and n.lineno < raw
                and isinstance(n.value, ast.Call) and any(isinstance(t, ast.Name) and t.id == stored for t in n.targets)),
               default=raw)
    return [Finding(
        code="AE205",
        severity="warning",
        title="Float values were stored into an integer array",
        message=(f"`{name}` is an {x.dtype} array, and line {ctx.cell_line(raw)} writes float values into "
                 + ("it " if stored == name else f"`{stored}`, which it is made from, ")
                 + (f"(made at line {ctx.cell_line(made)}) " if made != raw else "")
                 + "element by element: NumPy truncates each one to the array's integer type without a warning. "
                 f"What is left holds only {len(levels)} distinct values "
                 f"({', '.join(f'{v:g}' for v in levels[:8])}{', ...' if len(levels) > 8 else ''}; {zeros:.1%} "
                 "zeros), so the model learns from a few integers instead of the data."),
        line=ctx.cell_line(made),
        source_line=ctx.line_text(made),
        evidence={"dtype": str(x.dtype), "levels": [float(v) for v in levels], "zero_share": zeros,
                  "store_line": ctx.cell_line(raw)},
        fix=(f"{stored} = np.empty_like(..., dtype='float32')  # or, without the loop: "
             f"{stored} = x_raw.astype('float32') / 255.0"),
    )]


def check_percentage_loss(ctx: Context) -> list[Finding]:
    """AE108: mean absolute percentage error on targets with values at or near zero."""
    name = (kc.loss_name(ctx.model) or "").lower().replace("_", "")
    if name not in ("mape", "meanabsolutepercentageerror"):
        return []
    y = ctx.target if ctx.target is not None else ctx.data
    if y is None or getattr(y, "dtype", None) is None or y.dtype.kind not in "fiu":
        return []
    v = np.asarray(y, dtype=np.float64).ravel()[:200_000]
    v = v[np.isfinite(v)]
    sd = float(np.std(v)) if v.size else 0.0
    if sd <= 0:
        return []
    near = float(np.mean(np.abs(v) < NEAR_ZERO * sd))
    if near < NEAR_ZERO_SHARE and float(np.min(v)) > 0:
        return []
    line, text = loss_line(ctx)
    return [Finding(
        code="AE108",
        severity="warning",
        title="A percentage loss on targets that cross zero",
        message=(f"The loss is mean absolute percentage error, which divides each error by its target; "
                 f"{near:.0%} of the targets are within {NEAR_ZERO:g} standard deviations of zero"
                 + (" and they change sign" if float(np.min(v)) < 0 < float(np.max(v)) else "")
                 + ". Those targets get weights without bound, so the loss is spent on values near zero and the "
                 "rest of the reconstruction is barely fitted. MAPE is for strictly positive quantities "
                 "(prices, counts), not for reconstructions."),
        line=line, source_line=text,
        evidence={"loss": kc.loss_name(ctx.model), "near_zero_share": near, "min": float(np.min(v)),
                  "max": float(np.max(v))},
        fix=f"{ctx.model_name or 'model'}.compile(optimizer='adam', loss='mse')  # or 'mae': defined for any value",
    )]


def _input_noise(model: Any) -> Any | None:
    """The GaussianNoise layer that reads the model's input directly (through an InputLayer only), if any."""
    for layer in getattr(model, "layers", []):
        if type(layer).__name__ == "InputLayer":
            continue
        return layer if type(layer).__name__ == "GaussianNoise" else None
    return None


def check_input_noise(ctx: Context) -> list[Finding]:
    """AE205: a GaussianNoise on the input with a standard deviation NOISE_RATIO times the data's or more."""
    from .gradients import locate

    layer = _input_noise(ctx.model) if ctx.model is not None else None
    x = ctx.data
    if layer is None or x is None or getattr(x, "dtype", None) is None or x.dtype.kind not in "fiu":
        return []
    v = np.asarray(x, dtype=np.float64).ravel()[:200_000]
    v = v[np.isfinite(v)]
    sd = float(np.std(v)) if v.size else 0.0
    noise = float(getattr(layer, "stddev", 0.0) or 0.0)
    if sd <= 0 or noise < NOISE_RATIO * sd:
        return []
    line, text = locate(ctx, layer.name)
    return [Finding(
        code="AE205",
        severity="warning",
        title="The input noise swamps the signal",
        message=(f"GaussianNoise '{layer.name}' adds noise of standard deviation {noise:g} to inputs whose own "
                 f"standard deviation is {sd:.3g} ({noise / sd:.1f}x): while training the encoder sees mostly noise, "
                 "and the model learns little more than the average. A stddev of about 0.1-0.2 of the data's "
                 "spread regularises; one meant for standardised data does not carry over to data scaled into "
                 "[0, 1]."),
        line=line, layer=layer.name, source_line=text,
        evidence={"stddev": noise, "data_std": sd, "ratio": noise / sd},
        fix=f"layers.GaussianNoise({max(0.01, round(0.2 * sd, 2)):g})  # about a fifth of the data's spread",
    )]


CHECKS = [check_int_padding, check_truncated_store, check_percentage_loss, check_input_noise]
