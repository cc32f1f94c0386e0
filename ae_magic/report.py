"""Findings and the report: the one data model every renderer reads.

The JSON schema (``Report.to_dict``) is versioned by ``SCHEMA_VERSION`` and
documented in ``docs/report-schema.md``; bump the minor version when adding
keys, the major version when changing or removing one.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Literal

SCHEMA_VERSION = "1.4"

Severity = Literal["error", "warning", "info"]
SEVERITY_RANK: dict[str, int] = {"error": 0, "warning": 1, "info": 2}

# Cause -> consequence: which findings a fault explains when both are present.
# ``CAUSES[consequence]`` lists the codes that can cause it, most direct first;
# ``Report.sort`` links a consequence to the first of them the report holds
# (``Finding.caused_by``) and shows it under that cause. Only relations that
# hold by construction are listed (docs/faults.md): a structure or data fault
# explains what the gradient and training probes then measure, a gradient fault
# explains a training symptom. Codes are ordered structure/data -> gradients ->
# training, so the table has no cycle (tests/test_ordering.py holds it to that).
CAUSES: dict[str, tuple[str, ...]] = {
    # gradients
    "AE301": ("AE111", "AE110", "AE205"),  # a constant output, zero weights or a constant input give no gradient
    "AE302": ("AE107", "AE106", "AE110"),  # saturating stacks and tiny inits vanish
    "AE303": ("AE202", "AE201", "AE203", "AE110"),  # NaN / unscaled data, huge inits explode
    # A bad scale kills ReLUs; so does an input that is all zeros, or one the model zeroes itself (round 75's
    # dl07: `Rescaling(1 // 255)` is AE111, and every ReLU after it outputs its zero bias).
    "AE304": ("AE110", "AE201", "AE205", "AE111"),
    "AE305": ("AE106", "AE107", "AE201", "AE110"),  # saturating layers on unscaled data
    # training
    "AE401": ("AE303", "AE202", "AE201", "AE108", "AE110"),
    "AE402": ("AE301", "AE302", "AE305", "AE304", "AE111", "AE108", "AE203", "AE107", "AE106", "AE110", "AE201",
              "AE404"),
    "AE403": ("AE303", "AE401", "AE201"),
    "AE404": ("AE111", "AE407", "AE108", "AE301", "AE304", "AE205", "AE203", "AE110", "AE201", "AE401"),
    "AE405": ("AE404", "AE111", "AE407", "AE108", "AE203", "AE205", "AE301", "AE302", "AE304", "AE305",
              "AE401", "AE403", "AE402", "AE110", "AE201"),
}

# An AE301 of exact zeros only (no None gradient) is units that never fire, not a cut: what killed the units
# explains it (round 60's ci02: raw sensor readings killed both encoder layers in the cell's own fit; round 62's
# cm02: a posterior collapse left the encoder's ReLUs with exactly zero updates).
DEAD_ZERO_CAUSES = ("AE304", "AE201", "AE303", "AE401", "AE407")


def causes_of(f: Finding, others: list[Finding] | None = None) -> tuple[str, ...]:
    """The codes that can explain ``f``, most direct first: ``CAUSES`` by its code, for an AE301 that
    measured exact zeros only what kills units (``DEAD_ZERO_CAUSES``), and for an AE102 of a tensor that a
    shortcut around the code was meant to read, or of a code the model's path skips (``evidence["meant_for_shortcut"]``,
    ``["skipped_code"]``) that AE103; an AE301 measured as exactly zero updates from the model's own step (no
    step code found that drops the weights) reads as zero gradients; an AE203 whose
    target is the unscaled input itself (``evidence["unscaled_input"]``) is AE201's; an AE405 blamed on a penalty
    that holds the code (``evidence["held_by_penalty"]``) is a root, and the stalled loss (AE402) it explains is its.
    An AE111 of identical outputs with a zero-initialised kernel on the path (``evidence["zero_kernels"]``) is
    AE110's; an AE100 raised on mismatched shapes is AE105's. ``others``: the report's findings; an AE407 beside
    an AE301 of an encoder the step calls outside its GradientTape (``evidence["outside_tape"]``) is that AE301's.
    An AE401 of a loss with no lower bound (a subtracted term, a KL written as minus the KL) or of a loss summed
    over the batch (``evidence["reduction"] == "sum"``) is a root, and an AE303 beside it is its."""
    base = CAUSES.get(f.code, ())
    if f.code == "AE401" and (_unbounded_loss(f.evidence) or f.evidence.get("reduction") == "sum"):
        # A loss with no lower bound diverges at any rate and whatever the data; one summed over the batch makes every
        # gradient batch-size times the mean's (round 72's dg07: the AE303 it measured at the initial weights is its).
        return ()
    if f.code == "AE303" and any(o.code == "AE401" and (_unbounded_loss(o.evidence) or o.evidence.get("reduction") == "sum")
                                 for o in others or ()):
        # Gradients that overflow on the weights such a loss drove out (round 69's da05 under RMSprop: a KL written
        # without its minus fell to -8e24 in the cell's fit, and the gradients there are NaN).
        return ("AE401", *base)
    if f.code == "AE407" and any(o.code == "AE301" and o.evidence.get("outside_tape") for o in others or ()):
        return ("AE301",)  # the step never records the encoder: no gradient can reach the code (round 64's cp03)
    if f.code == "AE304" and f.evidence.get("cell_fit_steps"):
        # Units dead in the weights the cell's own fit left: a posterior collapse in that fit (the KL pulling every
        # code to the prior, round 64's cp10) starves the encoder's ReLUs too; so does a loss with no lower bound
        # (binary cross-entropy on targets below 0: round 67's cv07 fell to -2e15 and its code's ReLUs died).
        unbounded = any(o.code == "AE203" and o.evidence.get("loss") for o in others or ())
        return (*base, "AE407", *(("AE203",) if unbounded else ()))
    if f.code == "AE100" and "shape" in str(f.evidence.get("message", "")).lower():
        return ("AE105",)  # the cell or the probes raised on mismatched shapes: the layer that made them is the root
    if f.code == "AE111" and f.evidence.get("zero_kernels"):
        return ("AE110",)  # a layer whose kernel starts at zero outputs its bias for every input (round 66's ct08)
    if f.code == "AE405" and f.evidence.get("held_by_penalty"):
        return ()  # the penalty on the code, named at its line, is the root
    if f.code == "AE402" and f.evidence.get("held_by_penalty") is True:
        return ("AE405",)  # the loss stalls because the penalty holds the code (that AE405 names it)
    if f.code == "AE205" and _unscaled_target(f.evidence):
        return ("AE203", "AE201")  # the clip is right for the input; the target was never scaled (round 64's cp02)
    if f.code == "AE203" and f.evidence.get("unscaled_input"):
        return ("AE201",)  # the target is the input, out of range because it is not scaled
    if f.code == "AE102" and (f.evidence.get("meant_for_shortcut") or f.evidence.get("skipped_code")):
        return ("AE103",)  # the unused part of the input the shortcut around the code should have read
    if (f.code == "AE301" and f.evidence.get("zero") and not f.evidence.get("none")
            and not f.evidence.get("cut_at") and not f.evidence.get("cut_in_call")):
        return base + DEAD_ZERO_CAUSES
    if (f.code == "AE301" and f.evidence.get("measured", "").startswith("update-to-weight")
            and not f.evidence.get("frozen") and not f.evidence.get("compute_loss_without_super")
            and not f.evidence.get("gradient_of") and not f.evidence.get("outside_tape")):
        # Exactly zero updates from the model's own step, with no step code that drops the weights: the same
        # reading as exact-zero gradients (Adam moves any weight whose gradient is not zero).
        return base + DEAD_ZERO_CAUSES
    return base


def _unbounded_loss(evidence: dict) -> bool:
    """An AE401 whose loss has no lower bound: a subtracted term, a KL written as minus the KL, a KL measured
    below zero."""
    return bool(evidence.get("subtracted_term") or evidence.get("reversed_kl") or evidence.get("negative_kl"))


def _unscaled_target(evidence: dict) -> bool:
    """AE205's target range is non-negative and far above the clipped input's: raw values (0-255 pixels), not
    standardised features clipped by mistake."""
    try:
        lo, hi = evidence["target_range"]
        top = evidence["input_range"][1]
        return lo >= 0 and hi > 2 * max(top, 1.0)
    except (KeyError, TypeError, ValueError, IndexError):
        return False


@dataclass
class Finding:
    """One diagnosed problem, with its evidence and a fix.

    ``code`` is one of the public codes of the fault catalogue (docs/faults.md, ae_magic/catalogue.py).
    ``line`` is the 1-based line of the cell the finding points at, when known.
    """

    code: str
    severity: Severity
    title: str
    message: str
    line: int | None = None
    layer: str | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    fix: str | None = None
    # The cell's text at ``line``, so renderers can quote the user's own code.
    source_line: str | None = None
    # The code of the finding in this report that explains this one (see
    # ``CAUSES``); set by ``Report.sort``, None for a root cause.
    caused_by: str | None = None
    # The fix as an edit of the cell: {"start_line", "end_line", "replacement"}
    # (cell lines, inclusive; ae_magic.fixes); None when the fix is advice.
    edit: dict[str, Any] | None = None
    # Set by "Try the fix" (ae_magic.trial, ``--try-fixes``): whether the edit
    # removed this finding without a worse held-out error, and the evidence.
    verified: bool | None = None
    trial: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        from .catalogue import CATALOGUE

        if self.code not in CATALOGUE:
            raise ValueError(f"{self.code!r} is not a code of the fault catalogue (ae_magic/catalogue.py, docs/faults.md)")
        if self.caused_by is not None and self.caused_by not in CATALOGUE:
            raise ValueError(f"caused_by={self.caused_by!r} is not a code of the fault catalogue")

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form of the finding."""
        return {
            "code": self.code,
            "severity": self.severity,
            "title": self.title,
            "message": self.message,
            "line": self.line,
            "layer": self.layer,
            "evidence": jsonable(self.evidence),
            "fix": self.fix,
            "source_line": self.source_line,
            "caused_by": self.caused_by,
            "edit": self.edit,
            "verified": self.verified,
            "trial": jsonable(self.trial),
        }

    def sort_key(self) -> tuple[int, int, str]:
        """Severity first, then cell line (findings without a line last)."""
        return (
            SEVERITY_RANK.get(self.severity, 9),
            self.line if self.line is not None else 1 << 30,
            self.code,
        )


@dataclass
class Report:
    """Everything one check produced: findings, model facts, timings, traces.

    ``traces`` holds probe measurements keyed by probe name (``"gradients"``,
    ``"training"``, ``"lr_range"``); they are JSON-able dicts so runs can be
    compared and rendered without the model.
    """

    findings: list[Finding] = field(default_factory=list)
    model: dict[str, Any] | None = None
    data: dict[str, Any] | None = None
    cell_error: dict[str, Any] | None = None
    # Every symbolic layer call the cell made, with its source line.
    calls: list[dict[str, Any]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    traces: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    source: str | None = None
    label: str | None = None
    # Assumptions the engine made ("no optimizer: probes use Adam(1e-3)").
    notes: list[str] = field(default_factory=list)
    # Checks that failed inside ae_magic (a bug of ours, never the user's):
    # kept apart from findings so they never pose as a diagnosis.
    internal_errors: list[dict[str, str]] = field(default_factory=list)
    # What ran: {"ran": [families], "off": [turned off by the user],
    # "skipped": {family: why it did not run}}. A report whose coverage has
    # skipped families never reads as a clean bill of health.
    coverage: dict[str, Any] = field(default_factory=dict)
    # Where it ran: {"backend", "backend_version", "keras", "ae_magic", "chosen_by"}.
    environment: dict[str, Any] = field(default_factory=dict)

    # -- queries ---------------------------------------------------------
    @property
    def codes(self) -> list[str]:
        """Codes of all findings, in report order."""
        return [f.code for f in self.findings]

    def by_severity(self, severity: str) -> list[Finding]:
        """Findings of one severity."""
        return [f for f in self.findings if f.severity == severity]

    @property
    def counts(self) -> dict[str, int]:
        """Number of findings per severity."""
        return {s: len(self.by_severity(s)) for s in SEVERITY_RANK}

    @property
    def has_errors(self) -> bool:
        """True when any finding is an error."""
        return any(f.severity == "error" for f in self.findings)

    @property
    def ok(self) -> bool:
        """True when there is no error and no warning *and* every applicable check ran.

        Never a false OK: a report whose probes were skipped (no data, a probe
        that could not run) or that hit a bug of ours is not ``ok``, even with
        no findings. Families the user turned off (``train=False``) don't count
        as skipped.
        """
        return self.complete and not any(f.severity in ("error", "warning") for f in self.findings)

    @property
    def skipped(self) -> dict[str, str]:
        """Families that did not run, with the reason (turned-off families included, as "turned off")."""
        out = {k: "turned off" for k in self.coverage.get("off", [])}
        out.update(self.coverage.get("skipped", {}))
        return out

    @property
    def complete(self) -> bool:
        """True when every applicable check ran (nothing skipped, no internal error)."""
        return not self.coverage.get("skipped") and not self.internal_errors

    @property
    def backend_line(self) -> str:
        """``"Keras 3.15.1 on jax 0.10.2"`` (empty for a report without an environment)."""
        env = self.environment
        if not env.get("backend"):
            return ""
        return f"Keras {env.get('keras', '?')} on {env['backend']} {env.get('backend_version', '')}".rstrip()

    def get(self, code: str) -> Finding | None:
        """The first finding with ``code``, or None."""
        return next((f for f in self.findings if f.code == code), None)

    def sort(self) -> None:
        """Order findings root cause first, each followed by what it explains.

        Links every finding whose cause (``CAUSES``) is also in the report to
        that cause (``caused_by``), then orders the root causes (findings with
        no cause present) by the worst severity of their group, their own
        severity and line, each followed depth-first by its consequences
        (themselves in severity/line order). Idempotent.
        """
        ordered = sorted(self.findings, key=Finding.sort_key)
        first: dict[str, Finding] = {}
        for f in ordered:
            first.setdefault(f.code, f)
        for f in ordered:
            f.caused_by = next((c for c in causes_of(f, ordered) if c in first and c != f.code), None)
        children: dict[int, list[Finding]] = {}
        roots: list[Finding] = []
        for f in ordered:
            if f.caused_by is None:
                roots.append(f)
            else:
                children.setdefault(id(first[f.caused_by]), []).append(f)

        def group(f: Finding, seen: set[int]) -> list[Finding]:
            if id(f) in seen:  # never loops, even on a hand-made table with a cycle
                return []
            seen.add(id(f))
            out = [f]
            for child in children.get(id(f), []):
                out.extend(group(child, seen))
            return out

        seen: set[int] = set()
        groups = [group(r, seen) for r in roots]
        groups.sort(key=lambda g: (min(SEVERITY_RANK.get(x.severity, 9) for x in g), g[0].sort_key()))
        result = [f for g in groups for f in g]
        # A finding a cycle left out keeps its place at the end, as a root.
        for f in ordered:
            if id(f) not in seen:
                f.caused_by = None
                result.append(f)
        self.findings = result

    def depth(self, finding: Finding) -> int:
        """How many causes above ``finding`` in this report (0 for a root cause); renderers indent by it."""
        by_code: dict[str, Finding] = {}
        for f in self.findings:
            by_code.setdefault(f.code, f)
        depth, f, seen = 0, finding, set()
        while f.caused_by is not None and f.caused_by in by_code and f.code not in seen:
            seen.add(f.code)
            f = by_code[f.caused_by]
            depth += 1
        return depth

    # -- serialisation ---------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The documented, versioned JSON form of the report."""
        return {
            "schema_version": SCHEMA_VERSION,
            "label": self.label,
            "ok": self.ok,
            "counts": self.counts,
            "findings": [f.to_dict() for f in self.findings],
            "model": jsonable(self.model),
            "data": jsonable(self.data),
            "cell_error": jsonable(self.cell_error),
            "calls": jsonable(self.calls),
            "params": jsonable(self.params),
            "timings": {k: round(float(v), 6) for k, v in self.timings.items()},
            "traces": jsonable(self.traces),
            "notes": list(self.notes),
            "internal_errors": list(self.internal_errors),
            "coverage": jsonable(self.coverage),
            "environment": jsonable(self.environment),
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Report:
        """The Report a ``to_dict()`` came from: ``Report.from_dict(d).to_dict() == d``."""
        return cls(
            findings=[Finding(**f) for f in d.get("findings", [])],
            model=d.get("model"),
            data=d.get("data"),
            cell_error=d.get("cell_error"),
            calls=list(d.get("calls", [])),
            timings=dict(d.get("timings", {})),
            traces=dict(d.get("traces", {})),
            params=dict(d.get("params", {})),
            source=d.get("source"),
            label=d.get("label"),
            notes=list(d.get("notes", [])),
            internal_errors=list(d.get("internal_errors", [])),
            coverage=dict(d.get("coverage", {})),
            environment=dict(d.get("environment", {})),
        )

    @classmethod
    def from_json(cls, text: str) -> Report:
        """``from_dict`` of a JSON string."""
        return cls.from_dict(json.loads(text))

    def to_json(self, **kwargs: Any) -> str:
        """``to_dict`` as a JSON string (strict JSON: no NaN literals)."""
        return json.dumps(self.to_dict(), allow_nan=False, **kwargs)

    def text(self, color: bool = False) -> str:
        """Terminal rendering."""
        from .render.text import render_text

        return render_text(self, color=color)

    def __str__(self) -> str:
        return self.text()

    # Rich display: static HTML with embedded plots, so the report survives
    # nbviewer / nbconvert / frontends without a widget manager.
    def _repr_html_(self) -> str:
        from .render.html import render_html

        return render_html(self)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return {"text/plain": self.text(), "text/html": self._repr_html_()}


def jsonable(value: Any) -> Any:
    """Convert numpy scalars/arrays, tuples and non-finite floats to plain JSON.

    NaN and +/-Inf become the strings ``"nan"``, ``"inf"``, ``"-inf"`` so the
    output stays strict JSON while the evidence keeps its meaning.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    # numpy without importing it at module level
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return jsonable(tolist())
    item = getattr(value, "item", None)
    if callable(item):
        return jsonable(item())
    return str(value)
