"""Some columns scaled, the rest left raw: the line that scaled only part of the table the data is made from.

Round 87's lc02 (a credit-card fraud detector, the most common anomaly-detection autoencoder on Kaggle):
``df["Amount"] = StandardScaler().fit_transform(df[["Amount"]])``, then ``x = df.values``. The ``Time`` column
(seconds, up to 172,792) kept its raw scale and the data check (AE201) named ``x = df.values``; the line the user
meant as "the scaling", and extends to every column, is the one that scaled ``Amount`` alone.

Read only to locate AE201 once the data was measured far from unit scale: the cell's source is never a reason for a
finding on its own. A column scaled on its own before the whole table is scaled (a log of the amounts, then a
``StandardScaler`` on everything) leaves the data at unit scale, and AE201 does not fire.
"""

from __future__ import annotations

import ast

# Calls that rescale the values they are given (scikit-learn's scalers and helpers, numpy's compressing maps).
_SCALING_CALLS = {"fit_transform", "transform", "scale", "minmax_scale", "robust_scale", "maxabs_scale", "normalize",
                  "log", "log1p", "log10", "log2", "sqrt", "tanh", "zscore"}
# How many assignments back the data's history is followed.
DEPTH = 8


def partial_scaling(source: str | None, name: str | None) -> tuple[int, str] | None:
    """``(line, selection)`` of a statement that scales a selection of columns (``df["Amount"] = ...``,
    ``x[:, 0] = x[:, 0] / ...``) of an array the data ``name`` is made from (or of ``name`` itself); the last
    such statement, 1-based in ``source``, and its target as written. None when there is none."""
    try:
        tree = ast.parse(source or "")
    except SyntaxError:
        return None
    if not name:
        return None
    lineage = _lineage(tree, name)
    names = _column_names(tree)
    best: tuple[int, str] | None = None
    for node in ast.walk(tree):
        if not isinstance(node, ast.Assign) or len(node.targets) != 1:
            continue
        target = node.targets[0]
        if not isinstance(target, ast.Subscript):
            continue
        owner = _owner(target)
        if owner not in lineage or not _columns(target, names) or not _scales(node.value):
            continue
        if best is None or node.lineno > best[0]:
            best = (node.lineno, ast.unparse(target))
    return best


def _lineage(tree: ast.AST, name: str) -> set[str]:
    """``name`` and the names its bindings read, followed DEPTH assignments back."""
    binds: dict[str, list[ast.AST]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                for t in ast.walk(target):
                    if isinstance(t, ast.Name):
                        binds.setdefault(t.id, []).append(node.value)
    seen, frontier = {name}, [name]
    for _ in range(DEPTH):
        nxt = []
        for n in frontier:
            for value in binds.get(n, []):
                for sub in ast.walk(value):
                    if isinstance(sub, ast.Name) and sub.id not in seen:
                        seen.add(sub.id)
                        nxt.append(sub.id)
        frontier = nxt
    return seen


def _owner(target: ast.Subscript) -> str | None:
    """The array a subscript assignment writes into: ``df`` of ``df["a"]``, ``df.loc[:, "a"]``, ``x[:, 0]``."""
    value = target.value
    if isinstance(value, ast.Attribute) and value.attr in ("loc", "iloc"):
        value = value.value
    return value.id if isinstance(value, ast.Name) else None


def _full(node: ast.AST) -> bool:
    """Whether an index is ``:`` (every row or every column)."""
    return isinstance(node, ast.Slice) and node.lower is None and node.upper is None and node.step is None


def _column_names(tree: ast.AST) -> set[str]:
    """Names the cell binds to column names: a list of strings (``num_cols = ["Time", "Amount"]``), or something
    read off a table's columns (``num_cols = df.select_dtypes("number").columns``)."""
    out = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Assign) or len(node.targets) != 1 or not isinstance(node.targets[0], ast.Name):
            continue
        value = node.value
        strings = isinstance(value, (ast.List, ast.Tuple)) and value.elts and all(
            isinstance(e, ast.Constant) and isinstance(e.value, str) for e in value.elts)
        if strings or any(isinstance(sub, ast.Attribute) and sub.attr == "columns" for sub in ast.walk(value)):
            out.add(node.targets[0].id)
    return out


def _columns(target: ast.Subscript, names: set[str] = frozenset()) -> bool:
    """Whether the subscript selects some columns of every row (a column name or list, ``[:, k]``, ``.loc[:, cols]``,
    a name bound to column names)."""
    index = target.slice
    if isinstance(index, ast.Name) and index.id in names:
        return True  # df[num_cols]
    if isinstance(index, ast.Constant) and isinstance(index.value, str):
        return True  # df["Amount"]
    if isinstance(index, ast.List) and index.elts and all(isinstance(e, ast.Constant) and isinstance(e.value, str)
                                                         for e in index.elts):
        return True  # df[["Time", "Amount"]]
    if isinstance(index, ast.Tuple) and len(index.elts) == 2:
        rows, cols = index.elts
        return _full(rows) and not _full(cols)  # x[:, 0], x[:, :5], df.loc[:, "Amount"]
    return False


def _scales(value: ast.AST) -> bool:
    """Whether the assigned value rescales: a scaler's or a compressing function's call, or a division (a
    hand-written standardisation or min-max; a difference alone is a derived feature, not a scaling)."""
    for sub in ast.walk(value):
        if isinstance(sub, ast.Call):
            func = sub.func.attr if isinstance(sub.func, ast.Attribute) else getattr(sub.func, "id", "")
            if func in _SCALING_CALLS:
                return True
        if isinstance(sub, ast.BinOp) and isinstance(sub.op, ast.Div):
            return True
    return False
