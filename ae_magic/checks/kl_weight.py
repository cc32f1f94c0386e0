"""The weight a VAE's cell puts on its KL term (``beta``, ``kl_weight``), for AE407's blame.

Round 26: an LSTM VAE whose loss layer already sums the reconstruction over
every value of a window was given ``beta = timesteps * n_features`` (90),
meant to "balance" a per-value mean that was not there. The KL then
outweighed the reconstruction 90 to 1 and the code collapsed to the prior.
The measured collapse (AE407) was named at the sampling layer with advice
about mean-reduced reconstructions; the cause was the weight's line.

A KL weight is found by name (``beta``, ``kl_weight``, ``kl_coef`` and kin)
among the numbers the cell bound at top level, or among the attributes of
the model and its layers (``VAELoss(beta=kl_weight)``, ``VAE(beta=...)``).
Only a weight above 1 is blamed, and only when the collapse was measured:
beta-VAEs with a few units of beta that keep their code stay silent.
"""

from __future__ import annotations

import ast
import numbers
import re
from typing import Any

from ..context import Context

NAME = re.compile(r"^_?(beta|kl_?beta|kl_?weight|kl_?coef\w*|kl_?scale|kl_?factor|kl_?mult\w*|w_?kl|lambda_?kl|kl_?lambda)$",
                  re.IGNORECASE)


def _number(v: Any) -> float | None:
    """``v`` as a float when it is a plain number (not a bool, not a variable that annealing changes)."""
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        return None
    return float(v)


def _keyword_line(ctx: Context, attr: str) -> tuple[int | None, str | None, str | None]:
    """The first cell line that passes ``attr=`` to a call, its text, and the name it passes (if a plain name)."""
    if not ctx.source:
        return None, None, None
    try:
        tree = ast.parse(ctx.source)
    except SyntaxError:
        return None, None, None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            for kw in node.keywords:
                if kw.arg == attr:
                    name = kw.value.id if isinstance(kw.value, ast.Name) else None
                    return ctx.cell_line(node.lineno), ctx.line_text(node.lineno), name
    return None, None, None


def _layers(model: Any) -> list[Any]:
    try:
        return list(model._flatten_layers(include_self=True))
    except Exception:
        return [model]


def large_kl_weight(ctx: Context) -> dict[str, Any] | None:
    """``{"name", "value", "line", "source_line"}`` of a KL weight above 1 the cell sets, else None."""
    # getattr: posterior's callers may hand a lighter context (source and line helpers only).
    namespace, assigned = getattr(ctx, "namespace", {}), getattr(ctx, "assign_lines", {})
    for name in reversed(getattr(ctx, "bound", [])):
        value = _number(namespace.get(name))
        if NAME.match(name) and value is not None and value > 1.0:
            line = assigned.get(name)
            return {"name": name, "value": value, "line": ctx.cell_line(line), "source_line": ctx.line_text(line)}
    if getattr(ctx, "model", None) is None:
        return None
    for obj in _layers(ctx.model):
        for attr, v in vars(obj).items():
            value = _number(v)
            if not NAME.match(attr) or value is None or value <= 1.0:
                continue
            line, text, passed = _keyword_line(ctx, attr.lstrip("_"))
            if passed is not None and passed in assigned:
                at = assigned[passed]
                line, text = ctx.cell_line(at), ctx.line_text(at)
            if line is None:
                at = getattr(ctx, "creation_lines", {}).get(id(obj))
                line, text = ctx.cell_line(at), ctx.line_text(at)
            return {"name": passed or f"{type(obj).__name__}.{attr}", "value": value, "line": line, "source_line": text}
    return None
