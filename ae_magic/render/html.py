"""Static HTML of a report: every finding and every plot (embedded PNG).

This is the rich display that survives without a widget manager (nbviewer,
GitHub, ``nbconvert``): ``Report._repr_html_`` and the panel's ``text/html``
fallback both call :func:`render_html`. Styles are inline because some
renderers drop ``<style>`` blocks.

Colours follow the JupyterLab theme through its CSS variables
(``--jp-ui-font-color1``, ``--jp-layout-color2``, ``--jp-border-color2`` ...),
each with a light fallback for pages without them (nbviewer, GitHub, a saved
file); severity tints are translucent so they read on dark backgrounds too.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import plots
from .text import printable
from .verdict import verdict

if TYPE_CHECKING:
    from ..report import Finding, Report

SEVERITY_COLORS = {"error": "#c62828", "warning": "#b26a00", "info": "#1565c0"}
# Translucent tints: readable on the light and the dark JupyterLab themes.
SEVERITY_BG = {"error": "rgba(198,40,40,0.10)", "warning": "rgba(178,106,0,0.10)", "info": "rgba(21,101,192,0.10)"}
# Theme colours (JupyterLab CSS variables, with fallbacks outside JupyterLab).
FG = "var(--jp-ui-font-color1, #212121)"
FG2 = "var(--jp-ui-font-color2, #555)"
FG3 = "var(--jp-ui-font-color3, #777)"
BG2 = "var(--jp-layout-color2, #f6f8fa)"
BORDER = "var(--jp-border-color2, #e0e0e0)"
FONT = "var(--jp-ui-font-family, -apple-system, BlinkMacSystemFont, Segoe UI, Helvetica, Arial, sans-serif)"
OK_COLOR = "#2e7d32"
# No error or warning, but something was not checked: neither red nor green.
INCOMPLETE_COLOR = "#616161"
LEVEL_COLORS = {**SEVERITY_COLORS, "incomplete": INCOMPLETE_COLOR, "ok": OK_COLOR}
# The colours above are dark enough for text on the light theme only (the
# severity label and the verdict: about 3:1 on JupyterLab Dark, measured by
# tests/test_browser.py). On the dark theme a stylesheet swaps in lighter ones.
_DARK = 'body[data-jp-theme-light="false"]'
DARK_THEME_CSS = "<style>" + "".join(
    f"{_DARK} .ae-sev-label-{k},{_DARK} .ae-verdict[data-level={k}]{{color:{c} !important}}"
    for k, c in {"error": "#ef5350", "warning": "#ffa726", "info": "#64b5f6", "incomplete": "#bdbdbd",
                 "ok": "#66bb6a"}.items()
) + "</style>"
PLOT_TITLES = {
    "loss": "Loss",
    "lr_range": "Learning-rate range test",
    "gradients": "Gradients",
    "activations": "Activations",
    "reconstructions": "Reconstructions",
    "graph": "Graph",
}
_MONO = "font-family:var(--jp-code-font-family, SFMono-Regular, Menlo, Consolas, monospace);"


def esc(text: Any) -> str:
    """HTML-escape ``text`` (None becomes ""), quotes included, control characters spelt out (``printable``)."""
    return html.escape("" if text is None else printable(text), quote=True)


def inline_code(text: Any) -> str:
    """Escape ``text`` and turn `backticked` spans into <code>."""
    return re.sub(r"`([^`]+)`", lambda m: f"<code>{m.group(1)}</code>", esc(text))


def counts_badges(report: Report) -> str:
    """Colour-coded count badges, one per severity."""
    out = []
    for sev in ("error", "warning", "info"):
        n = report.counts[sev]
        color = SEVERITY_COLORS[sev] if n else "#9e9e9e"
        out.append(
            f'<span class="ae-count ae-count-{sev}" data-severity="{sev}" data-count="{n}" '
            f'style="display:inline-block;margin-right:6px;padding:1px 8px;border-radius:10px;'
            f'background:{color};color:white;font-size:12px">{n} {sev}</span>'
        )
    return "".join(out)


def header_html(report: Report) -> str:
    """The verdict line (decided by :func:`ae_magic.render.verdict.verdict`), the counts and what was checked."""
    v = verdict(report)
    text, color = v.summary, LEVEL_COLORS.get(v.level, INCOMPLETE_COLOR)
    m = report.model or {}
    d = report.data or {}
    what = []
    if m.get("variable") or m.get("name"):
        what.append(f"model <code>{esc(m.get('variable') or m.get('name'))}</code>")
    if isinstance(m.get("params"), int):
        what.append(f"{m['params']:,} params")
    if d.get("name") or d.get("shape"):
        shape = "×".join(str(s) for s in d.get("shape") or [])
        what.append(f"data <code>{esc(d.get('name') or 'array')}</code> {esc(shape)}")
    if report.backend_line:
        what.append(esc(report.backend_line))
    sub = " · ".join(what)
    return (
        f'<div class="ae-header" style="display:flex;flex-wrap:wrap;align-items:center;gap:10px;'
        f'border-bottom:2px solid {color};padding:4px 0 6px 0;margin-bottom:6px">'
        f'<span style="font-weight:bold">ae_check</span>'
        f'<span class="ae-verdict" data-level="{esc(v.level)}" style="color:{color};font-weight:bold">'
        f"{esc(text)}</span>{DARK_THEME_CSS}"
        f"<span>{counts_badges(report)}</span>"
        f'<span style="color:{FG2};font-size:12px">{sub}</span></div>'
    )


def _evidence_html(evidence: dict[str, Any], open_: bool = True) -> str:
    if not evidence:
        return ""
    rows = []
    for k, v in evidence.items():
        if isinstance(v, float):
            v = f"{v:.4g}"
        elif isinstance(v, (list, tuple)) and len(v) > 12:
            v = f"{list(v[:12])} … ({len(v)} values)"
        rows.append(
            f'<tr><td style="padding:0 8px 0 0;color:{FG2};text-align:left">{esc(k)}</td>'
            f'<td style="text-align:left;{_MONO}font-size:12px">{esc(v)}</td></tr>'
        )
    return (
        f'<details class="ae-evidence"{" open" if open_ else ""} style="margin:4px 0"><summary style="cursor:pointer;color:{FG2}">'
        f'evidence</summary><table style="border-collapse:collapse;margin-left:12px">{"".join(rows)}</table></details>'
    )


def finding_html(f: Finding, evidence_open: bool = True, depth: int = 0) -> str:
    """One finding: severity, code, title, cell line, message, evidence and fix.

    ``depth`` > 0: a consequence of another finding (``caused_by``), indented
    under its cause and saying "because of AEnnn".
    """
    from .text import trim_fix, trim_message

    color = SEVERITY_COLORS.get(f.severity, "#555")
    bg = SEVERITY_BG.get(f.severity, BG2)
    line = f'<span class="ae-line" style="color:{FG2};font-size:12px">cell line {esc(f.line)}</span>' if f.line else ""
    layer = f'<span style="color:{FG2};font-size:12px">layer <code>{esc(f.layer)}</code></span>' if f.layer else ""
    because = (
        f'<span class="ae-because" data-cause="{esc(f.caused_by)}" style="color:{FG2};font-size:12px">'
        f"because of <span style=\"font-weight:bold\">{esc(f.caused_by)}</span></span>" if f.caused_by else ""
    )
    src = ""
    if f.source_line:
        src = (
            f'<div class="ae-source" style="margin:4px 0;{_MONO}font-size:12px;color:{FG}">'
            f"{esc(f.line) if f.line else ''}{'│ ' if f.line else ''}<code>{esc(f.source_line)}</code></div>"
        )
    fix = ""
    if f.fix:
        fix = (
            f'<div style="margin-top:4px;color:{FG2}">Fix:</div>'
            f'<pre class="ae-fix" style="margin:2px 0;padding:6px;background:{BG2};color:{FG};border-radius:4px;'
            f'white-space:pre-wrap"><code>{esc(trim_fix(f.fix, f.caused_by))}</code></pre>'
        )
    indent = f"margin-left:{min(depth, 3) * 24}px;" if depth else ""
    arrow = f'<span style="color:{FG2}">└</span>' if depth else ""
    return (
        f'<div class="ae-finding ae-sev-{esc(f.severity)}" data-code="{esc(f.code)}" data-severity="{esc(f.severity)}" '
        f'data-depth="{int(depth)}" style="{indent}border-left:4px solid {color};background:{bg};color:{FG};'
        f'padding:6px 10px;margin-top:6px;margin-bottom:6px;border-radius:3px">'
        f'<div style="display:flex;flex-wrap:wrap;gap:8px;align-items:baseline">'
        f"{arrow}"
        f'<span class="ae-sev-label ae-sev-label-{esc(f.severity)}" '
        f'style="color:{color};font-weight:bold;text-transform:uppercase;font-size:11px">{esc(f.severity)}</span>'
        f'<span class="ae-code" style="font-weight:bold;{_MONO}">{esc(f.code)}</span>'
        f'<span class="ae-title" style="font-weight:bold">{esc(f.title)}</span>{line}{layer}{because}</div>'
        f'<div class="ae-message" style="margin-top:3px">{inline_code(trim_message(f.message, f.line))}</div>'
        f"{src}{_evidence_html(f.evidence, evidence_open)}{fix}</div>"
    )


def findings_html(report: Report, evidence_open: bool = True) -> str:
    """Every finding, in report order, plus the cell error, notes and internal errors.

    The panel folds the evidence (``evidence_open=False``) to keep the plots in
    view; the static report shows it.
    """
    parts: list[str] = [DARK_THEME_CSS]
    ce = report.cell_error
    if ce:
        # No line here: cell_error counts lines of the cell's body, the
        # findings below give the notebook cell's line.
        parts.append(
            f'<div class="ae-cell-error" style="color:{SEVERITY_COLORS["error"]};margin:4px 0">The cell raised '
            f"<code>{esc(ce.get('type'))}: {esc(ce.get('message'))}</code>; its traceback is shown "
            "above as usual.</div>"
        )
    if not report.findings:
        color = LEVEL_COLORS.get(verdict(report).level, INCOMPLETE_COLOR)
        parts.append(f'<div class="ae-none" style="color:{color};margin:6px 0">No findings.</div>')
    parts.extend(finding_html(f, evidence_open, report.depth(f)) for f in report.findings)
    if report.notes:
        items = "".join(f"<li>{inline_code(n)}</li>" for n in report.notes)
        parts.append(f'<div class="ae-notes" style="color:{FG2};font-size:12px">Notes:<ul style="margin:2px 0">'
                     f"{items}</ul></div>")
    if report.internal_errors:
        items = "".join(
            f"<li><code>{esc(e.get('check'))}</code>: {esc(e.get('error'))}</li>" for e in report.internal_errors
        )
        parts.append(
            f'<details class="ae-internal" style="color:{FG2};font-size:12px"><summary>'
            f"{len(report.internal_errors)} check(s) failed inside ae_magic (a bug of ours, not your code)"
            f'</summary><ul style="margin:2px 0">{items}</ul></details>'
        )
    return "".join(parts)


def img_tag(png: bytes, name: str) -> str:
    """An <img> with the PNG embedded as base64."""
    title = PLOT_TITLES.get(name, name)
    return (
        f'<img class="ae-plot" data-plot="{esc(name)}" alt="{esc(title)} plot" '
        f'style="max-width:100%;height:auto" src="data:image/png;base64,{plots.png_base64(png)}"/>'
    )


def plots_html(report: Report) -> str:
    """Every plot the report has data for, embedded, with a note for the missing ones."""
    pngs = plots.report_pngs(report)
    parts = []
    for name in PLOT_TITLES:
        if name in pngs:
            parts.append(
                f'<div class="ae-plot-box" style="margin:8px 0"><div style="font-weight:bold;margin-bottom:2px">'
                f"{esc(PLOT_TITLES[name])}</div>{img_tag(pngs[name], name)}</div>"
            )
    missing = [PLOT_TITLES[n] for n in ("loss", "gradients", "reconstructions") if n not in pngs]
    if missing and not report.params.get("train", True):
        parts.append(
            f'<div style="color:{FG2};font-size:12px">{esc(", ".join(missing))}: not measured (probes were skipped '
            "with --no-train).</div>"
        )
    return "".join(parts)


def render_html(report: Report, with_plots: bool = True, static_id: str | None = None) -> str:
    """The whole report as one self-contained HTML fragment (``with_plots=False``: findings only).

    ``static_id``: this is the static copy shown beside a live panel; it gets
    the class ``ae-static`` and that id, which the live panel hides (see
    :func:`hide_static_css`), so a kernel-less view shows it and a live one
    shows the panel only.
    """
    label = f'<div style="color:{FG2}">{esc(report.label)}</div>' if report.label else ""
    static = f' ae-static" id="{esc(static_id)}' if static_id else ""
    tail = ""
    if static_id:
        # Shown only where the live panel is not: say where the interactive
        # part went, and hide JupyterLab's "Error displaying widget: model not
        # found" placeholder of the panel's own output (a widget output with
        # no element inside) in this cell: this copy is the diagnosis.
        tail = (
            f'<div class="ae-static-note" style="color:{FG3};font-size:12px;margin-top:6px">A static copy of the '
            "report: run the cell again for the interactive panel (plots per tab, re-runs).</div>"
            # (:has() can't nest in :has(), so the placeholder itself is hidden.)
            "<style>.jp-OutputArea:has(.ae-static) .jupyter-widgets.jp-OutputArea-output:not(:has(*))"
            "{display:none}</style>"
        )
    return (
        f'<div class="ae-report{static}" style="font-family:{FONT};color:{FG};'
        'font-size:13px;line-height:1.4;max-width:1000px">'
        f"{header_html(report)}{label}"
        f'<div class="ae-findings">{findings_html(report)}</div>'
        f'<div class="ae-plots">{plots_html(report) if with_plots else ""}</div>{tail}</div>'
    )


def hide_static_css(static_id: str) -> str:
    """A ``<style>`` that hides the static copy ``static_id`` (and its output box in JupyterLab).

    The live panel carries it: a frontend draws the panel, and so applies the
    style, only while the widget is live; a notebook reopened without a kernel
    has no panel view and shows the static copy.
    """
    sid = re.sub(r"[^A-Za-z0-9_-]", "", static_id)
    return (
        f"<style>#{sid}{{display:none !important}}"
        f".jp-OutputArea-child:has(#{sid}){{display:none !important}}</style>"
    )


def write_html(report: Report, path: str | Path) -> Path:
    """Write the report as a standalone HTML page; returns the path."""
    path = Path(path)
    title = esc(report.label or "ae_magic report")
    page = (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>'
        f'<body style="margin:16px">{render_html(report)}</body></html>\n'
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path
