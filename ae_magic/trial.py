"""Try the fix: apply a finding's edit to a copy of the cell and check it again.

:func:`try_fix` (one edit) and :func:`try_all` (every edit at once) run the
edited cell in a scratch namespace (a copy of the namespace the cell started
from, its arrays copied, so nothing of the user's is touched), diagnose it
with the same options, and compare with the check before the fix.

A fix is **verified** when its finding is gone *and* the held-out
reconstruction error (``traces["training"]["baselines"]["final"]``, the MSE
on the probe's held-out samples) is no worse, within ``MSE_TOLERANCE``. The
error is compared in the units of the original data: when the fixed cell
feeds the model the data scaled and shifted (``x / 255``, ``(x - m) / s``),
the scale ``k`` is measured between the old and the new target arrays and
the new MSE is divided by ``k**2``; when the new data is not one scale and
shift of the old, the errors are not comparable and the fix is not verified.
The MSE is measured on the reconstruction, whatever loss the model trains
with, so a fix that changes the loss is compared in the same units too.
"""

from __future__ import annotations

import contextlib
import io
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import UsageError, describe
from .fixes import Edit, apply_edits, finding_edit
from .report import Finding, Report

# Relative slack on "no worse": two short probe runs of different cells
# differ by a little noise even when both learn nothing.
MSE_TOLERANCE = 0.02
# Largest deviation from one scale-and-shift (relative to the data's range)
# still read as the same data in other units (float32 rounding of x / 255).
AFFINE_TOLERANCE = 1e-4


@dataclass
class TrialResult:
    """What one edited cell gave: its report, the findings gone and new, the errors, the verdict."""

    codes: list[str]
    edits: list[Edit]
    source: str
    before: Report
    after: Report | None = None
    error: str | None = None
    gone: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    mse_before: float | None = None
    mse_after: float | None = None  # in the original data's units
    mse_after_raw: float | None = None  # as the fixed cell's probe measured it
    scale: float | None = None
    verified: bool = False
    reason: str = ""

    def removed(self, code: str) -> bool:
        """Whether the fixed cell's check no longer has ``code``."""
        return self.after is not None and code not in self.after.codes

    def verdict_for(self, code: str) -> tuple[bool, str]:
        """Verified for the finding ``code``: gone and the held-out error no worse."""
        if self.after is None:
            return False, self.error or "the fixed cell could not be checked"
        if not self.removed(code):
            return False, f"{code} is still reported after the edit"
        return self._mse_ok()

    def _mse_ok(self) -> tuple[bool, str]:
        b, a = self.mse_before, self.mse_after
        if a is None and self.mse_after_raw is not None:
            return False, ("the fixed cell's data is not one scale and shift of the original, so the held-out "
                           "errors are not comparable")
        if a is None or not math.isfinite(a):
            why = ((self.after.coverage.get("skipped") or {}).get("training") if self.after else None) or \
                ("the probes are off" if self.after and "training" in self.after.coverage.get("off", []) else None)
            return False, "the training probe gave no finite held-out error after the edit" + (f" ({why})" if why else "")
        if b is None or not math.isfinite(b):
            return True, f"the probes could not measure the error before the edit; after it the held-out MSE is {a:.4g}"
        if a <= b * (1 + MSE_TOLERANCE):
            return True, f"held-out MSE {b:.4g} -> {a:.4g} (original units)"
        return False, f"held-out MSE got worse: {b:.4g} -> {a:.4g} (original units)"

    def to_dict(self, code: str | None = None) -> dict[str, Any]:
        """The before/after evidence (``finding["trial"]`` in the JSON report)."""
        ok, why = self.verdict_for(code) if code else self._all_verdict()
        tr_b = (self.before.traces.get("training") or {}) if self.before else {}
        tr_a = (self.after.traces.get("training") or {}) if self.after else {}
        return {
            "codes": list(self.codes),
            "edits": [e.to_dict() for e in self.edits],
            "verified": ok,
            "reason": why,
            "gone": list(self.gone),
            "new": list(self.new),
            "error": self.error,
            "before": {"codes": list(self.before.codes), "mse": self.mse_before,
                       "val_curve": tr_b.get("val_curve")},
            "after": {"codes": list(self.after.codes) if self.after else None, "mse": self.mse_after,
                      "mse_raw": self.mse_after_raw, "scale": self.scale, "val_curve": tr_a.get("val_curve")},
        }

    def _all_verdict(self) -> tuple[bool, str]:
        if self.after is None:
            return False, self.error or "the fixed cell could not be checked"
        left = [c for c in self.codes if not self.removed(c)]
        if left:
            return False, f"still reported after the edits: {', '.join(left)}"
        return self._mse_ok()


# -- running ---------------------------------------------------------------
def try_fix(session: Any, finding: Finding, *, before: Report | None = None) -> TrialResult:
    """Apply ``finding``'s edit to a copy of the cell, check it again, compare.

    ``session`` is the check's :class:`~ae_magic.session.Session`; ``before``
    its report (default: its first run). Raises UsageError for a finding
    without an edit or a session without a cell.
    """
    edit = finding_edit(finding)
    if edit is None:
        raise UsageError(f"{finding.code} has no edit to try; its fix is advice: {finding.fix}")
    result = try_edits(session, [edit], [finding.code], before=before)
    result.verified, result.reason = result.verdict_for(finding.code)
    return result


def try_all(session: Any, *, before: Report | None = None) -> TrialResult:
    """Every edit of the report at once (identical edits once, overlapping ones left out).

    A consequence's edit is left out when its cause (``caused_by``) has an
    edit of its own: fixing the cause is its fix, and advice measured on the
    broken model (a learning rate for unscaled data) would undo it.
    """
    before = _before(session, before)
    with_edit = {f.code for f in before.findings if f.edit}
    pairs = [(f.code, finding_edit(f)) for f in before.findings
             if f.edit and not (f.caused_by and f.caused_by in with_edit)]
    if not pairs:
        raise UsageError("No finding of this check has an edit to try.")
    result = try_edits(session, [e for _, e in pairs if e is not None], [c for c, _ in pairs], before=before)
    applied = set(result.edits)
    result.codes = [c for c, e in pairs if e in applied]
    result.verified, result.reason = result._all_verdict()
    return result


def try_edits(session: Any, edits: list[Edit], codes: list[str], *, before: Report | None = None) -> TrialResult:
    """Run the cell with ``edits`` applied in a scratch namespace and diagnose it with the session's options."""
    from . import keras_compat as kc
    from .session import Session

    before = _before(session, before)
    if not session.source:
        raise UsageError("This check has no cell to edit (it was made from a model).")
    base = session._base
    fixed, applied = apply_edits(session.source, edits, line_offset=session.options.line_offset)
    result = TrialResult(codes=list(codes), edits=applied, source=fixed, before=before)
    result.mse_before = _mse(before)
    scratch = _scratch(base.pre_namespace)
    data = base.data_name if base.data_name else base.data
    target = base.target_name if base.target_name and base.target_name != base.data_name else (
        None if base.target is base.data else base.target)
    opts = session.options.replace(progress=None)
    out = io.StringIO()
    try:
        # The fixed cell's own prints and random draws are ours, not the user's.
        with kc.preserved_random_state(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            trial = _session(Session, fixed, scratch, data, target, base.model_name, opts)
            try:
                after = trial.run(label="fixed")
                new_target = trial._base.target
            finally:
                trial.close()
    except UsageError as exc:
        result.error = f"the fixed cell can't be checked: {exc}"
        return result
    except Exception as exc:  # the edited cell is code too; its failure is a result, not a crash
        result.error = f"the fixed cell could not be checked ({describe(exc)})"
        return result
    result.after = after
    b_codes, a_codes = set(before.codes), set(after.codes)
    result.gone = sorted(b_codes - a_codes)
    result.new = sorted(a_codes - b_codes)
    result.mse_after_raw = _mse(after)
    result.scale = _unit_scale(base.target if base.target is not None else base.data, new_target)
    if result.mse_after_raw is not None and result.scale:
        result.mse_after = result.mse_after_raw / result.scale**2
    if after.cell_error is not None:
        result.error = f"the fixed cell raised {after.cell_error.get('type')}: {after.cell_error.get('message')}"
    return result


def fix_fn(session: Any) -> Any:
    """The panel's "Try the fix" callable for ``session``: a finding tries its edit, None tries them all."""

    def run(finding: Finding | None) -> TrialResult:
        return try_all(session) if finding is None else try_fix(session, finding)

    return run


def verify_report(session: Any, report: Report) -> dict[str, Any] | None:
    """Try every distinct edit of ``report`` once, set each finding's ``verified`` and ``trial``; then try all.

    Returns the try-all evidence (None when no finding has an edit).
    """
    results: dict[Edit, TrialResult] = {}
    for f in report.findings:
        edit = finding_edit(f)
        if edit is None:
            continue
        if edit not in results:
            results[edit] = try_edits(session, [edit], [f.code], before=report)
        r = results[edit]
        f.verified, _ = r.verdict_for(f.code)
        f.trial = r.to_dict(f.code)
    if not results:
        return None
    if len(results) == 1:
        only = next(iter(results.values()))
        both = [f.code for f in report.findings if f.edit]
        only.codes = both
        return only.to_dict()
    return try_all(session, before=report).to_dict()


def _session(cls: Any, source: str, scratch: dict[str, Any], data: Any, target: Any, model: str | None,
             opts: Any) -> Any:
    """The fixed cell's Session, diagnosing the same variable as before when the cell still binds it."""
    pre = dict(scratch)
    name = model if isinstance(model, str) and model.isidentifier() else None
    try:
        return cls.from_cell(source, namespace=scratch, data=data, target=target, model=name, options=opts, label="fixed")
    except UsageError:
        if name is None:
            raise
    # The edit renamed or removed the model's variable: let the check choose, in a fresh copy.
    scratch.clear()
    scratch.update(pre)
    return cls.from_cell(source, namespace=scratch, data=data, target=target, options=opts, label="fixed")


def _before(session: Any, before: Report | None) -> Report:
    if before is not None:
        return before
    return session.runs[0] if session.runs else session.run()


def _scratch(namespace: dict[str, Any]) -> dict[str, Any]:
    """A copy of the namespace the cell started from, its arrays copied: the fixed cell can't touch the user's."""
    out = dict(namespace)
    for k, v in out.items():
        if isinstance(v, np.ndarray):
            out[k] = v.copy()
    return out


def _mse(report: Report | None) -> float | None:
    """The held-out reconstruction MSE of the training probe, or None when it did not run."""
    if report is None:
        return None
    b = (report.traces.get("training") or {}).get("baselines") or {}
    v = b.get("final")
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _unit_scale(old: Any, new: Any) -> float | None:
    """``k`` with ``new == k * old + c`` elementwise (1.0 for the same data), or None when no such k exists."""
    if old is None or new is None:
        return None
    try:
        a, b = np.asarray(new, dtype=np.float64), np.asarray(old, dtype=np.float64)
    except Exception:
        return None
    if a.shape != b.shape or a.size == 0:
        return None
    if np.array_equal(a, b):
        return 1.0
    a, b = a.ravel(), b.ravel()
    vb = float(b.var())
    if vb == 0.0 or not np.all(np.isfinite(a)) or not np.all(np.isfinite(b)):
        return None
    k = float(np.mean((a - a.mean()) * (b - b.mean()))) / vb
    c = float(a.mean() - k * b.mean())
    span = float(np.abs(a).max()) or 1.0
    if k <= 0 or float(np.abs(a - (k * b + c)).max()) > AFFINE_TOLERANCE * span:
        return None
    return k
