"""AE301: layers unfrozen after ``compile`` and trained without compiling again, so the fit never moved them.

Round 89's na07 (keras-team/keras#6405, #9940): a warm-up with ``encoder.trainable = False``, ``compile``, ``fit``;
then ``encoder.trainable = True`` and a second ``fit`` "end to end". Keras fixes which weights a fit updates when
the model is compiled (its training function is built then), so the second fit still left the encoder alone: its
weights ended exactly where they started. The probes train a fresh copy with every layer trainable, and it learns,
so the report said nothing.

Read from the weights the cell left, as ``frozen.py`` does: Keras initialises biases to exactly zero and any
update moves them. Reported when the cell sets ``X.trainable = True`` (or on each layer of ``X.layers``) after the
model's compile, fits after that with no compile in between, and X's weighted layers still hold all-zero biases
while another layer's biases moved (the fits did train something).
"""

from __future__ import annotations

import ast
from typing import Any

import numpy as np

from .. import probes as probe
from ..context import Context
from ..fit_calls import fit_calls, parse
from ..report import Finding


def _unfreezes(tree: ast.Module) -> list[tuple[int, str]]:
    """``(line, owner)`` for each ``owner.trainable = True``, and for ``layer.trainable = True`` in a loop over
    ``owner.layers``."""
    loops: dict[str, str] = {}
    for node in ast.walk(tree):
        if (isinstance(node, ast.For) and isinstance(node.target, ast.Name) and isinstance(node.iter, ast.Attribute)
                and node.iter.attr == "layers" and isinstance(node.iter.value, ast.Name)):
            loops[node.target.id] = node.iter.value.id
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Assign) or not (isinstance(node.value, ast.Constant) and node.value.value is True):
            continue
        for t in node.targets:
            if isinstance(t, ast.Attribute) and t.attr == "trainable" and isinstance(t.value, ast.Name):
                out.append((node.lineno, loops.get(t.value.id, t.value.id)))
    return out


def _compiles(tree: ast.Module, model_name: str) -> list[int]:
    return sorted(n.lineno for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                  and n.func.attr == "compile" and isinstance(n.func.value, ast.Name) and n.func.value.id == model_name)


def _zero_bias(layer: Any) -> bool | None:
    """Whether a weighted layer's biases are all exactly zero; None for a layer without kernel and bias."""
    weights = list(getattr(layer, "weights", []) or [])
    kernels = [w for w in weights if len(getattr(w, "shape", ())) >= 2]
    biases = [w for w in weights if len(getattr(w, "shape", ())) == 1
              and "bias" in (getattr(w, "path", "") or getattr(w, "name", ""))]
    if not kernels or not biases:
        return None
    return all(not np.any(np.asarray(b.numpy())) for b in biases)


def check_unfrozen_after_compile(ctx: Context) -> list[Finding]:
    """AE301: ``X.trainable = True`` after compile, a fit with no compile in between, and X's layers never moved."""
    tree, name, m = parse(ctx.source), ctx.model_name, ctx.model
    if tree is None or not name or m is None:
        return []
    compiles = _compiles(tree, name)
    fits = [c.lineno for c in fit_calls(ctx.source, name)]
    for line, owner in _unfreezes(tree):
        fit = next((f for f in fits if f > line), None)
        if fit is None or not any(c < line for c in compiles) or any(line < c < fit for c in compiles):
            continue
        obj = (ctx.namespace or {}).get(owner)
        if obj is None or not hasattr(obj, "weights"):
            continue
        try:
            mine = [ly for ly in probe.leaf_layers(obj) if getattr(ly, "trainable", False)]
            ids = {id(ly) for ly in mine}
            stuck = [ly for ly in mine if _zero_bias(ly)]
            moved = [ly for ly in probe.leaf_layers(m) if id(ly) not in ids and _zero_bias(ly) is False]
        except Exception:  # a weight we can't read: say nothing rather than guess
            continue
        if not stuck or not moved or any(_zero_bias(ly) is False for ly in mine):
            continue
        names = [ly.name for ly in stuck]
        compiled = max(c for c in compiles if c < line)
        return [Finding(
            code="AE301", severity="error", title="Unfrozen after compile: the fit never trains it",
            message=(f"Line {ctx.cell_line(line)} sets `{owner}` trainable after `{name}.compile` (line "
                     f"{ctx.cell_line(compiled)}), and the fit at line {ctx.cell_line(fit)} runs without compiling "
                     "again. Keras decides which weights a fit updates when the model is compiled, so that fit "
                     f"still treated `{owner}` as frozen: {', '.join(names)} ended with every bias exactly zero, "
                     "where they started, while the rest of the model trained."),
            line=ctx.cell_line(line), source_line=ctx.line_text(line), layer=names[0],
            evidence={"owner": owner, "layers": names, "compile_line": ctx.cell_line(compiled),
                      "fit_line": ctx.cell_line(fit), "biases_all_zero": True},
            fix=f"{ctx.line_text(line).strip()}\n{name}.compile(...)  # again, with the same optimizer and loss, "
                "before the next fit",
        )]
    return []


CHECKS = [check_unfrozen_after_compile]
