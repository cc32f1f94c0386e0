"""Was the denoiser's input clipped to a range its target is not in?

AE205 (data-degenerate). The MNIST denoising tutorial's
``np.clip(x_noisy, 0.0, 1.0)`` keeps noisy pixels in [0, 1], which is right
for pixels. Copied onto standardised features (round 20), it turns every
negative value, half the data, into exactly 0, and everything above 1 into
exactly 1: the model must guess the clean values from an input that has
lost them (measured with plain ``fit``: 4x the error of the same denoiser on
the unclipped noisy input).

The signature, from the data alone: a large share of the input sits
exactly on its own minimum or maximum (values piled up by a clip), while a
large share of the target lies outside the input's range. Pixels clipped to
[0, 1] against a [0, 1] target have no target outside, so they stay silent;
so does a plain autoencoder (the target is the input).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..context import Context
from ..report import Finding
from .locate import assigned_at

# At least this share of the input's values sits exactly on its minimum or maximum...
PILED = 0.2
# ...and at least this share of the target's values lies outside the input's range.
OUTSIDE = 0.2
_ROWS = 2048


def _sample(arr: Any) -> np.ndarray | None:
    if not isinstance(arr, np.ndarray) or arr.size == 0 or not np.issubdtype(arr.dtype, np.number):
        return None
    return np.asarray(arr[:_ROWS], dtype=np.float64)


def denoiser_pair(ctx: Context) -> tuple[np.ndarray, np.ndarray] | None:
    """The first rows of the input and of a target of its own (a denoising set-up), finite and of one shape; else None."""
    if ctx.target is None or ctx.target is ctx.data or (ctx.target_name and ctx.target_name == ctx.data_name):
        return None
    x, t = _sample(ctx.data), _sample(ctx.target)
    if x is None or t is None or x.shape != t.shape or not np.all(np.isfinite(x)) or not np.all(np.isfinite(t)):
        return None
    return x, t


def check_clipped_input(ctx: Context) -> list[Finding]:
    """AE205: the input was clipped (values piled at its bounds) to a range much of the target leaves."""
    pair = denoiser_pair(ctx)
    if pair is None:
        return []
    x, t = pair
    lo, hi = float(x.min()), float(x.max())
    at_lo, at_hi = float(np.mean(x == lo)), float(np.mean(x == hi))
    piled = at_lo + at_hi
    outside = float(np.mean((t < lo) | (t > hi)))
    if piled < PILED or outside < OUTSIDE or lo == hi:
        return []
    name, tname = ctx.data_name or "the input", ctx.target_name or "the target"
    line, text = assigned_at(ctx, ctx.data_name)
    return [
        Finding(
            code="AE205",
            severity="warning",
            title="The input was clipped to a range the target is not in",
            message=(f"{100 * piled:.0f}% of `{name}`'s values sit exactly on its bounds ({100 * at_lo:.0f}% at {lo:.4g}, "
                     f"{100 * at_hi:.0f}% at {hi:.4g}): they were clipped there. But {100 * outside:.0f}% of the target "
                     f"`{tname}` lies outside [{lo:.4g}, {hi:.4g}]. The clipped values carry no information about "
                     "where the clean value was, so the model cannot recover it: a clip to [0, 1] is for pixels, "
                     "not for standardised features."),
            line=line,
            source_line=text,
            evidence={"input_range": [lo, hi], "share_at_min": at_lo, "share_at_max": at_hi,
                      "target_share_outside": outside, "target_range": [float(t.min()), float(t.max())]},
            fix=(f"# keep the noisy input in the target's own range: drop the clip for standardised data\n"
                 f"# (or clip to the target's range: np.clip(noisy, {float(t.min()):.3g}, {float(t.max()):.3g}))"),
        )
    ]


CHECKS = [check_clipped_input]
