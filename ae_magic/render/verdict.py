"""The verdict: the one summary line every renderer shows (text, HTML, panel).

It is decided here and only here, from the report alone:

* errors and warnings are counted from ``report.findings``;
* "No problems found" is said only when the check was complete: no check
  failed inside ae_magic (``report.internal_errors``), nothing was skipped
  (``report.skipped``, a name -> reason dict, when the report has one, and
  the notes that say a check or probe was skipped / not run), the probes were
  on (``report.params["train"]`` is not False) and a model was diagnosed.
  Families the caller turned off (reason "turned off": the range test unless
  asked for) are a choice, not a gap, and do not count.
  Otherwise the verdict says what is missing ("Not fully checked: ..."), as it
  does when a note says the probe runs ended above the mean's error without
  showing the model leave it (a slow learner or a model that does not learn).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..report import Report

# A note saying that a check or probe did not run ("Probes skipped: ...",
# "data checks skipped", "not measured", "could not run").
_SKIP_NOTE = re.compile(
    r"\b(skip(?:ped|ping)?|not run|n[o']t been run|did not run|didn't run|could not run|couldn't run|"
    r"not measured|not checked)\b",
    re.IGNORECASE,
)
# A note saying the probe runs ended still above the per-feature mean's error (a slow learner, or a model that
# does not learn: the runs could not tell), so "no problems found" would claim more than was measured.
_UNSHOWN_NOTE = re.compile(r"not shown to leave the mean", re.IGNORECASE)
# Notes that only restate that the probes were off (said once, by the train caveat).
_TRAIN_OFF_NOTE = re.compile(r"--no-train|train\s*=\s*False", re.IGNORECASE)
_PLURAL = {"error": "errors", "warning": "warnings", "info": "info"}


@dataclass(frozen=True)
class Verdict:
    """The decided verdict.

    ``level``: ``"error"``, ``"warning"``, ``"incomplete"`` (no error or
    warning, but something was not checked) or ``"ok"`` (checked in full,
    nothing above info). ``summary``: the sentence ("2 errors, 1 warning",
    "No problems found", "Not fully checked: probes were off (train=False)").
    ``subject``: what was checked ("model `ae`", "cell failed", ...).
    ``caveats``: why the check was incomplete, one phrase each.
    """

    level: str
    summary: str
    subject: str
    caveats: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True only for a complete check with no error and no warning."""
        return self.level == "ok"


def _count(n: int, severity: str) -> str:
    return f"{n} {severity if n == 1 else _PLURAL[severity]}"


def _skipped(report: Report) -> dict[str, str]:
    """``report.skipped`` (name -> reason) when the report has one, read defensively."""
    try:
        skipped: Any = getattr(report, "skipped", None)
    except Exception:  # a property of a newer Report that fails on a hand-made one
        return {"some checks": ""}
    if not skipped:
        return {}
    if isinstance(skipped, Mapping):
        return {str(k): "" if v is None else str(v) for k, v in skipped.items()}
    if isinstance(skipped, str):
        return {skipped: ""}
    try:
        return {str(k): "" for k in skipped}
    except TypeError:
        return {"some checks": ""}


def _names(items: list[str]) -> str:
    return ", ".join(items[:4]) + (f" and {len(items) - 4} more" if len(items) > 4 else "")


def caveats(report: Report) -> list[str]:
    """Why the report is not a complete check (empty when it is)."""
    out: list[str] = []
    if report.model is None:
        out.append("no model was diagnosed")
    n_internal = len(report.internal_errors or [])
    if n_internal:
        out.append(f"{n_internal} check{'s' if n_internal != 1 else ''} failed inside ae_magic")
    train_off = (report.params or {}).get("train") is False
    if train_off:
        out.append("probes were off (train=False)")
    # Families turned off on purpose (``report.skipped`` lists them as
    # "turned off": the range test by default, the probes with train=False)
    # are a choice, not a gap; train=False is said above.
    skipped = {k: why for k, why in _skipped(report).items() if why.strip().lower() != "turned off"}
    if skipped:
        missed = [f"{k} ({why})" if why and len(why) <= 60 else k for k, why in skipped.items()]
        out.append(f"skipped: {_names(missed)}")
    notes = [str(n) for n in report.notes or []]
    skip_notes = [n for n in notes if _SKIP_NOTE.search(n)]
    if train_off:
        skip_notes = [n for n in skip_notes if not _TRAIN_OFF_NOTE.search(n)]
    if skip_notes and not skipped:
        out.append("some checks or probes were skipped (see the notes)")
    if any(_UNSHOWN_NOTE.search(n) for n in notes):
        out.append("the probe runs ended above the mean's error, so learning was not shown (see the notes)")
    return out


def subject(report: Report) -> str:
    """What the verdict is about: the model's name, a failed cell, or no model."""
    m = report.model or {}
    if report.model is None and report.cell_error is None:
        return "no Keras model found in the cell"
    if report.model is not None:
        return f"model `{m.get('variable') or m.get('name') or '?'}`"
    return "cell failed"


def verdict(report: Report) -> Verdict:
    """The verdict of ``report``: level, summary sentence, subject and caveats."""
    c = report.counts
    why = tuple(caveats(report))
    if c["error"] or c["warning"]:
        level = "error" if c["error"] else "warning"
        summary = ", ".join(_count(c[s], s) for s in ("error", "warning", "info") if c[s])
        if why:
            summary += "; not fully checked: " + "; ".join(why)
    elif why:
        level = "incomplete"
        summary = "Not fully checked: " + "; ".join(why)
        if c["info"]:
            summary += f" ({_count(c['info'], 'info')})"
    else:
        level = "ok"
        summary = "No problems found"
        if c["info"]:
            summary += f" ({c['info']} suggestion{'s' if c['info'] != 1 else ''})"
    return Verdict(level=level, summary=summary, subject=subject(report), caveats=why)
