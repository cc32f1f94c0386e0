"""An ``add_loss`` term given one value per sample, which Keras 3 sums over the batch.

Round 36: an LSTM VAE ported from tf.keras calls ``self.add_loss(kl)`` with
``kl = -0.5 * ops.sum(..., axis=-1)``, one KL per sample. Keras 3 adds every
``add_loss`` term to the compiled loss as ``ops.sum(term)``, while the
compiled loss is a mean over the batch: the KL counts batch-size times, and
the posterior collapses (every window decodes to the same average curve).
The probes train with the term exactly as fit does (the backends sum it),
so the run shows the collapse; this names the cause at the ``add_loss`` line.
When the run shows no harm, a KL term gets an info note only: the weight
may have been tuned as it is (it changes with the batch size).
"""

from __future__ import annotations

import ast
import re
from typing import Any

from ..context import Context
from ..report import Finding

# The measured symptoms that make a batch-weighted term's finding a warning (else info).
HARM = ("AE407", "AE404", "AE405", "AE402")
# The added term is a KL divergence (a posterior collapse, AE407) when its expression reads like one.
_KL_TEXT = re.compile(r"kl|kullback|log_?var|log_?sigma|logvar|exp\(", re.IGNORECASE)


def add_loss_calls(tree: ast.Module) -> list[tuple[ast.Call, ast.ClassDef | None, ast.FunctionDef | None]]:
    """Every ``*.add_loss(term)`` call in the cell, with the class and function it sits in."""
    out: list[tuple[ast.Call, ast.ClassDef | None, ast.FunctionDef | None]] = []

    def visit(node: ast.AST, cls: ast.ClassDef | None, fn: ast.FunctionDef | None) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                visit(child, child, None)
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(child, cls, child)  # type: ignore[arg-type]
            else:
                if (isinstance(child, ast.Call) and isinstance(child.func, ast.Attribute)
                        and child.func.attr == "add_loss" and child.args):
                    out.append((child, cls, fn))
                visit(child, cls, fn)

    visit(tree, None, None)
    return out


def _term_text(source: str, call: ast.Call, fn: ast.FunctionDef | None) -> str:
    """The added expression's text, with the assignments to a bare name in the same function."""
    arg = call.args[0]
    text = ast.get_source_segment(source, arg) or ""
    if isinstance(arg, ast.Name) and fn is not None:
        for node in ast.walk(fn):
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == arg.id for t in node.targets):
                text += " " + (ast.get_source_segment(source, node.value) or "")
    return text


_SUMS = {"sum", "reduce_sum"}
_MEANS = {"mean", "reduce_mean", "average"}


def sums_over_batch(source: str, call: ast.Call, fn: ast.FunctionDef | None) -> bool:
    """The added term (or the bare name's assignments in the same function) holds ``sum(...)`` with no axis and no
    mean around it: a sum over the batch and every unit (``0.1 * ops.sum(ops.abs(z))``). Read from source only
    where the measurement can't tell (the term reads 0)."""
    exprs: list[ast.AST] = [call.args[0]]
    arg = call.args[0]
    if isinstance(arg, ast.Name) and fn is not None:
        exprs += [n.value for n in ast.walk(fn) if isinstance(n, ast.Assign)
                  and any(isinstance(t, ast.Name) and t.id == arg.id for t in n.targets)]

    def name(c: ast.Call) -> str:
        f = c.func
        return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""

    def visit(node: ast.AST, in_mean: bool) -> bool:
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            in_mean = True  # divided by something (a batch size, a count): not a plain sum
        if isinstance(node, ast.Call):
            n = name(node)
            if n in _MEANS:
                in_mean = True
            elif (n in _SUMS and not in_mean and len(node.args) == 1
                  and not any(k.arg in ("axis", "dim") for k in node.keywords)):
                return True
        return any(visit(c, in_mean) for c in ast.iter_child_nodes(node))

    return any(visit(e, False) for e in exprs)


def name_per_sample_loss(ctx: Context, trace: dict[str, Any], found: list[Finding]) -> list[Finding]:
    """AE407 (a KL term) or the run's stall (another term) at the ``add_loss`` line of a per-sample term."""
    rows = trace.get("per_sample_added") or []
    harm = [f for f in found if f.code in HARM and f.severity in ("warning", "error")]
    if not rows or not ctx.source:
        return found
    try:
        tree = ast.parse(ctx.source)
    except SyntaxError:
        return found
    calls = add_loss_calls(tree)
    classes = {r["class"] for r in rows}
    mine = [c for c in calls if c[1] is not None and c[1].name in classes] or (calls if len(calls) == 1 else [])
    if len(mine) != 1:
        return found  # which call added it is not clear: the symptoms stand as measured
    call, _, fn = mine[0]
    row = next((r for r in rows if mine[0][1] is None or r["class"] == mine[0][1].name), rows[0])
    if row.get("zero") and not sums_over_batch(ctx.source, call, fn):
        return found  # a term at 0 with no sum over the batch in its source: nothing says how it is weighed
    arg = ast.get_source_segment(ctx.source, call.args[0]) or "term"
    owner = ast.get_source_segment(ctx.source, call.func.value) or "self"  # type: ignore[attr-defined]
    line, text = ctx.cell_line(call.lineno), ctx.line_text(call.lineno)
    kl = bool(_KL_TEXT.search(_term_text(ctx.source, call, fn)))
    shape = tuple(row["shape"])
    mean = "ops.mean" if re.search(r"^\s*from keras import[^\n]*\bops\b", ctx.source, re.MULTILINE) else "keras.ops.mean"
    if shape:
        why = (f"`{owner}.add_loss({arg})` adds a term with one value per sample (shape {shape} on a batch of "
               f"{shape[0]}). Keras 3 sums every add_loss term into the loss, while the compiled loss is a mean over "
               f"the batch, so this term counts once per sample: batch-size times its intended weight (32x at fit's "
               f"default batch size). ")
        fix = f"{owner}.add_loss({mean}({arg}))  # one value per batch, averaged like the compiled loss"
    elif row.get("zero"):
        # bx07 after the cell's own fit: the penalty had already zeroed the code, so the term reads 0 on any batch.
        why = (f"`{owner}.add_loss({arg})` sums its term over the batch and every unit (a sum with no axis). The "
               "compiled loss is a mean over the batch, so this term weighs batch-size times its per-sample weight "
               "(32x at fit's default batch size). It reads exactly 0 now: what it penalises is already all zeros. ")
        fix = (f"# average the term over the batch (sum over the units only), e.g.\n"
               f"# {owner}.add_loss(... * {mean}(ops.sum(..., axis=-1)))")
    else:
        # Round 56's bx07: ``add_loss(0.1 * ops.sum(ops.abs(z)))``, a scalar summed over the batch and the units.
        small, big = row["values"]
        why = (f"`{owner}.add_loss({arg})` sums its term over the batch: with the same samples given {big / small:.0f} "
               f"times in one batch it grew from {small:.3g} to {big:.3g}. The compiled loss is a mean over the batch, "
               f"so this term weighs batch-size times its per-sample weight (32x at fit's default batch size). ")
        fix = (f"# average the term over the batch (sum over the units only), e.g.\n"
               f"# {owner}.add_loss(... * {mean}(ops.sum(..., axis=-1)))")
    raw = ctx.source.splitlines()[call.lineno - 1]
    seg = ast.get_source_segment(ctx.source, call.args[0])
    edit = None if not shape else ({"start_line": line, "end_line": line,
             "replacement": raw.replace(f"add_loss({seg})", f"add_loss({mean}({seg}))", 1).rstrip()}
            if line is not None and seg and call.lineno == call.end_lineno and f"add_loss({seg})" in raw else None)
    evidence = {"added_term_shape": list(shape), "layer": row["layer"], "class": row["class"]}
    if not harm:
        if kl:  # no harm measured: the scale may have been tuned as it is, so only say how fit weighs it
            found = [*found, Finding(
                code="AE407", severity="info", title="The KL term is summed over the batch",
                message=why + "The probe run showed no collapse, so the weight may have been tuned this way; it "
                "changes with the batch size.", line=line, source_line=text, evidence=evidence, fix=fix, edit=edit)]
        return found
    if kl:
        hit = next((f for f in found if f.code == "AE407" and f.severity in ("warning", "error")), None)
        if hit is None:
            spread, target = trace.get("output_spread"), trace.get("input_spread")
            hit = Finding(
                code="AE407",
                severity="warning",
                title="Posterior collapse: the KL term is summed over the batch",
                message=(why + "The KL then outweighs the reconstruction and pulls every code to the prior: after "
                         "the probe run the reconstructions are "
                         + (f"nearly the same for every input (they vary {spread:.2g} against {target:.2g} for "
                            "the targets)." if isinstance(spread, float) and isinstance(target, float)
                            else "no better than the per-feature mean.")),
                evidence=evidence,
            )
            found = [hit, *found]
        else:
            hit.message = why + hit.message
            hit.evidence.update(evidence)
    else:
        hit = harm[0]
        hit.message += (" The cause is how a term is added: " + why + "It then outweighs the reconstruction, so the "
                        "model settles where that term is smallest.")
        hit.evidence.update(evidence)
    hit.fix, hit.edit = fix, edit
    if line is not None:
        hit.line, hit.source_line, hit.layer = line, text, None
    return found
