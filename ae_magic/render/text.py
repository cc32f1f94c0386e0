"""Terminal rendering of a Report."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..report import Report

_COLORS = {"error": "\033[31m", "warning": "\033[33m", "info": "\033[36m"}
_RESET = "\033[0m"


def verdict(report: Report) -> str:
    """One line: the model and the counts by severity."""
    c = report.counts
    model = (report.model or {}).get("variable") or (report.model or {}).get("name") or "no model"
    if report.model is None and report.cell_error is None:
        head = "no Keras model found in the cell"
    else:
        head = f"model `{model}`" if report.model else "cell failed"
    if report.ok and not report.findings:
        state = "no problems found"
    elif report.ok:
        state = f"OK ({c['info']} info)"
    else:
        state = f"{c['error']} error(s), {c['warning']} warning(s), {c['info']} info"
    return f"ae_magic: {head}: {state}"


def render_text(report: Report, color: bool = False) -> str:
    """Findings with evidence and fixes, for terminals and logs."""
    lines = [verdict(report)]
    if report.label:
        lines[0] += f"  [{report.label}]"
    for f in report.findings:
        sev = f.severity.upper()
        if color:
            sev = f"{_COLORS.get(f.severity, '')}{sev}{_RESET}"
        where = f" (line {f.line})" if f.line is not None else ""
        lines.append("")
        lines.append(f"{sev} {f.code} {f.title}{where}")
        if f.source_line:
            lines.append(f"    > {f.source_line}")
        for para in f.message.splitlines():
            lines.extend(textwrap.wrap(para, 96, initial_indent="    ", subsequent_indent="    ") or [""])
        if f.evidence:
            ev = ", ".join(f"{k}={_short(v)}" for k, v in f.evidence.items() if v is not None)
            lines.extend(textwrap.wrap(f"evidence: {ev}", 96, initial_indent="    ", subsequent_indent="      "))
        if f.fix:
            lines.append("    fix:")
            lines.extend(f"      {fl}" for fl in f.fix.splitlines())
    for note in report.notes:
        lines.append("")
        lines.extend(textwrap.wrap(f"note: {note}", 100))
    for err in report.internal_errors:
        lines.append("")
        lines.append(f"internal: {err.get('check')} failed ({err.get('error')}); this is a bug in ae_magic, not your code.")
    return "\n".join(lines)


def _short(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        inner = ", ".join(_short(x) for x in list(v)[:6])
        return f"[{inner}{', ...' if len(v) > 6 else ''}]"
    s = str(v)
    return s if len(s) <= 80 else s[:77] + "..."
