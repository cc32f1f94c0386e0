"""Several output heads that together reconstruct the input: their shapes, and the loss each head gets.

A tabular autoencoder often ends in one head per kind of column: a linear
head for the standardised numbers and a softmax head for a one-hot
category, trained as ``fit(x, [x_num, x_cat])`` with
``loss=["mse", "categorical_crossentropy"]``. Their widths add up to the
input's, so no AE105: nothing is lost. But the loss list is matched to the
outputs by position, and written in the wrong order (round 25) the
classification loss lands on the linear head and the squared error on the
softmax head: the total loss swings between -15 and +17 and the numbers are
reconstructed worse than their mean. Read from the graph and ``compile``'s
arguments only.
"""

from __future__ import annotations

from typing import Any

from .. import keras_compat as kc
from ..context import Context
from ..graph import GraphInfo
from ..report import Finding
from .locate import graph_of, label, loc, output_activation

CLASSIFICATION = ("cce", "scce")
REGRESSION = ("mse", "mae", "huber")


def split_outputs(g: GraphInfo | None) -> bool:
    """Whether the graph's outputs split the input along its last axis: same leading shape, widths adding up."""
    if g is None or len(g.outputs) < 2 or not g.inputs:
        return False
    ins = list(g.nodes[g.inputs[0]].shape[1:])
    outs = [list(g.nodes[o].shape[1:]) for o in g.outputs]
    if not ins or any(not o or o[:-1] != ins[:-1] or o[-1] is None for o in outs) or ins[-1] is None:
        return False
    return sum(int(o[-1]) for o in outs) == int(ins[-1])


def _per_output_losses(model: Any, names: list[str]) -> list[Any] | None:
    """The loss of each output in order, from a list/tuple or a dict keyed by output name; None otherwise."""
    loss = getattr(model, "loss", None)
    if isinstance(loss, (list, tuple)) and len(loss) == len(names):
        return list(loss)
    if isinstance(loss, dict) and set(loss) <= set(names):
        return [loss.get(n) for n in names]
    return None


def check_output_losses(ctx: Context) -> list[Finding]:
    """AE108 for a classification loss on a head that is not a softmax, with the swapped pair named when there is one."""
    g = graph_of(ctx)
    m = ctx.model
    if g is None or m is None or len(g.outputs) < 2 or not kc.is_compiled(m):
        return []
    nodes = [g.nodes[o] for o in g.outputs]
    names = [str(n) for n in (getattr(m, "output_names", None) or [n.name for n in nodes])]
    losses = _per_output_losses(m, names)
    if losses is None:
        return []
    heads = []
    for node, loss in zip(nodes, losses, strict=True):
        act, src_node = output_activation(g, node)
        cfg = kc.loss_config_of(loss)
        heads.append({"node": src_node or node, "act": act, "family": kc.loss_family(loss),
                      "logits": bool(cfg.get("from_logits", False)), "loss": loss})
    wrong = [h for h in heads if h["family"] in CLASSIFICATION and h["act"] not in ("softmax", None)
             and not (h["logits"] and h["act"] == "linear")]
    if not wrong:
        return []
    found = []
    for h in wrong:
        partner = next((o for o in heads if o is not h and o["act"] == "softmax" and o["family"] in REGRESSION), None)
        line, src = loc(ctx, h["node"])
        what = f"{label(ctx, h['node'])} has a {h['act']} output"
        if partner is not None:
            order = [_spelled(o["loss"]) for o in heads]
            i, j = heads.index(h), heads.index(partner)
            order[i], order[j] = order[j], order[i]
            message = (f"The losses are matched to the outputs by position, and they are swapped: {what} but gets "
                       f"{_spelled(h['loss'])}, while {label(ctx, partner['node'])}, the softmax head, gets "
                       f"{_spelled(partner['loss'])}. The classification loss takes the log of values that are not "
                       "probabilities (the total loss can go negative and swing), and the numbers are fitted as if "
                       "they were class scores.")
            fix = f"loss=[{', '.join(order)}]  # in the order of the model's outputs: {', '.join(names)}"
            severity = "error"
        else:
            message = (f"{what} but gets {_spelled(h['loss'])}, a classification loss that expects class "
                       "probabilities from a softmax.")
            fix = "Give that head activation='softmax', or a regression loss such as 'mse' for numeric columns."
            severity = "warning"
        found.append(Finding(
            code="AE108", severity=severity, title="Output activation and loss disagree", message=message,
            line=line, layer=h["node"].name, source_line=src,
            evidence={"outputs": names, "losses": [_spelled(o["loss"]) for o in heads],
                      "activations": [o["act"] for o in heads], "swapped_with": partner["node"].name if partner else None},
            fix=fix,
        ))
    return found


def _spelled(loss: Any) -> str:
    """A loss as the user would write it in ``compile``."""
    if isinstance(loss, str):
        return repr(loss)
    name = type(loss).__name__ if isinstance(loss, kc.keras.losses.Loss) else getattr(loss, "__name__", type(loss).__name__)
    return str(name)


CHECKS = [check_output_losses]
