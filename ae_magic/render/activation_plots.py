"""The activations plot: the share of dead (ReLU) and saturated (sigmoid/tanh) units per layer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from matplotlib.figure import Figure

from ..numeric import is_finite, num
from .plot_style import LITERAL, layer_label, layer_names, literal_legend, new_figure, text_label

if TYPE_CHECKING:
    from ..report import Report


def activations_figure(report: Report) -> Figure | None:
    """Share of dead (ReLU) and saturated (sigmoid/tanh) units per layer."""
    layers = (report.traces.get("gradients") or {}).get("layers") or []
    rows = [r for r in layers if r.get("dead_share") is not None or r.get("saturated_share") is not None]
    if not rows:
        return None
    fig = new_figure(6.4, 3.2)
    ax = fig.add_subplot()
    lnames = layer_names(report)
    names = [f"{layer_label(lnames, r.get('layer'))} · {text_label(r.get('activation') or 'linear')}" for r in rows]
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
    literal_legend(ax, fontsize=8, loc="lower right")
    return fig


