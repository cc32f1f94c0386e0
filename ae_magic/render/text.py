"""Terminal rendering of a Report.

Every string that comes from the user (layer and variable names, exception
messages, notes, evidence, labels) goes through :func:`printable` first: a
name like ``"\\x1b[2J"`` or a message with colour codes must not drive the
terminal. Only ae_magic's own colour codes (``color=True``) reach it.
"""

from __future__ import annotations

import re
import textwrap
from typing import TYPE_CHECKING, Any

from .verdict import verdict

if TYPE_CHECKING:
    from ..report import Report

_COLORS = {"error": "\033[31m", "warning": "\033[33m", "info": "\033[36m"}
_RESET = "\033[0m"

# Terminal escape sequences: CSI (ESC [ ... final, or the 8-bit CSI 0x9b),
# OSC / DCS / SOS / PM / APC strings (ended by BEL or ST, or unterminated),
# and the two-character ESC sequences.
_ESCAPE_SEQ = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]"
)
# What must never reach a terminal raw: C0 controls but newline and tab, DEL,
# C1 controls, and the Unicode BiDi embeddings/overrides/isolates and marks
# (they reorder the text around them: "Trojan Source").
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _visible(ch: str) -> str:
    """A control character spelt out: ``\\x1b``, ``\\r``, ``\\u202e``."""
    if ch == "\r":
        return "\\r"
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe_str(value: Any) -> str:
    """``str(value)`` that never raises (a user object whose ``__str__`` fails still gets a text)."""
    if isinstance(value, str):
        return value
    try:
        return str(value)
    except Exception:
        try:
            return repr(value)
        except Exception:
            return f"<{type(value).__name__} that could not be shown>"


def printable(value: Any) -> str:
    """``value`` as text that is safe to print on a terminal or to show in a plot or page.

    Terminal escape sequences (colours, cursor moves, titles, hyperlinks) are
    removed; any other control character, a lone carriage return and BiDi
    override is spelt out (``\\x07``, ``\\r``, ``\\u202e``) so the text shows
    as typed. Newlines and tabs stay (``\\r\\n`` becomes ``\\n``). A string
    that would be left blank by the removal (a layer named ``"\\x1b[31m"``)
    is spelt out in full instead, so the name still shows.
    """
    text = safe_str(value)
    if not (_CONTROL.search(text)):
        return text
    text = text.replace("\r\n", "\n")
    stripped = _ESCAPE_SEQ.sub("", text)
    if not stripped.strip() and text.strip():
        stripped = text
    return _CONTROL.sub(lambda m: _visible(m.group()), stripped)


def verdict_line(report: Report) -> str:
    """One line: what was checked and the verdict (see :mod:`ae_magic.render.verdict`)."""
    v = verdict(report)
    summary = v.summary[:1].lower() + v.summary[1:]
    return printable(f"ae_magic: {v.subject}: {summary}")


def trim_message(message: str, line: int | None) -> str:
    """``message`` without what the renderers already show next to it.

    Every finding's header gives its cell line and quotes the source, so a
    message's "(Dense 'dense_1', line 6)" repeats the line: it becomes
    "(Dense 'dense_1')". Other text is left as the check wrote it.
    """
    if line is None:
        return message
    text = re.sub(rf",? (?:on )?line {int(line)}\)", ")", message)
    return re.sub(r" \(\)", "", text)


def trim_fix(fix: str, caused_by: str | None) -> str:
    """``fix`` without the generic "check the other findings first" comment when the cause is named."""
    if caused_by is None:
        return fix
    lines = fix.splitlines()
    kept = [ln for ln in lines if not re.match(r"\s*#\s*Check the other findings first", ln)]
    return "\n".join(kept) if kept else fix


def render_text(report: Report, color: bool = False) -> str:
    """Findings with evidence and fixes, for terminals and logs.

    A finding another one explains (``caused_by``) follows its cause, indented,
    and says "because of AEnnn".
    """
    lines = [verdict_line(report)]
    if report.label:
        lines[0] += f"  [{printable(report.label)}]"
    if report.backend_line:
        lines.append(f"  {printable(report.backend_line)}")
    for f in report.findings:
        depth = report.depth(f)
        pad = "    " * depth
        severity = printable(f.severity)
        sev = severity.upper()
        if color:
            sev = f"{_COLORS.get(severity, '')}{sev}{_RESET}"
        where = f" (line {printable(f.line)})" if f.line is not None else ""
        because = f"  because of {printable(f.caused_by)}" if f.caused_by else ""
        lines.append("")
        lines.append(f"{pad}{'└ ' if depth else ''}{sev} {printable(f.code)} {printable(f.title)}{where}{because}")
        ind = pad + "    "
        if f.source_line:
            lines.append(f"{ind}> {printable(f.source_line)}")
        for para in printable(trim_message(f.message, f.line)).splitlines():
            lines.extend(textwrap.wrap(para, 96, initial_indent=ind, subsequent_indent=ind) or [""])
        if f.evidence:
            ev = ", ".join(f"{printable(k)}={_short(v)}" for k, v in f.evidence.items() if v is not None)
            lines.extend(textwrap.wrap(f"evidence: {ev}", 96, initial_indent=ind, subsequent_indent=ind + "  "))
        if f.fix:
            lines.append(f"{ind}fix:")
            lines.extend(f"{ind}  {fl}" for fl in printable(trim_fix(f.fix, f.caused_by)).splitlines())
    for note in report.notes:
        lines.append("")
        lines.extend(textwrap.wrap(f"note: {printable(note)}", 100))
    for err in report.internal_errors:
        lines.append("")
        lines.append(
            f"internal: {printable(err.get('check'))} failed ({printable(err.get('error'))}); "
            "this is a bug in ae_magic, not your code."
        )
    return "\n".join(lines)


def _short(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        inner = ", ".join(_short(x) for x in list(v)[:6])
        return f"[{inner}{', ...' if len(v) > 6 else ''}]"
    s = printable(v)
    return s if len(s) <= 80 else s[:77] + "..."
