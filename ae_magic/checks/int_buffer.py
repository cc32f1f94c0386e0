"""AE205 (data-degenerate): floats written into an integer array, which NumPy truncates.

Round 48's aw05: ``images = np.zeros((n, 20, 20), dtype=np.uint8)`` (the dtype images usually come in), then
``images[i] = blob / blob.max()`` for each heat map in [0, 1]. NumPy casts each float to the array's integer
type without a word, so every value below 1 becomes 0: each image kept one hot pixel (99.75% zeros), the model
learned that, and on the real heat maps it was worse than the mean. Keras trains on the wreck without a word
either.

Read from the cell's source and the data: an array made with an integer dtype (``np.zeros``/``np.empty``/
``np.ones``/``np.full``), an item assignment into it of a value that is a float (a true division, or a float
NumPy function such as ``np.exp``), and data of an integer dtype that is that array or a view of it, with at most
FEW_LEVELS distinct values left (floats in 0-255 written into uint8 lose only their fractions, and are left alone).
"""

from __future__ import annotations

import ast
from typing import Any

import numpy as np

from ..context import Context
from ..report import Finding

MAKERS = frozenset({"zeros", "empty", "ones", "full", "zeros_like", "empty_like", "ones_like", "full_like"})
INT_DTYPES = frozenset({"uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64", "int64", "int", "intc", "uint"})
# Truncation that destroyed the data leaves at most this many distinct values (aw05: 0 and 1).
FEW_LEVELS = 3
FLOAT_FUNCS = frozenset({"exp", "sin", "cos", "tanh", "sqrt", "log", "log1p", "expm1", "sigmoid", "mean", "std",
                         "normal", "uniform", "random", "rand", "randn", "linspace", "interp", "true_divide", "divide"})


def _int_dtype(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Attribute) and node.attr in INT_DTYPES:
        return node.attr
    if isinstance(node, ast.Name) and node.id in INT_DTYPES:
        return node.id
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in INT_DTYPES:
        return node.value
    return None


def _floaty(value: ast.AST) -> bool:
    """The expression yields floats: a true division, or a float NumPy function, anywhere in it."""
    for n in ast.walk(value):
        if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Div):
            return True
        if isinstance(n, ast.Call):
            name = n.func.attr if isinstance(n.func, ast.Attribute) else n.func.id if isinstance(n.func, ast.Name) else ""
            if name in FLOAT_FUNCS:
                return True
    return False


def truncating_writes(source: str) -> list[dict[str, Any]]:
    """``{"name", "dtype", "made", "write"}`` for each integer array the source writes float values into."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    made: dict[str, tuple[str, int]] = {}
    for n in ast.walk(tree):
        if (isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], ast.Name)
                and isinstance(n.value, ast.Call) and isinstance(n.value.func, ast.Attribute) and n.value.func.attr in MAKERS):
            dtype = next((_int_dtype(k.value) for k in n.value.keywords if k.arg == "dtype"), None)
            if dtype is not None:
                made[n.targets[0].id] = (dtype, n.lineno)
    found = []
    for n in ast.walk(tree):
        if isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], ast.Subscript):
            base = n.targets[0].value
            if isinstance(base, ast.Name) and base.id in made and _floaty(n.value):
                dtype, line = made[base.id]
                if not any(f["name"] == base.id for f in found):
                    found.append({"name": base.id, "dtype": dtype, "made": line, "write": n.lineno})
    return found


def check_int_buffer(ctx: Context) -> list[Finding]:
    """AE205: the data is an integer array the cell filled with float values, truncated on the way in."""
    d = ctx.data
    if d is None or not isinstance(d, np.ndarray) or d.dtype.kind not in "iu" or not ctx.source:
        return []
    ns = ctx.namespace or {}
    for w in truncating_writes(ctx.source):
        buf = ns.get(w["name"])
        if not (w["name"] == ctx.data_name or (isinstance(buf, np.ndarray) and np.shares_memory(buf, d))):
            continue
        values = np.unique(d[: min(len(d), 256)])
        if len(values) > FEW_LEVELS:
            continue  # (0-255 floats written into uint8 lose only their fractions: the image survives)
        zero = float(np.mean(d == 0))
        write = ctx.line_text(w["write"]) or ""
        return [Finding(
            code="AE205", severity="warning", title="Float values written into an integer array were truncated",
            message=(f"`{w['name']}` is made as {w['dtype']}, and line {ctx.cell_line(w['write'])} writes floats into it "
                     f"(`{write}`): NumPy truncates each to an integer without a word, so every value between 0 and 1 "
                     f"becomes 0. `{ctx.data_name or 'the data'}` holds {len(values)} distinct value(s) in its first "
                     f"samples ({', '.join(f'{v:g}' for v in values[:6])}) and is {zero:.1%} zeros: the model trains on "
                     "what is left."),
            line=ctx.cell_line(w["made"]), source_line=ctx.line_text(w["made"]),
            evidence={"array": w["name"], "dtype": w["dtype"], "write_line": ctx.cell_line(w["write"]),
                      "distinct_values": [float(v) for v in values[:10]], "zero_share": zero},
            fix=f"{w['name']} = np.zeros(..., dtype=np.float32)  # a float array keeps the values written into it",
        )]
    return []


CHECKS = [check_int_buffer]
