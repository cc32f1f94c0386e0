"""The ipywidgets panel ``%%ae_check`` shows: verdict, findings, plot tabs and
re-run controls that add runs to a comparison.

The panel only renders :class:`~ae_magic.report.Report` objects. Re-runs go
through one callback, the check's ``Session.rerun`` (the same pipeline), and
come back as Reports; the panel imports nothing of the engine.
Everything is driven by traits, so tests can move a slider, call
``button.click()`` and read the widgets without a browser.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from ..errors import UsageError
from ..numeric import finite_or_none
from . import html as rhtml
from . import plots
from .fixbox import FixBox, FixFn, has_edits

if TYPE_CHECKING:
    from ..report import Report

TABS = ("loss", "gradients", "activations", "reconstructions", "graph")
TAB_TITLES = ("Loss", "Gradients", "Activations", "Reconstructions", "Graph")
# Redraw the streamed loss curve at most this often (seconds): a PNG costs
# tens of milliseconds, a training step a few.
STREAM_INTERVAL = 0.5
BAR_INTERVAL = 0.1  # progress-bar updates (each is a comm message)
DEFAULT_LR = 1e-3
DEFAULT_EPOCHS = 3

RerunFn = Callable[..., "Report"]


def report_lr(report: Report) -> float | None:
    """The learning rate a report's run used (probe trace, params, then the model's optimizer)."""
    tr = report.traces.get("training") or {}
    for v in (tr.get("lr"), report.params.get("lr"), ((report.model or {}).get("optimizer") or {}).get("learning_rate")):
        x = finite_or_none(v)
        if x is not None and x > 0:
            return x
    return None


def report_epochs(report: Report) -> int | None:
    """The number of probe epochs a report's run used."""
    tr = report.traces.get("training") or {}
    for v in (tr.get("epochs"), report.params.get("epochs")):
        if isinstance(v, int) and v > 0:
            return v
    return None


def final_loss(report: Report) -> float | None:
    """The last finite training loss of a report's probe run."""
    tr = report.traces.get("training") or {}
    for key in ("epoch_loss", "loss"):
        vals = [finite_or_none(v) for v in tr.get(key) or []]
        if vals:
            return vals[-1]
    return None


def latent_state(report: Report) -> tuple[int | None, int | None, bool, str]:
    """(this run's latent width, the user's model's, can it be changed, why not), from the report alone."""
    facts = (report.model or {}).get("latent") or {}
    graph = (report.model or {}).get("graph") or {}
    facts = facts if isinstance(facts, dict) else {}
    graph = graph if isinstance(graph, dict) else {}

    def width(v: Any) -> int | None:  # a report from JSON or by hand may hold anything
        return int(v) if isinstance(v, int) and not isinstance(v, bool) and v > 0 else None

    applied = width(facts.get("applied", graph.get("code_width")))
    user = width(facts.get("user", applied))
    ok = bool(facts.get("changeable"))
    reason = str(facts.get("reason") or "")
    if not facts:
        reason = "This report does not say whether its model can be rebuilt (it was made by another version)."
    elif not ok and not reason:
        reason = "This model's bottleneck can't be rebuilt with another width."
    if ok and (applied is None or user is None):
        return applied, user, False, "The bottleneck width could not be determined."
    return applied, (user if user is not None else applied), ok, reason


class AePanel(widgets.VBox):
    """The interactive report: header, findings, plot tabs, re-run controls and run comparison."""

    def __init__(self, report: Report, *, rerun_fn: RerunFn | None = None, defer_plots: bool = False,
                 fix_fn: FixFn | None = None) -> None:
        """``defer_plots``: leave the plot tabs empty until :meth:`draw_plots` (show the panel sooner).

        ``fix_area`` (a VBox under the findings) is where "Try the fix" buttons go.
        """
        super().__init__()
        self._plots_on = not defer_plots
        self.add_class("ae-panel")
        self.runs: list[Report] = [report]
        self.errors: list[str] = []
        self.running = False
        # The static copy of the report shown as its own output beside the
        # panel (see show()); the panel hides it while its view is live.
        self.static_id = f"ae-static-{uuid.uuid4().hex}"
        self._live: dict[str, Any] | None = None
        self._last_draw = 0.0
        self._last_bar = 0.0
        # Re-runs need the live check (its Session); a report alone can't re-run.
        rerun_reason = "" if rerun_fn is not None else "This report has no live check to re-run (it was loaded or built without one)."
        self._rerun_fn = rerun_fn

        self.header = widgets.HTML()
        self.header.add_class("ae-panel-header")
        self.run_select = widgets.Dropdown(description="Showing", layout=widgets.Layout(width="320px"))
        # No scroll box of its own: a box scrolling inside the scrolling
        # notebook traps the wheel. Evidence is folded to keep it short.
        self.findings = widgets.HTML()
        self.findings.add_class("ae-panel-findings")
        # Buttons that try a finding's fix go here, under the findings.
        self.fix_area = widgets.VBox()
        self.fix_area.add_class("ae-fix-area")
        if has_edits(report):  # "Try the fix" (render/fixbox.py); fix_fn tries an edit on the live check
            self.fix_area.children = [FixBox(report, fix_fn)]
        # Hides the static copy while this view is live (a style only a
        # rendered widget applies: without a kernel the static copy shows).
        self.static_style = widgets.HTML(rhtml.hide_static_css(self.static_id),
                                         layout=widgets.Layout(height="0px", overflow="hidden", margin="0"))
        self.static_style.add_class("ae-static-hider")

        # One Image per tab (and a note shown instead when there is no data).
        self.images: dict[str, widgets.Image] = {}
        self.notes: dict[str, widgets.HTML] = {}
        children = []
        for name in TABS:
            img = widgets.Image(format="png", layout=widgets.Layout(max_width="100%", align_self="flex-start"))
            img.add_class(f"ae-plot-{name}")
            note = widgets.HTML()
            self.images[name] = img
            self.notes[name] = note
            extra: list[widgets.Widget] = []
            if name == "loss":
                self.lr_range_image = widgets.Image(
                    format="png", layout=widgets.Layout(max_width="100%", align_self="flex-start")
                )
                self.lr_range_image.add_class("ae-plot-lr_range")
                self.runs_table = widgets.HTML()
                self.runs_table.add_class("ae-runs")
                extra = [self.lr_range_image, self.runs_table]
            children.append(widgets.VBox([note, img, *extra]))
        self.tabs = widgets.Tab(children=children, titles=list(TAB_TITLES))
        self.tabs.add_class("ae-tabs")

        # -- controls ------------------------------------------------------
        lr0 = report_lr(report) or DEFAULT_LR
        # One width for every slider's label and track, so the rows line up
        # and the learning rate's readout (1.0e-03) is not squeezed.
        self.lr = widgets.FloatLogSlider(
            value=lr0, base=10, min=-6, max=0, step=0.1, description="learning rate",
            readout_format=".1e", continuous_update=False, style=_SLIDER_STYLE, layout=_slider_layout(),
        )
        self.lr.add_class("ae-lr")
        latent, user_latent, can_latent, latent_reason = latent_state(report)
        self.latent_current = latent
        self.latent_user = user_latent
        self.latent = widgets.IntSlider(
            value=latent or 1, min=1, max=max(8, 4 * (latent or 2)), description="latent size",
            continuous_update=False, disabled=not can_latent, style=_SLIDER_STYLE, layout=_slider_layout(),
        )
        self.latent.add_class("ae-latent")
        self.latent_reason = widgets.HTML(
            f'<span style="color:{rhtml.FG3};font-size:12px">{rhtml.esc(latent_reason)}</span>' if not can_latent else ""
        )
        self.latent_reason.add_class("ae-latent-reason")
        self.epochs = widgets.IntSlider(
            value=report_epochs(report) or DEFAULT_EPOCHS, min=1, max=50, description="epochs",
            continuous_update=False, style=_SLIDER_STYLE, layout=_slider_layout(),
        )
        self.epochs.add_class("ae-epochs")
        self.button = widgets.Button(description="Re-run", button_style="primary", icon="play",
                                     disabled=rerun_fn is None or bool(rerun_reason), tooltip=rerun_reason or
                                     "Probe a copy of the model with these settings; your model is not changed.")
        self.button.add_class("ae-rerun")
        self.rerun_reason = widgets.HTML(
            f'<span style="color:{rhtml.FG3};font-size:12px">{rhtml.esc(rerun_reason)}</span>' if rerun_reason else ""
        )
        self.progress = widgets.IntProgress(value=0, min=0, max=1, description="",
                                            layout=widgets.Layout(visibility="hidden", width="260px"))
        self.progress.add_class("ae-progress")
        self.status = widgets.HTML()
        self.status.add_class("ae-status")
        self.error = widgets.HTML()
        self.error.add_class("ae-error")
        row = widgets.Layout(flex_flow="row wrap", align_items="center", grid_gap="4px 16px")
        controls = widgets.VBox([
            widgets.HBox([self.lr, self.epochs], layout=row),
            widgets.HBox([self.latent, self.latent_reason], layout=row),
            widgets.HBox([self.button, self.progress, self.status, self.rerun_reason], layout=row),
            self.error,
        ])
        controls.add_class("ae-controls")

        self._shown = report
        self._drawn = set()
        self.run_select.observe(self._on_select, names="value")
        self.tabs.observe(self._on_tab, names="selected_index")
        self.button.on_click(self._on_rerun)
        self.children = [self.static_style, self.header, self.findings, self.fix_area, self.tabs, controls,
                         self.run_select]
        self._refresh_runs(select=0)

    # -- state ---------------------------------------------------------------
    @property
    def report(self) -> Report:
        """The run whose findings and plots are shown."""
        idx = self.run_select.value if isinstance(self.run_select.value, int) else len(self.runs) - 1
        return self.runs[idx]

    def _refresh_runs(self, select: int) -> None:
        self.run_select.options = [(plots.run_label(r, i), i) for i, r in enumerate(self.runs)]
        if self.run_select.value == select:
            self._show(self.runs[select])
        else:
            self.run_select.value = select  # triggers _on_select
        self.run_select.layout.display = "" if len(self.runs) > 1 else "none"
        if self._plots_on:
            self._draw_loss()
        self.runs_table.value = self._runs_table_html()

    def _on_select(self, change: dict[str, Any]) -> None:
        if isinstance(change.get("new"), int):
            self._show(self.runs[change["new"]])

    def _show(self, report: Report) -> None:
        self.header.value = rhtml.header_html(report)
        self.findings.value = rhtml.findings_html(report, evidence_open=False)
        self._shown = report
        self._drawn: set[str] = set()
        if self._plots_on:
            self._draw_tab(self.tabs.selected_index or 0)

    def draw_plots(self) -> None:
        """Draw the plots a deferred panel left out (the loss curves and the open tab)."""
        if self._plots_on:
            return
        self._plots_on = True
        self._draw_loss()
        self._draw_tab(self.tabs.selected_index or 0)

    def _draw_tab(self, index: int) -> None:
        """Render a tab's plots on first view: each PNG costs a fraction of a second."""
        name = TABS[index]
        report = self._shown
        if name in self._drawn:
            return
        self._drawn.add(name)
        if name == "loss":
            png = plots.report_png(report, "lr_range")
            self.lr_range_image.value = png or b""
            self.lr_range_image.layout.display = "" if png else "none"
            return  # the loss curves (all runs) are drawn by _draw_loss
        self._set_image(name, plots.report_png(report, name))

    def _on_tab(self, change: dict[str, Any]) -> None:
        if self._plots_on and isinstance(change.get("new"), int):
            self._draw_tab(change["new"])

    def _set_image(self, name: str, png: bytes | None) -> None:
        img, note = self.images[name], self.notes[name]
        img.value = png or b""
        img.layout.display = "" if png else "none"
        if png:
            note.value = ""
        elif name == "graph":
            note.value = _note("No layer graph: the model is subclassed, unbuilt, or was not found.")
        elif not self._shown.params.get("train", True):
            note.value = _note("Not measured: probes were skipped (--no-train). Press Re-run to measure.")
        else:
            note.value = _note("Not measured for this run (see the findings: the probes need a model that runs "
                               "on the data).")

    def _draw_loss(self) -> None:
        fig = plots.loss_figure(self.runs, live=self._live)
        self._set_image("loss", plots.figure_png(fig) if fig is not None else None)

    def _runs_table_html(self) -> str:
        """One row per run with exactly the options it applied (``report.params``), its final loss and findings."""
        keys = [k for k in RUN_PARAMS if any(k in r.params for r in self.runs)]
        keys += sorted({k for r in self.runs for k in r.params} - set(RUN_PARAMS) - set(keys))
        cell = "padding:2px 8px;text-align:left"
        rows = []
        for i, r in enumerate(self.runs):
            loss = final_loss(r)
            c = r.counts
            codes = ", ".join(dict.fromkeys(r.codes)) or "none"
            color = plots.RUN_COLORS[i % len(plots.RUN_COLORS)]
            params = "".join(f'<td style="{cell}" data-param="{rhtml.esc(k)}">{_param_text(k, r.params.get(k, None), k in r.params)}</td>'
                             for k in keys)
            rows.append(
                f'<tr class="ae-run-row"><td style="{cell}"><span style="color:{color}">■</span> {i + 1}</td>{params}'
                f'<td style="{cell}">{f"{loss:.4g}" if loss is not None else "–"}</td>'
                f'<td style="{cell}">{c["error"]} E · {c["warning"]} W · {c["info"]} I '
                f'<span style="color:{rhtml.FG3}">({rhtml.esc(codes)})</span></td></tr>'
            )
        titles = ["run", *(RUN_PARAMS.get(k, k) for k in keys), "final loss", "findings"]
        head = "".join(f'<th style="{cell};border-bottom:1px solid {rhtml.BORDER}">{rhtml.esc(h)}</th>' for h in titles)
        return (f'<table style="border-collapse:collapse;font-size:12px;margin-top:6px;color:{rhtml.FG}"><tr>{head}</tr>'
                f'{"".join(rows)}</table>')

    # -- re-run --------------------------------------------------------------
    def _progress(self, event: dict[str, Any]) -> None:
        phase = str(event.get("phase", ""))
        total = int(event.get("total") or 0)
        step = int(event.get("step") or 0)
        now = time.perf_counter()
        if now - self._last_bar >= BAR_INTERVAL or step >= total or phase != self.progress.description:
            self._last_bar = now
            if total > 0:
                self.progress.max = total
                self.progress.value = min(step, total)
            self.progress.description = phase
        if phase == "training" and self._live is not None:
            loss = event.get("loss")
            if loss is not None:
                self._live["loss"].append(loss)
            epochs = self._live.get("epochs") or 0
            if total and epochs and total % epochs == 0:
                self._live["steps_per_epoch"] = total // epochs
            now = time.perf_counter()
            if now - self._last_draw >= STREAM_INTERVAL:
                self._last_draw = now
                self._draw_loss()

    def rerun_kwargs(self) -> dict[str, Any]:
        """The arguments the Re-run button passes, from the controls."""
        latent = None
        # None means "the user's own model"; any other width is a rebuild.
        if not self.latent.disabled and self.latent.value != self.latent_user:
            latent = int(self.latent.value)
        # Re-run always trains, also when the first check ran with --no-train.
        return {"lr": float(self.lr.value), "latent": latent, "epochs": int(self.epochs.value), "train": True}

    def _on_rerun(self, _button: Any = None) -> None:
        if self.running or self._rerun_fn is None or self.button.disabled:
            return
        self.running = True
        self.button.disabled = True
        kwargs = self.rerun_kwargs()
        self.error.value = ""
        self.status.value = "running…"
        self.progress.value = 0
        self.progress.layout.visibility = "visible"
        label = f"run {len(self.runs) + 1} (running)"
        self._live = {"loss": [], "steps_per_epoch": None, "epochs": kwargs["epochs"], "label": label}
        self._last_draw = 0.0
        try:
            new = self._rerun_fn(progress=self._progress, **kwargs)
        except Exception as exc:  # shown in the panel; the kernel lives on
            self._fail(exc, kwargs)
        else:
            self._live = None
            self.runs.append(new)
            self._refresh_runs(select=len(self.runs) - 1)
            self.status.value = f"run {len(self.runs)} added"
        finally:
            self._live = None
            self.running = False
            self.button.disabled = False
            self.progress.layout.visibility = "hidden"

    def retire(self, message: str) -> None:
        """The check behind this panel was released: no more re-runs; say why. The shown runs stay."""
        self._rerun_fn = None
        self.button.disabled = True
        self.button.tooltip = message
        self.rerun_reason.value = f'<span style="color:{rhtml.FG3};font-size:12px">{rhtml.esc(message)}</span>'

    def close_all(self) -> None:
        """Close this panel and every widget in it (its cell ran again, so its output is gone)."""
        self._rerun_fn = None
        stack: list[Any] = [self]
        seen: set[int] = set()
        while stack:
            w = stack.pop()
            if id(w) in seen:
                continue
            seen.add(id(w))
            stack.extend(getattr(w, "children", ()) or ())
            if w is not self:
                w.close()
        self.runs = self.runs[:1]
        self.close()

    def _fail(self, exc: BaseException, kwargs: dict[str, Any]) -> None:
        settings = ", ".join(f"{k}={v}" for k, v in kwargs.items() if v is not None and k != "train")
        kind = "" if isinstance(exc, UsageError) else f"{type(exc).__name__}: "
        msg = f"Re-run ({settings}) failed: {kind}{exc}"
        self.errors.append(msg)
        self.status.value = ""
        self.error.value = (
            f'<div style="color:{rhtml.SEVERITY_COLORS["error"]};background:{rhtml.SEVERITY_BG["error"]};'
            f'padding:6px 10px;border-radius:3px">{rhtml.esc(msg)}</div>'
        )
        self._draw_loss()

    # -- display -------------------------------------------------------------
    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        """The widget view, and a one-line text: the report itself is the static output beside it.

        No ``text/html`` here: a frontend without widgets would show it next
        to the static copy (:meth:`static_output`), the diagnosis twice.
        """
        data = super()._repr_mimebundle_(**kwargs)
        if data is None:
            return None
        data.pop("text/html", None)
        data["text/plain"] = (f"{self.runs[0].text().splitlines()[0]} "
                              "(interactive panel: needs a running kernel; the full report is the next output)")
        return data

    def static_output(self, with_plots: bool = True) -> StaticReport:
        """The static copy of the first run, to display as its own output next to the panel."""
        return StaticReport(self.runs[0], with_plots=with_plots, static_id=self.static_id)


# The options a run may apply (``report.params``), in column order, with their titles.
RUN_PARAMS = {"lr": "lr", "epochs": "epochs", "latent": "latent", "batch_size": "batch", "subset": "subset",
              "steps": "steps", "seed": "seed", "train": "train", "range_test": "range test"}
_SLIDER_STYLE = {"description_width": "110px"}


def _slider_layout() -> widgets.Layout:
    return widgets.Layout(width="420px", min_width="300px")


def _param_text(key: str, value: Any, present: bool) -> str:
    """A run option as the runs table shows it ("–" where the run did not apply it)."""
    if not present or value is None:
        return "–"
    if key == "lr":
        x = finite_or_none(value)
        return f"{x:.1e}" if x is not None else rhtml.esc(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return rhtml.esc(value)


class StaticReport:
    """The report as a static output (``text/html`` and ``text/plain``, no widget).

    Shown beside the live panel, which hides it (:func:`ae_magic.render.html.hide_static_css`);
    a notebook saved and reopened without a kernel shows this one.
    """

    def __init__(self, report: Report, *, with_plots: bool = True, static_id: str | None = None) -> None:
        self.report = report
        self.with_plots = with_plots
        self.static_id = static_id

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return {
            "text/html": rhtml.render_html(self.report, with_plots=self.with_plots, static_id=self.static_id),
            "text/plain": self.report.text(),
        }


def _note(text: str) -> str:
    return f'<div style="color:{rhtml.FG3};font-size:12px;padding:8px 0">{rhtml.esc(text)}</div>'


class ProbeProgress:
    """Progress of the first check's probes: a bar that appears with the first
    probe event (after the cell's own output) and that the panel replaces."""

    def __init__(self) -> None:
        self.widget: widgets.HBox | None = None
        self.handle: Any = None
        self.events = 0
        self._last = 0.0

    def __call__(self, event: dict[str, Any]) -> None:
        self.events += 1
        if self.widget is None:
            from IPython.display import display

            self.bar = widgets.IntProgress(value=0, min=0, max=1, layout=widgets.Layout(width="260px"))
            self.label = widgets.HTML()
            self.widget = widgets.HBox([self.bar, self.label])
            self.widget.add_class("ae-check-progress")
            self.handle = display(self.widget, display_id=True)
        total = int(event.get("total") or 0)
        step = int(event.get("step") or 0)
        now = time.perf_counter()
        # Each update is a comm message: a few per second are enough.
        if now - self._last < BAR_INTERVAL and step < total:
            return
        self._last = now
        if total > 0:
            self.bar.max = total
            self.bar.value = min(step, total)
        loss = finite_or_none(event.get("loss"))
        text = f"ae_check: {event.get('phase', '')} {event.get('step', '')}/{total or '?'}"
        if loss is not None:
            text += f" · loss {loss:.4g}"
        self.label.value = f'<span style="color:#555;font-size:12px">{rhtml.esc(text)}</span>'

    def close(self) -> None:
        """Close the bar's widgets (only once its output is gone: the cell ran again)."""
        if self.widget is not None:
            for w in (self.bar, self.label, self.widget):
                w.close()
            self.widget = None

    def replace(self, obj: Any) -> bool:
        """Put ``obj`` where the bar is; False when the bar was never shown.

        The bar's widgets stay open: JupyterLab re-renders the output in the
        same renderer, which hides itself when the model it first showed is
        closed, and would take the panel with it.
        """
        if self.handle is None:
            return False
        self.handle.update(obj)
        return True


def show(report: Report, progress: ProbeProgress | None = None, *, rerun_fn: RerunFn | None = None,
         fix_fn: FixFn | None = None) -> AePanel | None:
    """Display the panel for ``report`` (in place of ``progress``'s bar, if it was shown) and its static copy.

    Two outputs: the live panel, and the static report (findings and plots as
    HTML) that the panel hides while its view is live, so a notebook saved
    and reopened without a kernel still shows the diagnosis.
    ``rerun_fn`` is the check's ``Session.rerun``: the panel's Re-run button
    calls it with the controls' settings. Falls back to the static HTML if
    the widgets fail.
    """
    from IPython.display import HTML, display

    handle = progress.handle if progress is not None else None
    try:
        panel = AePanel(report, rerun_fn=rerun_fn, defer_plots=True, fix_fn=fix_fn)
    except Exception as exc:  # never lose the report because of the panel
        display(HTML(rhtml.render_html(report)))
        display(HTML(_note(f"(The interactive panel could not be built: {type(exc).__name__}: {exc})")))
        return None
    # Show verdict, findings and controls at once; the plots follow (drawing
    # them all takes a second or two the person should not wait for). The
    # static copy is hidden while the panel is live, so it can wait for them.
    if handle is not None:
        handle.update(panel)
    else:
        display(panel)
    try:
        panel.draw_plots()
    finally:
        display(panel.static_output(with_plots=True))
    return panel
