"""AE108 "The train_step never reads the target": a denoising set-up trained by a step that drops it.

keras.io's VAE step starts ``if isinstance(data, tuple): data = data[0]``,
right for ``fit(x)``. Trained as ``fit(x_noisy, x)`` (round 34: a
denoising VAE), the step compares the reconstruction with the noisy input
it was given and never sees the clean target: the model learns to
reproduce the noise. Read from the cell's source, and only when the check
is given a target that differs from the input (``--target``), so the
pattern is silent where it is right.
"""

from __future__ import annotations

import ast

from ..context import Context
from ..probes.updates import step_unpacks_target
from ..report import Finding


def _step(ctx: Context) -> ast.FunctionDef | None:
    """The cell's ``train_step`` of the model's class (or a base class of it), else None."""
    model = ctx.model
    try:
        tree = ast.parse(ctx.source or "")
    except SyntaxError:
        return None
    classes = {c.name: c for c in ast.walk(tree) if isinstance(c, ast.ClassDef)}
    for cls in type(model).__mro__ if model is not None else ():
        node = classes.get(cls.__name__)
        fn = next((f for f in (node.body if node else []) if isinstance(f, ast.FunctionDef) and f.name == "train_step"), None)
        if fn is not None:
            return fn
    return None


def _first_of(node: ast.AST, data: str) -> bool:
    """``node`` is ``data[0]``."""
    return (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == data
            and isinstance(node.slice, ast.Constant) and node.slice.value == 0)


def _kept_first(fn: ast.FunctionDef, data: str) -> int | None:
    """The first line that keeps ``data[0]`` and may read no more of ``data``, else None.

    The target counts as read when the step unpacks it (``step_unpacks_target``: ``x, y = data``,
    ``data[1]``, ``unpack_x_y_sample_weight``), takes any other element or slice, or hands the whole
    tuple to a helper before rebinding the name.
    """
    keeps = [n for n in ast.walk(fn) if isinstance(n, ast.Assign) and any(_first_of(v, data) for v in ast.walk(n.value))]
    if not keeps:
        return None
    rebinds = any(isinstance(t, ast.Name) and t.id == data for n in keeps for t in n.targets)
    for node in ast.walk(fn):
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == data:
            if not _first_of(node, data):
                return None
        elif isinstance(node, ast.Call) and not rebinds and any(isinstance(a, ast.Name) and a.id == data for a in node.args):
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            if name not in ("isinstance", "len", "type"):
                return None
    return min(n.lineno for n in keeps)


def check_step_target(ctx: Context) -> list[Finding]:
    """AE108: the check was given a target other than the input, and the model's own train_step never reads it."""
    if not ctx.is_denoising:
        return []
    fn = _step(ctx)
    if fn is None or len(fn.args.args) < 2:
        return []
    if step_unpacks_target(type(ctx.model)):
        return []
    data = fn.args.args[-1].arg  # the batch is the last argument (JAX's stateless step takes the state first)
    raw = _kept_first(fn, data)
    if raw is None:
        return []
    return [Finding(
        code="AE108", severity="error", title="The train_step never reads the target",
        message=(f"The check is given a target ({ctx.target_name or 'the target'}) that differs from the input "
                 f"({ctx.data_name or 'the data'}), as fit(x_noisy, x) gives it, but the model's train_step keeps only "
                 f"`{data}[0]` (line {ctx.cell_line(raw)}): its loss compares the reconstruction with the input it was "
                 "given, so a denoising model learns to reproduce the noise instead of removing it."),
        line=ctx.cell_line(raw), source_line=ctx.line_text(raw),
        evidence={"step_argument": data},
        fix=(f"noisy, clean = {data}  # fit(x_noisy, x) hands the step (input, target)\n"
             "# encode `noisy`, and compute the reconstruction loss against `clean`"),
    )]


CHECKS = [check_step_target]
