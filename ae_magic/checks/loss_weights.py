"""A training stall caused by the reconstruction's own ``compile(loss_weights=...)``.

Round 34: a semi-supervised autoencoder compiled with
``loss_weights={"reconstruction": 1e-3, "state": 1.0}`` (the two values
swapped) under SGD. fit multiplies the reconstruction loss's gradient by
1e-3, so the decoder, which only that loss reaches, trains at a thousandth
of the rate and the reconstruction stays worse than the mean. The probes
apply the weight as fit does (``ProbeSession.loss_weight``); when the run
then stalls, the symptom's learning-rate advice would send the user the
wrong way, so the finding names the weight and its line instead.
"""

from __future__ import annotations

import ast
from typing import Any

from ..context import Context
from ..report import Finding

# A weight at or below this on the trained (reconstruction) output: a stall under it is the weight's doing.
LOW_WEIGHT = 0.1
_STALLS = ("AE402", "AE405", "AE404")


def _weights_line(ctx: Context) -> tuple[int | None, str | None]:
    """The cell line of the ``loss_weights=`` keyword of a ``compile`` call, else (None, None)."""
    try:
        tree = ast.parse(ctx.source or "")
    except SyntaxError:
        return None, None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "compile":
            for kw in node.keywords:
                if kw.arg == "loss_weights":
                    raw = kw.value.lineno
                    return ctx.cell_line(raw), ctx.line_text(raw)
    return None, None


def name_low_loss_weight(ctx: Context, trace: dict[str, Any], found: list[Finding]) -> list[Finding]:
    """The first stall finding (AE402, else AE405/AE404) of a run whose trained output's loss weight is
    LOW_WEIGHT or less names that weight, at its line, as the cause."""
    w = trace.get("loss_weight")
    if not isinstance(w, (int, float)) or not 0 <= w <= LOW_WEIGHT:
        return found
    hit = next((f for code in _STALLS for f in found if f.code == code and f.severity in ("warning", "error")), None)
    if hit is None:
        return found
    line, text = _weights_line(ctx)
    head, sep, _ = hit.message.partition("the model is not learning.")
    if sep:
        hit.message = head + sep  # the symptom's rate advice: the rate is not what holds the decoder
    opt = type(getattr(ctx.model, "optimizer", None)).__name__
    hit.message += (
        f" The cause is the loss weight: compile(loss_weights=...) gives the reconstruction {w:g}, and fit scales "
        f"its gradient by that, so the layers only the reconstruction loss reaches (the decoder) train at "
        f"{w:g}x the rate" + (f" under {opt}" if opt and opt != "NoneType" else "") + ". A smaller learning rate "
        "would not help; give the reconstruction a weight near the other outputs' (or 1.0)."
    )
    hit.evidence["loss_weight"] = float(w)
    hit.fix = "loss_weights={...: 1.0, ...}  # the reconstruction output's weight near the other heads', not 1e-3"
    hit.edit = None
    if line is not None:
        hit.line, hit.source_line, hit.layer = line, text, None
    return found
