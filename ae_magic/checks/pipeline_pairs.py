"""Whether the cell's ``tf.data`` pipeline keeps each input with its own target.

A denoising or paired set-up is often fed through ``tf.data``: one dataset of
inputs, one of targets, joined by ``tf.data.Dataset.zip((inputs, targets))``.
Shuffling one of the two before the zip (``noisy_ds = ...shuffle(2048)``, the
clean one left in order) pairs every input with another sample's target, in
a new order each epoch; two shuffles without the same seed do the same. The
model can then do no better than the per-feature mean (AE405), and nothing in
the arrays shows it: ``--data`` and ``--target`` name the arrays, which are
paired, so the probes train on the right pairs and learn (round 82's ga04).

Read from the source only: the datasets bound to the names the zip joins
(followed through plain assignments), the ``shuffle`` calls in each, and
whether the zip reaches the cell's ``fit``. No dataset is iterated. The
cell's own ``fit`` history (``model.history``, kept by Keras) is quoted as
evidence when there is one.
"""

from __future__ import annotations

import ast
from typing import Any

from ..context import Context
from ..fit_calls import argument, fit_calls
from ..report import Finding

# How many assignments back a name is followed (ds = ...; ds = ds.batch(...); ...).
DEPTH = 6


def _binding_values(tree: ast.AST, name: str, before: int) -> list[ast.expr]:
    """The values assigned to ``name`` on lines before ``before``, last first."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and node.lineno < before:
            for t in node.targets:
                names = [t] if isinstance(t, ast.Name) else list(getattr(t, "elts", []))
                if any(isinstance(n, ast.Name) and n.id == name for n in names):
                    out.append(node.value)
    return sorted(out, key=lambda v: -v.lineno)


def _expression_chain(tree: ast.AST, expr: ast.expr, depth: int = DEPTH) -> list[ast.expr]:
    """``expr`` and, for the dataset names it reads, the values they were last bound to (recursively)."""
    chain, seen = [expr], set()
    todo = [(expr, depth)]
    while todo:
        node, d = todo.pop()
        if d <= 0:
            continue
        for n in ast.walk(node):
            if isinstance(n, ast.Name) and n.id not in seen:
                seen.add(n.id)
                values = _binding_values(tree, n.id, getattr(node, "lineno", 10**9))
                if values:
                    chain.append(values[0])
                    todo.append((values[0], d - 1))
    return chain


def _calls(exprs: list[ast.expr], attr: str) -> list[ast.Call]:
    return [n for e in exprs for n in ast.walk(e)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == attr]


def _zip_sides(call: ast.Call) -> list[ast.expr]:
    """The datasets a ``Dataset.zip`` call joins: ``zip((a, b))`` or ``zip(a, b)``."""
    if len(call.args) == 1 and isinstance(call.args[0], ast.Tuple):
        return list(call.args[0].elts)
    return list(call.args)


def _is_dataset_zip(call: ast.Call) -> bool:
    f = call.func
    return (isinstance(f, ast.Attribute) and f.attr == "zip"
            and "Dataset" in ast.unparse(f.value))


def _seed(call: ast.Call) -> str | None:
    """The seed a shuffle call is given (keyword or third positional), as written; None when unseeded."""
    value = argument(call, 1, "seed")
    return ast.unparse(value) if value is not None else None


def broken_zip(ctx: Context) -> dict[str, Any] | None:
    """``{"zip": line, "shuffle": line, "sides": [...], "fit": line}`` when the ``fit`` of the cell trains on a zip of
    datasets shuffled apart; None otherwise."""
    try:
        tree = ast.parse(ctx.source or "")
    except SyntaxError:
        return None
    for fit in fit_calls(ctx.source, ctx.model_name):
        x = argument(fit, 0, "x")
        if x is None:
            continue
        fed = _expression_chain(tree, x)
        for z in [c for c in _calls(fed, "zip") if _is_dataset_zip(c)]:
            sides = _zip_sides(z)
            if len(sides) < 2:
                continue
            shuffles = [_calls(_expression_chain(tree, s), "shuffle") for s in sides]
            # (A shuffle of the zipped dataset itself keeps the pairs: only the sides' own shuffles count.)
            if not any(shuffles):
                continue
            seeds = [{_seed(c) for c in sh} for sh in shuffles]
            same = all(shuffles) and all(s == seeds[0] and None not in s for s in seeds)
            if same:
                continue
            first = min((c for sh in shuffles for c in sh), key=lambda c: c.lineno)
            return {"zip": z.lineno, "shuffle": first.lineno, "fit": fit.lineno,
                    "sides": [ast.unparse(s) for s in sides],
                    "shuffled": [ast.unparse(s) for s, sh in zip(sides, shuffles, strict=True) if sh]}
    return None


def _history_losses(ctx: Context) -> list[float]:
    hist = getattr(getattr(ctx.model, "history", None), "history", None)
    try:
        return [float(v) for v in (hist or {}).get("loss", [])]
    except (TypeError, ValueError, AttributeError):
        return []


def check_pipeline_pairs(ctx: Context) -> list[Finding]:
    """AE405: the cell's fit trains on a ``Dataset.zip`` of inputs and targets shuffled apart."""
    if ctx.model is None:
        return []
    found = broken_zip(ctx)
    if found is None:
        return []
    losses = _history_losses(ctx)
    sides = ", ".join(f"`{s}`" for s in found["sides"])
    shuffled = ", ".join(f"`{s}`" for s in found["shuffled"])
    alone = len(found["shuffled"]) < len(found["sides"])
    return [Finding(
        code="AE405",
        severity="warning",
        title="The input pipeline pairs inputs with other samples' targets",
        message=(f"The cell's fit (line {ctx.cell_line(found['fit'])}) trains on a `Dataset.zip` of {sides} (line "
                 f"{ctx.cell_line(found['zip'])}), and {shuffled} "
                 + ("is shuffled on its own (line " if alone else "are shuffled without one shared seed (line ")
                 + f"{ctx.cell_line(found['shuffle'])}): the zip joins the i-th element of each, so every input meets "
                 "another sample's target, in a new order each epoch. Nothing in an input then predicts its target, "
                 "and the model can do no better than the per-feature mean."
                 + (f" The cell's own fit ended at a loss of {losses[-1]:.4g} after {len(losses)} epoch"
                    f"{'s' if len(losses) != 1 else ''} (first {losses[0]:.4g})." if losses else "")
                 + " The probes train on the arrays given as data and target, which are paired, so their run does "
                 "not show it."),
        line=ctx.cell_line(found["shuffle"]),
        source_line=ctx.line_text(found["shuffle"]),
        evidence={"pipeline": found, **({"cell_fit_losses": losses} if losses else {})},
        fix=("# zip first, then shuffle the pairs together:\n"
             f"train_ds = tf.data.Dataset.zip(({', '.join(found['sides'])})).shuffle(2048).batch(64)"),
    )]


CHECKS = [check_pipeline_pairs]
