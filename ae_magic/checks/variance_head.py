"""AE108 for a Gaussian output head whose variance can be zero or negative under a loss that reads it as a variance.

A distribution head (``checks/shapes.py``: the output is a mean and a variance side by side, read apart by the
cell's own loss) needs a variance that stays above zero. Round 58's ce10 gave it ``activation="relu"``: every
unit whose pre-activation is negative outputs exactly 0, the hand-written NLL divides by ``var + 1e-6``, and
those units' squared errors weigh a million times the rest; its author's 30-epoch run stayed at the mean. A
linear head goes negative, and ``log(var)`` is NaN. A loss that reads the block as a log-variance (it calls
``exp``) is fine with a linear head. Read from the graph and the cell's loss function; nothing runs.
"""

from __future__ import annotations

import ast
from typing import Any

from ..context import Context
from ..report import Finding
from .locate import layer_line
from .loss_mask import loss_def

# Activations that let a variance reach exactly zero (relu) or go below it (linear).
UNSAFE = {"relu": "exactly 0 wherever its pre-activation is negative", "linear": "negative as often as positive"}


def _producer(tensor: Any) -> Any:
    history = getattr(tensor, "_keras_history", None)
    return getattr(history, "operation", None) if history is not None else None


def _activation(layer: Any) -> str | None:
    act = getattr(layer, "activation", None)
    return getattr(act, "__name__", None) if act is not None else None


def check_variance_head(ctx: Context) -> list[Finding]:
    """AE108: the variance block of a distribution head comes from a relu or linear layer and the loss reads it
    as a variance (it takes its log or divides by it, and never exponentiates it)."""
    if ctx.cache.get("distribution_head") != 2 or ctx.model is None:
        return []
    outputs = getattr(ctx.model, "outputs", None) or []
    join = _producer(outputs[0]) if len(outputs) == 1 else None
    if join is None or type(join).__name__ != "Concatenate":
        return []
    nodes = getattr(join, "_inbound_nodes", None) or []
    parts = list(getattr(nodes[0], "input_tensors", None) or []) if nodes else []
    if len(parts) != 2:
        return []
    head = _producer(parts[1])
    act = _activation(head)
    if act not in UNSAFE:
        return []
    fn = loss_def(ctx)  # the cell's own loss function, the one the model is compiled with
    src = ast.unparse(fn) if fn is not None else None
    if src is None or "exp" in src or not ("log" in src or "/" in src or "divide" in src):
        return []
    line, text = layer_line(ctx, head)
    return [Finding(
        code="AE108", severity="warning", title=f"The output's variance comes from a {act} layer",
        message=(f"`{ctx.model_name}` outputs a mean and a variance side by side, and the cell's loss reads the "
                 f"second block as a variance (a log of it, a division by it). That block comes from "
                 f"'{head.name}' with activation={act!r}, which is {UNSAFE[act]}: "
                 + ("a variance of 0 plus the loss's small epsilon turns those values' squared errors into "
                    "errors a million times too heavy, so a few units rule the loss and its gradient and the "
                    "mean stops learning." if act == "relu" else
                    "the log of a negative variance is NaN, and a division by it rewards the errors it should "
                    "punish.")),
        line=line, source_line=text, layer=head.name,
        evidence={"layer": head.name, "activation": act, "blocks": 2},
        fix=("# keep the variance positive and away from zero:\n"
             f"{head.name} = layers.Dense(units, activation='softplus')(...)  # and var + 1e-3 in the loss\n"
             "# or let the layer output a log-variance (linear) and use ops.exp(log_var) in the loss"),
    )]


CHECKS = [check_variance_head]
