"""Data scaled with the statistics of another array: the line where the scaling's statistic was taken.

Round 76's dp08 (a GRU anomaly detector on battery telemetry): ``data_min = test_raw.min(axis=0)`` and
``data_max = test_raw.max(axis=0)``, then ``train_scaled = (train_raw - data_min) / (data_max - data_min)``. The
training windows span [-3, 2.8] under a sigmoid output, and the data check (AE203) named the line that made the
windows; the line a fix changes is where the statistic comes from. The same holds for a scaler fitted on one array
and applied to another (``scaler.fit(x_test)``, ``x_train = scaler.transform(x_train)``).

Read only to locate a data finding that was measured (AE201, AE203): the cell's source is never a reason for a
finding on its own. Statistics of an array the scaled one comes from (the whole table before a split) or of a part
of it are the usual practice and are left alone.
"""

from __future__ import annotations

import ast
import re
from typing import Any

_STATISTICS = {"mean", "std", "var", "min", "max", "nanmean", "nanstd", "nanmin", "nanmax", "amin", "amax",
               "median", "ptp", "quantile", "percentile"}
_MODULES = {"np", "numpy", "jnp"}
# A min-max scaling's statistics (its result is meant to land in [0, 1]).
_RANGE = re.compile(r"\.(nan)?(min|max|amin|amax|ptp)\(|MinMax", re.IGNORECASE)
# How many assignments back the array's history is followed.
DEPTH = 6


def foreign_statistic(source: str | None, name: str | None) -> dict[str, Any] | None:
    """``{"line", "lines", "statistics", "taken_from", "applied_to", "calls", "min_max"}`` when the array ``name`` was scaled
    with statistics (or a fitted scaler) of an array that is neither in its own history nor made from it; else None.
    ``lines`` (1-based in ``source``) are where each such statistic was taken, ``line`` the first of them;
    ``min_max``: every one is a minimum, maximum or range (a scaling meant to land in [0, 1])."""
    try:
        tree = ast.parse(source or "")
    except SyntaxError:
        return None
    if not name:
        return None
    binds = _bindings(tree)
    for value, _line in _history(binds, name):
        found: dict[str, tuple[int, str, str, str]] = {}
        for applied, stat in _scalings(value):
            made = _stat_source(binds, stat, tree)
            if made is None or stat in found:
                continue
            line, taken, call = made
            if taken == applied or _derived(binds, applied, taken) or _derived(binds, taken, applied):
                continue
            found[stat] = (line, taken, applied, call)
        if found:
            first = min(found.values())
            same = {k: v for k, v in found.items() if v[1:3] == first[1:3]}
            calls = [v[3] for v in same.values()]
            return {"line": first[0], "lines": sorted({v[0] for v in same.values()}), "statistics": sorted(same),
                    "taken_from": first[1], "applied_to": first[2], "calls": calls,
                    "min_max": all(_RANGE.search(c) for c in calls)}
    return None


def _bindings(tree: ast.AST) -> dict[str, list[tuple[ast.AST, int]]]:
    """name -> [(the value bound to it, line)], in source order; a tuple unpacked from a tuple pairs them up."""
    out: dict[str, list[tuple[ast.AST, int]]] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Assign) or len(node.targets) != 1:
            continue
        target, value = node.targets[0], node.value
        if isinstance(target, ast.Name):
            out.setdefault(target.id, []).append((value, node.lineno))
        elif isinstance(target, (ast.Tuple, ast.List)):
            parts = value.elts if isinstance(value, (ast.Tuple, ast.List)) and len(value.elts) == len(target.elts) else None
            for i, t in enumerate(target.elts):
                if isinstance(t, ast.Name):
                    out.setdefault(t.id, []).append((parts[i] if parts else value, node.lineno))
    for v in out.values():
        v.sort(key=lambda p: p[1])
    return out


def _names(value: ast.AST) -> set[str]:
    """The arrays a value reads: every Name in it except what is called (functions, methods)."""
    called = {id(n.func) for n in ast.walk(value) if isinstance(n, ast.Call)}
    return {n.id for n in ast.walk(value) if isinstance(n, ast.Name) and id(n) not in called}


def _history(binds: dict[str, list[tuple[ast.AST, int]]], name: str) -> list[tuple[ast.AST, int]]:
    """The values ``name`` was made from, following names back through their last binding, nearest first."""
    out: list[tuple[ast.AST, int]] = []
    seen: set[str] = set()
    frontier = [name]
    for _ in range(DEPTH):
        nxt: list[str] = []
        for n in frontier:
            if n in seen or n not in binds:
                continue
            seen.add(n)
            value, line = binds[n][-1]
            out.append((value, line))
            nxt.extend(sorted(_names(value)))
        frontier = nxt
    return out


def _derived(binds: dict[str, list[tuple[ast.AST, int]]], name: str, ancestor: str) -> bool:
    """Whether ``ancestor`` is in ``name``'s history (``name`` made from it)."""
    return any(ancestor in _names(value) for value, _ in _history(binds, name))


def _scalings(value: ast.AST) -> list[tuple[str, str]]:
    """``(array, statistic)`` for each ``array - stat`` / ``array / stat`` in ``value`` (a name on each side), and
    for ``scaler.transform(array)`` (the statistic is the scaler)."""
    out: list[tuple[str, str]] = []
    for node in ast.walk(value):
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Sub, ast.Div)):
            left = node.left
            while isinstance(left, ast.BinOp) and isinstance(left.op, (ast.Sub, ast.Div)):
                left = left.left
            arrays = [n for n in ast.walk(left) if isinstance(n, ast.Name)]
            stats = [n.id for n in ast.walk(node.right) if isinstance(n, ast.Name)]
            if arrays and isinstance(arrays[0], ast.Name):
                out.extend((arrays[0].id, s) for s in stats if s != arrays[0].id)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "transform"
              and isinstance(node.func.value, ast.Name) and node.args and isinstance(node.args[0], ast.Name)):
            out.append((node.args[0].id, node.func.value.id))
    return out


def _stat_source(binds: dict[str, list[tuple[ast.AST, int]]], stat: str, tree: ast.AST) -> tuple[int, str, str] | None:
    """``(line, array, call)`` where ``stat`` was computed from one array (``b.min(axis=0)``, ``np.std(b)``) or
    fitted on one (``scaler.fit(b)``, ``Scaler().fit(b)``, ``scaler.fit_transform(b)``); else None."""
    for value, line in reversed(binds.get(stat, [])):
        src = _statistic_of(value)
        if src is not None:
            return line, src, ast.unparse(value)
    for node in ast.walk(tree):  # a scaler fitted in a statement of its own
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("fit", "fit_transform")
                and isinstance(node.func.value, ast.Name) and node.func.value.id == stat
                and node.args and isinstance(node.args[0], ast.Name)):
            return node.lineno, node.args[0].id, ast.unparse(node)
    return None


def _statistic_of(value: ast.AST) -> str | None:
    """The one array a statistic or a fitted scaler is computed from, else None."""
    if not isinstance(value, ast.Call) or not isinstance(value.func, ast.Attribute):
        return None
    func, attr = value.func, value.func.attr
    if attr == "fit" and value.args and isinstance(value.args[0], ast.Name):
        return value.args[0].id  # MinMaxScaler().fit(x_test)
    if attr not in _STATISTICS:
        return None
    if isinstance(func.value, ast.Name) and func.value.id in _MODULES:
        arg = value.args[0] if value.args else None
        return arg.id if isinstance(arg, ast.Name) else None
    return func.value.id if isinstance(func.value, ast.Name) else None
