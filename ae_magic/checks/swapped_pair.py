"""Are a denoiser's input and target the wrong way round?

AE405 (worse-than-baseline), from the data alone. A helper that returns
``(clean, noisy)`` unpacked as ``x_noisy, x_clean = ...`` trains the model
to predict the noise from the clean image. Noise that is independent of the
image can't be predicted, so no model gets much below the mean's error
(round 41: salt-and-pepper at 0.5, 0.90x the mean's error after 20 epochs,
and the best any model can do is about 0.92x). Keras says nothing, and the
loss falls a little.

The signature: the target is much rougher than the input (its values
change from one pixel or time step to the next ROUGHER times as much,
each array measured against its own variance, so scale does not matter),
and what the target adds to the input is white (the residual's roughness
is near 1, that of independent noise) and a large share of the target's
variance. A correct denoising pair is the other way round (the input is
the rough one); an inpainting hole is a smooth residual; a super-resolution
target is sharper than its input but not by independent noise. Images and
sequences only: flat rows have no neighbours to compare.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..context import Context
from ..report import Finding
from .clipped_input import denoiser_pair
from .locate import assigned_at

# The target's roughness at least this many times the input's.
ROUGHER = 2.0
# The residual (target - input) at least this rough: independent noise measures 1, a smooth change near 0.
WHITE = 0.75
# ...and at least this share of the target's variance.
NOISE_SHARE = 0.2


def roughness(a: np.ndarray) -> float:
    """Mean squared step between neighbours along the spatial (or time) axes over twice the variance:
    0 for a smooth signal, about 1 for independent noise."""
    axes = range(1, a.ndim - 1) if a.ndim >= 4 else (1,)
    v = float(a.var())
    if v <= 0 or any(a.shape[ax] < 2 for ax in axes):
        return 0.0
    return float(np.mean([np.mean(np.diff(a, axis=ax) ** 2) for ax in axes]) / (2 * v))


def noisier_target(ctx: Context) -> dict[str, Any] | None:
    """The measurements when the target looks like the input plus independent noise; None otherwise (cached)."""
    if "noisier_target" in ctx.cache:
        return ctx.cache["noisier_target"]
    found = None
    pair = denoiser_pair(ctx)
    try:
        x, t = (np.asarray(a, dtype=np.float64) for a in pair) if pair is not None else (None, None)
    except (TypeError, ValueError):  # values that are not numbers: other checks say so
        x = t = None
    if x is not None and t is not None and x.ndim >= 3 and x.shape[1] >= 8:
        r = t - x
        rx, rt, rr = roughness(x), roughness(t), roughness(r)
        share = float(r.var() / t.var()) if t.var() > 0 else 0.0
        if rt >= ROUGHER * max(rx, 1e-6) and rr >= WHITE and share >= NOISE_SHARE:
            found = {"input_roughness": rx, "target_roughness": rt, "residual_roughness": rr,
                     "residual_share_of_target_variance": share}
    ctx.cache["noisier_target"] = found
    return found


def check_swapped_pair(ctx: Context) -> list[Finding]:
    """AE405: the target is the noisy array and the input the clean one."""
    m = noisier_target(ctx)
    if m is None:
        return []
    name, tname = ctx.data_name or "the input", ctx.target_name or "the target"
    line, text = assigned_at(ctx, ctx.target_name)
    if line is None:
        line, text = assigned_at(ctx, ctx.data_name)
    axis = "pixel" if ctx.data is not None and ctx.data.ndim >= 4 else "time step"
    return [Finding(
        code="AE405", severity="warning", title="The target is the noisy array: input and target look swapped",
        message=(f"{tname} (the target) is much noisier than {name} (the input): its values change "
                 f"{m['target_roughness'] / max(m['input_roughness'], 1e-6):.1f}x as much from one {axis} to the next, "
                 "and what it adds to the input is independent noise (no likeness between neighbours), "
                 f"{m['residual_share_of_target_variance']:.0%} of its variance. The model is asked to predict that "
                 "noise from the input, which no model can: it can get little below the error of predicting the "
                 "mean. A denoiser learns the other way round, from the noisy input to the clean target."),
        line=line, source_line=text, evidence=m,
        fix=(f"# the noisy array is the input, the clean one the target:\n"
             f"model.fit({ctx.target_name or 'x_noisy'}, {ctx.data_name or 'x_clean'}, ...)  "
             "# or fix the unpacking of the helper that made them"),
    )]


CHECKS = [check_swapped_pair]
