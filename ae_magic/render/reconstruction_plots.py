"""The reconstructions plot: inputs beside the outputs before and after the probe run (images or curves)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from matplotlib.figure import Figure

from ..numeric import num
from .plot_style import LITERAL, literal_legend, new_figure

if TYPE_CHECKING:
    from ..report import Report


def image_shape(shape: Sequence[int]) -> tuple[int, ...] | None:
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
    img = image_shape(shape)
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
    fig = new_figure(min(3.2 * n, 12.8), 2.6)
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
            literal_legend(ax, fontsize=8)
    fig.suptitle("Reconstructions: input vs output before and after the probe run", fontsize=10, **LITERAL)
    return fig


