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


# A target that leaves an output's range rarely (under RARELY_OUTSIDE of its values) and by so little that clipping
# it there costs at most NEGLIGIBLE_CLIP_COST of its variance (the per-feature mean's error) is within reach: noise
# on data scaled into [0, 1] (round 76's dp09: [-0.0002, 1.0036], 0.003 % of values outside a sigmoid's range) is
# no AE203; a scale that leaves many values past the range (``/ 250`` on pixels) still is.
RARELY_OUTSIDE = 0.01
NEGLIGIBLE_CLIP_COST = 1e-3


def negligible_excursion(values: Any, low: float, high: float) -> float | None:
    """The cost of clipping ``values`` into ``[low, high]`` (mean squared miss over their variance) when they leave
    it rarely and by a negligible amount; None when the excursion matters (or there are no finite values)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    if not v.size or float(np.mean((v < low) | (v > high))) >= RARELY_OUTSIDE:
        return None
    miss = float(np.mean((v - np.clip(v, low, high)) ** 2))
    var = float(np.var(v))
    if miss == 0.0:
        return 0.0
    if var <= 0 or miss / var > NEGLIGIBLE_CLIP_COST:
        return None
    return miss / var


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
        if (lo >= rng[0] - 1e-6 and hi <= rng[1] + 1e-6) or negligible_excursion(finite, *rng) is not None:
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
