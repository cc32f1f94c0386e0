"""AE405 when a penalty term, not the reconstruction, is what a model's own ``train_step`` minimises.

Round 27: a contractive autoencoder ported from a summed-BCE implementation
kept its Jacobian weight ``lam = 1.0`` beside a reconstruction averaged over
the features. The penalty was 97 % of the loss the step reported; the
optimizer shrank the encoder's Jacobian, the code went flat, and the
held-out reconstruction ended on the per-feature mean's error while the
total loss fell steadily (so nothing read as stagnant).

From the terms the step reports (``traces.training.loss_terms``): a total
(``loss``, ``total_loss``, ``total``) and a reconstruction term (a name with
``recon``, ``rec_``, ``mse``, ``likelihood`` or ``nll``). When at the end of
the run the reconstruction is under PENALTY_SHARE (a quarter) of the total, and the
held-out MSE is no clearly better than the mean's, the penalty's weight is
named: a top-level number that multiplies another term inside
``train_step`` (``lam * frob``), else the step's ``loss =`` line. A VAE whose
KL is small beside its reconstruction, or a penalty that leaves the
reconstruction well below the mean, stays silent.
"""

from __future__ import annotations

import ast
import numbers
from typing import Any

import numpy as np

from .. import keras_compat as kc
from ..context import Context
from ..numeric import all_finite
from ..report import Finding
from . import gradients as G
from .locate import activity_penalties, activity_regularizers

PENALTY_SHARE = 0.25
# The held-out MSE at or above this share of the per-feature mean's: not clearly better than the mean.
NEAR_MEAN = 0.9
_WINDOW = 10
_TOTAL = ("loss", "total_loss", "total")
_RECON = ("recon", "rec_", "mse", "likelihood", "nll")
_EXPLAINED = {"AE401", "AE404", "AE405", "AE407", "AE108", "AE301"}


def _end(values: list[Any]) -> float | None:
    v = np.asarray([x for x in values if isinstance(x, (int, float))], dtype=np.float64)[-_WINDOW:]
    return float(np.mean(v)) if len(v) and np.all(np.isfinite(v)) else None


def _weight_line(ctx: Context) -> tuple[str | None, float | None, int | None, str | None]:
    """A top-level number multiplying a term in ``train_step``: its name, value, cell line and text."""
    try:
        tree = ast.parse(ctx.source or "")
    except SyntaxError:
        return None, None, None, None
    for fn in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "train_step"):
        for node in ast.walk(fn):
            if not (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult)):
                continue
            for side in (node.left, node.right):
                if isinstance(side, ast.Name) and side.id in ctx.assign_lines:
                    value = ctx.namespace.get(side.id)
                    if isinstance(value, numbers.Real) and not isinstance(value, bool):
                        at = ctx.assign_lines[side.id]
                        return side.id, float(value), ctx.cell_line(at), ctx.line_text(at)
        for node in ast.walk(fn):
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id in _TOTAL for t in node.targets):
                return None, None, ctx.cell_line(node.lineno), ctx.line_text(node.lineno)
    return None, None, None, None


def _factors(node: ast.AST) -> list[ast.AST]:
    """The operands of the products in ``node`` (``self.strength * penalty`` -> both), outermost first."""
    out: list[ast.AST] = []
    for n in ast.walk(node):
        if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Mult):
            out += [n.left, n.right]
    return out


def _number_value(v: Any) -> float | None:
    return float(v) if isinstance(v, numbers.Real) and not isinstance(v, bool) else None


def _constructor_argument(tree: ast.Module, cls: ast.ClassDef, attr: str) -> tuple[ast.AST, ast.Call] | None:
    """What the cell passes to ``cls(...)`` for the ``__init__`` parameter that ``self.<attr>`` is set from."""
    init = next((n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
    if init is None:
        return None
    param = next((st.value.id for st in ast.walk(init) if isinstance(st, ast.Assign) and isinstance(st.value, ast.Name)
                  and any(isinstance(t, ast.Attribute) and t.attr == attr for t in st.targets)), None)
    names = [a.arg for a in init.args.args[1:]]
    if param is None or param not in names:
        return None
    for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", None) == cls.name):
        kw = next((k.value for k in call.keywords if k.arg == param), None)
        idx = names.index(param)
        arg = kw if kw is not None else (call.args[idx] if idx < len(call.args) else None)
        if arg is not None:
            return arg, call
    return None


def added_penalty_weight(
    ctx: Context, class_name: str | None, layer: Any = None
) -> tuple[str | None, float | None, int | None, str | None]:
    """The weight of what a cell layer class adds with ``add_loss``: its name, value, cell line and text.

    ``self.add_loss(self.strength * penalty)`` with ``DecorrelatedCode(decov_lambda)`` and ``decov_lambda = 10.0``
    at top level resolves to that assignment; a number written into the constructor call resolves to the call;
    a top-level name multiplying the penalty to its assignment. Else the ``add_loss`` line, with no weight.
    """
    try:
        tree = ast.parse(ctx.source or "")
    except SyntaxError:
        return None, None, None, None
    cls = next((n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == class_name), None)
    call = next((n for n in ast.walk(cls) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                 and n.func.attr == "add_loss" and n.args), None) if cls is not None else None
    if cls is None or call is None:
        return None, None, None, None
    for side in _factors(call.args[0]):
        if isinstance(side, ast.Name) and side.id in ctx.assign_lines:
            value = _number_value(ctx.namespace.get(side.id))
            if value is not None:
                at = ctx.assign_lines[side.id]
                return side.id, value, ctx.cell_line(at), ctx.line_text(at)
        if isinstance(side, ast.Attribute) and isinstance(side.value, ast.Name) and side.value.id == "self":
            value = _number_value(getattr(layer, side.attr, None))
            passed = _constructor_argument(tree, cls, side.attr)
            if value is None or passed is None:
                continue
            arg, ctor = passed
            if isinstance(arg, ast.Name) and arg.id in ctx.assign_lines:
                at = ctx.assign_lines[arg.id]
                return arg.id, value, ctx.cell_line(at), ctx.line_text(at)
            return None, value, ctx.cell_line(ctor.lineno), ctx.line_text(ctor.lineno)
    return None, None, ctx.cell_line(call.lineno), ctx.line_text(call.lineno)


def penalties(ctx: Context, trace: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Layer name -> the penalty it puts on the loss: its activity regularizer, or (in a model with no sampling
    layer) what a layer of the cell adds with ``add_loss``, with that term's value before and after the run."""
    regs = activity_regularizers(ctx.model)
    written = activity_penalties(ctx, dict.fromkeys(regs))
    out: dict[str, dict[str, Any]] = {name: {"kind": "activity", "as_written": written.get(name, reg)}
                                      for name, reg in regs.items()}
    # A model compiled without a loss trains on what its layers add: that is the reconstruction, not a penalty.
    added = (trace.get("added_terms") or {}) if kc.compiled_loss(ctx.model) is not None else {}
    after = added.get("after") or {}
    for name, row in (added.get("before") or {}).items():
        before, end = row.get("value"), (after.get(name) or {}).get("value")
        if name not in out and all_finite([before, end]) and before > 0:
            out[name] = {"kind": "added", "class": row.get("class"), "before": float(before), "after": float(end)}
    return out


# A penalty a layer adds with add_loss dominates the loss when it is at least this share of the first step's loss.
ADDED_DOMINANT = 0.5


def dominant_added_penalty(ctx: Context, tr: dict[str, Any]) -> dict[str, Any] | None:
    """The penalty a layer of the cell adds with ``add_loss`` (a contractive Jacobian term, a decorrelation) when it
    is at least ADDED_DOMINANT of the loss at the probe run's first step, with its weight and the line to change.

    Round 84's ia06: ``self.add_loss(LAMBDA * contractive)`` with ``LAMBDA = 100`` was 99.5% of the first step's
    loss (65.8 of 66.1). The optimizer flattened the code's Jacobian, the outputs became alike, and AE404 named
    the code layer, where the weight's line is what a fix changes.
    """
    loss = tr.get("loss") or []
    first = loss[0] if loss else None
    if not all_finite([first]) or first <= 0:
        return None
    added = [(name, p) for name, p in penalties(ctx, tr).items() if p["kind"] == "added" and p["before"] >= ADDED_DOMINANT * first]
    if not added:
        return None
    name, pen = max(added, key=lambda item: item[1]["before"])
    try:
        layer = next((ly for ly in ctx.model._flatten_layers(include_self=False) if ly.name == name), None)
    except Exception:  # not a Keras 3 model: no layer to read the weight from
        layer = None
    weight, value, line, text = added_penalty_weight(ctx, pen.get("class"), layer)
    if line is None:
        line, text = G.locate(ctx, name)
    return {"layer": name, "class": pen.get("class"), "before": pen["before"], "after": pen["after"],
            "share": min(1.0, pen["before"] / first), "weight": weight, "value": value, "line": line, "text": text}


def weight_fix(name: str | None, value: float | None,
               otherwise: str = "# weigh the add_loss penalty down until the reconstruction dominates the loss") -> str:
    """The fix for a penalty too strong beside the reconstruction: its weight a hundredth as large, else ``otherwise``."""
    return f"{name} = {value / 100:.2g}  # a penalty well below the reconstruction" if name and value else otherwise


def check_penalty_share(ctx: Context) -> list[Finding]:
    """AE405: the reconstruction is a sliver of the loss the model's own step minimises, and no better than the mean."""
    tr = ctx.traces.get("training") or {}
    terms = tr.get("loss_terms") or {}
    if not terms or any(f.code in _EXPLAINED and f.severity in ("warning", "error") for f in ctx.found):
        return []
    total = next((k for k in terms if str(k).lower() in _TOTAL), None)
    recon = next((k for k in terms if k != total and any(r in str(k).lower() for r in _RECON)), None)
    if total is None or recon is None:
        return []
    t_end, r_end = _end(terms[total]), _end(terms[recon])
    b = tr.get("baselines") or {}
    final, mean = b.get("final"), b.get("mean")
    if not all_finite([t_end, r_end, final, mean]) or t_end <= 0 or r_end <= 0 or mean <= 0:
        return []
    share = r_end / t_end
    if share >= PENALTY_SHARE or final < NEAR_MEAN * mean:
        return []
    name, value, line, src = _weight_line(ctx)
    weight = f"`{name}` = {value:.4g}" if name is not None else "the penalty's weight"
    return [Finding(
        code="AE405", severity="warning", title="A penalty term outweighs the reconstruction",
        message=(f"At the end of the probe run the reconstruction term the train_step reports ('{recon}', "
                 f"{r_end:.4g}) is {share:.1%} of its total loss ('{total}', {t_end:.4g}): the optimizer spends its "
                 f"steps on the other terms, and the held-out reconstruction error ({final:.4g}) is no better than "
                 f"predicting the per-feature mean ({mean:.4g}). Lower {weight} until the reconstruction is most of "
                 "the loss (a penalty written for a summed loss is far too strong beside a per-feature mean)."),
        line=line, source_line=src,
        evidence={"reconstruction_term": recon, "total_term": total, "reconstruction_end": r_end, "total_end": t_end,
                  "share": share, "final_mse": final, "mean_baseline": mean, "weight": name, "weight_value": value},
        fix=weight_fix(name, value, "# weigh the penalty term down until the reconstruction dominates the loss"),
    )]


check_penalty_share.family = "training"  # type: ignore[attr-defined]

CHECKS: list[Any] = [check_penalty_share]
