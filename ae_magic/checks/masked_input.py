"""Does the denoiser's (or inpainter's) input keep what its target holds?

AE205 (data-degenerate). An inpainting set-up multiplies the images by a
mask; a mask in ``cv2.inpaint``'s convention (1 marks the pixel to fill in)
multiplied straight in keeps *only* the hole and blanks the rest, so the
model must reconstruct whole images from a small patch (round 22: 0.64x the
mean's error against 0.26x with ``x * (1 - mask)``).

The signature, from the data alone: the input is exactly 0 at most of the
positions where the target is not. A denoiser with masking noise (some
share of pixels zeroed) or an inpainter with holes keeps most of them. A
plain autoencoder (the target is the input) is not judged.
"""

from __future__ import annotations

import numpy as np

from ..context import Context
from ..report import Finding
from .clipped_input import denoiser_pair
from .locate import assigned_at
from .swapped_pair import noisier_target

# The input is exactly 0 at at least this share of the positions where the target is not (masking noise and
# inpainting holes blank half or less; a mask applied the wrong way round blanks everything but the hole).
BLANKED = 0.65


def check_blanked_input(ctx: Context) -> list[Finding]:
    """AE205: the input is zero at most of the positions where the target holds something."""
    pair = denoiser_pair(ctx)
    if pair is None or noisier_target(ctx) is not None:
        return []  # a target that is the noisy array holds its noise where the clean input is 0 (swapped_pair.py)
    x, t = pair
    held = t != 0
    if held.sum() == 0:
        return []
    blanked = float(np.mean(x[held] == 0))
    if blanked < BLANKED:
        return []
    name, tname = ctx.data_name or "the input", ctx.target_name or "the target"
    line, text = assigned_at(ctx, ctx.data_name)
    return [
        Finding(
            code="AE205",
            severity="warning",
            title="The input blanks out most of what the target holds",
            message=(f"{name} is exactly 0 at {blanked:.0%} of the positions where {tname} is not: the model has to "
                     f"reconstruct {tname} from the {1 - blanked:.0%} that is left. A mask applied the wrong way round "
                     "(1 marking the hole, as cv2.inpaint's masks do, multiplied straight in) keeps only the hole."),
            line=line,
            source_line=text,
            evidence={"blanked_share": blanked, "threshold": BLANKED},
            fix=f"# keep the image and blank the hole: {name} = {tname} * (1 - mask)",
        )
    ]


CHECKS = [check_blanked_input]
