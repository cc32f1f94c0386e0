"""AE103 (bottleneck-bypass) measured, for a model with no layer graph: the output follows the input without the code.

The graph's bypass check reads a functional model's wiring; a subclassed
model's ``call`` is Python, and a path around the code there (round 82's
gb07: a GRU decoder fed ``decoder_inputs = inputs`` beside the code's
initial state, so each output step copies its input step) was not seen. The
training probe ablates the code on its trained copy (``probes/ablation.py``);
a reconstruction that stays well below the per-feature mean's error without
it goes around the code. Named at the line in ``call`` that hands the input
to a later layer (the alias's assignment when the input is renamed first),
or at the ``return`` that adds the input back; without such a line in the
source, nothing is reported.
"""

from __future__ import annotations

import ast
from typing import Any

from ..context import Context
from ..numeric import all_finite
from ..report import Finding

# Calls that join the input back into the output (ops.add(x, y), ops.concatenate([x, y]), layers.Add()([x, y])).
_JOINS = {"add", "concatenate", "Add", "Concatenate"}
# Without the code, the reconstruction's error is at most this share of the per-feature mean's: it goes around.
AROUND = 0.5


def _call_method(ctx: Context) -> ast.FunctionDef | None:
    """The ``call`` of the model's class, as the cell defines it."""
    try:
        tree = ast.parse(ctx.source or "")
    except SyntaxError:
        return None
    name = type(ctx.model).__name__
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == name:
            return next((f for f in node.body if isinstance(f, ast.FunctionDef) and f.name == "call"), None)
    return None


def _second_reader(fn: ast.FunctionDef) -> int | None:
    """The raw line where ``call`` hands its input to a second layer call: the alias's assignment when the input is
    renamed first (``decoder_inputs = inputs``), else that call's line. None when only one layer reads it."""
    args = [a.arg for a in fn.args.args]
    if len(args) < 2:
        return None
    aliases = {args[1]: None}  # name -> line of its plain assignment (None: the parameter itself)
    readers: list[tuple[int, int | None]] = []
    for node in sorted(ast.walk(fn), key=lambda n: (getattr(n, "lineno", 0), getattr(n, "col_offset", 0))):
        if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Name) and node.value.id in aliases
                and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            aliases[node.targets[0].id] = node.lineno
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and isinstance(node.func.value, ast.Name) and node.func.value.id == "self"):
            fed = [a.id for a in node.args if isinstance(a, ast.Name) and a.id in aliases]
            if fed:
                readers.append((node.lineno, aliases[fed[0]]))
    if len(readers) >= 2:
        call_line, alias_line = readers[1]
        return alias_line if alias_line is not None else call_line
    # A residual around the whole model: the returned expression reads the input itself (`return dec(z) + inputs`).
    def direct(e: ast.AST) -> bool:
        return isinstance(e, ast.Name) and e.id in aliases

    for node in ast.walk(fn):
        if not isinstance(node, ast.Return) or node.value is None:
            continue
        for n in ast.walk(node.value):
            joined = (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in _JOINS
                      and any(direct(a) or (isinstance(a, (ast.List, ast.Tuple)) and any(map(direct, a.elts)))
                              for a in n.args))
            if (isinstance(n, ast.BinOp) and (direct(n.left) or direct(n.right))) or joined:
                return node.lineno
    return None


def check_code_ablation(ctx: Context) -> list[Finding]:
    """AE103 for a model with no layer graph whose reconstruction survives the code's ablation."""
    g = ctx.graph
    tr = ctx.traces.get("training") or {}
    ab: dict[str, Any] | None = tr.get("code_ablation")
    b = tr.get("baselines") or {}
    if (g is not None and g.has_graph) or not ab or ctx.is_denoising or ctx.model is None:
        return []
    ablated, mean, final = ab.get("ablated_mse"), ab.get("mean_mse"), b.get("final")
    if not all_finite([ablated, mean, final]) or mean <= 0 or ablated > AROUND * mean or final > AROUND * mean:
        return []
    if any(f.code == "AE103" for f in ctx.found):
        return []
    code = (tr.get("code") or {}).get("layer")
    fn = _call_method(ctx)
    # The measurement says the output does without the code; the source must show the input read past it. A
    # decoder fed the input shifted by a step (teacher forcing as seq2seq models train) also does without the code
    # on smooth data, and is a design, not a wire left in place.
    raw = _second_reader(fn) if fn is not None else None
    if raw is None:
        return []
    line, text = ctx.cell_line(raw), ctx.line_text(raw)
    return [Finding(
        code="AE103",
        severity="warning",
        title="The reconstruction goes around the code",
        message=(f"With the code ({', '.join(ab['layers'])}) replaced by its average over the batch, the trained "
                 f"copy still reconstructs its input: MSE {ablated:.4g}, against {mean:.4g} for the per-feature mean "
                 f"({final:.4g} with the code). A model that reconstructs through its code outputs about the same "
                 f"for every input without it; this one reads the input on another path (line {line})"
                 ", so it can copy instead of compressing, and an anomaly detector built on it reconstructs "
                 "anomalies too."),
        line=line,
        source_line=text,
        layer=code,
        evidence={**ab, "final_mse": final, "threshold": AROUND},
        fix=("# feed later layers only what comes out of the code; for teacher forcing, the target shifted by one "
             "step:\n# decoder_inputs = ops.pad(inputs[:, :-1], [[0, 0], [1, 0], [0, 0]])"),
    )]


check_code_ablation.family = "training"  # type: ignore[attr-defined]  # it reads the training trace
