"""Matplotlib figures of a report's traces (loss, gradients, activations,
reconstructions, graph), built with ``Figure()`` so nothing leaks into pyplot.

Every ``*_figure`` function returns ``None`` when the report has no data for
that plot, so callers can say "not measured" instead of drawing empty axes.
Traces follow the shared schema (see ``ae_magic.report.Report.traces``);
values may be floats, ``None`` or the strings ``"nan"``/``"inf"`` of the JSON
form, so every number goes through ``ae_magic.numeric.num``.

Names come from the user (layers, variables, run labels), so every text
artist that can show one is drawn literally: ``parse_math=False`` (a layer
named ``$x$`` or ``a_b^c`` is not mathtext) and :func:`~ae_magic.render.text.printable`
(no control characters). Tick labels made by matplotlib's own formatters
(the ``10^-3`` of a log axis) keep their mathtext.

The kernel can't know the notebook's theme, so PNGs have a transparent
background and their text, ticks and frames a mid grey that reads on a light
and on a dark page (:func:`figure_png`). Layers are labelled with the cell's
variable names where the cell bound one (``h (dense)``), see :func:`layer_names`.
"""

from __future__ import annotations

import base64
import io
import itertools
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from matplotlib.figure import Figure

from ..numeric import is_finite, num
from .text import printable

if TYPE_CHECKING:
    from ..report import Report

# The tab10 palette: run i of a comparison always gets colour i.
RUN_COLORS = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
]  # fmt: skip
PLOT_NAMES = ("loss", "gradients", "activations", "reconstructions", "graph")
_DPI = 100
# Text, ticks and frames: readable on JupyterLab's light (white) and dark (#111) themes.
NEUTRAL = "#7a7a7a"
# Drawn where a log axis can't show a value: a zero gradient, a missing one.
ZERO_COLOR = "#ff7f0e"
MISSING_COLOR = "#d62728"


# -- helpers ---------------------------------------------------------------
# Keyword arguments of every text artist that may show a user's string.
LITERAL: dict[str, Any] = {"parse_math": False}
# A legend entry longer than this is cut: a long layer name must not squeeze the axes away.
_LEGEND_CHARS = 48


def _label(value: Any, limit: int = 60) -> str:
    """A user's name as plot text: printable, shown as typed (used with ``LITERAL``), cut at ``limit`` characters."""
    text = printable(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _legend(ax: Any, **kwargs: Any) -> Any:
    """``ax.legend`` whose entries (run labels, layer names) are drawn literally, long ones shortened."""
    leg = ax.legend(**kwargs)
    for t in leg.get_texts():
        t.set_parse_math(False)
        text = t.get_text()
        if len(text) > _LEGEND_CHARS:
            t.set_text(text[: _LEGEND_CHARS - 1] + "…")
    return leg


def _as_list(reports: Report | Sequence[Report]) -> list[Report]:
    if isinstance(reports, Sequence):
        return list(reports)
    return [reports]


def run_label(report: Report, index: int) -> str:
    """A short name for run ``index`` of a comparison: "run 2 · lr 3e-03 · latent 16"."""
    parts = [f"run {index + 1}"]
    lr = (report.traces.get("training") or {}).get("lr", report.params.get("lr"))
    if lr is not None and is_finite(num(lr)):
        parts.append(f"lr {num(lr):.0e}")
    latent = report.params.get("latent")
    if latent is None:
        latent = (report.model or {}).get("latent")
    if isinstance(latent, dict):  # {"applied": width or None, "user": width, ...}
        latent = latent.get("applied") if latent.get("applied") is not None else latent.get("user")
    if latent is not None:
        text = _label(latent)
        parts.append(f"latent {text if len(text) <= 24 else text[:23] + '…'}")
    return " · ".join(parts)


def theme_neutral(fig: Figure) -> Figure:
    """Restyle ``fig`` for any page colour: no background, default-black text and frames in mid grey."""
    from matplotlib.colors import to_rgba
    from matplotlib.text import Text

    black = to_rgba("black")
    fig.patch.set_alpha(0.0)
    for ax in fig.axes:
        ax.set_facecolor("none")
        for spine in ax.spines.values():
            spine.set_edgecolor(NEUTRAL)
        ax.tick_params(colors=NEUTRAL, which="both")
        leg = ax.get_legend()
        if leg is not None:
            leg.get_frame().set_facecolor((0.5, 0.5, 0.5))
            leg.get_frame().set_alpha(0.12)
            leg.get_frame().set_edgecolor(NEUTRAL)
    for t in fig.findobj(Text):
        # Only text left at the default black: coloured notes keep their colour,
        # and text inside a light box (graph nodes) stays dark on it.
        if to_rgba(t.get_color()) == black and t.get_bbox_patch() is None:
            t.set_color(NEUTRAL)
    return fig


def figure_png(fig: Figure) -> bytes:
    """PNG bytes of ``fig``, transparent, restyled to read on light and dark pages."""
    theme_neutral(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, transparent=True)
    return buf.getvalue()


def layer_names(report: Report) -> dict[str, str]:
    """Keras layer name -> how plots label it: ``"h (dense)"`` when the cell bound its output to ``h``.

    From the graph's nodes and the cell's layer calls (``report.calls``); a
    layer with no variable (or a nested one) keeps its Keras name.
    """
    out: dict[str, str] = {}
    graph = (report.model or {}).get("graph") or {}
    pairs = [(n.get("name"), n.get("variable")) for n in graph.get("nodes") or [] if isinstance(n, dict)]
    pairs += [(c.get("layer"), c.get("variable")) for c in report.calls if isinstance(c, dict)]
    for layer, var in pairs:
        if isinstance(layer, str) and isinstance(var, str) and var and layer not in out:
            # Each part made printable on its own: a name that is nothing but
            # an escape sequence is spelled out, not stripped to "()".
            out[layer] = printable(layer) if var == layer else f"{printable(var)} ({printable(layer)})"
    return out


def _layer_label(names: dict[str, str], layer: Any) -> str:
    return _label(names.get(layer, layer) if isinstance(layer, str) else layer)


def png_base64(png: bytes) -> str:
    """``png`` as base64 text for a ``data:image/png`` URI."""
    return base64.b64encode(png).decode("ascii")


def _new(width: float = 6.4, height: float = 3.2) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    return fig


def _is_log_worthy(values: Sequence[float]) -> bool:
    vals = [v for v in values if is_finite(v)]
    if not vals or min(vals) <= 0:
        return False
    return max(vals) / min(vals) > 30


# -- loss ------------------------------------------------------------------
# Loss terms drawn apart (dash-dot-dot), colours unlike the runs' own.
TERM_COLORS = ("#8c564b", "#e377c2", "#7f7f7f", "#bcbd22")


def loss_figure(
    reports: Report | Sequence[Report],
    live: dict[str, Any] | None = None,
) -> Figure | None:
    """Training (solid) and validation (dashed) loss, one colour per run.

    ``live`` is a run in progress: ``{"loss": [...], "steps_per_epoch": n,
    "label": str}``; it is drawn in the next run's colour.
    """
    runs = _as_list(reports)
    curves: list[tuple[str, str, dict[str, Any]]] = []
    for i, rep in enumerate(runs):
        tr = rep.traces.get("training")
        if tr and (tr.get("loss") or tr.get("epoch_loss")):
            curves.append((run_label(rep, i), RUN_COLORS[i % len(RUN_COLORS)], tr))
    if live is not None and live.get("loss"):
        color = RUN_COLORS[len(runs) % len(RUN_COLORS)]
        curves.append((_label(live.get("label") or f"run {len(runs) + 1} (running)"), color, live))
    if not curves:
        return None
    fig = _new()
    ax = fig.add_subplot()
    all_vals: list[float] = []
    for i, (label, color, tr) in enumerate(curves):
        # Earlier runs thicker: identical curves (a re-run that changed
        # nothing) still show both colours.
        lw = max(0.9, 2.6 - 0.6 * i) if len(curves) > 1 else 1.4
        spe = int(tr.get("steps_per_epoch") or 0)
        steps = [num(v) for v in tr.get("loss") or []]
        if steps:
            xs = [(k + 1) / spe if spe else k + 1 for k in range(len(steps))]
        else:
            steps = [num(v) for v in tr.get("epoch_loss") or []]
            xs = [k + 1 for k in range(len(steps))]
        pts = [(x, y) for x, y in zip(xs, steps, strict=False) if is_finite(y)]
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], color=color, lw=lw, label=f"{label} train")
            all_vals.extend(p[1] for p in pts)
        bad = next((k for k, y in enumerate(steps) if not is_finite(y)), None)
        if bad is not None:
            x_bad = xs[bad]
            y_bad = pts[-1][1] if pts else 1.0
            ax.plot([x_bad], [y_bad], marker="x", color=color, ms=10, mew=2)
            ax.annotate("loss NaN/Inf", (x_bad, y_bad), color=color, fontsize=8, xytext=(4, 4),
                        textcoords="offset points", **LITERAL)
        val = [num(v) for v in tr.get("val_loss") or []]
        vpts = [(k + 1, y) for k, y in enumerate(val) if is_finite(y)]
        if vpts:
            ax.plot([p[0] for p in vpts], [p[1] for p in vpts], color=color, lw=lw, ls="--", marker="o", ms=4,
                    label=f"{label} val")
            all_vals.extend(p[1] for p in vpts)
    # The loss terms the model reports itself (a VAE's reconstruction and
    # KL, from its train_step's logs), apart, for the first run: which term
    # drives the total is what tells posterior collapse from underfitting.
    first = curves[0][2]
    terms = {k: v for k, v in (first.get("loss_terms") or {}).items() if k != "loss" and isinstance(v, list)}
    if len(terms) >= 2:
        spe = int(first.get("steps_per_epoch") or 0)
        for j, (name, vals) in enumerate(sorted(terms.items())):
            tp = [((k + 1) / spe if spe else k + 1, num(y)) for k, y in enumerate(vals) if is_finite(num(y))]
            if tp:
                ax.plot([p[0] for p in tp], [p[1] for p in tp], color=TERM_COLORS[j % len(TERM_COLORS)], lw=1,
                        ls=(0, (3, 1, 1, 1)), label=f"term: {_label(name, 30)}")
                all_vals.extend(p[1] for p in tp)
    # Baselines only in the curve's own units: the loss-unit baselines
    # (baselines["loss_units"]) against the loss curves; the MSE ones only
    # when the loss is the MSE itself (older traces without loss units).
    b = curves[0][2].get("baselines") or {}
    units = b.get("loss_units")
    if units is None and str(curves[0][2].get("loss_name") or "").lower() in ("mse", "mean_squared_error"):
        units = {"mean": b.get("mean"), "pca": b.get("pca")}
    for key, ls, name in (("mean", ":", "predict-the-mean baseline"), ("pca", "-.", "PCA baseline")):
        base = (units or {}).get(key)
        if base is not None and is_finite(num(base)):
            ax.axhline(num(base), color="0.5", lw=1, ls=ls, label=name)
            all_vals.append(num(base))
    if _is_log_worthy(all_vals):
        ax.set_yscale("log")
    spe_any = any(int(tr.get("steps_per_epoch") or 0) for _, _, tr in curves)
    ax.set_xlabel("epoch" if spe_any or not any(tr.get("loss") for _, _, tr in curves) else "step", **LITERAL)
    ax.set_ylabel("loss", **LITERAL)
    ax.set_title("Loss (solid: training, dashed: validation)", fontsize=10, **LITERAL)
    ax.grid(alpha=0.3)
    _legend(ax, fontsize=8, loc="best")
    return fig


def lr_range_figure(report: Report) -> Figure | None:
    """The learning-rate range test: loss against lr (log x), with the configured and suggested rates."""
    lr = report.traces.get("lr_range")
    if not lr or not lr.get("lrs"):
        return None
    pts = [(num(a), num(b)) for a, b in zip(lr["lrs"], lr.get("losses") or [], strict=False)]
    pts = [p for p in pts if is_finite(p[0]) and p[0] > 0 and is_finite(p[1])]
    if not pts:
        return None
    fig = _new(6.4, 2.6)
    ax = fig.add_subplot()
    ax.plot([p[0] for p in pts], [p[1] for p in pts], color="#444", lw=1.4, marker=".", label="loss after a few steps")
    ax.set_xscale("log")
    if _is_log_worthy([p[1] for p in pts]):
        ax.set_yscale("log")
    for key, color, name in (("configured", "#1f77b4", "configured"), ("suggested", "#2ca02c", "suggested")):
        v = num(lr.get(key))
        if is_finite(v) and v > 0:
            ax.axvline(v, color=color, ls="--", lw=1.2, label=f"{name} lr {v:.1e}")
    ax.set_xlabel("learning rate", **LITERAL)
    ax.set_ylabel("loss", **LITERAL)
    ax.set_title("Learning-rate range test", fontsize=10, **LITERAL)
    ax.grid(alpha=0.3)
    _legend(ax, fontsize=8)
    return fig


# -- gradients -------------------------------------------------------------
def gradients_figure(report: Report) -> Figure | None:
    """Per-layer gradient norms: at the start (bars) and over the probe run (lines), log scale.

    A log axis can't show a zero: zero gradients are drawn at a floor below the
    smallest measured norm with their own marker and legend entry ("zero
    gradient"), missing or non-finite ones likewise ("no gradient / NaN"), on
    both charts.
    """
    from matplotlib.patches import Patch

    layers = (report.traces.get("gradients") or {}).get("layers") or []
    tr = report.traces.get("training") or {}
    over = tr.get("grad_norms") or {}
    steps = tr.get("grad_steps") or []
    if not layers and not over:
        return None
    names = layer_names(report)
    n_axes = int(bool(layers)) + int(bool(over))
    fig = _new(7.2 if n_axes == 1 else 12.0, max(3.6, 0.32 * len(layers) + 1.6))
    axes = fig.subplots(1, n_axes, squeeze=False)[0]
    k = 0
    if layers:
        ax = axes[k]
        k += 1
        labels = [_layer_label(names, row.get("layer")) for row in layers]
        norms = [num(row.get("grad_norm")) for row in layers]
        positive = [v for v in norms if is_finite(v) and v > 0]
        floor = min(positive) / 10 if positive else 1e-12
        heights, colors, notes = [], [], []
        for row, v in zip(layers, norms, strict=True):
            n_vars = int(row.get("n_vars") or 0)
            none_vars = int(row.get("none_vars") or 0)
            zero_vars = int(row.get("zero_vars") or 0)
            if n_vars and none_vars >= n_vars:
                heights.append(floor)
                colors.append(MISSING_COLOR)
                notes.append("no gradient")
            elif not is_finite(v):
                heights.append(max(positive) if positive else 1.0)
                colors.append(MISSING_COLOR)
                notes.append("NaN/Inf")
            elif v <= 0 or (n_vars and zero_vars >= n_vars):
                heights.append(floor)
                colors.append(ZERO_COLOR)
                notes.append("zero gradient")
            else:
                heights.append(v)
                colors.append("#1f77b4")
                notes.append("")
        ys = list(range(len(labels)))
        ax.barh(ys, heights, color=colors)
        ax.set_yticks(ys, labels, fontsize=9, **LITERAL)
        ax.invert_yaxis()
        ax.set_xscale("log")
        for y, h, note, c in zip(ys, heights, notes, colors, strict=True):
            if note:
                ax.text(h, y, f" {note}", va="center", fontsize=8, color=c, **LITERAL)
        handles = [Patch(color="#1f77b4", label="gradient norm")]
        if "zero gradient" in notes:
            handles.append(Patch(color=ZERO_COLOR, label="zero gradient (drawn at a floor)"))
        if "no gradient" in notes or "NaN/Inf" in notes:
            handles.append(Patch(color=MISSING_COLOR, label="no gradient / NaN"))
        if len(handles) > 1:
            _legend(ax, handles=handles, fontsize=8, loc="best")
        ax.set_xlabel("gradient norm (log)", **LITERAL)
        ax.set_title("Per layer at the start, input → output", fontsize=11, **LITERAL)
        ax.grid(alpha=0.3, axis="x")
    if over:
        ax = axes[k]
        order = [row.get("layer") for row in layers if row.get("layer") in over] or list(over)
        order += [name for name in over if name not in order]
        series = {}
        for name in order:
            vals = [num(v) for v in over[name]]
            xs = list(steps) if len(steps) == len(vals) else list(range(len(vals)))
            series[name] = (xs, vals)
        positive = [v for _, vals in series.values() for v in vals if is_finite(v) and v > 0]
        floor = min(positive) / 10 if positive else 1e-12
        zeros: list[tuple[Any, float]] = []
        missing: list[tuple[Any, float]] = []
        for j, name in enumerate(order):
            xs, vals = series[name]
            color = RUN_COLORS[j % len(RUN_COLORS)]
            pts = [(x, v) for x, v in zip(xs, vals, strict=False) if is_finite(v) and v > 0]
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], lw=1.4, label=_layer_label(names, name), color=color)
            else:  # still in the legend: the layer is there, its gradient is not
                ax.plot([], [], lw=1.4, label=_layer_label(names, name), color=color)
            zeros += [(x, floor) for x, v in zip(xs, vals, strict=False) if is_finite(v) and v <= 0]
            missing += [(x, floor) for x, v in zip(xs, vals, strict=False) if not is_finite(v)]
        if zeros:
            ax.scatter([p[0] for p in zeros], [p[1] for p in zeros], marker="v", s=28, color=ZERO_COLOR, zorder=3,
                       label="zero gradient")
        if missing:
            ax.scatter([p[0] for p in missing], [p[1] * 0.5 for p in missing], marker="x", s=28, color=MISSING_COLOR,
                       zorder=3, label="no gradient / NaN")
        if zeros or missing:
            ax.axhline(floor, color=NEUTRAL, lw=0.8, ls=":")
        ax.set_yscale("log")
        ax.set_xlabel("training step", **LITERAL)
        ax.set_ylabel("gradient norm (log)", **LITERAL)
        ax.set_title("Over the probe run", fontsize=11, **LITERAL)
        ax.grid(alpha=0.3)
        if order:
            n_entries = len(order) + bool(zeros) + bool(missing)
            _legend(ax, fontsize=8, ncol=2 if n_entries > 6 else 1)
    return fig


# -- activations -----------------------------------------------------------
def activations_figure(report: Report) -> Figure | None:
    """Share of dead (ReLU) and saturated (sigmoid/tanh) units per layer."""
    layers = (report.traces.get("gradients") or {}).get("layers") or []
    rows = [r for r in layers if r.get("dead_share") is not None or r.get("saturated_share") is not None]
    if not rows:
        return None
    fig = _new(6.4, 3.2)
    ax = fig.add_subplot()
    lnames = layer_names(report)
    names = [f"{_layer_label(lnames, r.get('layer'))} · {_label(r.get('activation') or 'linear')}" for r in rows]
    dead = [num(r.get("dead_share")) for r in rows]
    sat = [num(r.get("saturated_share")) for r in rows]
    ys = list(range(len(rows)))
    w = 0.4
    ax.barh([y - w / 2 for y in ys], [0 if not is_finite(v) else v * 100 for v in dead], height=w,
            color="#7f7f7f", label="dead (ReLU never active)")
    ax.barh([y + w / 2 for y in ys], [0 if not is_finite(v) else v * 100 for v in sat], height=w,
            color="#ff7f0e", label="saturated (flat region)")
    ax.set_yticks(ys, names, fontsize=9, **LITERAL)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of units", **LITERAL)
    ax.set_title("Activations per layer", fontsize=10, **LITERAL)
    ax.grid(alpha=0.3, axis="x")
    _legend(ax, fontsize=8, loc="lower right")
    return fig


# -- reconstructions -------------------------------------------------------
def _image_shape(shape: Sequence[int]) -> tuple[int, ...] | None:
    """The shape to draw a sample as an image, or None for vectors."""
    shape = tuple(int(s) for s in shape)
    if len(shape) == 2 and min(shape) >= 4:
        return shape
    if len(shape) == 3 and shape[-1] in (1, 3, 4) and min(shape[:2]) >= 4:
        return shape if shape[-1] != 1 else shape[:2]
    if len(shape) == 1:
        side = math.isqrt(shape[0])
        # A flattened square picture (MNIST's 784 = 28x28): draw it as one.
        if side * side == shape[0] and side >= 16:
            return (side, side)
    return None


def reconstructions_figure(report: Report, max_samples: int = 6) -> Figure | None:
    """Inputs beside reconstructions before and after the probe run."""
    rec = (report.traces.get("training") or {}).get("recon")
    if not rec or not rec.get("inputs"):
        return None
    import numpy as np

    shape = rec.get("shape") or [len(rec["inputs"][0])]
    rows = [("input", rec.get("inputs") or []), ("before", rec.get("before") or []), ("after", rec.get("after") or [])]
    rows = [(name, r) for name, r in rows if r]
    n = min(max_samples, len(rec["inputs"]))
    img = _image_shape(shape)
    if img is not None:
        # One grey scale for every panel, set by the inputs: a constant
        # "before" output must look grey, not be stretched to black or white.
        flat_in = np.array([num(v) for s in rec["inputs"][:n] for v in np.ravel(s)], dtype=float)
        flat_in = flat_in[np.isfinite(flat_in)]
        vmin = float(flat_in.min()) if flat_in.size else 0.0
        vmax = float(flat_in.max()) if flat_in.size else 1.0
        if vmax <= vmin:
            vmax = vmin + 1.0
        # A fixed layout: constrained layout over a grid of images costs more than the drawing.
        fig = Figure(figsize=(1.3 * n + 0.6, 1.3 * len(rows) + 0.4))
        fig.subplots_adjust(left=0.08, right=0.98, bottom=0.02, top=0.88, wspace=0.06, hspace=0.06)
        axes = fig.subplots(len(rows), n, squeeze=False)
        for i, (name, samples) in enumerate(rows):
            for j in range(n):
                ax = axes[i][j]
                ax.set_xticks([])
                ax.set_yticks([])
                if j < len(samples):
                    a = np.array([num(v) for v in np.ravel(samples[j])], dtype=float)
                    if a.size == math.prod(img):
                        a = a.reshape(img)
                        a = np.nan_to_num(a)
                        a = np.clip((a - vmin) / (vmax - vmin), 0.0, 1.0)
                        ax.imshow(a, cmap="gray" if a.ndim == 2 else None, vmin=0.0, vmax=1.0)
                if j == 0:
                    ax.set_ylabel(name, fontsize=9, **LITERAL)
        fig.suptitle("Reconstructions: input, before and after the probe run", fontsize=10, **LITERAL)
        return fig
    fig = _new(min(3.2 * n, 12.8), 2.6)
    axes = fig.subplots(1, n, squeeze=False)[0]
    styles = {"input": ("black", "-", 1.6), "before": ("#ff7f0e", ":", 1.2), "after": ("#1f77b4", "--", 1.2)}
    for j in range(n):
        ax = axes[j]
        for name, samples in rows:
            if j < len(samples):
                a = [num(v) for v in np.ravel(samples[j])]
                color, ls, lw = styles[name]
                ax.plot(a, color=color, ls=ls, lw=lw, label=name)
        ax.set_title(f"sample {rec.get('indices', list(range(n)))[j] if j < len(rec.get('indices') or []) else j}",
                     fontsize=8, **LITERAL)
        ax.tick_params(labelsize=7)
        if j == 0:
            _legend(ax, fontsize=8)
    fig.suptitle("Reconstructions: input vs output before and after the probe run", fontsize=10, **LITERAL)
    return fig


# -- graph -----------------------------------------------------------------
def _dangling_names(report: Report) -> list[str]:
    """Layers the AE102 findings call dangling (they are not in the model's graph)."""
    out: list[str] = []
    for f in report.findings:
        if f.code == "AE102":
            name = f.layer or f.evidence.get("layer") or f.evidence.get("variable")
            if name and str(name) not in out:
                out.append(str(name))
    return out


def graph_lines(report: Report) -> dict[Any, int]:
    """Graph node id -> its cell line, counted as the findings count them.

    The graph's own node lines count from the cell's first line of code, while
    ``report.calls`` (and the findings) count as the user sees the cell: under
    ``%%ae_check`` the magic line is line 1. The calls' lines win for the
    layers they name; the shift they show applies to the other nodes (inputs).
    """
    graph = (report.model or {}).get("graph") or {}
    nodes = [n for n in graph.get("nodes") or [] if isinstance(n, dict)]
    by_layer: dict[str, int] = {}
    for c in report.calls:
        if isinstance(c, dict) and isinstance(c.get("line"), int) and isinstance(c.get("layer"), str):
            by_layer.setdefault(c["layer"], c["line"])
    shifts = [by_layer[n["name"]] - n["line"] for n in nodes
              if isinstance(n.get("line"), int) and n.get("name") in by_layer]
    shift = max(set(shifts), key=shifts.count) if shifts else 0
    out: dict[Any, int] = {}
    for i, n in enumerate(nodes):
        nid = n.get("id", i)
        if n.get("name") in by_layer:
            out[nid] = by_layer[n["name"]]
        elif isinstance(n.get("line"), int) and n["line"] > 0:
            out[nid] = n["line"] + shift
    return out


def graph_figure(report: Report) -> Figure | None:
    """The layer chain, input at the top, with the bottleneck, dangling calls and bypasses highlighted.

    Reads ``report.model["graph"]`` (``GraphInfo.to_dict``): nodes with ids and
    parents, ``main_path``, ``code`` (the bottleneck node) and ``bypass_paths``.
    """
    graph = (report.model or {}).get("graph")
    if not graph or not graph.get("has_graph", True):
        return None
    nodes = [n for n in graph.get("nodes") or [] if isinstance(n, dict)]
    if not nodes:
        return None
    by_id = {n.get("id", i): n for i, n in enumerate(nodes)}
    order = list(by_id)  # ids are topological: parents are added before children
    main = [i for i in graph.get("main_path") or [] if i in by_id]
    main_set = set(main)
    code = graph.get("code")
    main_edges = set(itertools.pairwise(main))
    bypass_edges: set[tuple[Any, Any]] = set()
    for path in graph.get("bypass_paths") or []:
        for a, b in itertools.pairwise(path):
            if (a, b) not in main_edges:
                bypass_edges.add((a, b))
    dangling = _dangling_names(report)
    # AE103 may name the layer that reads the input instead of the code: its
    # incoming edges are the bypass even when the graph has one path only.
    name_to_id = {str(n.get("name")): nid for nid, n in by_id.items()}
    for f in report.findings:
        reader = f.evidence.get("reader") if f.code == "AE103" else None
        rid = name_to_id.get(str(reader)) if reader is not None else None
        if rid is not None:
            for pid in by_id[rid].get("parents") or []:
                bypass_edges.add((pid, rid))
            if code == rid:
                code = None  # the narrowest layer found is the reader, not a real code
    lines = graph_lines(report)
    lnames = layer_names(report)
    y_of = {nid: float(k) for k, nid in enumerate(order)}
    x_of = {nid: (0.0 if (nid in main_set or not main) else 2.2) for nid in order}

    n = len(order)
    fig = _new(7.2, max(2.4, 0.36 * (n + len(dangling)) + 0.9))
    ax = fig.add_subplot()
    ax.set_xlim(-3.6, 4.6)
    ax.set_ylim(n - 0.3 + len(dangling), -0.8)
    ax.axis("off")
    for nid in order:
        for pid in by_id[nid].get("parents") or []:
            if pid not in y_of:
                continue
            red = (pid, nid) in bypass_edges
            color, lw = ("#d62728", 2.0) if red else ("0.45", 1.0)
            x0, y0, x1, y1 = x_of[pid], y_of[pid], x_of[nid], y_of[nid]
            if x0 == x1 and abs(y1 - y0) == 1:
                ax.annotate("", (x1, y1 - 0.28), (x0, y0 + 0.28),
                            arrowprops={"arrowstyle": "->", "color": color, "lw": lw})
            else:
                # Skips arc around the right side of the chain so they stay visible.
                ax.annotate("", (x1 + 1.0, y1), (x0 + 1.0, y0),
                            arrowprops={"arrowstyle": "->", "color": color, "lw": lw,
                                        "connectionstyle": "arc3,rad=-0.5"})
    if bypass_edges:
        ys = [y_of[b] for _, b in bypass_edges if b in y_of]
        ax.text(2.3, sum(ys) / len(ys), "bypasses the\nbottleneck", color="#d62728", fontsize=8, va="center", **LITERAL)
    for nid in order:
        node = by_id[nid]
        shape = node.get("shape") or []
        dims = "×".join("?" if d is None else str(d) for d in shape[1:])
        act = node.get("activation")
        text = f"{_layer_label(lnames, node.get('name'))}  {_label(node.get('class') or '')}  ({_label(dims)})"
        if act and act != "linear":
            text += f"  {_label(act)}"
        is_code = nid == code
        face = "#fde9b3" if is_code else ("#e8eef7" if nid in main_set or not main else "#f3e5f5")
        edge = "#d08c00" if is_code else "#6b7b93"
        ax.text(x_of[nid], y_of[nid], text, ha="center", va="center", fontsize=8.5, **LITERAL,
                bbox={"boxstyle": "round,pad=0.25", "fc": face, "ec": edge, "lw": 2 if is_code else 1})
        if lines.get(nid):
            ax.text(-3.5, y_of[nid], f"line {_label(lines[nid])}", fontsize=8, va="center", color="0.45", **LITERAL)
        if is_code:
            ax.text(-2.6, y_of[nid], "bottleneck", color="#d08c00", fontsize=8, va="center", weight="bold", **LITERAL)
    for k, name in enumerate(dangling):
        ax.text(0, n + k, f"{_label(name)}  (dangling: never reaches the output)", ha="center", va="center", fontsize=7.5,
                **LITERAL,
                color="#d62728", bbox={"boxstyle": "round,pad=0.25", "fc": "#fbd0d0", "ec": "#d62728", "ls": "--"})
    ax.set_title("Layer graph (input at the top)", fontsize=10, **LITERAL)
    return fig


# -- all at once -----------------------------------------------------------
def figure_for(report: Report, name: str) -> Figure | None:
    """One plot of ``report`` by name (``"loss"``, ``"lr_range"``, ``"gradients"``, ...)."""
    fns = {
        "loss": loss_figure,
        "lr_range": lr_range_figure,
        "gradients": gradients_figure,
        "activations": activations_figure,
        "reconstructions": reconstructions_figure,
        "graph": graph_figure,
    }
    return fns[name](report)


ALL_PLOTS = ("loss", "lr_range", "gradients", "activations", "reconstructions", "graph")


def figures(report: Report, runs: Sequence[Report] | None = None) -> dict[str, Figure | None]:
    """Every plot of ``report`` by name; the loss plot overlays ``runs`` when given."""
    out = {name: figure_for(report, name) for name in ALL_PLOTS}
    if runs:
        out["loss"] = loss_figure(list(runs))
    return out


def report_png(report: Report, name: str) -> bytes | None:
    """PNG bytes of one plot of ``report`` (None without data), cached on the report."""
    cache: dict[str, bytes | None] = report.__dict__.setdefault("_ae_pngs", {})
    if name not in cache:
        fig = figure_for(report, name)
        cache[name] = figure_png(fig) if fig is not None else None
    return cache[name]


def report_pngs(report: Report) -> dict[str, bytes]:
    """PNG bytes of every plot the report has data for (cached on the report)."""
    return {name: png for name in ALL_PLOTS if (png := report_png(report, name)) is not None}
