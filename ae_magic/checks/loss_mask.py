"""AE108 for a hand-written masked loss whose mask is computed from the prediction, not the target.

A loss that should count only the observed entries of a sparse target (AutoRec on a rating matrix
where 0 means "not rated", a padded sequence) builds its mask by comparing with the missing-value
code. Written on ``y_pred`` instead of ``y_true`` (round 29: ``tf.not_equal(y_pred, 0)``), the mask
is all ones, because a continuous output is never exactly the code: every missing entry counts as a
target of 0, and the model learns to predict the code for everything it has not seen. Nothing fails;
the loss falls, and the observed entries are fitted no better than their means.

Read from the cell's source (the compiled loss function's own ``def``) and the data: the comparison of
the function's prediction argument with a constant that at least ``MISSING_SHARE`` of the targets equal.
"""

from __future__ import annotations

import ast
from typing import Any

import numpy as np

from ..context import Context
from ..report import Finding

# The targets must hold the compared value this often for it to be a missing-value code.
MISSING_SHARE = 0.05
# Comparisons that make a mask.
_COMPARE_CALLS = {"equal", "not_equal", "greater", "greater_equal", "less", "less_equal", "isclose"}
SAMPLE = 200_000


def _constant(node: ast.AST) -> float | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        v = _constant(node.operand)
        return -v if v is not None else None
    return None


def _mask_on_prediction(fn: ast.FunctionDef) -> tuple[ast.AST, float, str, str] | None:
    """``(comparison, code, y_true name, y_pred name)``: the first comparison of the prediction argument
    with a constant in ``fn``."""
    args = [a.arg for a in fn.args.args]
    if len(args) < 2:
        return None
    y_true, y_pred = args[0], args[1]

    def pair(a: ast.AST, b: ast.AST) -> float | None:
        if isinstance(a, ast.Name) and a.id == y_pred:
            return _constant(b)
        if isinstance(b, ast.Name) and b.id == y_pred:
            return _constant(a)
        return None

    for node in ast.walk(fn):
        if isinstance(node, ast.Call) and len(node.args) >= 2:
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            code = pair(node.args[0], node.args[1]) if name in _COMPARE_CALLS else None
        elif isinstance(node, ast.Compare) and len(node.ops) == 1 and len(node.comparators) == 1:
            code = pair(node.left, node.comparators[0])
        else:
            continue
        if code is not None:
            return node, code, y_true, y_pred
    return None


def loss_def(ctx: Context) -> ast.FunctionDef | None:
    """The ``def`` in the cell of the function the model is compiled with."""
    loss = getattr(ctx.model, "loss", None) if ctx.model is not None else None
    name = getattr(loss, "__name__", None)
    if not name or not ctx.source:
        return None
    try:
        tree = ast.parse(ctx.source)
    except SyntaxError:
        return None
    return next((n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == name), None)


def check_mask_from_prediction(ctx: Context) -> list[Finding]:
    """AE108: the compiled loss masks by comparing the prediction (not the target) with a missing-value code."""
    fn = loss_def(ctx)
    target = ctx.target if ctx.target is not None else ctx.data
    if fn is None or target is None or not np.issubdtype(np.asarray(target).dtype, np.number) or target.size == 0:
        return []
    hit = _mask_on_prediction(fn)
    if hit is None:
        return []
    node, code, y_true, y_pred = hit
    flat = np.asarray(target).reshape(-1)
    if flat.size > SAMPLE:
        flat = flat[np.linspace(0, flat.size - 1, SAMPLE).astype(np.int64)]
    share = float(np.mean(flat == code))
    if share < MISSING_SHARE:
        return []
    line = node.lineno
    src = ctx.line_text(line)
    fixed = _with_target(ctx, line, y_pred, y_true)
    evidence: dict[str, Any] = {"loss": fn.name, "compared": y_pred, "code": code, "target_share_equal_to_code": share}
    return [Finding(
        code="AE108", severity="error", title="The loss's mask is computed from the prediction, not the target",
        message=(f"The loss `{fn.name}` builds its mask by comparing `{y_pred}` (the model's output) with {code:g}. "
                 f"{100 * share:.0f}% of the targets are {code:g}, a missing-value code; the output is continuous and "
                 f"never exactly {code:g}, so the mask keeps every entry: each missing one counts as a target of "
                 f"{code:g}, and the model learns to predict {code:g} wherever it saw nothing. Compare `{y_true}` "
                 "(the target), whose missing entries are the ones to leave out."),
        line=ctx.cell_line(line), source_line=src, evidence=evidence,
        fix=fixed or f"mask = ops.cast(ops.not_equal({y_true}, {code:g}), 'float32')  # mask by the target",
    )]


def _with_target(ctx: Context, line: int, y_pred: str, y_true: str) -> str | None:
    """The cell's line ``line`` with the prediction argument renamed to the target's."""
    text = ctx.line_text(line)
    if text is None:
        return None
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None
    spans = sorted(((n.col_offset, n.end_col_offset) for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id == y_pred),
                   reverse=True)
    for a, b in spans:
        text = text[:a] + y_true + text[b:]
    return text


CHECKS = [check_mask_from_prediction]
