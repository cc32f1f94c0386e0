"""What every plot shares: run colours, literal text for user names, the neutral theme, PNG output and labels.

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


# Keyword arguments of every text artist that may show a user's string.
LITERAL: dict[str, Any] = {"parse_math": False}
# A legend entry longer than this is cut: a long layer name must not squeeze the axes away.
_LEGEND_CHARS = 48


def text_label(value: Any, limit: int = 60) -> str:
    """A user's name as plot text: printable, shown as typed (used with ``LITERAL``), cut at ``limit`` characters."""
    text = printable(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def literal_legend(ax: Any, **kwargs: Any) -> Any:
    """``ax.legend`` whose entries (run labels, layer names) are drawn literally, long ones shortened."""
    leg = ax.legend(**kwargs)
    for t in leg.get_texts():
        t.set_parse_math(False)
        text = t.get_text()
        if len(text) > _LEGEND_CHARS:
            t.set_text(text[: _LEGEND_CHARS - 1] + "…")
    return leg



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
        text = text_label(latent)
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


def layer_label(names: dict[str, str], layer: Any) -> str:
    """How plots label ``layer``: its entry in ``names`` (:func:`layer_names`), else the name itself, as plot text."""
    return text_label(names.get(layer, layer) if isinstance(layer, str) else layer)


def png_base64(png: bytes) -> str:
    """``png`` as base64 text for a ``data:image/png`` URI."""
    return base64.b64encode(png).decode("ascii")


def new_figure(width: float = 6.4, height: float = 3.2) -> Figure:
    """A fresh constrained-layout ``Figure`` (never pyplot's, so nothing leaks into the notebook)."""
    fig = Figure(figsize=(width, height), layout="constrained")
    return fig


def is_log_worthy(values: Sequence[float]) -> bool:
    """Whether ``values`` (the finite ones, all positive) span more than 30x, so a log axis reads better."""
    vals = [v for v in values if is_finite(v)]
    if not vals or min(vals) <= 0:
        return False
    return max(vals) / min(vals) > 30
