"""Was a table scaled per row (``axis=1``) instead of per column?

AE201 (data-not-normalized). A hand-written min-max or standard scaler
with ``axis=1`` scales every *sample* by its own statistics. On a table
whose columns live on different scales (a transaction's time in seconds
next to PCA components and an amount) one column is every row's largest
value, so it becomes 1 (or the row's top z-score) in nearly every row and
the others are squeezed into a sliver near 0: the samples become nearly
identical and the autoencoder learns their mean (round 26: MAE 0.0004 that
looks excellent, at 1.008x the mean's error).

From the data alone: a 2-D table in which nearly every row has min 0 and
max 1 (or mean 0 and std 1) exactly, while one column holds the row's
extreme in nearly every row and the typical column barely varies. Rows
scaled on their own are legitimate for homogeneous signals (a spectrum per
row), where the extreme moves between columns; that stays silent.
Named at the line with ``axis=1`` that computed the statistics, else at the
line that made the data.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from ..context import Context
from ..report import Finding
from .locate import assigned_at

ROW_SHARE = 0.99  # rows that must carry the per-row normalisation exactly
SAME_COLUMN = 0.9  # rows whose extreme sits in one column
FLAT_MINMAX = 0.05  # median column std below which the min-max columns are squeezed
FLAT_ZSCORE = 0.1  # the same for per-row z-scores
_ROWS = 2000
MIN_STEPS = 8  # windows shorter than this have no autocorrelation to read
DISCRETE_VALUES = 16  # data with this few distinct values is categorical, not a scaled signal
NOISE_AUTOCORR = 0.3  # median lag-1 autocorrelation below which a scaled window is mostly noise
# Windows scaled one by one whose values, step by step, vary across windows by less than this share of their
# spread within a window: the same curve in every window (round 43's ae06: daily load curves that differed
# only in level and size, z-scored per day, keep 0.10 of it).
ALIKE_SPREAD = 0.15


def _per_row(x: np.ndarray) -> tuple[str, np.ndarray] | None:
    """``("min-max" | "z-score", column of each row's extreme)`` when every row is normalised on its own."""
    lo, hi = x.min(axis=1), x.max(axis=1)
    if float(np.mean(np.isclose(lo, 0.0, atol=1e-6) & np.isclose(hi, 1.0, atol=1e-5))) >= ROW_SHARE:
        return "min-max", np.argmax(x, axis=1)
    m, s = x.mean(axis=1), x.std(axis=1)
    if float(np.mean((np.abs(m) < 1e-3) & (np.abs(s - 1.0) < 0.06))) >= ROW_SHARE:
        return "z-score", np.argmax(np.abs(x), axis=1)
    # Rows of unit length: sklearn's ``normalize`` (L2 by default, or L1/max), ``keras.utils.normalize``.
    for kind, size in (("unit-norm", np.sqrt(np.sum(x * x, axis=1))), ("unit-sum", np.sum(np.abs(x), axis=1))):
        if float(np.mean(np.isclose(size, 1.0, atol=1e-4))) >= ROW_SHARE:
            return kind, np.argmax(np.abs(x), axis=1)
    return None


def _float_sample(data: Any, ndim: int, min_axis1: int) -> np.ndarray | None:
    """The first _ROWS samples of a finite float array of ``ndim`` dimensions (at least 20 samples and
    ``min_axis1`` along axis 1) as float64, else None."""
    if not isinstance(data, np.ndarray) or data.ndim != ndim or data.shape[1] < min_axis1 or len(data) < 20:
        return None
    if not np.issubdtype(data.dtype, np.floating):
        return None
    x = np.asarray(data[:_ROWS], dtype=np.float64)
    return x if np.all(np.isfinite(x)) else None


def scaled_per_row(data: Any) -> dict[str, Any] | None:
    """The evidence when ``data`` is a table scaled per row with one dominant column, else None."""
    x = _float_sample(data, 2, 4)
    if x is None:
        return None
    found = _per_row(x)
    if found is None:
        return None
    kind, extreme = found
    column = int(np.bincount(extreme, minlength=x.shape[1]).argmax())
    share = float(np.mean(extreme == column))
    rest = np.delete(x, column, axis=1).std(axis=0)
    typical = float(np.median(rest))
    if share < SAME_COLUMN or typical >= (FLAT_ZSCORE if kind == "z-score" else FLAT_MINMAX):
        return None
    return {"per_row": kind, "dominant_column": column, "dominant_share": share,
            "median_feature_std": typical, "rows_checked": len(x)}


def scaled_per_window(data: Any) -> dict[str, Any] | None:
    """The evidence when every window of a sequence array ``(N, T, C)`` was standardised or min-max scaled over
    its own time steps and what is left is mostly noise, or one curve that every window repeats, else None.

    Round 31: compressor sensors that jump between operating levels, windowed and z-scored with ``axis=1``.
    Within a stable window only the measurement noise varies, so each scaled window is unit-variance noise:
    the level that told windows apart is gone, and the model ends near the mean's error. A smooth signal scaled
    per window (a sine's shape, an ECG beat) keeps a lag-1 autocorrelation near 1 and stays silent.
    """
    x = _float_sample(data, 3, MIN_STEPS)
    if x is None or len(np.unique(x[:200])) <= DISCRETE_VALUES:
        # One-hot or token sequences (round 28's o08): each channel of a window is 0 and 1 by construction.
        return None
    series = np.moveaxis(x, 1, 2).reshape(-1, x.shape[1])  # one row per (window, channel)
    found = _per_row(series)
    if found is None:
        return None
    z = series - series.mean(axis=1, keepdims=True)
    var = np.sum(z * z, axis=1)
    ok = var > 0
    lag1 = np.sum(z[:, 1:] * z[:, :-1], axis=1)[ok] / var[ok]
    r1 = float(np.median(lag1)) if lag1.size else 1.0
    out = {"per_window": found[0], "median_lag1_autocorrelation": r1, "steps": int(x.shape[1]),
           "windows_checked": len(x)}
    if r1 < NOISE_AUTOCORR:
        return out
    # A smooth curve is left: the windows may still differ in shape (an ECG beat each, a sine of its own
    # frequency), or be one curve repeated once level and size are divided away.
    within = float(np.median(np.sqrt(var / series.shape[1])))
    across = float(np.median(x.std(axis=0)))
    if within > 0 and across < ALIKE_SPREAD * within:
        return {**out, "spread_across_windows": across, "spread_within_window": within}
    return None


def _axis_line(ctx: Context) -> tuple[int | None, str | None]:
    """The first code line before the data's own that computes a statistic along ``axis=1``."""
    pattern = re.compile(r"\b(min|max|mean|std|amin|amax|ptp|norm)\(.*axis\s*=\s*(1|-1)\b")
    # sklearn's and Keras' normalize() scale each row unless told axis=0.
    rows = re.compile(r"\b(normalize|l2_normalize)\((?!.*axis\s*=\s*0\b)")
    data_line = ctx.assign_lines.get(ctx.data_name) if ctx.data_name else None
    for i, text in enumerate((ctx.source or "").splitlines(), start=1):
        if data_line is not None and i > data_line:
            break
        code = text.split("#", 1)[0]
        if pattern.search(code) or rows.search(code):
            return ctx.cell_line(i), text.strip()
    return None, None


def check_row_scaled(ctx: Context) -> list[Finding]:
    """AE201: a table whose rows, not columns, were min-max scaled or standardised (or windows, over time)."""
    found = scaled_per_row(ctx.data)
    if found is None:
        return _per_window(ctx)
    line, text = _axis_line(ctx)
    if line is None:
        line, text = assigned_at(ctx, ctx.data_name)
    var = ctx.data_name or "x"
    unit = found["per_row"] in ("unit-norm", "unit-sum")
    if unit and text is not None and re.search(r"\bnormalize\(", text):
        fix = ("# normalize() scales each row (sample) to unit length; scale each feature (column) instead:\n"
               "# from sklearn.preprocessing import StandardScaler; x = StandardScaler().fit_transform(raw)")
    elif text is not None and re.search(r"axis\s*=\s*(1|-1)\b", text):
        fix = re.sub(r"axis\s*=\s*(1|-1)\b", "axis=0", text) + "  # per feature; the same in every statistic"
    else:
        fix = "# compute the scaling statistics per feature (column), on the raw training rows: axis=0"
    what = {"min-max": "min 0 and max 1", "z-score": "mean 0 and std 1", "unit-norm": "length (L2 norm) 1",
            "unit-sum": "absolute values summing to 1"}[found["per_row"]]
    col = found["dominant_column"]
    return [
        Finding(
            code="AE201",
            severity="warning",
            title="The data was scaled per row, not per column",
            message=(f"Every row of `{var}` has {what}: each sample was scaled by its own "
                     f"{'length' if unit else 'statistics'} (axis=1), not each feature. Column {col} holds the row's "
                     f"extreme in {found['dominant_share']:.0%} of the rows, so it sets every row's scale, and the "
                     "other features are squeezed to a spread of "
                     f"{found['median_feature_std']:.2g} (median std): the samples are nearly identical, the loss is "
                     "tiny from the start and the model learns their mean."),
            line=line,
            source_line=text,
            evidence=found,
            fix=fix,
        )
    ]


def _per_window(ctx: Context) -> list[Finding]:
    """AE201 for sequence windows scaled over their own time steps into noise, AE205 into one curve that every
    window repeats (:func:`scaled_per_window`)."""
    found = scaled_per_window(ctx.data)
    if found is None:
        return []
    line, text = _axis_line(ctx)
    if line is None:
        line, text = assigned_at(ctx, ctx.data_name)
    var = ctx.data_name or "x"
    if text is not None and re.search(r"axis\s*=\s*(1|-1)\b", text):
        fix = (re.sub(r"axis\s*=\s*(1|-1)\b", "axis=(0, 1)", text)
               + "  # per channel, over every window and step; the same in every statistic")
    else:
        fix = "# compute the scaling statistics per channel over all windows and steps (axis=(0, 1)), on the training set"
    what = "min 0 and max 1" if found["per_window"] == "min-max" else "mean 0 and std 1"
    alike = "spread_across_windows" in found
    return [
        Finding(
            # One curve in every window is data that is nearly constant across samples (AE205); noise left by
            # the scaling is a scale fault of the data (AE201).
            code="AE205" if alike else "AE201",
            severity="warning",
            title="Each window was scaled by its own statistics" + (": every window is the same curve" if alike else ""),
            message=(f"In every window of `{var}`, each channel has {what} over its {found['steps']} steps: the windows "
                     "were scaled one by one over time (axis=1), not each channel over the whole set. "
                     + (f"What is left is the same curve in every window: step by step, the values vary across windows "
                        f"by {found['spread_across_windows']:.2g} (median std), against {found['spread_within_window']:.2g} "
                        "within one. The level and size that told the windows apart were divided away, so the per-step "
                        "mean already reconstructs them: the model learns that one curve, and a reconstruction error "
                        "can no longer tell an unusual window from a usual one."
                        if "spread_across_windows" in found else
                        "What is left is mostly noise: the median lag-1 autocorrelation of a window's channel is "
                        f"{found['median_lag1_autocorrelation']:.2f} (a signal that varies smoothly within a window "
                        "measures near 1). The level that told the windows apart was divided away, and no code "
                        "compresses noise: expect little better than the per-feature mean's error.")),
            line=line,
            source_line=text,
            evidence=found,
            fix=fix,
        )
    ]


CHECKS = [check_row_scaled]
