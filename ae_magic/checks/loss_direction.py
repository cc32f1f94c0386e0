"""AE108 for a hand-written loss that is not lowest at a perfect reconstruction.

A similarity returned as a loss (``return tf.image.ssim(...)`` instead of
``1 - ssim``), a correlation, or a sign slip makes training move the output
away from the target: the loss falls while the reconstruction gets worse
(round 25: inverted images). Measured in the loss's own units on the
held-out split the training probe already holds: the loss of the target
itself against the loss of the per-feature mean (``baselines.loss_units``).
"""

from __future__ import annotations

import ast
from typing import Any

from .. import keras_compat as kc
from ..context import Context
from ..numeric import all_finite
from ..report import Finding
from .baseline import STANDARD_LOSSES


def check_loss_direction(ctx: Context) -> list[Finding]:
    """AE108: the compiled (hand-written) loss of the target itself is no lower than the mean's."""
    tr = ctx.traces.get("training") or {}
    name = tr.get("loss_name")
    if not isinstance(name, str) or kc.canonical_name(name) in STANDARD_LOSSES:
        return []
    units = (tr.get("baselines") or {}).get("loss_units") or {}
    mean, exact = units.get("mean"), units.get("target")
    if not all_finite([mean, exact]) or exact < mean - 1e-6 * max(abs(mean), 1.0):
        return []
    line, src = _def_line(ctx, name)
    return [Finding(
        code="AE108", severity="error", title="The loss is not lowest at a perfect reconstruction",
        message=(f"The loss `{name}` gives {exact:.4g} for an output equal to the target, and {mean:.4g} for the "
                 "per-feature mean of the data: it is not lowest at a perfect reconstruction, so minimising it moves "
                 "the output away from the target. A similarity (SSIM, a correlation) returned as a loss needs "
                 "`1 - similarity` (or its negative)."),
        line=line, source_line=src,
        evidence={"loss": name, "loss_of_target": exact, "loss_of_mean": mean},
        fix="return 1.0 - similarity  # a loss must be smallest when y_pred equals y_true",
    )]


check_loss_direction.family = "training"  # type: ignore[attr-defined]


def _def_line(ctx: Context, name: str) -> tuple[int | None, str | None]:
    """The cell line of the ``return`` of the loss function ``name`` (else its ``def``)."""
    try:
        tree = ast.parse(ctx.source or "")
    except SyntaxError:
        return None, None
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == name:
            rets = [n.lineno for n in ast.walk(node) if isinstance(n, ast.Return)]
            line = rets[-1] if rets else node.lineno
            return ctx.cell_line(line), ctx.line_text(line)
    return None, None


CHECKS: list[Any] = [check_loss_direction]
