"""AE203 for a model with several reconstruction heads: each head's block of the target against that head's range.

A mixed-type tabular autoencoder (``probes/heads.py``) reconstructs numeric columns in [-1, 1] with a tanh
head and one-hot columns with a softmax head. The target as a whole spans [-1, 1], which the softmax can't
reach, but no head is asked to: each is judged on its own block (round 48's ay09, written with the heads in
the other order, would otherwise get AE203 for a target no head misses).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..context import Context
from ..probes.heads import fit_targets, head_losses, head_targets
from ..report import Finding
from .locate import graph_of, output_activation

RANGES = {"sigmoid": (0.0, 1.0), "hard_sigmoid": (0.0, 1.0), "softmax": (0.0, 1.0), "tanh": (-1.0, 1.0),
          "softsign": (-1.0, 1.0), "relu": (0.0, float("inf")), "relu6": (0.0, 6.0), "softplus": (0.0, float("inf")),
          "elu": (-1.0, float("inf"))}


def head_blocks(ctx: Context) -> list[tuple[int, np.ndarray]] | None:
    """``(output index, target block)`` for each head of a model with a loss on several outputs whose heads are
    blocks of the target (:func:`~ae_magic.probes.heads.head_targets`); None for any other model."""
    model = ctx.model
    if model is None or ctx.data is None or head_losses(model) is None:
        return None
    target = None if ctx.target is None or ctx.target is ctx.data else ctx.target
    try:
        read = head_targets(model, np.asarray(ctx.data), target,
                            fit_targets(ctx.source, ctx.model_name, ctx.namespace or {}))
    except Exception:  # a model whose outputs can't be read: the whole-target check decides
        return None
    if isinstance(read, str):
        return None
    used, widths, _specs, joined, _how = read
    bounds = np.cumsum([0, *widths])
    return [(i, joined[:, a:b]) for i, a, b in zip(used, bounds[:-1], bounds[1:], strict=False)]


def check_head_ranges(ctx: Context, blocks: list[tuple[int, np.ndarray]]) -> list[Finding]:
    """AE203 for the first head whose block of the target lies outside what its activation can produce."""
    g = graph_of(ctx)
    if g is None:
        return []
    for i, block in blocks:
        if i >= len(g.outputs):
            continue
        act, node = output_activation(g, g.nodes[g.outputs[i]])
        rng = RANGES.get(act or "")
        finite = block[np.isfinite(block)]
        if rng is None or not finite.size:
            continue
        lo, hi = float(finite.min()), float(finite.max())
        if lo >= rng[0] - 1e-6 and hi <= rng[1] + 1e-6:
            continue
        name = _head_name(ctx, i)
        from . import gradients as G

        line, text = G.locate(ctx, node.name) if node is not None and not node.is_input else (None, None)
        outside = float(np.mean((finite < rng[0] - 1e-6) | (finite > rng[1] + 1e-6)))
        return [Finding(
            code="AE203", severity="warning", title="Targets lie outside the output's range",
            message=(f"The head `{name}` ends in {act}, which can only produce [{rng[0]:g}, {rng[1]:g}], but its targets "
                     f"span [{lo:.4g}, {hi:.4g}] ({outside:.0%} of values outside). The model cannot reconstruct them."),
            line=line,
            source_line=text,
            layer=getattr(node, "name", None),
            evidence={"head": name, "target_min": lo, "target_max": hi, "output_activation": act,
                      "output_range": list(rng), "share_outside": outside},
            fix=(f"Give the head `{name}` a linear output (activation=None) with loss='mse', or rescale its columns "
                 f"into [{rng[0]:g}, {rng[1]:g}]."),
        )]
    return []


def _head_name(ctx: Context, i: int) -> str:
    names: list[Any] = list(getattr(ctx.model, "output_names", None) or [])
    return str(names[i]) if i < len(names) else f"output {i}"
