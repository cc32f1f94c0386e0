"""A KL warm-up that never stops growing (AE407), read off the cell's source.

Round 36: a tabular VAE's ``train_step`` warms its KL term up with
``kl_weight = iterations / warmup_iters`` and no ``ops.minimum(1.0, ...)``.
After the one-epoch warm-up the weight keeps growing with every step (about
20 after 20 epochs), the KL takes over and every row decodes to the column
means. The probe run is a few hundred steps, so the weight it sees is still
small and the run looks healthy: the growth is read off the source instead.

What counts: an assignment in a method whose value divides a step counter
(``optimizer.iterations``, or a counter the class itself advances with
``assign_add``/``+=``) and is not bounded anywhere in that method (``min``,
``minimum``, ``clip``, a ``%`` cycle, a bounded function such as ``tanh``,
``sigmoid``, ``cos``); and the name multiplies a KL term in the same
method. A warm-up long enough that the weight stays below ``SLOW_ENOUGH``
after ``EPOCHS`` epochs of fit's default batch size is left alone.
"""

from __future__ import annotations

import ast
import math
import numbers
import re
from typing import Any

from ..context import Context
from ..report import Finding

FIT_BATCH = 32
EPOCHS = 20
# The weight after EPOCHS epochs at or below this: the growth is too slow to matter in a usual run.
SLOW_ENOUGH = 1.5
_BOUNDED = {"min", "minimum", "clip", "clip_by_value", "clamp", "tanh", "sigmoid", "cos", "sin", "where", "amin",
            "reduce_min", "cond", "heaviside"}
_KL = re.compile(r"kl|kullback|latent_loss|divergence", re.IGNORECASE)
_COUNTER_ATTRS = {"iterations"}


def _name_of(node: ast.AST) -> str | None:
    """``x`` for ``x`` and ``self.x``: the name a value is bound to or read as."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
        return "self." + node.attr
    return None


def _counters(cls: ast.ClassDef) -> set[str]:
    """Attributes the class advances each call (``self.step.assign_add(1)``, ``self.step += 1``)."""
    out: set[str] = set()
    for node in ast.walk(cls):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "assign_add"
                and isinstance(node.func.value, ast.Attribute)):
            out.add(node.func.value.attr)
        if isinstance(node, ast.AugAssign) and isinstance(node.op, ast.Add) and isinstance(node.target, ast.Attribute):
            out.add(node.target.attr)
    return out


def _reads_counter(expr: ast.AST, counters: set[str]) -> bool:
    return any(isinstance(n, ast.Attribute) and n.attr in counters for n in ast.walk(expr))


def _bounded(expr: ast.AST) -> bool:
    for n in ast.walk(expr):
        if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Mod):
            return True
        if isinstance(n, ast.Call):
            f = n.func
            name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
            if name in _BOUNDED:
                return True
    return False


def _divisor(expr: ast.AST, counters: set[str]) -> ast.AST | None:
    """The denominator of a division whose numerator reads the step counter."""
    for n in ast.walk(expr):
        if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Div) and _reads_counter(n.left, counters):
            return n.right
    return None


def _value(node: ast.AST | None, ctx: Context) -> float | None:
    """A number for the divisor: a literal, an attribute of the model, or a name the cell bound."""
    if node is None:
        return None
    v: Any = None
    if isinstance(node, ast.Constant):
        v = node.value
    elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
        v = getattr(ctx.model, node.attr, None)
    elif isinstance(node, ast.Name):
        v = (ctx.namespace or {}).get(node.id)
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        return None
    v = float(v)
    return v if math.isfinite(v) and v > 0 else None


def _uncapped(tree: ast.Module) -> list[tuple[ast.Assign, str, ast.AST | None, set[str]]]:
    """``(assignment, name, divisor, counters)`` for each uncapped warm-up weight that multiplies a KL term."""
    out = []
    for cls in [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]:
        counters = _COUNTER_ATTRS | _counters(cls)
        for fn in [n for n in cls.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]:
            assigns: dict[str, list[ast.Assign]] = {}
            for node in ast.walk(fn):
                if isinstance(node, ast.Assign) and len(node.targets) == 1 and (nm := _name_of(node.targets[0])):
                    assigns.setdefault(nm, []).append(node)
            for name, nodes in assigns.items():
                grow = [a for a in nodes if _divisor(a.value, counters) is not None]
                if not grow or any(_bounded(a.value) for a in nodes):
                    continue
                kl_uses = [
                    n for n in ast.walk(fn)
                    if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Mult)
                    and any(_name_of(side) == name for side in (n.left, n.right))
                    and any(_KL.search(ast.unparse(side)) for side in (n.left, n.right) if _name_of(side) != name)
                ]
                if kl_uses:
                    out.append((grow[0], name, _divisor(grow[0].value, counters), counters))
    return out


def check_kl_anneal(ctx: Context) -> list[Finding]:
    """AE407: a KL weight that grows with the step count and is never capped."""
    if not ctx.source or ctx.model is None:
        return []
    try:
        tree = ast.parse(ctx.source)
    except SyntaxError:
        return []
    hits = _uncapped(tree)
    if not hits:
        return []
    assign, name, div, _ = hits[0]
    n = _value(div, ctx)
    n_samples = len(ctx.data) if ctx.data is not None and hasattr(ctx.data, "__len__") else None
    per_epoch = math.ceil(n_samples / FIT_BATCH) if n_samples else None
    late = EPOCHS * per_epoch / n if n and per_epoch else None
    if late is not None and late <= SLOW_ENOUGH:
        return []
    raw = ctx.source.splitlines()[assign.lineno - 1]
    line, text = ctx.cell_line(assign.lineno), ctx.line_text(assign.lineno)
    rhs = ast.get_source_segment(ctx.source, assign.value) or ""
    minimum = "ops.minimum" if re.search(r"^\s*from keras import[^\n]*\bops\b", ctx.source, re.MULTILINE) else "keras.ops.minimum"
    capped = f"{minimum}(1.0, {rhs})"
    edit = ({"start_line": line, "end_line": line, "replacement": raw.replace(rhs, capped, 1).rstrip()}
            if line is not None and rhs and assign.lineno == assign.end_lineno and rhs in raw else None)
    when = (f" With fit's default batch size ({FIT_BATCH}) and these {n_samples} samples it passes 1 after "
            f"{n:g} steps ({n / per_epoch:.2g} epochs) and is about {late:.3g} after {EPOCHS} epochs."
            if late is not None and n else "")
    return [Finding(
        code="AE407",
        severity="warning",
        title="The KL warm-up is never capped",
        message=(f"`{name}` grows with the optimizer's step count (`{rhs}`) and nothing in the step caps it, so "
                 "after the warm-up it keeps growing: the KL term ends up outweighing the reconstruction many times "
                 "over, the code is pulled to the prior and the decoder outputs an average (posterior collapse)."
                 + when + " The probe run is too short to reach that point, so this is read off the source."),
        line=line,
        source_line=text,
        evidence={"weight": name, "expression": rhs, "warmup_steps": n, "steps_per_epoch": per_epoch,
                  "weight_after_epochs": late, "epochs": EPOCHS},
        fix=f"{name} = {capped}  # the warm-up ends at the full KL weight",
        edit=edit,
    )]


CHECKS = [check_kl_anneal]
