"""The gradients plot: per-layer gradient norms at the start and over the probe run, zeros and gaps marked."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from matplotlib.figure import Figure

from ..numeric import is_finite, num
from .plot_style import LITERAL, MISSING_COLOR, NEUTRAL, RUN_COLORS, ZERO_COLOR, layer_label, layer_names, literal_legend, new_figure

if TYPE_CHECKING:
    from ..report import Report


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
    fig = new_figure(7.2 if n_axes == 1 else 12.0, max(3.6, 0.32 * len(layers) + 1.6))
    axes = fig.subplots(1, n_axes, squeeze=False)[0]
    k = 0
    if layers:
        ax = axes[k]
        k += 1
        labels = [layer_label(names, row.get("layer")) for row in layers]
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
            literal_legend(ax, handles=handles, fontsize=8, loc="best")
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
                ax.plot([p[0] for p in pts], [p[1] for p in pts], lw=1.4, label=layer_label(names, name), color=color)
            else:  # still in the legend: the layer is there, its gradient is not
                ax.plot([], [], lw=1.4, label=layer_label(names, name), color=color)
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
            literal_legend(ax, fontsize=8, ncol=2 if n_entries > 6 else 1)
    return fig


