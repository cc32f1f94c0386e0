"""Matplotlib figures of a report's traces (loss, gradients, activations,
reconstructions, graph), built with ``Figure()`` so nothing leaks into pyplot.

Every ``*_figure`` function returns ``None`` when the report has no data for
that plot, so callers can say "not measured" instead of drawing empty axes.
Traces follow the shared schema (see ``ae_magic.report.Report.traces``);
values may be floats, ``None`` or the strings ``"nan"``/``"inf"`` of the JSON
form, so every number goes through ``ae_magic.numeric.num``.

The plots live in a module each (``loss_plots``, ``gradient_plots``,
``activation_plots``, ``reconstruction_plots``, ``graph_plot``) over the shared
``plot_style``; this module gets them by name and caches their PNGs. Its
re-exports keep ``plots.loss_figure``, ``plots.figure_png`` ... working.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from matplotlib.figure import Figure

from .activation_plots import activations_figure
from .gradient_plots import gradients_figure
from .graph_plot import graph_figure, graph_lines
from .loss_plots import TERM_COLORS, loss_figure, lr_range_figure
from .plot_style import (
    LITERAL,
    MISSING_COLOR,
    NEUTRAL,
    PLOT_NAMES,
    RUN_COLORS,
    ZERO_COLOR,
    figure_png,
    layer_names,
    png_base64,
    run_label,
    theme_neutral,
)
from .reconstruction_plots import image_shape, reconstructions_figure

if TYPE_CHECKING:
    from ..report import Report

__all__ = [
    "ALL_PLOTS",
    "LITERAL",
    "MISSING_COLOR",
    "NEUTRAL",
    "PLOT_NAMES",
    "RUN_COLORS",
    "TERM_COLORS",
    "ZERO_COLOR",
    "activations_figure",
    "figure_for",
    "figure_png",
    "figures",
    "gradients_figure",
    "graph_figure",
    "graph_lines",
    "image_shape",
    "layer_names",
    "loss_figure",
    "lr_range_figure",
    "png_base64",
    "reconstructions_figure",
    "report_png",
    "report_pngs",
    "run_label",
    "theme_neutral",
]


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
