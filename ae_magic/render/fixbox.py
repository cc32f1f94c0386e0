"""The "Try the fix" part of the panel: a button per fix that is an edit of the cell.

A renderer reads Reports only, so the trying itself is a callable the front
end passes in (``fix_fn``, :func:`ae_magic.trial.fix_fn` of the check's
Session): ``fix_fn(finding)`` tries one finding's edit, ``fix_fn(None)``
every edit at once, and returns a trial result (``verified``, ``reason``,
``gone``, ``new``, ``before``/``after`` reports, ``source``, ``scale``).

Before and after are shown side by side: the findings that went away and
those that appeared, the held-out error curves overlaid on the same axes
(in the original data's units) and the reconstructions of the same samples.
**Apply** puts the fixed cell into a new cell below the check: through
JupyterLab's own commands (``notebook:insert-cell-below`` then
``notebook:replace-selection``) when the page exposes the app; in a default
JupyterLab through the page (the toolbar's "+", else B in command mode, then
the new cell's CodeMirror editor); failing both it copies the fixed cell to
the clipboard. The note says which happened. The fixed cell is shown in a
text box either way.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from ..numeric import num
from ..report import Finding, Report
from .plot_style import LITERAL, figure_png
from .reconstruction_plots import image_shape

FixFn = Callable[[Finding | None], Any]


def has_edits(report: Report) -> bool:
    """Whether any finding of ``report`` carries an edit to try."""
    return any(f.edit for f in report.findings)


class FixBox(widgets.VBox):
    """Buttons that try each edit (and all of them), and the before/after of the last try."""

    def __init__(self, report: Report, fix_fn: FixFn | None) -> None:
        super().__init__()
        self.add_class("ae-fixbox")
        self.report = report
        self._fix_fn = fix_fn
        self.last: Any = None
        self.buttons: list[widgets.Button] = []
        rows: list[widgets.Widget] = []
        edited = [f for f in report.findings if f.edit]
        why = "" if fix_fn is not None else "This report has no live check to try fixes on."
        for f in edited:
            e = f.edit or {}
            b = widgets.Button(description=f"Try the fix ({f.code})", disabled=fix_fn is None, tooltip=why or
                               f"Run the cell with lines {e.get('start_line')}-{e.get('end_line')} edited, in a scratch "
                               "namespace, and check it again")
            b.on_click(lambda _b, f=f: self.try_fix(f))
            self.buttons.append(b)
            rows.append(widgets.HBox([b, widgets.HTML(_edit_html(f))]))
        self.all_button = widgets.Button(description="Try all fixes", disabled=fix_fn is None or not edited,
                                         tooltip=why or "Apply every edit at once and check the cell again")
        self.all_button.on_click(lambda _b: self.try_fix(None))
        self.buttons.append(self.all_button)
        self.status = widgets.HTML()
        self.result = widgets.VBox()
        head = widgets.HTML("<b>Try the fix</b> (a copy of the cell runs in a scratch namespace; your objects are "
                            "not touched)" if edited else "")
        self.children = [head, *rows, self.all_button, self.status, self.result] if edited else []

    def try_fix(self, finding: Finding | None) -> Any:
        """Try one finding's edit (None: every edit) and show the before and after."""
        if self._fix_fn is None:
            return None
        for b in self.buttons:
            b.disabled = True
        what = f"the fix of {finding.code}" if finding else "every fix"
        self.status.value = f"<i>Checking the cell with {html.escape(what)} applied…</i>"
        try:
            result = self._fix_fn(finding)
        except Exception as exc:  # a try that fails is shown, never raised into the widget's comm
            self.status.value = f"<span style='color:#d62728'>Could not try {html.escape(what)}: {html.escape(str(exc))}</span>"
            return None
        finally:
            for b in self.buttons:
                b.disabled = False
        self.last = result
        self.status.value = ""
        self.show(result)
        return result

    def show(self, result: Any) -> None:
        """Lay out one trial result: verdict, findings gone and new, curves, reconstructions, Apply."""
        ok = bool(getattr(result, "verified", False))
        mark = "<span style='color:#2ca02c'>verified</span>" if ok else "<span style='color:#d62728'>not verified</span>"
        gone = ", ".join(getattr(result, "gone", []) or []) or "none"
        new = ", ".join(getattr(result, "new", []) or []) or "none"
        codes = ", ".join(getattr(result, "codes", []) or [])
        verdict = widgets.HTML(
            f"<div><b>{html.escape(codes)}</b>: {mark} ({html.escape(str(getattr(result, 'reason', '')))})<br>"
            f"Findings gone: <b>{html.escape(gone)}</b>; new: <b>{html.escape(new)}</b></div>")
        parts: list[widgets.Widget] = [verdict]
        png = compare_png(result)
        if png:
            parts.append(widgets.Image(value=png, format="png", layout=widgets.Layout(max_width="100%")))
        source = str(getattr(result, "source", "") or "")
        code = widgets.Textarea(value=source, layout=widgets.Layout(width="100%", height=f"{min(20, source.count(chr(10)) + 2) * 1.4}em"))
        apply = widgets.Button(description="Apply", button_style="success",
                               tooltip="Put the fixed cell into a new cell below (your cell stays as it is)")
        out = widgets.Output()
        apply.on_click(lambda _b: self.apply(source, out))
        parts += [widgets.HBox([apply, widgets.HTML("<i>the fixed cell:</i>")]), code, out]
        self.result.children = parts

    def apply(self, source: str, out: Any) -> None:
        """Insert ``source`` as a new cell below (or copy it to the clipboard where the page can't)."""
        from IPython.display import HTML, display

        out.clear_output()
        with out:
            display(HTML(apply_html(source)))


def apply_html(source: str) -> str:
    """HTML whose script inserts ``source`` as a new cell below the checked one, or copies it.

    JupyterLab runs the scripts of trusted outputs (an Output widget's are).
    Where the page exposes the app (``window.jupyterapp``) its commands insert
    the cell; in a default JupyterLab the script does what a person would:
    selects the checked cell, presses the toolbar's "+" (else B in command
    mode) and writes the text into the new cell's CodeMirror editor. The
    clipboard is the last resort. The note says which of these happened.
    """
    payload = json.dumps(source).replace("</", "<\\/")
    return ('<div class="ae-apply-note">Putting the fixed cell below…</div>\n<script>\n'
            + _APPLY_JS.replace("__TEXT__", payload) + "</script>")


# The script of apply_html; __TEXT__ is the fixed cell as a JSON string.
_APPLY_JS = r"""(function () {
  const text = __TEXT__;
  const notes = document.querySelectorAll('.ae-apply-note');
  const note = notes[notes.length - 1];
  const say = (m) => { if (note) note.textContent = m; };
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const copy = (lead) => {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).then(
        () => say(lead + 'The fixed cell is on the clipboard: insert a cell below (B) and paste it (Ctrl+V).'),
        () => say(lead + 'Copy the fixed cell from the box above into a new cell below.'));
    }
    say(lead + 'Copy the fixed cell from the box above into a new cell below.');
    return Promise.resolve();
  };
  // The CodeMirror 6 view of a cell's editor: the DOM keeps a reference (what EditorView.findFromDOM reads).
  const editorView = (cellNode) => {
    const c = cellNode.querySelector('.jp-InputArea-editor .cm-content');
    if (!c) return null;
    const t = c.cmTile;
    return (t && t.root && t.root.view) || (c.cmView && c.cmView.view) || null;
  };
  const shown = (cellNode) => [...cellNode.querySelectorAll('.jp-InputArea-editor .cm-line')]
    .map((l) => l.textContent).join('\n');
  const setText = async (cellNode) => {
    const view = editorView(cellNode);
    if (view) {
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
      return view.state.doc.toString() === text;
    }
    const c = cellNode.querySelector('.jp-InputArea-editor .cm-content');
    if (!c) return false;
    const data = new DataTransfer();
    data.setData('text/plain', text);
    c.focus();
    c.dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }));
    for (let t = 0; t < 2000 && shown(cellNode) !== text; t += 50) await sleep(50);
    return shown(cellNode) === text;
  };
  const key = (target, name, k, code, keyCode) => {
    const ev = new KeyboardEvent(name, { key: k, code, keyCode, which: keyCode, bubbles: true, cancelable: true });
    // Lumino maps keystrokes by keyCode, which some engines ignore in the init dict.
    if (ev.keyCode !== keyCode) {
      Object.defineProperty(ev, 'keyCode', { get: () => keyCode });
      Object.defineProperty(ev, 'which', { get: () => keyCode });
    }
    target.dispatchEvent(ev);
  };
  const mouse = (target) => {
    for (const name of ['mousedown', 'mouseup', 'click']) {
      target.dispatchEvent(new MouseEvent(name, { bubbles: true, cancelable: true, button: 0, view: window }));
    }
  };
  // Without the app: the same steps a person takes. Select the checked cell
  // (a click in its output area), insert a cell below it (the toolbar's "+",
  // else B in command mode), then write the text into the new cell's editor.
  const inPage = async () => {
    const cell = note && note.closest('.jp-Cell');
    const nb = cell && cell.closest('.jp-Notebook');
    if (!cell || !nb) return 'the checked cell is not on the page';
    const old = new Set(nb.querySelectorAll('.jp-Cell'));
    const below = () => {
      const all = [...nb.querySelectorAll('.jp-Cell')];
      const n = all[all.indexOf(cell) + 1];
      return n && !old.has(n) ? n : null;
    };
    const fresh = () => [...nb.querySelectorAll('.jp-Cell')].some((n) => !old.has(n));
    const wait = async (ok, ms) => { for (let t = 0; t < ms && !ok(); t += 50) await sleep(50); return ok(); };
    mouse(note);
    if (!(await wait(() => cell.classList.contains('jp-mod-active'), 2000))) return 'could not select the checked cell';
    const panel = nb.closest('.jp-NotebookPanel');
    const plus = panel && panel.querySelector('.jp-Toolbar [data-command="notebook:insert-cell-below"]');
    if (plus) {
      mouse(plus);
      await wait(fresh, 2000);
    }
    if (!fresh()) {
      if (!nb.contains(document.activeElement)) nb.focus();
      if (!nb.classList.contains('jp-mod-commandMode')) key(document.activeElement, 'keydown', 'Escape', 'Escape', 27);
      key(document.activeElement, 'keydown', 'b', 'KeyB', 66);
      key(document.activeElement, 'keyup', 'b', 'KeyB', 66);
      await wait(fresh, 2000);
    }
    if (!fresh()) return 'could not insert a cell';
    if (!(await wait(() => { const n = below(); return n && n.querySelector('.cm-content'); }, 5000))) {
      return 'the new cell is not right below the checked cell';
    }
    return (await setText(below())) ? 'ok' : 'inserted';
  };
  const app = window.jupyterapp || window.jupyterlab;
  if (app && app.commands) {
    app.commands.execute('notebook:insert-cell-below')
      .then(() => app.commands.execute('notebook:replace-selection', { text }))
      .then(() => say('The fixed cell is in a new cell below; run it to check it.'),
            () => say('Could not insert a cell; copy the fixed cell from the box above.'));
    return;
  }
  inPage().then((how) => {
    if (how === 'ok') {
      say('The fixed cell is in a new cell below (inserted through the page, as JupyterLab does not expose its app); run it to check it.');
    } else if (how === 'inserted') {
      copy('A new cell is below, but the fixed cell could not be written into it. ');
    } else {
      copy('Could not put the fixed cell below (' + how + '). ');
    }
  }, (e) => copy('Could not put the fixed cell below (' + e + '). '));
})();
"""


# -- the before/after figure ---------------------------------------------------
def compare_png(result: Any) -> bytes | None:
    """PNG of the held-out error curves overlaid and the same samples' reconstructions, before and after."""
    before: Report | None = getattr(result, "before", None)
    after: Report | None = getattr(result, "after", None)
    if before is None or after is None:
        return None
    tb = before.traces.get("training") or {}
    ta = after.traces.get("training") or {}
    if not tb and not ta:
        return None
    from matplotlib.figure import Figure

    scale = getattr(result, "scale", None) or 1.0
    rb, ra = tb.get("recon") or {}, ta.get("recon") or {}
    n = min(4, len(rb.get("targets") or []), len(ra.get("targets") or []))
    fig = Figure(figsize=(4.2 + 1.3 * max(n, 1), 3.4), layout="constrained")
    grid = fig.add_gridspec(3, 1 + max(n, 1), width_ratios=[3.2] + [1.0] * max(n, 1))
    ax = fig.add_subplot(grid[:, 0])
    for label, tr, k, color in (("before", tb, 1.0, "#ff7f0e"), ("after", ta, scale, "#1f77b4")):
        curve = tr.get("val_curve") or {}
        steps, mse = curve.get("steps") or [], curve.get("mse") or []
        pts = [(s, num(v) / k**2) for s, v in zip(steps, mse, strict=False) if math.isfinite(num(v))]
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], color=color, label=f"{label} the fix")
    ax.set_xlabel("probe step", **LITERAL)
    ax.set_ylabel("held-out MSE (original units)", **LITERAL)
    vals = [line.get_ydata() for line in ax.get_lines()]
    flat = [float(v) for ys in vals for v in ys if v > 0]
    if flat and max(flat) / min(flat) > 30:
        ax.set_yscale("log")
    if ax.get_lines():
        ax.legend(fontsize=8)
    ax.set_title("Held-out error, before and after", fontsize=10, **LITERAL)
    if n and rb.get("indices") == ra.get("indices"):
        _recon_panels(fig, grid, rb, ra, n)
    return figure_png(fig)


def _recon_panels(fig: Any, grid: Any, rb: dict[str, Any], ra: dict[str, Any], n: int) -> None:
    """Targets, reconstructions before and after: one column per sample (the same samples)."""
    import numpy as np

    shape = rb.get("target_shape") or rb.get("shape") or []
    img = image_shape(shape) if shape else None
    rows = (("target", rb.get("targets")), ("before", rb.get("after")), ("after", ra.get("after")))
    for j in range(n):
        for i, (name, samples) in enumerate(rows):
            ax = fig.add_subplot(grid[i, 1 + j])
            ax.set_xticks([])
            ax.set_yticks([])
            if not samples or j >= len(samples):
                continue
            a = np.array([num(v) for v in np.ravel(samples[j])], dtype=float)
            a = np.nan_to_num(a)
            if img is not None and a.size == math.prod(img):
                # Each panel on its own grey scale: before and after may be in different units.
                lo, hi = float(a.min()), float(a.max())
                ax.imshow((a.reshape(img) - lo) / ((hi - lo) or 1.0), cmap="gray" if len(img) == 2 else None,
                          vmin=0.0, vmax=1.0)
            else:
                ax.plot(a, lw=0.8)
            if j == 0:
                ax.set_ylabel(name, fontsize=8, **LITERAL)


def _edit_html(f: Finding) -> str:
    """The edit as a small diff: the cell lines it replaces and their new text."""
    e = f.edit or {}
    start, end = e.get("start_line"), e.get("end_line")
    where = f"line {start}" if start == end else f"lines {start}-{end}"
    new = html.escape(str(e.get("replacement", "")))
    return (f"<span style='margin-left:8px'>{html.escape(f.title)} — {where} becomes:</span>"
            f"<pre style='margin:2px 0 2px 8px;font-size:90%'>{new}</pre>")
