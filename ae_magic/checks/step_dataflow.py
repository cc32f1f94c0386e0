"""AE111 for a ``train_step`` whose decoder is fed something that does not come from the batch.

Round 55's bu09: ``x_hat = self.decoder(epsilon)`` where ``epsilon =
keras.random.normal(ops.shape(z_mean))`` and ``z`` (computed the line
before) is never used. The model's ``call`` decodes ``z_mean`` correctly, so
the forward pass the probes read looks healthy; only the step fit runs trains
a decoder of noise. The run shows the symptoms (outputs all alike, the KL
falling to zero), and nothing pointed at the line.

Read from the step's source: the names each assignment depends on, where a
shape (``ops.shape(z)``, ``z.shape``) and the arguments of a random draw are
not values taken from a tensor. When every decoder call in the step (a
``self.<...dec...>(...)`` call) is fed a tensor that depends on no value of
the step's ``data``, the decoder can't reconstruct the batch: AE111 at that
call, only where the run measured the consequence (AE404/AE405/AE402/AE407), so
a parse that reads the step wrong can't raise it on a model that learns.
"""

from __future__ import annotations

import ast
from typing import Any

from ..context import Context
from ..report import Finding

# The functions that compute a step's loss (keras.io's per-backend spellings).
STEP_FUNCS = ("train_step", "compute_loss", "compute_loss_and_updates")
_SYMPTOMS = ("AE404", "AE405", "AE402", "AE407")


def _is_shape(node: ast.AST) -> bool:
    """``ops.shape(z)``, ``tf.shape(z)``, ``K.int_shape(z)``, or ``z.shape``: a size, not a value of ``z``."""
    if isinstance(node, ast.Attribute) and node.attr in ("shape", "dtype"):
        return True
    if isinstance(node, ast.Call):
        f = node.func
        name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
        return name in ("shape", "int_shape", "size", "rank", "ndim")
    return False


def _is_draw(node: ast.AST) -> bool:
    """A random draw (``keras.random.normal(...)``, ``tf.random.normal``): its arguments are sizes and seeds."""
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
        return False
    owner = ast.unparse(node.func.value)
    return owner.endswith("random") and node.func.attr in ("normal", "uniform", "truncated_normal", "randn", "rand")


def _uses(node: ast.AST) -> set[str]:
    """The names whose *values* ``node`` reads (not inside a shape or a random draw's arguments)."""
    out: set[str] = set()

    def visit(n: ast.AST) -> None:
        if _is_shape(n) or _is_draw(n):
            return
        if isinstance(n, ast.Name):
            out.add(n.id)
        for child in ast.iter_child_nodes(n):
            visit(child)

    visit(node)
    return out


def assigned_names(node: ast.Assign | ast.AugAssign | ast.AnnAssign) -> list[str]:
    """The plain names an assignment binds (``a = ...``, ``a, b = ...``, ``a += ...``)."""
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    out: list[str] = []
    for t in targets:
        for e in (t.elts if isinstance(t, (ast.Tuple, ast.List)) else [t]):
            if isinstance(e, ast.Name):
                out.append(e.id)
    return out


def _from_data(fn: ast.FunctionDef) -> set[str]:
    """The names of ``fn`` whose values come from its ``data`` argument (its last positional one), in order."""
    args = [a.arg for a in fn.args.args]
    if len(args) < 2:
        return set()
    tainted = {args[-1]}
    assigns = [n for n in ast.walk(fn) if isinstance(n, (ast.Assign, ast.AugAssign, ast.AnnAssign)) and n.value is not None]
    assigns.sort(key=lambda n: (n.lineno, n.col_offset))
    for _ in range(2):  # a loop body may read a name bound later in the source
        for n in assigns:
            if _uses(n.value) & tainted:
                tainted.update(assigned_names(n))
    return tainted


def _decoder_calls(fn: ast.FunctionDef) -> list[ast.Call]:
    """``self.decoder(...)``-style calls: a sub-model attribute whose name says it decodes."""
    out = []
    for n in ast.walk(fn):
        if (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and isinstance(n.func.value, ast.Name)
                and n.func.value.id == "self" and "dec" in n.func.attr.lower() and n.args):
            out.append(n)
    return out


def decoder_fed_without_data(ctx: Context) -> tuple[ast.Call, str] | None:
    """The step's first decoder call and its argument's text, when no decoder call in it reads the batch."""
    try:
        tree = ast.parse(ctx.source or "")
    except SyntaxError:
        return None
    for fn in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name in STEP_FUNCS):
        calls = _decoder_calls(fn)
        tainted = _from_data(fn)
        if not calls or not tainted:
            continue
        if all(not (_uses(c.args[0]) & tainted) for c in calls):
            first = min(calls, key=lambda c: (c.lineno, c.col_offset))
            return first, ast.unparse(first.args[0])
    return None


def name_decoder_without_data(ctx: Context, trace: dict[str, Any], found: list[Finding]) -> list[Finding]:
    """AE111 at the step's decoder call fed a tensor that depends on no value of the batch (see the module)."""
    if trace.get("train_step") != "own" or not any(
            f.code in _SYMPTOMS and f.severity in ("warning", "error") for f in found):
        return found
    hit = decoder_fed_without_data(ctx)
    if hit is None:
        return found
    call, arg = hit
    line, text = ctx.cell_line(call.lineno), ctx.line_text(call.lineno)
    callee = ast.unparse(call.func)
    return [Finding(
        code="AE111",
        severity="error",
        title="The train_step decodes a tensor that does not come from the input",
        message=(f"In the model's own training step, `{callee}({arg})` is fed `{arg}`, which depends on no value of "
                 "the batch (only on its shape, or on a random draw), and no other decoder call in the step reads the "
                 "batch. The decoder fit trains therefore can't reconstruct any input: it learns one average output, "
                 "which is what the probe run measured. The model's call() may decode the code correctly; the step "
                 "is what fit trains."),
        line=line, source_line=text,
        evidence={"decoder_call": f"{callee}({arg})", "argument": arg},
        fix=f"# decode the sampled code (z), not {arg}:\n# reconstruction = {callee}(z)",
    ), *found]
