"""The loss plots: training and validation loss per run (with the model's own loss terms and the
baselines in the loss's units), and the learning-rate range test."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from matplotlib.figure import Figure

from ..numeric import is_finite, num
from .plot_style import LITERAL, RUN_COLORS, is_log_worthy, literal_legend, new_figure, run_label, text_label

if TYPE_CHECKING:
    from ..report import Report


def _as_list(reports: Report | Sequence[Report]) -> list[Report]:
    if isinstance(reports, Sequence):
        return list(reports)
    return [reports]


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
        curves.append((text_label(live.get("label") or f"run {len(runs) + 1} (running)"), color, live))
    if not curves:
        return None
    fig = new_figure()
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
                        ls=(0, (3, 1, 1, 1)), label=f"term: {text_label(name, 30)}")
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
    if is_log_worthy(all_vals):
        ax.set_yscale("log")
    spe_any = any(int(tr.get("steps_per_epoch") or 0) for _, _, tr in curves)
    ax.set_xlabel("epoch" if spe_any or not any(tr.get("loss") for _, _, tr in curves) else "step", **LITERAL)
    ax.set_ylabel("loss", **LITERAL)
    ax.set_title("Loss (solid: training, dashed: validation)", fontsize=10, **LITERAL)
    ax.grid(alpha=0.3)
    literal_legend(ax, fontsize=8, loc="best")
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
    fig = new_figure(6.4, 2.6)
    ax = fig.add_subplot()
    ax.plot([p[0] for p in pts], [p[1] for p in pts], color="#444", lw=1.4, marker=".", label="loss after a few steps")
    ax.set_xscale("log")
    if is_log_worthy([p[1] for p in pts]):
        ax.set_yscale("log")
    for key, color, name in (("configured", "#1f77b4", "configured"), ("suggested", "#2ca02c", "suggested")):
        v = num(lr.get(key))
        if is_finite(v) and v > 0:
            ax.axvline(v, color=color, ls="--", lw=1.2, label=f"{name} lr {v:.1e}")
    ax.set_xlabel("learning rate", **LITERAL)
    ax.set_ylabel("loss", **LITERAL)
    ax.set_title("Learning-rate range test", fontsize=10, **LITERAL)
    ax.grid(alpha=0.3)
    literal_legend(ax, fontsize=8)
    return fig

