"""Are frozen layers frozen at their random initial weights?

AE301 (no-gradient), read from the model's weights alone: a layer with
``trainable=False`` gets no update, which is right for a *pretrained*
encoder and wrong for one that was never trained. A fine-tuning recipe
copied onto a fresh model freezes random weights: the code is then a random
projection that training can't improve, and only the rest of the model
learns around it.

"Never trained" is read from the biases: Keras initialises them to exactly
zero, and any training (``fit``, loaded or set weights) moves them. So a
frozen layer with kernels is reported only when every one of its biases is
still exactly zero; layers without a bias, and normalisation layers (frozen
at identity on purpose), say nothing. No forward pass, no data: the check
runs on every model, even when the probes can't.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from .. import probes as probe
from ..context import Context
from ..report import Finding
from . import gradients as G

# Frozen normalisation layers are a normal fine-tuning choice (BatchNorm in inference mode).
_NORMALIZATION = ("Normalization",)
_FREEZE_LINE = re.compile(r"\.trainable\s*=\s*False|trainable\s*=\s*False")


def _untrained_frozen(model: Any) -> list[Any]:
    """Leaf layers that are frozen, have a kernel, and whose biases are all still exactly zero."""
    out = []
    for layer in probe.leaf_layers(model):
        if getattr(layer, "trainable", True) or any(s in type(layer).__name__ for s in _NORMALIZATION):
            continue
        weights = list(getattr(layer, "weights", []) or [])
        kernels = [w for w in weights if len(getattr(w, "shape", ())) >= 2]
        biases = [w for w in weights if len(getattr(w, "shape", ())) == 1 and "bias" in (getattr(w, "path", "") or getattr(w, "name", ""))]
        if not kernels or not biases:
            continue
        try:
            if all(not np.any(np.asarray(b.numpy())) for b in biases):
                out.append(layer)
        except Exception:  # a weight we can't read: say nothing rather than guess
            continue
    return out


def check_frozen_untrained(ctx: Context) -> list[Finding]:
    """AE301: layers frozen with ``trainable=False`` while still at their random initial weights."""
    m = ctx.model
    if m is None:
        return []  # an unbuilt model's layers have no weights yet: _untrained_frozen finds none
    try:
        if not len(m.trainable_variables):
            return []  # nothing trains at all: gradients.py says that (AE301, error)
        frozen = _untrained_frozen(m)
    except Exception:
        return []
    if not frozen:
        return []
    names = [layer.name for layer in frozen]
    ctx.traces["frozen_untrained"] = names
    line, text = _freeze_line(ctx)
    if line is None:
        line, text = _layer_line(ctx, frozen[0])
    owner = _owner_name(ctx, m, frozen)
    return [
        Finding(
            code="AE301",
            severity="warning",
            title="Frozen at random initial weights",
            message=(
                f"{G._list(names)} {'is' if len(names) == 1 else 'are'} frozen (trainable=False) but still "
                "hold their random initial weights (every bias is exactly zero: no training or loading has "
                f"touched {'it' if len(names) == 1 else 'them'}). Frozen weights get no gradient, so "
                f"{'this layer stays' if len(names) == 1 else 'these layers stay'} a random projection however long "
                f"you train, and only the rest of `{ctx.model_name}` learns around {'it' if len(names) == 1 else 'them'}."
            ),
            line=line,
            source_line=text,
            layer=names[0],
            evidence={"layers": names, "trainable": False, "biases_all_zero": True},
            fix=(
                (f"{owner}.trainable = True  # train it with the rest, then compile again" if owner
                 else "layer.trainable = True  # for each of these layers, then compile again")
                + "\n# or load the pretrained weights before freezing them: "
                + (f"{owner}.load_weights(...)" if owner else "layer.load_weights(...)")
            ),
        )
    ]


def _freeze_line(ctx: Context) -> tuple[int | None, str | None]:
    """The cell line that sets ``trainable = False`` (where the fix goes)."""
    for i, text in enumerate((ctx.source or "").splitlines(), start=1):
        code = text.split("#", 1)[0]
        if _FREEZE_LINE.search(code):
            return ctx.cell_line(i), text.strip()
    return None, None


def _layer_line(ctx: Context, layer: Any) -> tuple[int | None, str | None]:
    line, text = G.locate(ctx, layer.name)
    if line is not None:
        return line, text
    raw = ctx.creation_lines.get(id(layer))
    return (ctx.cell_line(raw), ctx.line_text(raw)) if raw else (None, None)


def _owner_name(ctx: Context, model: Any, frozen: list[Any]) -> str | None:
    """The cell's variable for a nested model whose every weighted layer is frozen (``encoder``), if any."""
    ids = {id(layer) for layer in frozen}
    for name, value in (ctx.namespace or {}).items():
        if value is model or name.startswith("_") or not hasattr(value, "layers") or not hasattr(value, "trainable"):
            continue
        try:
            members = [ly for ly in probe.leaf_layers(value) if getattr(ly, "weights", None)]
        except Exception:
            continue
        if members and all(id(ly) in ids for ly in members):
            return name
    return None


CHECKS = [check_frozen_untrained]
