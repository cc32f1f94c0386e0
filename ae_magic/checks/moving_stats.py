"""Will an input BatchNormalization's moving statistics reach the data's within a fit?

AE201 (data-not-normalized), from the data and the layer's settings. A
``BatchNormalization`` put first to "scale the raw data" normalises each
training batch with the batch's own statistics, so the training loss looks
fine. At inference (``predict``, ``evaluate``, the validation loss) it uses
its moving statistics instead, which start at mean 0 and variance 1 and move
``1 - momentum`` of the way to the batch's at each step. On raw sensor units
(means in the hundreds, standard deviations of a few units) they need
thousands of steps to arrive, more with a momentum copied from TF1's
``decay=0.999`` (round 40's s10: the training loss fell from 952 to 48 while
``predict`` was 88x the mean's error). Until then the layers after it see
inputs hundreds of standard deviations off.

The steps are worked out per channel from the layer's current moving
statistics (a model already trained has them near the data's and is
silent) and the data's own: the mean must come within half a standard
deviation and the variance within a factor of four. The check speaks when
that takes longer than a 20-epoch fit at batch size 32 (and at least
MIN_STEPS). Nothing runs the model.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import keras_compat as kc
from ..context import Context
from ..report import Finding
from . import gradients as G
from .preprocess import normaliser_input

# A fit the user is likely to run: 20 epochs at Keras' default batch size; never fewer than MIN_STEPS.
EPOCHS, BATCH, MIN_STEPS = 20, 32, 1000
MEAN_WITHIN = 0.5  # standard deviations
VAR_FACTOR = 4.0


def steps_to_settle(moving_mean: np.ndarray, moving_var: np.ndarray, mean: np.ndarray, var: np.ndarray,
                    momentum: float) -> tuple[float, int]:
    """``(steps, channel)``: how many updates at ``momentum`` the moving statistics need to come within
    MEAN_WITHIN standard deviations of ``mean`` and a factor VAR_FACTOR of ``var``, for the slowest channel."""
    if not 0.0 < momentum < 1.0:
        return 0.0, 0
    log_m = math.log(momentum)
    worst, where = 0.0, 0
    for c in range(len(mean)):
        v = float(var[c])
        if v <= 1e-12:
            continue  # a constant channel: the layer's epsilon decides, not the moving variance
        s = math.sqrt(v)
        need = 0.0
        off = abs(float(moving_mean[c]) - float(mean[c]))
        if off > MEAN_WITHIN * s:
            need = max(need, math.log(MEAN_WITHIN * s / off) / log_m)
        gap = float(moving_var[c]) - v
        allowed = (VAR_FACTOR - 1.0) * v if gap > 0 else (1.0 - 1.0 / VAR_FACTOR) * v
        if abs(gap) > allowed:
            need = max(need, math.log(allowed / abs(gap)) / log_m)
        if need > worst:
            worst, where = need, c
    return worst, where


def _channel_stats(values: np.ndarray, axis: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """Per-channel mean and variance of ``values`` (samples first) over every axis but the layer's."""
    ax = axis[0] if isinstance(axis, (list, tuple)) and len(axis) == 1 else axis
    if not isinstance(ax, int) or values.ndim < 2:
        return None
    ax = ax % values.ndim
    if ax == 0:
        return None
    moved = np.moveaxis(values, ax, -1).reshape(-1, values.shape[ax])
    return moved.mean(axis=0), moved.var(axis=0)


def check_moving_statistics(ctx: Context) -> list[Finding]:
    """AE201: a BatchNormalization on the raw input whose moving statistics lag the data's for a whole fit."""
    d = ctx.data
    if not isinstance(d, np.ndarray) or ctx.model is None or d.dtype.kind not in "fiu" or d.ndim < 2 or len(d) == 0:
        return []
    try:
        rows = d[np.linspace(0, len(d) - 1, min(len(d), 2000)).astype(np.int64)].astype(np.float64)
        found = normaliser_input(ctx, rows)
        if found is None:
            return []
        layer, values = found
        if type(layer).__name__ != "BatchNormalization":
            return []
        stats = _channel_stats(values, getattr(layer, "axis", -1))
        momentum = float(getattr(layer, "momentum", 0.99))
        mm = np.asarray(kc.to_numpy(layer.moving_mean), dtype=np.float64).ravel()
        mv = np.asarray(kc.to_numpy(layer.moving_variance), dtype=np.float64).ravel()
    except Exception:  # a layer or array we can't read: say nothing rather than guess
        return []
    if stats is None or len(stats[0]) != len(mm) or len(mm) != len(mv):
        return []
    mean, var = stats
    steps, c = steps_to_settle(mm, mv, mean, var, momentum)
    per_epoch = math.ceil(len(d) / BATCH)
    budget = max(EPOCHS * per_epoch, MIN_STEPS)
    if not np.isfinite(steps) or steps <= budget:
        return []
    std = np.sqrt(np.maximum(var, 1e-12))
    off_sd = float(np.max(np.abs(mm - mean) / std))
    line, text = G.locate(ctx, layer.name)
    var_name = ctx.data_name or "x"
    return [Finding(
        code="AE201", severity="warning", title="An input BatchNormalization's moving statistics lag the data",
        message=(f"`{layer.name}` (BatchNormalization, momentum={momentum:g}) normalises the raw input. In training it "
                 "uses each batch's own statistics, so the training loss looks fine; at inference (predict, evaluate, "
                 "the validation loss) it uses its moving statistics, which move only "
                 f"{1 - momentum:.2g} of the way to the data's each step. The data's channel means reach "
                 f"{float(np.max(np.abs(mean))):.4g} with standard deviations down to {float(np.min(std[std > 1e-6])):.3g}: "
                 f"the moving statistics now sit up to {off_sd:.3g} standard deviations off, and need about "
                 f"{int(steps)} steps to come within half of one (channel {c}), about {math.ceil(steps / per_epoch)} "
                 f"epochs of {var_name} at batch size {BATCH}. Until then the layers after it see inputs far outside "
                 "what they were trained on."),
        line=line, source_line=text, layer=layer.name,
        evidence={"momentum": momentum, "steps_to_settle": int(steps), "steps_per_epoch_at_32": per_epoch,
                  "slowest_channel": int(c), "max_offset_in_std": off_sd},
        fix=(f"# scale the data before training (keep mean/std to undo it), or adapt a Normalization layer on it:\n"
             f"norm = layers.Normalization()\nnorm.adapt({var_name})  # use norm in place of the BatchNormalization"),
    )]


CHECKS = [check_moving_statistics]
