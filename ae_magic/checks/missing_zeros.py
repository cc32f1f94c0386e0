"""AE205: zeros that stand for missing entries (a rating matrix), trained on with a loss that counts them.

A recommender autoencoder (AutoRec) reads a user-by-item matrix of 1-5 star ratings with 0 where nothing was
rated, mostly zeros. Trained with plain MSE, every 0 is a target: the model learns to predict 0 for unrated
entries, and the ratings it is for are a sideline (round 48's ay10: 94% zeros; on the rated entries the MSE
ended 4.1x the per-item mean's, while the whole-matrix MSE looked fine). The masked loss of the AutoRec paper
counts the observed entries only.

Told by the values alone: most are exactly 0, the others are positive, take a few levels of a scale (3 to 10,
whole or half steps: continuous intensities on a 0 background are an image), start well away
from 0 (the lowest at least a tenth of the highest) and sit far above it (0 lies at least MISSING_GAP standard
deviations below their mean), and the most common of them is not the lowest. Counts (a bag of words:
mostly 1s, fewer 2s) and scaled images (non-zero pixels from near 0 upward) fail that; binary data has one
non-zero value. Only a Keras regression loss on every entry is reported: a hand-written loss or an own
train_step may mask the zeros (ay06 did, and is healthy).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import keras_compat as kc
from ..context import Context
from ..report import Finding
from .locate import loss_line

# The share of exact zeros, and how far below the non-zero values' mean 0 lies (in their standard deviations).
MISSING_SHARE = 0.5
MISSING_GAP = 2.5
# The lowest non-zero value is at least this share of the highest (a scale that starts away from 0: 1-5 stars).
MISSING_FLOOR = 0.1
REGRESSION = ("mse", "mae", "huber")
# A rating scale: at most this many levels (half stars from 0.5 to 5 are ten), each a whole or half step.
MAX_LEVELS = 10


def zeros_as_missing(ctx: Context, sample: np.ndarray, zero: float) -> Finding | None:
    """AE205 when ``sample`` (rows of the data) looks like a rating matrix with 0 for missing entries and the
    compiled loss counts every entry; None otherwise."""
    model = ctx.model
    if zero < MISSING_SHARE or model is None or not kc.is_compiled(model):
        return None
    if kc.canonical_loss(model) not in REGRESSION or _own_step(model):
        return None
    if ctx.target is not None and ctx.target is not ctx.data:
        return None  # (a separate target: what it holds for the missing entries is the user's choice)
    nz = sample[sample != 0].astype(np.float64)
    if nz.size < 20 or float(nz.min()) <= 0:
        return None
    lo, hi, mean, std = float(nz.min()), float(nz.max()), float(nz.mean()), float(nz.std())
    values, counts = np.unique(nz, return_counts=True)
    if not 3 <= len(values) <= MAX_LEVELS or lo < MISSING_FLOOR * hi or std <= 0 or mean / std < MISSING_GAP:
        return None
    if not np.allclose(values * 2, np.round(values * 2)):
        return None  # not a scale of whole or half steps (an image's intensities on a 0 background: round 48's aw07)
    if values[int(np.argmax(counts))] == lo:
        return None  # the most common non-zero value is the lowest: counts of events (0, then mostly 1s), not a scale
    line, text = loss_line(ctx)
    loss = kc.loss_name(model)
    return Finding(
        code="AE205", severity="warning", title="Zeros that look like missing entries are trained as values",
        message=(f"{zero:.1%} of the values in `{ctx.data_name or 'the data'}` are exactly 0, while the others lie in "
                 f"[{lo:.3g}, {hi:.3g}] (mean {mean:.3g}, std {std:.3g}): 0 sits {mean / std:.1f} standard deviations "
                 "below every observed value, as in a rating matrix with 0 for 'not rated'. Under "
                 f"{loss}, every 0 is a target: the model learns to predict 0 for the missing entries, and the real "
                 "values become a sideline (its error on them can end worse than each column's mean while the "
                 "whole-matrix loss looks fine). Count only the observed entries in the loss."),
        line=line, source_line=text,
        evidence={"zero_share": zero, "nonzero_min": lo, "nonzero_max": hi, "nonzero_mean": mean, "nonzero_std": std,
                  "gap_in_stds": mean / std, "loss": loss},
        fix=("def masked_mse(y_true, y_pred):\n"
             "    observed = ops.cast(ops.not_equal(y_true, 0), y_pred.dtype)  # 0 = not rated\n"
             "    return ops.sum(observed * ops.square(y_true - y_pred), axis=-1) / ops.maximum(ops.sum(observed, axis=-1), 1.0)\n"
             "\nmodel.compile(optimizer='adam', loss=masked_mse)"),
    )


def _own_step(model: Any) -> bool:
    from ..probes.updates import own_step_name

    try:
        return bool(own_step_name(model))
    except Exception:
        return False
