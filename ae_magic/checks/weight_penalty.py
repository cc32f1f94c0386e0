"""Weight penalties that outweigh the reconstruction: the cause of a collapse to the mean.

A ``kernel_regularizer`` adds ``factor * sum(w**2)`` (or ``|w|``) to the
training loss. At a factor like ``l2(0.5)`` that sum is tens of times the
reconstruction loss at the initial weights, and the cheapest way down is
to shrink every weight toward zero and let the biases output the mean:
the model collapses (AE404) or sits on the mean's error (AE405) while its
training loss falls steadily, which reads as learning. Measured with plain
``fit`` on a dense autoencoder of standardised features: ``l2(0.5)`` on
every layer ends at 1.0x the mean's error, ``l2(1e-4)`` at 0.08x.

The penalty is read off the model's weights as numbers (no forward pass,
nothing of the model changes) and compared with the held-out
reconstruction loss at the same initial weights, which the training probe
records.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from .. import keras_compat as kc
from ..context import Context
from ..numeric import all_finite
from .fresh_model import fresh_model

# Regularizer attribute -> the weight it charges, for Keras' built-in layers.
REGULARIZED = {
    "kernel_regularizer": "kernel",
    "bias_regularizer": "bias",
    "recurrent_regularizer": "recurrent_kernel",
    "depthwise_regularizer": "depthwise_kernel",
    "pointwise_regularizer": "pointwise_kernel",
    "embeddings_regularizer": "embeddings",
}
# The penalty at the initial weights is at least this share of the reconstruction loss there.
DOMINATES = 1.0


def _layers(model: Any) -> list[Any]:
    try:
        return list(model._flatten_layers(include_self=False))
    except Exception:
        return list(getattr(model, "layers", []) or [])


def _weight(layer: Any, name: str) -> Any:
    # Recurrent layers keep their weights on the cell.
    for owner in (layer, getattr(layer, "cell", None), getattr(getattr(layer, "forward_layer", None), "cell", None)):
        w = getattr(owner, name, None) if owner is not None else None
        if w is not None:
            return w
    return None


def _written(reg: Any) -> str:
    try:
        cfg = reg.get_config()
        args = ", ".join(f"{k}={float(v):.3g}" for k, v in cfg.items() if isinstance(v, (int, float)) and v)
    except Exception:
        args = ""
    return f"{type(reg).__name__}({args})"


def weight_penalties(ctx: Context) -> dict[str, Any] | None:
    """The weight penalties at the model's initial weights: ``{"total", "layers": {name: {"regularizer", "value"}}}``.

    None when the model has no weight regularizer or one can't be evaluated.
    Cached per check.
    """
    if "weight_penalties" not in ctx.cache:
        ctx.cache["weight_penalties"] = _penalties(ctx.model)
    return ctx.cache["weight_penalties"]


def fresh_penalties(ctx: Context) -> dict[str, Any] | None:
    """The weight penalties at fresh initial weights (a fresh copy of the model, as re-running the cell builds it),
    for a cell whose own fit already shrank the weights; None when there are none or no fresh copy can be made.
    The copy is drawn inside the probes' seeded block, so the user's random state is untouched."""
    if "fresh_weight_penalties" not in ctx.cache:
        out = None
        if weight_penalties(ctx) is not None:
            fresh = fresh_model(ctx)
            out = _penalties(fresh) if fresh is not None else None
        ctx.cache["fresh_weight_penalties"] = out
    return ctx.cache["fresh_weight_penalties"]


def _penalties(model: Any) -> dict[str, Any] | None:
    out: dict[str, Any] | None = None
    layers: dict[str, dict[str, Any]] = {}
    total = 0.0
    try:
        for layer in _layers(model) if model is not None else []:
            for attr, weight in REGULARIZED.items():
                reg, w = getattr(layer, attr, None), _weight(layer, weight)
                if reg is None or w is None:
                    continue
                # A copy of the values as numbers: the regularizer never touches the model's variable.
                value = float(kc.to_numpy(reg(np.array(kc.to_numpy(w)))))
                entry = layers.setdefault(layer.name, {"regularizer": _written(reg), "value": 0.0})
                entry["value"] += value
                total += value
        if layers and all_finite([total]):
            out = {"total": total, "layers": layers}
    except Exception:
        out = None
    return out


def dominating_penalty(ctx: Context, tr: dict[str, Any]) -> dict[str, Any] | None:
    """The weight penalties when, at the initial weights, they are at least DOMINATES times the
    held-out reconstruction loss (``tr["val_loss_before"]``), with that comparison; else None."""
    from .gradients import cell_steps

    pen = weight_penalties(ctx)
    recon = tr.get("val_loss_before")
    if pen is None or not all_finite([recon]) or recon <= 0:
        return None
    loss, val = tr.get("loss") or [], tr.get("val_loss") or []
    end = {"train_loss": loss[-1], "val_loss": val[-1]} if loss and val and all_finite([loss[-1], val[-1]]) else {}
    if pen["total"] >= DOMINATES * recon:
        return {**pen, "reconstruction_loss": recon, "ratio": pen["total"] / recon, **({"at_end": end} if end else {})}
    if cell_steps(ctx) <= 0:
        return None
    # The cell's own fit already shrank the weights (round 53's bp04: l2(0.05) on every kernel, 7x the loss at
    # the start; after 3 epochs the penalty is small and the model on the mean). Where the fit started tells:
    # fresh initial weights, against the larger of the loss there now and the loss of predicting the mean.
    fresh = fresh_penalties(ctx)
    mean_loss = ((tr.get("baselines") or {}).get("loss_units") or {}).get("mean")
    ref = max(recon, float(mean_loss)) if all_finite([mean_loss]) else recon
    if fresh is None or fresh["total"] < DOMINATES * ref:
        return None
    return {**fresh, "reconstruction_loss": ref, "ratio": fresh["total"] / ref, "at": "fresh initial weights",
            **({"at_end": end} if end else {})}


def heaviest(pen: dict[str, Any]) -> str:
    """The layer whose weights carry the largest penalty."""
    return max(pen["layers"], key=lambda name: pen["layers"][name]["value"])


def penalty_line(ctx: Context, layer_name: str) -> tuple[int | None, str | None]:
    """Where the penalty of ``layer_name`` is written: the line that binds the regularizer the layer names
    (``reg = regularizers.l2(0.5)`` shared by every layer), else the layer's own line."""
    from . import gradients as G
    from .locate import assigned_at

    line, text = G.locate(ctx, layer_name)
    m = re.search(r"_regularizer\s*=\s*([A-Za-z_]\w*)\s*[,)]", text or "")
    if m:
        bound = assigned_at(ctx, m.group(1))
        if bound[0] is not None:
            return bound
    return line, text


def describe(pen: dict[str, Any]) -> str:
    """A clause naming the penalty and its weight against the reconstruction (no final stop)."""
    regs = sorted({v["regularizer"] for v in pen["layers"].values()})
    n = len(pen["layers"])
    if pen.get("at") == "fresh initial weights":
        where = (f"at fresh initial weights, where the cell's fit started, {pen['ratio']:.3g}x the loss of predicting "
                 f"the mean ({pen['reconstruction_loss']:.3g})")
    else:
        where = f"at the initial weights, {pen['ratio']:.3g}x the reconstruction loss there ({pen['reconstruction_loss']:.3g})"
    text = (f"the weight penalty ({', '.join(regs)} on {n} layer{'s' if n > 1 else ''}) adds {pen['total']:.3g} to the "
            f"training loss {where}")
    end = pen.get("at_end")
    if end and end["val_loss"] > 0 and end["train_loss"] > 1.5 * end["val_loss"]:
        text += (f", and after the run it still makes up most of the training loss ({end['train_loss']:.3g} against "
                 f"{end['val_loss']:.3g} held out)")
    return text + ": the cheapest way down is to shrink every weight toward zero, which pulls the output to the mean"


FIX = ("# a weight penalty far below the reconstruction loss (about 1e-4 for L2), or none:\n"
       "kernel_regularizer=keras.regularizers.l2(1e-4)")
