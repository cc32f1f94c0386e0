"""An array the cell changes in place through a function that looks like it returns a new one.

``def add_noise(x): noisy = x; noisy += noise; return clip(noisy)`` called
as ``x_noisy = add_noise(x_train)``: ``noisy`` is ``x_train`` itself, and
``+=`` on a numpy array writes into it. The clean targets of a denoising
autoencoder become the noisy, unclipped data (round 15). Read from the
cell's source (``ast``); nothing runs.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass


@dataclass(frozen=True)
class InPlace:
    """Where ``var`` is changed in place: the call, the function and its writing line (source lines)."""

    var: str
    param: str
    call_line: int
    function: str
    write_line: int
    alias: str | None  # the local name that writes (``noisy``), None when it is the parameter itself


def _writes(fn: ast.FunctionDef, param: str) -> tuple[int, str | None] | None:
    """The first line of ``fn`` that writes into the array passed as ``param`` (through it or an alias)."""
    same = {param}
    for node in sorted((n for n in ast.walk(fn) if isinstance(n, ast.stmt)), key=lambda n: n.lineno):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if isinstance(node.value, ast.Name) and node.value.id in same:
                same.add(name)  # `noisy = x`: the same array under another name
            elif name in same:
                same.discard(name)  # rebound to a new value: writes through it no longer reach the caller
            continue
        targets: list[ast.expr] = []
        if isinstance(node, ast.AugAssign):
            targets = [node.target]
        elif isinstance(node, ast.Assign):
            targets = [t for t in node.targets if isinstance(t, ast.Subscript)]
        for t in targets:
            base = t.value if isinstance(t, ast.Subscript) else t
            if isinstance(base, ast.Name) and base.id in same:
                return node.lineno, (None if base.id == param else base.id)
    return None


def changed_in_place(source: str | None, var: str | None) -> InPlace | None:
    """The first call in ``source`` that passes ``var`` to a cell function writing into it, if any."""
    if not source or not var:
        return None
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    functions = {f.name: f for f in tree.body if isinstance(f, ast.FunctionDef)}
    for call in sorted((n for n in ast.walk(tree) if isinstance(n, ast.Call)), key=lambda n: n.lineno):
        fn = functions.get(call.func.id) if isinstance(call.func, ast.Name) else None
        if fn is None:
            continue
        params = [a.arg for a in fn.args.args]
        for param, arg in zip(params, call.args, strict=False):
            if isinstance(arg, ast.Name) and arg.id == var:
                hit = _writes(fn, param)
                if hit is not None:
                    return InPlace(var, param, call.lineno, fn.name, hit[0], hit[1])
    return None
