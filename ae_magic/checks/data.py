"""AE201-AE205: data checks (need the data the model will train on).

Exact passes (min, max, a finiteness test via the sum) cover the whole array;
spread statistics use an evenly spaced sample of rows so 60,000 x 784 float32
stays well under the 200 ms budget.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import keras_compat as kc
from ..context import Context
from ..numeric import unit_divisor
from ..report import Finding
from .categorical import categorical_reconstruction, class_index_targets, ids_for_classes, index_input
from .foreign_scaling import foreign_statistic
from .head_ranges import check_head_ranges, head_blocks, negligible_excursion
from .inplace import changed_in_place
from .locate import (
    assigned_at,
    data_made_at,
    data_origin,
    discarded_scaling,
    ignored_argument,
    loss_line,
    unapplied_scaler,
    unscaled_cast,
    unscaled_return,
    whole_array_statistic,
)
from .loss_args import handwritten_bce
from .missing_zeros import zeros_as_missing
from .nonfinite_source import fit_feeding, nan_masking_loss, nonfinite_source, undefined_input
from .partial_scaling import partial_scaling
from .preprocess import input_as_seen

SAMPLE_ROWS = 2048
# AE201: |values| beyond this (at the 99.9th percentile) or a per-feature std
# beyond it means the scale is far from unit (UMLAUT flags inputs outside
# [-1, 1]; that over-fires on standardised data, so we allow a wide margin).
SCALE_LIMIT = 20.0
# ...and the other way: |values| at the 99.9th percentile below TINY_LIMIT
# leave activations, outputs and the loss near zero from the first step
# (a loss of 1e-11 that Adam's epsilon swamps). When the largest values are
# OUTLIER_RATIO times that, a few outliers set the scale: data divided by
# its max while it held a missing-value code (999999, -9999).
TINY_LIMIT = 1e-3
# ...or below SMALL_LIMIT with every feature's own std under SMALL_STD: a min-max scaler fitted on a range that
# held far larger values elsewhere (a later incident's spikes) squashes the training rows into a sliver near 0
# (round 50's be07: [0, 0.008], stds 1e-4..1.2e-3; the ReLU units died in the cell's own fit).
SMALL_LIMIT, SMALL_STD = 1e-2, 2.5e-3
# ...and features whose standard deviations lie this far apart (the largest against the median):
# the squared error is the largest features' alone (round 16; pixels and per-column scaled data: < 50).
MIXED_SCALES = 1000.0
OUTLIER_RATIO = 1000.0
# AE205: share of exact zeros above which an all-zero output already scores
# well (MNIST has ~81% zeros and trains fine, so the bar sits above that).
ZERO_SHARE = 0.95
CONSTANT_STD = 1e-6


class _Stats:
    """Whole-array min/max (which also prove finiteness: NaN and Inf propagate
    into them) and an evenly spaced float32 sample of rows, computed once."""

    def __init__(self, arr: np.ndarray) -> None:
        if arr.size == 0:
            # No values (no samples, or samples without features): nothing is
            # non-finite and there is no range; AE204 reports the emptiness.
            self.lo = self.hi = float("nan")
            self.finite = True
            self.sample = np.zeros((0, 0), dtype=np.float32)
            return
        self.lo = float(arr.min())
        self.hi = float(arr.max())
        self.finite = bool(np.isfinite(self.lo) and np.isfinite(self.hi))
        if not self.finite and arr.dtype.kind == "f":
            ok = arr[np.isfinite(arr)]
            self.lo, self.hi = (float(ok.min()), float(ok.max())) if ok.size else (float("nan"), float("nan"))
        s = _sample(arr).reshape(min(len(arr), SAMPLE_ROWS), -1)
        s = s.astype(np.float32, copy=False) if s.dtype.kind != "f" or s.dtype.itemsize < 4 else s
        if not self.finite:
            s = s[np.isfinite(s).all(axis=1)]
        self.sample = s


def _stats(ctx: Context, target: bool = False) -> _Stats:
    arr = ctx.target if target else ctx.data
    key = f"data_stats_{id(arr)}"
    if key not in ctx.cache:
        ctx.cache[key] = _Stats(arr)
    return ctx.cache[key]


def _numeric(arr: np.ndarray) -> bool:
    return arr.dtype.kind in "fiub"


def _sample(arr: np.ndarray) -> np.ndarray:
    if len(arr) <= SAMPLE_ROWS:
        return arr
    idx = np.linspace(0, len(arr) - 1, SAMPLE_ROWS).astype(np.int64)
    return arr[idx]


def _name(ctx: Context, target: bool = False) -> str:
    n = ctx.target_name if target else ctx.data_name
    return f"`{n}`" if n else ("the target" if target else "the data")


def _Name(ctx: Context, target: bool = False) -> str:
    n = _name(ctx, target)
    return n[0].upper() + n[1:]


def check_data_shape(ctx: Context) -> list[Finding]:
    """AE204: the data's shape or dtype does not fit the model's input."""
    d = ctx.data
    if d is None:
        return []
    if not _numeric(d):
        return [
            Finding(
                code="AE204", severity="error", title="The data is not numeric",
                message=f"{_Name(ctx)} has dtype {d.dtype}; a Keras model needs numbers (float32).",
                evidence={"dtype": str(d.dtype), "shape": list(d.shape)},
                fix=f"{ctx.data_name or 'x'} = np.asarray({ctx.data_name or 'x'}, dtype='float32')  # once the values are numbers",
            )
        ]
    if d.ndim == 0 or d.size == 0:
        what = "samples" if d.ndim == 0 or len(d) == 0 else "values (its samples have no features)"
        return [Finding(code="AE204", severity="error", title="The data is empty",
                        message=f"{_Name(ctx)} has shape {d.shape}: there are no {what} to train on.",
                        evidence={"shape": list(d.shape)}, fix="Pass the training array, shaped (n_samples, ...).")]
    m = ctx.model
    if m is None:
        return []
    shape = kc.safe_input_shape(m)
    if shape is None:
        return []
    want = list(shape[1:])
    have = list(d.shape[1:])
    if len(want) == len(have) and all(w is None or w == h for w, h in zip(want, have, strict=True)):
        return []
    try:
        others = [list(t.shape[1:]) for t in m.inputs[1:]]
    except Exception:  # inputs that can't be listed: judge the first, as before
        others = []
    if any(len(w) == len(have) and all(a is None or a == b for a, b in zip(w, have, strict=True)) for w in others):
        # A model with several inputs (round 59's cf02, a dict of a spectrum and a label): the data is fed to
        # another of them than the first; the probes pack the fit's arrays (probes/packed.py).
        return []
    n = ctx.data_name or "x"
    want_t = tuple(w if w is not None else -1 for w in want)
    if int(np.prod(have or [1])) == int(np.prod([w for w in want if w is not None] or [1])) and None not in want:
        fix = f"{n} = {n}.reshape(-1, {', '.join(str(w) for w in want_t)})"
    elif have == [w for w in want[:-1]] and want[-1] == 1:
        fix = f"{n} = {n}[..., None]  # add the channel axis"
    else:
        fix = f"Make the model's Input shape {tuple(have)} (keras.Input(shape={tuple(have)})) or reshape {n} to {tuple(want)}."
    return [
        Finding(
            code="AE204", severity="error", title="The data's shape does not fit the model's input",
            message=(f"{_Name(ctx)} has samples of shape {tuple(have)} (array {tuple(d.shape)}), but `{ctx.model_name}` "
                     f"expects {tuple(want)}: fit() would fail."),
            evidence={"data_shape": list(d.shape), "model_input": want},
            fix=fix,
        )
    ]


def check_nonfinite(ctx: Context) -> list[Finding]:
    """AE202: NaN or Inf values in the data or target."""
    findings: list[Finding] = []
    for is_target, arr in ((False, ctx.data), (True, ctx.target)):
        if arr is None or not _numeric(arr) or arr.dtype.kind != "f":
            continue
        if is_target and arr is ctx.data:
            continue
        if _stats(ctx, is_target).finite:
            continue
        bad = ~np.isfinite(arr)
        n_nan = int(np.isnan(arr).sum())
        n_inf = int(bad.sum()) - n_nan
        if n_nan + n_inf == 0:
            continue
        rows = np.unique(np.nonzero(bad.reshape(len(arr), -1))[0])
        var = (ctx.target_name if is_target else ctx.data_name) or "x"
        f = Finding(
            code="AE202", severity="error", title="NaN or Inf values in the data",
            message=(f"{_Name(ctx, is_target)} holds {n_nan} NaN and {n_inf} Inf values in {len(rows)} of {len(arr)} samples "
                     f"(first rows: {', '.join(map(str, rows[:5].tolist()))}). One NaN makes the loss NaN "
                     "and ruins the weights on the first step."),
            evidence={"nan": n_nan, "inf": n_inf, "rows_affected": len(rows), "first_rows": rows[:10].tolist()},
            fix=(f"{var} = np.nan_to_num({var}, nan=0.0, posinf=0.0, neginf=0.0)  # or drop the rows:\n"
                 f"{var} = {var}[np.isfinite({var}).reshape(len({var}), -1).all(axis=1)]"),
        )
        if not _masked_target_fed(ctx, f, is_target, n_inf, var):
            _name_source(ctx, f, bad, var)
        findings.append(f)
    return findings


def _masked_target_fed(ctx: Context, f: Finding, is_target: bool, n_inf: int, var: str) -> bool:
    """Point AE202 at the fit that feeds the missing values to the model when its loss skips them in the target
    (a masked loss for imputation, round 77's dq03): the target may keep its NaNs, the input may not. True when
    it did."""
    if is_target or n_inf or (ctx.target is not None and ctx.target is not ctx.data):
        return False
    loss = nan_masking_loss(ctx)
    fed = fit_feeding(ctx, var) if loss else None
    if fed is None:
        return False
    line, _text, fixed = fed
    f.line, f.source_line = ctx.cell_line(line), ctx.line_text(line)
    f.evidence["masked_loss"] = loss
    f.message = f.message.replace(
        " One NaN makes the loss NaN and ruins the weights on the first step.",
        f" The loss `{loss}` skips them in the target, but line {f.line} feeds the same array to the model as its "
        "input: a NaN input makes the first layer's output NaN, and its weights with it on the first step, so every "
        "reconstruction after that is the same.")
    f.fix, f.edit = f"{fixed}  # the missing values zero-filled in the input; the target keeps them for the mask", None
    return True


# A feature non-finite in at least this share of the samples: made so by a transform, not missing values.
WHOLE_FEATURE = 0.5


def _name_source(ctx: Context, f: Finding, bad: np.ndarray, var: str) -> None:
    """Point AE202 at the transform that made the values (round 46: ``np.log`` of a column with zeros, then
    standardised: -inf, then NaN in every row) when Inf is present or a feature is non-finite in most samples."""
    per_feature = bad.reshape(len(bad), -1).mean(axis=0)
    line, text, fn = nonfinite_source(ctx, var)
    if line is None:
        return
    if not (f.evidence["inf"] or (per_feature.size and float(per_feature.max()) >= WHOLE_FEATURE)
            or undefined_input(ctx, line - ctx.options.line_offset, fn)):
        return  # scattered NaNs: missing values in the data itself, not a transform's doing
    whole = int(np.count_nonzero(per_feature >= WHOLE_FEATURE))
    f.message += (f" {whole} of the {per_feature.size} values of a sample are non-finite in most samples, the mark of a "
                  f"transform (or of a standardisation that spread one NaN over its column): `{fn}` at line {line}, on "
                  "the data's path, is undefined for zeros or negative values "
                  "(log(0) is -inf, and a standardisation after it turns the column into NaN)." if whole else
                  f" The Inf values most likely come from `{fn}` at line {line}, on the data's path: it is undefined "
                  "for zeros or negative values (log(0) is -inf).")
    f.line, f.source_line = line, text
    f.evidence["source"] = {"line": line, "function": fn, "features_nonfinite": whole}
    if fn in ("log", "log2", "log10"):
        f.fix = (f"# {fn} of a column that holds zeros: shift it, e.g. np.log1p(x) (log(1 + x)), "
                 "or np.log(x + small) with small near the column's smallest positive value\n" + (f.fix or ""))


def check_scale(ctx: Context) -> list[Finding]:
    """AE201: the input's scale is far from unit (0-255 pixels, std in the hundreds)."""
    d = ctx.data
    if d is None or not _numeric(d) or d.size == 0 or index_input(ctx):
        return []  # token ids feeding an Embedding are indices, not a signal to scale
    st = _stats(ctx)
    lo, hi, s = st.lo, st.hi, st.sample
    if s.size == 0:
        return []
    # The scale the first weighted layer sees: the model may rescale the data itself (Rescaling, Normalization).
    rows = s.reshape((len(s), *d.shape[1:])) if s.size == len(s) * int(np.prod(d.shape[1:])) else s
    seen, by = input_as_seen(ctx, rows)  # (in the data's own shape: a Normalization's mean broadcasts over its axis)
    if seen is None:
        return []  # a BatchNormalization (or kin) first brings any scale to unit
    if by is not None:
        s = seen.reshape(len(seen), -1)
        lo, hi = float(np.min(s)), float(np.max(s))
    # share beyond the limit instead of a percentile: same test, no sort
    beyond = float(np.count_nonzero(np.abs(s) > SCALE_LIMIT)) / s.size
    max_std = float(s.std(axis=0, dtype=np.float64).max())
    if beyond <= 0.001 and max_std <= SCALE_LIMIT:
        return (_scaled_twice(ctx, st.lo, st.hi, lo, hi, by) or _divided_twice(ctx, lo, hi, by)
                or _tiny_scale(ctx, s, max(abs(lo), abs(hi)), by)
                or _sentinel_scale(ctx, s, max(abs(lo), abs(hi)), by)
                or _mixed_scales(ctx, s, by)
                or _offsets_only(ctx, s, lo, hi, by))
    var = ctx.data_name or "x"
    evidence = {"min": lo, "max": hi, "share_beyond_20": beyond, "max_feature_std": max_std}
    unadapted = _unadapted_normalization(ctx, by) if by is not None else None
    if unadapted is not None:
        return [unadapted(lo, hi, max_std, evidence)]
    if by is not None:  # the model's own preprocessing leaves it far from unit
        evidence["after_layer"] = by
        message = (f"{_Name(ctx)} reaches the first layer with weights, after `{by}`, with values from {lo:.4g} "
                   f"to {hi:.4g} (feature std up to {max_std:.4g}): the preprocessing in the model does not "
                   "bring it to about unit scale.")
        fix = (f"# Check {by}'s settings against {var}'s range (Rescaling(1/255) for 0-255 pixels; "
               f"Normalization().adapt({var}) for raw features).")
    else:
        if lo >= 0 and hi <= 255 and hi > 1:
            fix = f"{var} = {var}.astype('float32') / {unit_divisor(hi)}"
            kind = f"values from {lo:g} to {hi:g}" + (" (raw 0-255 pixels?)" if hi > 128 else "")
        else:
            fix = f"{var} = ({var} - {var}.mean(axis=0)) / ({var}.std(axis=0) + 1e-8)  # keep the mean/std to undo it"
            kind = f"values from {lo:.4g} to {hi:.4g}, feature std up to {max_std:.4g}"
        message = (f"{_Name(ctx)} has {kind}. Far-from-unit inputs make the first layers' activations and "
                   "gradients huge, so a normal learning rate overshoots; and a sigmoid output cannot reach "
                   "them at all.")
    severity = "warning"
    same = ctx.cache.get("identical_at_data_scale")
    if same is not None and by is None:
        # AE111's forward pass: the data's samples give one output, unit-scale noise does not.
        severity = "error"
        evidence["identical_outputs"] = same
        message += (f" At this scale the model gives the same output for {same['inputs_compared']} different samples "
                    f"(largest difference {same['max_output_difference']:.2g}) while it responds to unit-scale inputs: "
                    "the data's offset saturates the layers, so nothing of the input reaches the reconstruction.")
    return [Finding(code="AE201", severity=severity, title="The data is not normalised", message=message,
                    evidence=evidence, fix=fix)]


def _unadapted_normalization(ctx: Context, by: str) -> Any:
    """For a Keras ``Normalization`` layer ``by`` of the model that was never adapted (no mean/variance given, its
    adapt statistics still 0 and 1, so it passes the data through): a maker of the AE201 finding, named at that
    layer's line; None otherwise. Round 82's ga02: the cell adapted ``normalizer`` on the data and built the model
    with a fresh ``layers.Normalization()``."""
    from .gradients import locate as layer_line

    layer = next((la for la in _model_layers(ctx.model) if la.name == by), None)
    if layer is None or type(layer).__name__ != "Normalization" or getattr(layer, "input_mean", None) is not None:
        return None
    try:
        mean = np.asarray(kc.to_numpy(layer.adapt_mean))
        var = np.asarray(kc.to_numpy(layer.adapt_variance))
    except Exception:  # not built, or another Normalization than Keras 3's
        return None
    if not (np.all(mean == 0) and np.all(var == 1)):
        return None
    line, text = layer_line(ctx, by)
    adapted = _adapted_elsewhere(ctx)
    data = ctx.data_name or "x"

    def make(lo: float, hi: float, max_std: float, evidence: dict[str, Any]) -> Finding:
        return Finding(
            code="AE201", severity="warning", title="The model's Normalization layer was never adapted",
            message=(f"`{by}` in `{ctx.model_name}` normalises {_Name(ctx)} with mean 0 and variance 1: it was never "
                     "adapted, so the data reaches the first layer with weights as it came, with values from "
                     f"{lo:.4g} to {hi:.4g} (feature std up to {max_std:.4g})."
                     + (f" `{adapted}` is adapted on the data in the cell, but it is not the layer the model uses."
                        if adapted else "")),
            line=line, source_line=text, layer=by,
            evidence={**evidence, "after_layer": by, "unadapted_normalization": True,
                      **({"adapted_elsewhere": adapted} if adapted else {})},
            fix=(f"# use the adapted layer in the model:\nh = {adapted}(inp)" if adapted else
                 f"norm = layers.Normalization(axis=-1)\nnorm.adapt({data})  # then use norm in the model"),
        )

    return make


def _model_layers(model: Any) -> list[Any]:
    try:
        return list(model._flatten_layers(include_self=False)) if model is not None else []
    except Exception:
        return []


def _adapted_elsewhere(ctx: Context) -> str | None:
    """The name of a Normalization the cell adapts (``normalizer.adapt(X)``) that is not a layer of the model."""
    in_model = {id(la) for la in _model_layers(ctx.model)}
    for name, obj in (ctx.namespace or {}).items():
        if type(obj).__name__ == "Normalization" and id(obj) not in in_model and f"{name}.adapt(" in (ctx.source or ""):
            return name
    return None


def _mixed_scales(ctx: Context, s: np.ndarray, by: str | None) -> list[Finding]:
    """AE201 for features on scales MIXED_SCALES apart: the loss is the largest features' alone.

    Round 16: a customer table standardised with one scalar (``raw.mean()``,
    ``raw.std()`` instead of ``axis=0``) left income at unit scale and seven
    columns at 1e-4 of it: the MSE looked excellent while those columns were
    reconstructed with errors thousands of times their own variance. Pixels
    and per-column scaled features stay within a few tens of each other.
    """
    if s.ndim != 2 or s.shape[1] < 3:
        return []
    std = s.std(axis=0, dtype=np.float64)
    live = std[std > CONSTANT_STD]
    if len(live) < 3:
        return []
    top, typical = float(live.max()), float(np.median(live))
    if top < MIXED_SCALES * typical:
        return []
    var = ctx.data_name or "x"
    big = int(np.count_nonzero(live >= top / 10))
    small = int(np.count_nonzero(live <= top / 100))
    where = f" after `{by}`" if by is not None else ""
    return [Finding(
        code="AE201", severity="warning", title="The features are on very different scales",
        message=(f"{_Name(ctx)}'s features{where} have standard deviations from {float(live.min()):.3g} to {top:.3g}: "
                 f"{big} feature{'s' if big != 1 else ''} at about {top:.3g}, and half of them at {typical:.3g} or less, "
                 f"{top / typical:,.0f}x smaller. A squared error adds the features up in their own units, so the loss "
                 f"is ruled by the largest and the model learns to ignore the {small} that are 100x or more smaller: a low loss then says "
                 "nothing about them. (Standardising with one mean and std for the whole array, instead of per "
                 "column, leaves exactly this.)"),
        evidence={"feature_std_max": top, "feature_std_median": typical, "feature_std_min": float(live.min()),
                  "ratio": top / typical},
        fix=f"{var} = ({var} - {var}.mean(axis=0)) / ({var}.std(axis=0) + 1e-8)  # per column: axis=0",
    )]


# _offsets_only: every feature's own std at most this share of the data's range, while the features' means
# spread at least OFFSET_SPREAD times the largest of those stds.
BARELY_VARIES = 0.02
OFFSET_SPREAD = 10.0


def _offsets_only(ctx: Context, s: np.ndarray, lo: float, hi: float, by: str | None) -> list[Finding]:
    """AE201: the data's range is the features' offsets; each feature's own variation is a sliver of it.

    Round 37: five pump sensors (flow ~45, pressure ~2400, temperature ~70, ...) stacked into windows and
    divided by one global maximum. Every channel became a near-constant offset (std 1e-5 to 0.017 of a
    [0, 1] range), and an LSTM autoencoder output the same curve for every window. Data scaled per feature
    (standardised, min-max per column, pixels) varies over a good share of its range and is silent.
    """
    if s.ndim != 2 or s.shape[1] < 2 or not hi > lo:
        return []
    from .row_scaled import scaled_per_row

    if scaled_per_row(ctx.data) is not None:
        return []  # each row scaled on its own: row_scaled names that, at the line that did it
    std = s.std(axis=0, dtype=np.float64)
    top = float(std.max())
    spread = float(s.mean(axis=0, dtype=np.float64).std())
    if not (0 < top <= BARELY_VARIES * (hi - lo) and spread >= OFFSET_SPREAD * top):
        return []
    var = ctx.data_name or "x"
    d = ctx.data
    axes = "axis=0" if d is None or d.ndim <= 2 else f"axis={tuple(range(d.ndim - 1))}"
    where = f" after `{by}`" if by is not None else ""
    return [Finding(
        code="AE201", severity="warning", title="The features barely vary: the data was scaled as a whole",
        message=(f"{_Name(ctx)}{where} spans {lo:.3g} to {hi:.3g}, but that range is the features' offsets: each "
                 f"feature's own standard deviation is at most {top:.3g} ({100 * top / (hi - lo):.2g}% of the range), "
                 f"while their means lie {spread:.3g} apart. Scaled with one number for the whole array (divided "
                 "by its maximum, say), every feature is a near-constant for the model, and the differences "
                 "between samples, all there is to encode, are too small to learn from."),
        evidence={"feature_std_max": top, "range": [lo, hi], "feature_mean_spread": spread},
        fix=(f"lo, hi = {var}.min({axes}), {var}.max({axes})  # per feature (channel), not one number\n"
             f"{var} = ({var} - lo) / (hi - lo + 1e-8)"),
    )]


# _scaled_twice: data already in [0, 1] that the model's own preprocessing shrinks at least this much more.
# The top of data divided by 255 twice: its maximum lies in [TWICE_LOW / 255, 1 / 255].
TWICE_LOW = 0.5
TWICE_SHRINK = 50.0


def _scaled_twice(ctx: Context, raw_lo: float, raw_hi: float, lo: float, hi: float, by: str | None) -> list[Finding]:
    """AE201: pixels already divided by 255 in NumPy, then by 255 again by a ``Rescaling(1/255)`` in the model.

    Round 21 (twice, in two helpers' cells): the network sees inputs in [0, 0.004] while the target stays in
    [0, 1]; plain ``fit`` ends at 0.92x the mean's error against 0.09x without the second scaling.
    """
    if by is None or not (raw_lo >= 0.0 and 0.5 <= raw_hi <= 1.0) or not hi > 0 or raw_hi / hi < TWICE_SHRINK:
        return []
    from . import gradients as G

    var = ctx.data_name or "x"
    line, text = G.locate(ctx, by)  # the layer to drop is where the fix goes
    return [Finding(
        code="AE201", severity="warning", title="The data is scaled twice", line=line, source_line=text, layer=by,
        message=(f"{_Name(ctx)} is already in [{raw_lo:.3g}, {raw_hi:.3g}], and the model's `{by}` scales it down "
                 f"again, {raw_hi / hi:,.0f}x: the first layer with weights sees values up to {hi:.3g}, while the "
                 "target stays in [0, 1]. Activations start near zero and the model has to learn a 255x gain first."),
        evidence={"data_range": [raw_lo, raw_hi], "after_layer": by, "seen_range": [lo, hi]},
        fix=(f"# scale once: drop the model's {by} (the data is already in [0, 1]),\n"
             f"# or keep it and leave {var} in 0-255"),
    )]


def _divided_twice(ctx: Context, lo: float, hi: float, by: str | None) -> list[Finding]:
    """AE201: 0-255 pixels divided by 255 twice in NumPy (a loader that scales, then the tutorial's own ``/ 255.``).

    Round 25: the values top out at 1/255 = 0.0039, which is the signature: [0, 1] data never ends there by
    chance. The model then learns the near-zero mean (BCE 0.0025 against the mean's 0.0024).
    """
    if by is not None or not (lo >= 0.0 and TWICE_LOW / 255.0 <= hi <= 1.0 / 255.0 * 1.001):
        return []
    var = ctx.data_name or "x"
    return [Finding(
        code="AE201", severity="warning", title="The data is scaled twice",
        message=(f"{_Name(ctx)} lies in [{lo:.3g}, {hi:.3g}]: its largest value is 1/255, so 0-255 pixels were "
                 "divided by 255 twice (once where they were loaded, once more after). The model sees inputs "
                 "near zero and learns little more than the mean."),
        evidence={"min": lo, "max": hi, "times_255": hi * 255.0},
        fix=f"{var} = {var} * 255.0  # or remove one of the two divisions by 255",
    )]


# _sentinel_scale: values this many times the 99.9th percentile of the other |x|, at most SENTINEL_SHARE of all
# values and SENTINEL_COLUMN_SHARE of any column's, every one the same number, and at least SENTINEL_STDS of their
# column's own spread away from its median.
SENTINEL_RATIO = 10.0
SENTINEL_SHARE = 0.05
SENTINEL_COLUMN_SHARE = 0.2
SENTINEL_STDS = 100.0


def _sentinel_scale(ctx: Context, s: np.ndarray, peak: float, by: str | None) -> list[Finding]:
    """AE201: a missing-value code (65535, 9999) left in the data set its scale when it was divided by its maximum.

    Round 28: a logger's 0xFFFF read-error code in 3 of 48,000 sensor values; ``X / X.max()`` put the real
    12-bit readings in [0.012, 0.046], each sensor varying by about 0.003, and the autoencoder learned the
    mean (0.97-1.05x its error). Not tiny enough for :func:`_tiny_scale`'s 1e-3. The code is one repeated
    value far outside every column it sits in; a heavy tail (distinct values) or saturated pixels inside
    columns that vary as much are not this.
    """
    d = ctx.data
    if by is not None or d is None or not isinstance(d, np.ndarray) or d.ndim < 2 or not len(d):
        return []
    a = np.abs(s)
    # The typical scale without the extreme value itself: a code in more than 0.1 % of the values (round 43's
    # ai07: 9999 in 4 % of one column and 3 % of another) is its own 99.9th percentile.
    rest_of_sample = a[a != peak]
    typical = float(np.percentile(rest_of_sample, 99.9)) if rest_of_sample.size else 0.0
    # The data's own extremes first: most data has no value this far out, and the full array is not read again.
    if not typical > 0 or not np.isfinite(peak) or peak <= SENTINEL_RATIO * typical:
        return []
    flat = d.reshape(len(d), -1)
    far = np.abs(flat) > SENTINEL_RATIO * typical
    n_far = int(np.count_nonzero(far))
    if n_far < 2 or n_far > SENTINEL_SHARE * flat.size:
        return []
    if (far.sum(axis=0) > SENTINEL_COLUMN_SHARE * len(flat)).any():
        return []  # a column that is mostly the value: a level it takes, not a code for missing readings
    codes = np.unique(flat[far].astype(np.float64))
    if len(codes) != 1:
        return []
    cols = np.unique(np.nonzero(far)[1])
    for c in cols:
        rest = flat[~far[:, c], c].astype(np.float64)
        spread = float(np.std(rest)) if len(rest) > 1 else 0.0
        if not np.isfinite(spread):
            return []  # non-finite values are AE202's
        if spread > 0 and abs(float(codes[0]) - float(np.median(rest))) < SENTINEL_STDS * spread:
            return []
    var = ctx.data_name or "x"
    rest_all = flat[~far]
    lo, hi = float(np.min(rest_all)), float(np.max(rest_all))  # (reached only with a code found: rare)
    rows = int(np.count_nonzero(far.any(axis=1)))
    line, text = assigned_at(ctx, ctx.data_name)
    return [Finding(
        code="AE201", severity="warning", title="A missing-value code set the data's scale",
        message=(f"{n_far} values of {_name(ctx)}, in {rows} sample{'s' if rows != 1 else ''}, are all exactly "
                 f"{float(codes[0]):.4g}, over {float(codes[0]) / typical:,.0f}x the rest, which lies in [{lo:.3g}, "
                 f"{hi:.3g}]: one repeated value far outside every column it appears in is a missing-value or error "
                 "code (65535, 9999, -999). Dividing by the maximum (or a min-max scaler) took the scale from it, so "
                 "the real readings were squeezed into a sliver; the model sees nearly constant inputs and learns "
                 "their mean."),
        line=line, source_line=text,
        evidence={"code_value": float(codes[0]), "count": n_far, "rows": rows, "abs_p99_9": typical,
                  "rest_range": [lo, hi]},
        fix=(f"# treat the code as missing before scaling (e.g. the column's median), then scale per column:\n"
             f"# raw[raw == CODE] = np.nan; raw = np.where(np.isnan(raw), np.nanmedian(raw, axis=0), raw)\n"
             f"# {var} = (raw - raw.min(axis=0)) / (raw.max(axis=0) - raw.min(axis=0))"),
    )]


def _tiny_scale(ctx: Context, s: np.ndarray, peak: float, by: str | None) -> list[Finding]:
    """AE201, the other way: nearly every value is far below unit, and a few outliers may be why."""
    typical = float(np.percentile(np.abs(s), 99.9))
    small = typical < SMALL_LIMIT and float(s.std(axis=0, dtype=np.float64).max()) < SMALL_STD
    if not typical > 0.0 or not (typical < TINY_LIMIT or small) or not np.isfinite(peak):
        return []  # all zeros (AE205's business) or a normal scale
    var = ctx.data_name or "x"
    evidence: dict[str, Any] = {"abs_p99_9": typical, "abs_max": peak}
    where = f" after `{by}`" if by is not None else ""
    if by is None and peak > OUTLIER_RATIO * typical and ctx.data is not None:
        d = np.asarray(ctx.data)
        far = np.abs(d) > 100.0 * typical
        n_far = int(np.count_nonzero(far))
        rows = int(np.count_nonzero(far.reshape(len(d), -1).any(axis=1)))
        evidence.update({"outliers": n_far, "outlier_rows": rows})
        message = (f"99.9% of {_name(ctx)}'s values are smaller than {typical:.2g}, yet its largest reach {peak:.4g}: "
                   f"{n_far} value{'s' if n_far != 1 else ''} in {rows} sample{'s' if rows != 1 else ''} are over "
                   f"{peak / typical:,.0f}x the rest. A few outliers set the scale (dividing by the maximum, or a "
                   "min-max scaler, while the data held a missing-value code such as 999999 or -9999), so the real "
                   "readings were squashed towards zero: the model sees nearly constant inputs and a loss near zero "
                   "that the optimizer's steps can hardly move.")
        fix = (f"# drop or impute the outliers (missing-value codes?) before scaling, then standardise:\n"
               f"{var} = ({var} - {var}.mean(axis=0)) / ({var}.std(axis=0) + 1e-8)")
    else:
        message = (f"{_Name(ctx)} reaches the first layer with weights{where} with 99.9% of its values smaller than "
                   f"{typical:.2g}, about {1 / typical:,.0f}x below unit scale"
                   + (f", and no feature varies by more than {float(s.std(axis=0).max()):.2g} (std)" if small else "")
                   + ". Activations, outputs and the loss start near zero, and the optimizer's steps can hardly move "
                   "a loss that small." + (" (A scaler fitted on a range that held far larger values, such as the "
                                           "test period's spikes, squashes the training rows like this.)" if small else ""))
        fix = f"{var} = ({var} - {var}.mean(axis=0)) / ({var}.std(axis=0) + 1e-8)  # keep the mean/std to undo it"
    return [Finding(code="AE201", severity="warning", title="The data is not normalised (far below unit scale)",
                    message=message, evidence=evidence, fix=fix)]


def _output_range(ctx: Context) -> tuple[str | None, tuple[float, float] | None]:
    g = ctx.graph
    from .locate import output_activation as _output_activation
    from .locate import subclassed_output

    if g is None or not g.has_graph or not g.outputs:
        # No layer graph (subclassed): the layer that produced the output, from a forward pass of a copy.
        act = subclassed_output(ctx)[0]
    else:
        act, node = _output_activation(g)
        if act == "linear" and node is not None and node.layer is not None:
            # An LSTM/GRU as the output layer: its tanh bounds the reconstruction.
            rnn = kc.recurrent_output_activation(node.layer)
            if rnn is not None:
                ctx.cache["recurrent_output"] = node.cls
                act = rnn
    ranges = {"sigmoid": (0.0, 1.0), "hard_sigmoid": (0.0, 1.0), "softmax": (0.0, 1.0), "tanh": (-1.0, 1.0),
              "softsign": (-1.0, 1.0), "relu": (0.0, float("inf")), "relu6": (0.0, 6.0), "softplus": (0.0, float("inf")),
              "elu": (-1.0, float("inf"))}
    return act, ranges.get(act or "")


def check_target_range(ctx: Context) -> list[Finding]:
    """AE203: targets outside what the output activation (or BCE) can produce."""
    t = ctx.target
    if t is None or not _numeric(t) or t.size == 0 or ctx.model is None or class_index_targets(ctx) or ids_for_classes(ctx):
        return []  # class indices for a sparse categorical loss (or a step's own): checked against the classes there
    blocks = head_blocks(ctx)
    if blocks is not None:  # several heads, each reconstructing its own columns: each judged on its own
        return check_head_ranges(ctx, blocks)
    st = _stats(ctx, target=True)
    lo, hi = st.lo, st.hi
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return []
    act, rng = _output_range(ctx)
    bounded = rng is not None
    tol = 1e-6
    problems: list[str] = []
    evidence: dict[str, Any] = {"target_min": lo, "target_max": hi, "output_activation": act}
    if rng is not None and (lo < rng[0] - tol or hi > rng[1] + tol) and _within_reach(ctx, st.sample, rng):
        rng = None  # noise just past the range: the closest output misses by a negligible share of the variance
    if rng is not None and (lo < rng[0] - tol or hi > rng[1] + tol):
        outside = float(np.mean((st.sample < rng[0] - tol) | (st.sample > rng[1] + tol)))
        evidence["output_range"] = list(rng)
        evidence["share_outside"] = outside
        if t is ctx.data and (float(np.count_nonzero(np.abs(st.sample) > SCALE_LIMIT)) / st.sample.size > 0.001):
            # The target is the unscaled input itself (0-255 pixels): AE201's scaling fixes both (round 63's cn02).
            evidence["unscaled_input"] = True
        problems.append(
            f"the output activation {act} can only produce [{rng[0]:g}, {rng[1]:g}], but the targets span "
            f"[{lo:.4g}, {hi:.4g}] ({outside:.0%} of sampled values outside)"
        )
    loss = kc.canonical_loss(ctx.model) if kc.is_compiled(ctx.model) else None
    if loss is None and kc.compiled_loss(ctx.model) is None and handwritten_bce(ctx.source) is not None:
        # No compiled loss: the cell's own train_step computes binary cross-entropy on the outputs (round 74's
        # dk05, a conditional VAE on images scaled into [-1, 1]): BCE's domain holds as for a compiled one.
        loss = "bce"
    if loss == "bce" and (lo < -tol or hi > 1 + tol) and not (problems == [] and _within_reach(ctx, st.sample, (0.0, 1.0))):
        evidence["loss"] = kc.loss_name(ctx.model)
        problems.append(f"binary cross-entropy needs targets in [0, 1], and they span [{lo:.4g}, {hi:.4g}]")
    loss_only = False
    if loss in LOSS_DOMAIN:
        low, high, why = LOSS_DOMAIN[loss]
        if lo < low - tol or hi > high + tol:
            evidence["loss"] = kc.loss_name(ctx.model)
            evidence["loss_domain"] = [low, high]
            loss_only = not problems
            problems.append(f"{why}, and they span [{lo:.4g}, {hi:.4g}]")
    if not problems:
        return []
    if loss_only:
        return [_wrong_loss(ctx, problems[0], evidence)]
    if loss == "bce" and not bounded and len(problems) == 1 and lo < -tol and evidence.get("loss"):
        # An unbounded output (linear) under binary cross-entropy on targets scaled below 0 on purpose
        # (standardised sensors): nothing about the output or the data is wrong, the loss is (round 78's dv06, a
        # GRU autoencoder with loss=["binary_crossentropy", "mse"] on z-scored readings).
        return [_wrong_loss(ctx, problems[0], evidence)]
    var = ctx.target_name or ctx.data_name or "x"
    # Standardised targets (mean ~0, std ~1) were scaled on purpose: the output
    # activation is what to change, so the finding points at the output layer.
    standardised = _standardised(st.sample)
    # Targets scaled into [-1, 1] and reaching well below 0 (``/ 127.5 - 1``, round 57's bz06) were put in tanh's
    # range on purpose: the sigmoid output is what to change, as for standardised targets.
    symmetric = act in ("sigmoid", "hard_sigmoid") and lo >= -1 - tol and hi <= 1 + tol and lo < -0.5
    at_output = False
    if lo >= 0 and hi <= 255:
        fix = f"{var} = {var}.astype('float32') / {unit_divisor(hi)}  # scale the data into [0, 1]"
    elif symmetric and loss == "bce":
        # Under binary cross-entropy a tanh output would not do: the loss needs targets in [0, 1] whatever the
        # output makes, so the scaling into [-1, 1] is what to change (round 67's cv07: `/ 127.5 - 1.0` before a
        # sigmoid and BCE; the loss fell without bound and the cell's own fit killed the code's ReLUs).
        evidence["bce_needs_unit_range"] = True
        fix = (f"# scale {var} into [0, 1] (raw pixels / 255.0), not [-1, 1]: a sigmoid output and binary "
               "cross-entropy need targets in [0, 1]")
    elif symmetric and rng is not None:
        at_output = True
        fix = (f"Use activation='tanh' on the output layer: it produces [-1, 1], the range {var} was scaled to "
               "(or scale the data into [0, 1] for the sigmoid).")
    elif act in ("sigmoid", "hard_sigmoid") and not standardised:
        fix = (f"{var} = ({var} - {var}.min()) / ({var}.max() - {var}.min())  # into [0, 1]; or use a linear output "
               "layer (activation=None) with loss='mse'")
    else:
        at_output = rng is not None
        fix = ("Use a linear output layer (activation=None) with loss='mse'"
               + (f" for standardised {var}" if standardised else "") + ", or rescale the data into the output's range.")
        if ctx.cache.get("recurrent_output"):
            n = (ctx.target.shape[-1] if getattr(ctx.target, "ndim", 0) >= 2 else 1)
            fix = (f"# keep the {ctx.cache['recurrent_output']} with more units, and let a linear layer give the output:\n"
                   f"outputs = layers.TimeDistributed(layers.Dense({n}))(decoded)  # no activation: any value")
    finding = Finding(
        code="AE203", severity="warning", title="Targets lie outside the output's range",
        message=f"For {_name(ctx, True)}: " + "; and ".join(problems) + ". The model cannot reconstruct them"
        + (f": {var} was scaled into [-1, 1], tanh's range, so the output layer's {act} is what to change."
           if symmetric and at_output else
           f": {var} is standardised (mean about 0, std about 1), so the output layer's {act} is what to change."
           if standardised and at_output else "."),
        evidence={**evidence, **({"standardised": True} if standardised else {}),
                  **({"tanh_range": True} if symmetric and at_output else {})},
        fix=fix,
    )
    if at_output:
        _at_output_layer(ctx, finding)
    finding = _changed_in_place(ctx, finding)
    text = finding.source_line or ""
    if evidence.get("bce_needs_unit_range") and "/ 127.5 - 1" in text:
        finding.fix = text.replace(" - 1.0", "").replace(" - 1", "").replace("127.5", "255.0") + "  # into [0, 1]"
    return [finding]


def _within_reach(ctx: Context, sample: np.ndarray, rng: tuple[float, float]) -> bool:
    """True (and a note says so) when ``sample`` leaves ``rng`` rarely and negligibly (``negligible_excursion``)."""
    cost = negligible_excursion(sample, *rng)
    if cost is None:
        return False
    finite = sample[np.isfinite(sample)]
    lo, hi = float(finite.min()), float(finite.max())
    note = (f"{_Name(ctx, True)} reaches just past [{rng[0]:g}, {rng[1]:g}] (it spans [{lo:.4g}, {hi:.4g}]); the "
            f"closest value in that range misses by {cost:.1e} of the targets' variance, so AE203 is not reported.")
    if note not in ctx.notes:
        ctx.notes.append(note)
    return True


# Losses defined only on part of the value line (canonical name -> low, high,
# why): Keras clips or logs the values outside, so targets there cannot be
# reconstructed. kl_divergence clips both sides to [1e-7, 1]; poisson takes
# log(y_pred) and rewards y_pred -> 0 for negative targets; msle clips negatives.
LOSS_DOMAIN: dict[str, tuple[float, float, str]] = {
    "kld": (0.0, 1.0, "KL divergence compares probability distributions (Keras clips targets and outputs to [1e-7, 1])"),
    "poisson": (0.0, float("inf"), "the Poisson loss is for counts and needs non-negative targets"),
    "meansquaredlogarithmicerror": (0.0, float("inf"), "mean squared logarithmic error clips negative values to zero"),
    "msle": (0.0, float("inf"), "mean squared logarithmic error clips negative values to zero"),
}


def _wrong_loss(ctx: Context, problem: str, evidence: dict[str, Any]) -> Finding:
    """AE203 for a loss whose domain the targets leave: the loss is what to change, so it points at the compile line."""
    line, text = loss_line(ctx)
    fix = f"{ctx.model_name or 'model'}.compile(optimizer='adam', loss='mse')  # a reconstruction loss defined for any value"
    for quoted in ('"binary_crossentropy"', "'binary_crossentropy'"):
        if text and quoted in text and evidence.get("loss") and "binary" in str(evidence["loss"]).lower():
            # One entry of a list or dict of losses (or the loss= line itself): change that entry only.
            fix = text.replace(quoted, quoted[0] + "mse" + quoted[0]) + "  # a reconstruction loss defined for any value"
            break
    return Finding(
        code="AE203", severity="warning", title="Targets lie outside the loss's domain",
        message=(f"For {_name(ctx, True)}: the loss is {evidence['loss']}: {problem}. The model cannot be trained "
                 "to reconstruct them: the loss never sees the values outside."),
        line=line, source_line=text, evidence=evidence,
        fix=fix,
    )


def _standardised(sample: np.ndarray) -> bool:
    """The sampled values look standardised: overall mean within 0.2 of 0, std between 0.5 and 2, some negative."""
    if sample.size == 0:
        return False
    v = sample.astype(np.float64, copy=False)
    m, sd = float(v.mean()), float(v.std())
    return abs(m) < 0.2 and 0.5 < sd < 2.0 and float(v.min()) < 0


def _at_output_layer(ctx: Context, f: Finding) -> None:
    """Point ``f`` at the layer whose activation sets the reconstruction's range (graph or subclassed model)."""
    from .locate import layer_line, output_activation, subclassed_output

    if ctx.graph is None or not ctx.graph.has_graph:
        layer = subclassed_output(ctx)[1]
        if layer is not None:
            f.layer = layer.name
            f.line, f.source_line = layer_line(ctx, layer)
    elif ctx.graph.outputs:
        _, node = output_activation(ctx.graph)
        if node is not None and not node.is_input:
            from . import gradients as G

            f.layer = node.name
            f.line, f.source_line = G.locate(ctx, node.name)


def _changed_in_place(ctx: Context, f: Finding) -> Finding:
    """Name the line that wrote into a separate target through a function that looked like it made a copy."""
    if not ctx.target_name or ctx.target_name == ctx.data_name:
        return f
    hit = changed_in_place(ctx.source, ctx.target_name)
    if hit is None or ctx.cell_line(hit.write_line) is None:
        return f
    line = ctx.cell_line(hit.write_line)
    who = f"`{hit.alias}`, the same array as its argument," if hit.alias else "its argument"
    f.line, f.source_line = line, ctx.line_text(hit.write_line)
    f.message += (
        f" The cause is line {line}: `{hit.function}({hit.var})` (line {ctx.cell_line(hit.call_line)}) writes into "
        f"{who} in place, so `{hit.var}` itself was changed: the targets are the function's intermediate values, "
        "not the data they were."
    )
    f.evidence["changed_in_place"] = {"function": hit.function, "call_line": ctx.cell_line(hit.call_line), "line": line}
    # As comments: the names are the function's locals, which no namespace holds.
    f.fix = (f"# in {hit.function}: work on a copy, so that {hit.var} keeps its values:\n"
             + (f"#   {hit.alias} = {hit.param}.copy()  # not {hit.alias} = {hit.param}" if hit.alias
                else f"#   {hit.param} = {hit.param}.copy()  # as the function's first line"))
    f.edit = None
    return f


def check_degenerate(ctx: Context) -> list[Finding]:
    """AE205: constant data, or data so dominated by zeros that all-zero output scores well."""
    d = ctx.data
    if d is None or not _numeric(d) or d.size == 0:
        return []
    s = _stats(ctx).sample
    if s.size == 0 or len(s) < 2:
        return []
    std = s.std(axis=0, dtype=np.float64)
    if float(std.max()) < CONSTANT_STD:
        return [
            Finding(
                # An error: no model can learn anything from it, and what the probes would then
                # measure (dead units, zero gradients) only restates it.
                code="AE205", severity="error", title="The data is constant",
                message=(f"Every sample of {_name(ctx)} is the same (largest feature std {float(std.max()):.2g}): "
                         "there is nothing to encode, and the model will learn to output that one sample."),
                evidence={"max_feature_std": float(std.max()), "samples_checked": len(s)},
                fix="Check the loading/preprocessing: the samples should differ (e.g. a broadcast or a wrong axis).",
            )
        ]
    zero = float(np.mean(s == 0))
    missing = zeros_as_missing(ctx, s, zero)
    if missing is not None:
        return [missing]
    # One-hot rows and padded token ids are mostly zeros by design, and a
    # classification loss gives an all-zero output no easy minimum.
    if zero >= ZERO_SHARE and not categorical_reconstruction(ctx) and not index_input(ctx):
        mse_zero = float(np.mean(np.square(s, dtype=np.float64)))
        var_all = float(np.var(s, dtype=np.float64))
        if _one_hot(ctx.data) and _softmax_head(ctx.model):
            # Round 40: a protein VAE whose own train_step sums a categorical cross-entropy over a Softmax head:
            # the one-hot rows are reconstructed as one choice among their classes already.
            return []
        if _one_hot(ctx.data):
            # Round 16: one-hot characters under a sigmoid head and MSE. Each position is one choice among
            # its classes: a classification, which a softmax and categorical cross-entropy train as one.
            loss = kc.loss_name(ctx.model) if ctx.model is not None and kc.is_compiled(ctx.model) else "its loss"
            k = int(np.asarray(ctx.data).shape[-1])
            return [Finding(
                code="AE205", severity="warning", title="One-hot data reconstructed as independent values",
                message=(f"{_Name(ctx)} is one-hot: along its last axis every row holds a single 1 among {k} "
                         f"values ({zero:.1%} of all values are 0). Under {loss}, an output that puts about 1/{k} "
                         f"everywhere (mean squared error {mse_zero:.3g} for all zeros) is an easy minimum, and the "
                         "model learns the most common classes instead of the sequence. Each row is one choice among "
                         f"{k} classes: a softmax over the last axis with categorical cross-entropy trains it as one."),
                evidence={"zero_share": zero, "mse_of_all_zero_output": mse_zero, "variance": var_all,
                          "one_hot_classes": k},
                fix=(f"outputs = layers.Dense({k}, activation='softmax')(h)  # per position: TimeDistributed(...) "
                     "for sequences\nmodel.compile(optimizer='adam', loss='categorical_crossentropy')"),
            )]
        name = kc.loss_name(ctx.model) if ctx.model is not None and kc.is_compiled(ctx.model) else None
        if isinstance(name, str) and kc.canonical_name(name) == "bce":
            # Round 33: the fix below is already in place. Binary cross-entropy charges a missed 1 at
            # log(1/p), so the all-zero output is no resting point; whether the run sits there anyway
            # is measured (AE404/AE405), not presumed from the data.
            return []
        return [
            Finding(
                code="AE205", severity="warning", title="The data is mostly zeros",
                message=(f"{zero:.1%} of the values in {_name(ctx)} are exactly 0, so an all-zero output already "
                         f"has a mean squared error of {mse_zero:.3g}: the model can sit in that trivial solution "
                         "and output blank reconstructions."),
                evidence={"zero_share": zero, "mse_of_all_zero_output": mse_zero, "variance": var_all},
                fix=("Use binary cross-entropy with a sigmoid output (it punishes missed non-zeros harder than MSE), "
                     "or weight the non-zero entries in the loss."),
            )
        ]
    return []


def _softmax_head(model: Any) -> bool:
    """The model's last layer that shapes its output is a softmax (a ``Softmax`` layer, or a layer with
    ``activation="softmax"``): each row of the output is a distribution over classes."""
    from ..probes.traces import leaf_layers

    try:
        layers = leaf_layers(model) if model is not None else []
    except Exception:  # a model whose layers can't be listed: no head to read
        return False
    for layer in reversed(layers):
        if type(layer).__name__ == "Softmax":
            return True
        act = getattr(getattr(layer, "activation", None), "__name__", None)
        if act is not None and act != "linear":
            return act == "softmax"
        if act == "linear":
            return False
    return False


def _one_hot(d: Any) -> bool:
    """Whether every row along the last axis (at least 3 wide) is one-hot: 0/1 values, exactly one 1."""
    if d is None or isinstance(d, (list, tuple, dict)):
        return False
    a = np.asarray(d)
    if a.ndim < 2 or a.shape[-1] < 3 or a.size == 0 or not np.issubdtype(a.dtype, np.number):
        return False
    s = a[:SAMPLE_ROWS].reshape(-1, a.shape[-1])
    return bool(np.all((s == 0) | (s == 1)) and np.all(s.sum(axis=-1) == 1))


def _foreign_at(ctx: Context, f: Finding, name: str | None, min_max_only: bool = False) -> bool:
    """Point a data finding at the lines that took the scaling's statistics from another array
    (``foreign_scaling.foreign_statistic``); True when it did. ``min_max_only``: only for a min-max scaling."""
    foreign = foreign_statistic(ctx.source, name)
    if foreign is None or (min_max_only and not foreign["min_max"]):
        return False
    # The array was scaled with a statistic of another array (the test split's min and max): the line that
    # took it is what to change.
    if min_max_only:
        # A finding that blamed the output layer because the targets looked standardised: they only look so.
        f.message = f.message.split(" The model cannot reconstruct them")[0] + " The model cannot reconstruct them."
        for key in ("standardised", "tanh_range"):
            f.evidence.pop(key, None)
        f.layer = None
    at = foreign["line"]
    f.line, f.source_line = ctx.cell_line(at), ctx.line_text(at)
    f.evidence["foreign_statistic"] = foreign
    taken, applied = foreign["taken_from"], foreign["applied_to"]
    stats = " and ".join(f"`{n}`" for n in foreign["statistics"])
    lines = [ctx.cell_line(n) for n in foreign["lines"]]
    f.message += (f" Line{'s' if len(lines) > 1 else ''} {', '.join(map(str, lines))} take{'' if len(lines) > 1 else 's'} "
                  f"{stats} from `{taken}`, and the scaling applies {'them' if len(lines) > 1 else 'it'} to "
                  f"`{applied}`: scaled with another array's statistics, it does not land where the scaling "
                  "meant it to.")
    fixed = "\n".join(re.sub(r"\b" + re.escape(taken) + r"\b", applied, (ctx.line_text(n) or "").strip())
                      for n in foreign["lines"])
    f.fix, f.edit = f"{fixed}  # the statistics of the array being scaled", None
    return True


def _raw_columns(ctx: Context) -> dict[str, Any] | None:
    """``{"features", "raw", "max_raw_std", "worst"}`` when the data's features are partly at about unit scale and
    partly far from it (std above SCALE_LIMIT): what a scaling of some columns only leaves. None otherwise."""
    s = _stats(ctx).sample
    if s.ndim != 2 or s.shape[1] < 2:
        return None
    std = s.std(axis=0, dtype=np.float64)
    raw = std > SCALE_LIMIT
    if not raw.any() or raw.all():
        return None
    return {"features": int(s.shape[1]), "raw": int(raw.sum()), "max_raw_std": float(std.max()),
            "worst": int(np.argmax(std))}


def _lost_at(ctx: Context, f: Finding, name: str | None) -> None:
    """Point a data finding at the line that lost the preparation the data needed: a scaling whose result is
    thrown away (``locate.discarded_scaling``), or a function of the cell that reads a global array instead of
    its argument (``locate.ignored_argument``)."""
    lost = discarded_scaling(ctx, name) if f.code in ("AE201", "AE203") else None
    if lost is not None:
        # The scaling is written but its result is thrown away: the fix is to keep it, on that line.
        at, kept = lost
        f.line, f.source_line = ctx.cell_line(at), ctx.line_text(at)
        f.evidence["discarded_scaling"] = f.line
        f.message += (f" Line {f.line} computes a scaled array but keeps nothing: its result is never "
                      "assigned, so the data stays as it was.")
        f.fix, f.edit = f"{kept} = {(f.source_line or '').strip()}  # keep the result", None
        return
    unapplied = unapplied_scaler(ctx, name) if f.code in ("AE201", "AE203") else None
    if unapplied is not None:
        # A scaler fitted on the data and never applied to it (or applied with the result thrown away).
        at, scaler, how = unapplied
        f.line, f.source_line = ctx.cell_line(at), ctx.line_text(at)
        f.evidence["unapplied_scaler"] = {"scaler": scaler, "how": how}
        f.message += (f" Line {f.line} fits `{scaler}` on `{name}`, but nothing applies it: `{scaler}.transform` is "
                      "never called, so the data goes in raw." if how == "fit" else
                      f" Line {f.line} scales `{name}` with `{scaler}` but keeps nothing: its result is never "
                      "assigned, so the data stays as it was.")
        f.fix, f.edit = f"{name} = {scaler}.fit_transform({name})  # keep the scaled array", None
        return
    back = unscaled_return(ctx, name) if f.code in ("AE201", "AE203") else None
    if back is not None:
        # The function scales its argument into a name it never uses and returns the argument as it came.
        at, raw, scaled = back
        f.line, f.source_line = ctx.cell_line(at), ctx.line_text(at)
        f.evidence["unscaled_return"] = {"returns": raw, "scaled": scaled}
        f.message += (f" Line {f.line} returns `{raw}`, the array as it came in, while `{scaled}`, the scaled copy "
                      "the function computes, is never used: the data stays unscaled.")
        fixed = re.sub(r"\b" + re.escape(raw) + r"\b", scaled, (f.source_line or "").strip(), count=1)
        f.fix, f.edit = f"{fixed}  # the scaled array", None
        return
    cast = unscaled_cast(ctx, name) if f.code in ("AE201", "AE203") and "255" in (f.fix or "") else None
    if cast is not None:
        # The helper that makes the data casts the raw values to floats and never scales them.
        f.line, f.source_line = ctx.cell_line(cast), ctx.line_text(cast)
        f.evidence["unscaled_cast"] = f.line
        f.message += f" Line {f.line}, in the function that makes it, casts the raw values to floats and never scales them."
        text = (f.source_line or "").strip()
        f.fix, f.edit = (f"{text} / 255.0  # scale into [0, 1]" if "=" in text and not text.startswith("return")
                         else f"# line {f.line}: divide the cast values by 255.0"), None
        return
    whole = whole_array_statistic(ctx, name) if f.code == "AE201" else None
    if whole is not None:
        # A statistic over the whole array where the scaling needs one per feature (a missing axis=0).
        at, stat, call = whole
        f.line, f.source_line = ctx.cell_line(at), ctx.line_text(at)
        f.evidence["whole_array_statistic"] = {"name": stat, "call": call}
        f.message += (f" Line {f.line} computes `{stat}` over the whole array (`{call}`, no axis): one number for "
                      "every feature, so features keep their own offsets and scales after the scaling.")
        text = (f.source_line or "").strip()
        fixed = text[:-1] + ("axis=0)" if text.endswith("()") else ", axis=0)") if text.endswith(")") else text
        f.fix, f.edit = f"{fixed}  # one statistic per feature", None
        return
    if f.code in ("AE201", "AE203") and _foreign_at(ctx, f, name):
        return
    ignored = ignored_argument(ctx, name) if f.code in ("AE201", "AE202", "AE203") else None
    if ignored is not None:
        # The function that makes the data reads a global array instead of the argument it is given.
        at, param, glob = ignored
        f.line, f.source_line = ctx.cell_line(at), ctx.line_text(at)
        f.evidence["ignored_argument"] = {"parameter": param, "reads": glob}
        f.message += (f" The function that makes it never reads its argument `{param}`: line {f.line} reads "
                      f"the global `{glob}` instead, so what was passed in (and whatever was done to it) is "
                      "not what the model gets.")
        text = (f.source_line or "").strip()
        f.fix, f.edit = f"{text.replace(glob, param)}  # the function's own argument, not the global", None
        return
    part = partial_scaling(ctx.source, name) if f.code == "AE201" and "axis=0" in (f.fix or "") else None
    raw = _raw_columns(ctx) if part is not None else None
    if part is not None and raw is not None and ctx.cell_line(part[0]) is not None:
        # Some columns scaled, others left raw: the scaling the user wrote covers part of the table only.
        at, selection = part
        made = f.line
        f.line, f.source_line = ctx.cell_line(at), ctx.line_text(at)
        f.evidence["partial_scaling"] = {"line": f.line, "scaled": selection, **raw}
        n = raw["raw"]
        f.message += (f" Line {f.line} scales `{selection}` only: {n} of the {raw['features']} features "
                      f"{'keeps its' if n == 1 else 'keep their'} raw scale (std up to {raw['max_raw_std']:.4g}, "
                      f"feature {raw['worst']})" + (f" in `{name}`, made at line {made}." if made is not None else "."))
        var = name or "x"
        f.fix = (f"{var} = ({var} - {var}.mean(axis=0)) / ({var}.std(axis=0) + 1e-8)  # every column (keep the mean/std "
                 f"to undo it), not only `{selection}` as line {f.line} does")
        f.edit = None


# A fix that divides by a constant: ``x = x.astype('float32') / 255.0``.
_CONSTANT_DIVISION = re.compile(r"astype\(.float32.\) / [0-9.]+")


def _located(fn: Callable[[Context], list[Finding]]) -> Callable[[Context], list[Finding]]:
    """``fn`` with its findings pointed at the line that made the data.

    A data finding is about an array, but the fix goes where the cell made it
    (``x = raw.astype(...)``). When the data comes from outside the cell,
    AE203 points at the output layer whose range the targets miss; the others
    keep no line (there is no line of the cell to point at).
    """

    def located(ctx: Context) -> list[Finding]:
        found = fn(ctx)
        for f in found:
            name = (ctx.target_name or ctx.data_name) if f.code == "AE203" else ctx.data_name
            made = own = data_made_at(ctx, name)
            # A constant division (0-255 pixels, 0-16 digits) goes where the values were made, before any split; a
            # standardisation keeps the split's line, as its statistics belong to the training part (round 77's
            # dr01: `X_train = data[Class == 0]` of a fraud table with raw Time and Amount columns).
            origin = data_origin(ctx, name) if _CONSTANT_DIVISION.search(f.fix or "") else name
            if origin != name and (f.line is None or f.line == own[0]) and data_made_at(ctx, origin)[0] is not None:
                # Selected (split, sliced) from an array the cell made: the fix goes where the values were made.
                made = data_made_at(ctx, origin)
                f.line, f.source_line = made
                if f.fix and name:
                    f.fix = re.sub(r"\b" + re.escape(name) + r"\b", origin, f.fix)
            if f.line is None:
                f.line, f.source_line = made
            elif f.line != made[0]:
                # The check named a line of its own (a layer, the loss): the cause is there, unless a min-max
                # scaling took its statistics from another array (then the targets only look standardised).
                if f.code == "AE203":
                    _foreign_at(ctx, f, name, min_max_only=True)
                continue
            _lost_at(ctx, f, name)
            if f.line is None and f.code == "AE203":
                _at_output_layer(ctx, f)
        return found

    located.__name__ = fn.__name__
    located.__doc__ = fn.__doc__
    return located


CHECKS = [_located(fn) for fn in (check_data_shape, check_nonfinite, check_scale, check_target_range, check_degenerate)]
