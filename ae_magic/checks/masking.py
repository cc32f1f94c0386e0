"""A ``Masking`` layer whose mask value is also real data inside the sequences.

``Masking(mask_value=0.0)`` added for zero padding, on windows where a
sensor that is off reads exactly 0 on every channel (round 16): the
recurrent layers skip those steps, and the model can't learn them. Padding
sits at the start or the end of a sequence; a step that equals the mask
value with real steps on both sides of it is data. Read from the model's
layers and the data; nothing runs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..context import Context
from ..probes.traces import leaf_layers
from ..report import Finding
from . import gradients as G

# The share of sequences with a masked step between real ones above which the mask value is data, not padding.
INTERIOR_SHARE = 0.05
# ...and above which it is reported on its own, before any probe shows the harm (AE204, a warning).
STANDALONE_SHARE = 0.2
SAMPLE = 2048


def mask_collision(ctx: Context) -> dict[str, Any] | None:
    """``{"layer", "mask_value", "share", "steps"}`` when the mask value fills whole steps inside the sequences."""
    if "mask_collision" in ctx.cache:
        return ctx.cache["mask_collision"]
    ctx.cache["mask_collision"] = out = _measure(ctx)
    return out


def _measure(ctx: Context) -> dict[str, Any] | None:
    if ctx.model is None or ctx.data is None:
        return None
    layer = next((ly for ly in leaf_layers(ctx.model) if type(ly).__name__ == "Masking"), None)
    d = np.asarray(ctx.data) if not isinstance(ctx.data, (list, tuple, dict)) else None
    if layer is None or d is None or d.ndim != 3 or not np.issubdtype(d.dtype, np.number):
        return None
    value = float(getattr(layer, "mask_value", 0.0))
    masked = np.all(d[:SAMPLE] == value, axis=-1)  # (samples, steps)
    real = ~masked
    # A masked step with a real step before it and one after it is inside the sequence, not padding.
    before = np.maximum.accumulate(real, axis=1)
    after = np.maximum.accumulate(real[:, ::-1], axis=1)[:, ::-1]
    inside = masked & before & after
    share = float(np.mean(inside.any(axis=1)))
    if share < INTERIOR_SHARE:
        return None
    return {"layer": layer.name, "mask_value": value, "share": share,
            "steps": float(inside.sum() / max(int(inside.any(axis=1).sum()), 1))}


def name_mask_collision(ctx: Context, found: list[Finding]) -> list[Finding]:
    """AE404/AE405 on sequences whose mask value is also data: the message names the Masking layer and its line."""
    hit = [f for f in found if f.code in ("AE404", "AE405")]
    m = mask_collision(ctx) if hit else None
    if m is None:
        return found
    line, src = G.locate(ctx, m["layer"])
    for f in hit:
        f.message += (
            f" The cause is the Masking layer '{m['layer']}' (mask_value={m['mask_value']:g}): in {m['share']:.0%} of "
            f"the sequences whole steps equal {m['mask_value']:g} between real steps (about {m['steps']:.1f} a "
            "sequence), so they are data, not padding, and the recurrent layers skip exactly the steps the "
            "output must rebuild."
        )
        f.evidence["mask_collision"] = m
        f.fix = _fix(m["mask_value"])
        f.edit = None
        if line is not None:
            f.line, f.source_line, f.layer = line, src, m["layer"]
    return found


def check_mask_collision(ctx: Context) -> list[Finding]:
    """AE204 (warning): the Masking layer's mask value fills whole steps inside many sequences.

    Round 19: rectified signals zero-padded and masked with
    ``mask_value=0.0``; the GRU skipped every real zero, and the model beat
    the mean (so no AE404/AE405) while its error on the real steps was 2-3x
    the fix's. Data and layer settings alone show it.
    """
    m = mask_collision(ctx)
    if m is None or m["share"] < STANDALONE_SHARE:
        return []
    line, src = G.locate(ctx, m["layer"])
    v = m["mask_value"]
    return [
        Finding(
            code="AE204",
            severity="warning",
            title="The mask value is also real data",
            message=(f"The Masking layer '{m['layer']}' skips every step equal to {v:g}, but in {m['share']:.0%} of "
                     f"the sequences such steps lie between real steps (about {m['steps']:.1f} a sequence): they are "
                     "data, not padding. The recurrent layers never see them, so the model cannot learn where they "
                     "are, and the loss on them is whatever the decoder happens to output."),
            line=line,
            source_line=src,
            layer=m["layer"],
            evidence={"mask_collision": m},
            fix=_fix(v),
        )
    ]


def _fix(value: float) -> str:
    return ("# pad with a value the data never takes, and mask that one:\n"
            f"layers.Masking(mask_value=-1.0)  # and pad the sequences with -1.0 (mask_value={value:g} is real data here)")


CHECKS = [check_mask_collision]
