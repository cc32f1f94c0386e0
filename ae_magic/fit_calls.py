"""The cell's own ``<model>.fit(...)`` calls, read from its source (nothing runs).

Several checks read what the cell trains its model with beside the data: the target it passes (a label
array that broadcasts, per-head targets of a several-output model), ``sample_weight``, ``batch_size``,
the line to point at. They share this one reading of the source.
"""

from __future__ import annotations

import ast


def parse(source: str | None) -> ast.Module | None:
    """The cell's syntax tree; None without a source or when it does not parse."""
    if not source:
        return None
    try:
        return ast.parse(source)
    except SyntaxError:
        return None


def fit_calls(source: str | None, model_name: str | None) -> list[ast.Call]:
    """Each ``<model_name>.fit(...)`` call in the source, in line order."""
    tree = parse(source)
    if tree is None or not model_name:
        return []
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
             and n.func.attr == "fit" and isinstance(n.func.value, ast.Name) and n.func.value.id == model_name]
    return sorted(calls, key=lambda c: (c.lineno, c.col_offset))


def argument(call: ast.Call, position: int, keyword: str) -> ast.expr | None:
    """The argument given at ``position`` or as ``keyword=`` (``fit(x, y)``: 0/"x", 1/"y"); None when absent."""
    if len(call.args) > position:
        return call.args[position]
    return next((k.value for k in call.keywords if k.arg == keyword), None)


def several_inputs(source: str | None, model_name: str | None, namespace: dict | None = None) -> str | None:
    """The source of the inputs a cell's ``fit`` passes when they are several arrays (``fit([x_train, y_train])``,
    ``fit({"signal": x, "label": c})``, or a name the cell bound to such a list or dict: ``fit(inputs, x)``): a
    model fed that way takes several inputs; None otherwise."""
    for call in fit_calls(source, model_name):
        x = argument(call, 0, "x")
        if (isinstance(x, (ast.List, ast.Tuple)) and len(x.elts) >= 2) or (isinstance(x, ast.Dict) and len(x.keys) >= 2):
            return ast.unparse(x)
        if isinstance(x, ast.Name):
            value = (namespace or {}).get(x.id)
            if isinstance(value, (list, tuple, dict)) and len(value) >= 2:
                return x.id
    return None


def fit_batch_size(source: str | None, model_name: str | None, namespace: dict | None = None) -> int | None:
    """The ``batch_size`` the cell's first fit call that gives one passes (a number, or a name the cell bound to
    one); None when no fit call gives a positive integer."""
    for call in fit_calls(source, model_name):
        node = argument(call, 2, "batch_size")
        value = None
        if isinstance(node, ast.Constant):
            value = node.value
        elif isinstance(node, ast.Name):
            value = (namespace or {}).get(node.id)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None
