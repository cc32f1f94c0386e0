"""Where a NaN or Inf in the data most likely came from: the cell line AE202 points at.

Round 46 (two cells written apart, an02 and ao06): a skewed column log-transformed
with ``np.log`` while it holds zeros (a pump that is off, voided transactions)
gives -inf, and the standardisation after it turns the whole column into NaN.
The array the model trains on is assigned lines later, so naming that line
(or the data) leaves the user to search. This reads the cell's source only
(nothing is re-run: the cell runs once): the assignments the data flows from,
followed back from the data's name, and among them the last one that applies
a function undefined on part of the real line (log, sqrt, arcsin, ...).
"""

from __future__ import annotations

import ast

from ..context import Context

# Functions that return -inf/NaN for zeros or negatives (numpy / math / keras.ops / tf.math spellings).
# (Not log1p: it is the usual fix for zeros, and fails only below -1.)
RISKY = {"log", "log2", "log10", "sqrt", "arcsin", "arccos", "arctanh", "reciprocal"}


def _base(target: ast.AST) -> str | None:
    """The variable an assignment target writes: ``x`` for ``x``, ``x[...]``, ``x.attr``."""
    while isinstance(target, (ast.Subscript, ast.Attribute, ast.Starred)):
        target = target.value
    return target.id if isinstance(target, ast.Name) else None


def _risky_call(node: ast.AST) -> str | None:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            fn = sub.func
            name = fn.attr if isinstance(fn, ast.Attribute) else fn.id if isinstance(fn, ast.Name) else None
            if name in RISKY:
                return name
    return None


def nonfinite_source(ctx: Context, var: str | None) -> tuple[int | None, str | None, str | None]:
    """``(cell line, source text, function)`` of the last assignment on ``var``'s path in the cell that applies
    a RISKY function, else ``(None, None, None)``."""
    if not var or not ctx.source:
        return None, None, None
    try:
        tree = ast.parse(ctx.source)
    except SyntaxError:
        return None, None, None
    steps: list[tuple[list[str], ast.AST, int]] = []
    for node in tree.body:  # the cell's top-level statements, in order
        if isinstance(node, ast.Assign):
            names = [n for t in node.targets for el in (t.elts if isinstance(t, ast.Tuple) else [t]) if (n := _base(el))]
            steps.append((names, node.value, node.lineno))
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)) and node.value is not None:
            name = _base(node.target)
            if name:
                # x += y reads x as well as y
                rhs = ast.BinOp(left=node.target, op=ast.Add(), right=node.value) if isinstance(node, ast.AugAssign) else node.value
                steps.append(([name], rhs, node.lineno))
    funcs = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    wanted = {var}
    for names, rhs, lineno in reversed(steps):
        if not wanted.intersection(names):
            continue
        fn = _risky_call(rhs)
        if fn is not None:
            return ctx.cell_line(lineno), ctx.line_text(lineno), fn
        inner = _risky_in_called(rhs, funcs)
        if inner is not None:
            # Round 68's cy04: ``features = engineer(pca, amount, hour)``, whose body takes ``np.log(amount_col)``.
            at, fn = inner
            return ctx.cell_line(at), ctx.line_text(at), fn
        wanted.update(n.id for n in ast.walk(rhs) if isinstance(n, ast.Name))
    return None, None, None


def _risky_in_called(rhs: ast.AST, funcs: dict[str, ast.AST]) -> tuple[int, str] | None:
    """``(source line, function)`` of the first RISKY call in the body of a function of the cell that ``rhs``
    calls, else None."""
    for call in (n for n in ast.walk(rhs) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)):
        body = funcs.get(call.func.id)
        for st in (n for n in ast.walk(body) if isinstance(n, ast.stmt)) if body is not None else ():
            if isinstance(st, (ast.Assign, ast.Return, ast.AugAssign, ast.Expr)) and st.value is not None:
                fn = _risky_call(st.value)
                if fn is not None:
                    return st.lineno, fn
    return None


def undefined_input(ctx: Context, line: int | None, fn: str | None) -> bool:
    """True when the RISKY call on capture line ``line`` takes an array of the cell's namespace (or a parameter
    given one at the call of its function) that is all finite and holds values the function is undefined on
    (zeros or negatives for a log, negatives for a square root): the transform made the NaN/Inf, not missing
    values in the data (round 68's cx09: ``np.log(amplitude)`` of a signal with dropouts at exactly 0, then
    per-window z-scores spread NaN over 88 of 2400 windows).
    """
    import numpy as np

    if line is None or fn not in ("log", "log2", "log10", "sqrt") or not ctx.source:
        return False
    try:
        tree = ast.parse(ctx.source)
    except SyntaxError:
        return False
    args = {}
    for fdef in (n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))):
        params = [a.arg for a in fdef.args.args]
        for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
                     and n.func.id == fdef.name):
            args.update({p: a.id for p, a in zip(params, call.args, strict=False) if isinstance(a, ast.Name)})
    for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call) and n.lineno == line and n.args):
        name = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", None)
        first = call.args[0]
        if name != fn or not isinstance(first, ast.Name):
            continue
        value = ctx.namespace.get(args.get(first.id, first.id))
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            continue
        if arr.size == 0 or arr.dtype == object or not np.all(np.isfinite(arr)):
            continue
        if bool(np.any(arr <= 0)) if fn != "sqrt" else bool(np.any(arr < 0)):
            return True
    return False


# Calls that test for NaN (numpy / keras.ops / tf.math spellings): a loss that uses one masks missing targets.
_NAN_TESTS = {"isnan", "is_nan", "isfinite", "is_finite"}


def nan_masking_loss(ctx: Context) -> str | None:
    """The name of the compiled loss when it is a function (or ``Loss`` class) of the cell that tests its values
    for NaN: a loss that skips missing entries of the target (round 77's dq03, an imputation autoencoder's
    ``masked_mse``); else None."""
    from .. import keras_compat as kc

    model = getattr(ctx, "model", None)
    loss = kc.compiled_loss(model) if model is not None else None
    name = getattr(loss, "__name__", None) or (type(loss).__name__ if loss is not None and not isinstance(loss, str) else None)
    try:
        tree = ast.parse(ctx.source or "")
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == name:
            calls = (n.func for n in ast.walk(node) if isinstance(n, ast.Call))
            if any((f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")) in _NAN_TESTS for f in calls):
                return name
    return None


def fit_feeding(ctx: Context, var: str | None) -> tuple[int, str, str] | None:
    """``(line, the fit call's text, that text with the input zero-filled)`` when the cell's fit passes ``var`` as
    the model's input (its first argument, or ``x=``); else None. The line is 1-based in ``ctx.source``."""
    from ..fit_calls import argument, fit_calls

    for call in fit_calls(ctx.source, getattr(ctx, "model_name", None)):
        x = argument(call, 0, "x")
        if isinstance(x, ast.Name) and x.id == var:
            text = ast.get_source_segment(ctx.source or "", call) or ""
            fixed = text.replace(f"({var}", f"(np.nan_to_num({var})", 1) if text.count(f"({var}") else text.replace(
                f"x={var}", f"x=np.nan_to_num({var})", 1)
            return call.lineno, text, fixed
    return None


# Bodies that compute the loss: a layer's call that adds one, the cell's loss function, a model's own step.
_STEP_NAMES = {"train_step", "compute_loss"}


def unguarded_loss_log(ctx: Context) -> tuple[int, str, str] | None:
    """``(source line, function, argument)`` of the first ``log``/``sqrt`` in the code that computes the loss (a
    layer class whose ``call`` uses ``add_loss``, the compiled loss function of the cell, a ``train_step`` or
    ``compute_loss``) taken of a bare variable: a value the model computes with nothing that keeps it positive
    (round 86's kc05: ``0.5 * ops.log(x_logvar)`` of a linear Conv1D head read as a variance); else None."""
    from .. import keras_compat as kc

    try:
        tree = ast.parse(ctx.source or "")
    except SyntaxError:
        return None
    loss = kc.compiled_loss(getattr(ctx, "model", None)) if getattr(ctx, "model", None) is not None else None
    loss_name = getattr(loss, "__name__", None) or (type(loss).__name__ if loss is not None and not isinstance(loss, str) else None)
    bodies: list[ast.AST] = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            adds = any(isinstance(n, ast.Attribute) and n.attr == "add_loss" for n in ast.walk(node))
            bodies += [m for m in node.body if isinstance(m, ast.FunctionDef)
                       and ((adds and m.name == "call") or m.name in _STEP_NAMES or node.name == loss_name)]
        elif isinstance(node, ast.FunctionDef) and node.name == loss_name:
            bodies.append(node)
    for body in bodies:
        for call in sorted((n for n in ast.walk(body) if isinstance(n, ast.Call) and n.args), key=lambda c: c.lineno):
            fn = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", None)
            if fn in ("log", "sqrt") and isinstance(call.args[0], ast.Name):
                return call.lineno, fn, call.args[0].id
    return None
