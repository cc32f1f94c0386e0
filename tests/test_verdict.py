"""The verdict: decided once (``render/verdict.py``), shown the same in text and HTML, and honest.

It never says "no problems found" when a check failed inside ae_magic, when a
check or probe was skipped (``report.skipped``, or a note saying so) or when
the probes were off (``train=False``).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fake_reports import make_report

from ae_magic.render import html as rhtml
from ae_magic.render import text as rtext
from ae_magic.render.verdict import Verdict, caveats, verdict
from ae_magic.report import Finding, Report

OK_WORDS = re.compile(r"no problems|\bOK\b|all good|healthy", re.IGNORECASE)


def report(findings: list[Finding] | None = None, **kw: Any) -> Report:
    """A complete, clean check unless ``kw`` says otherwise."""
    base: dict[str, Any] = {"model": {"variable": "ae", "name": "ae"}, "params": {"train": True}}
    base.update(kw)
    return Report(findings=findings or [], **base)


def with_skipped(rep: Report, skipped: dict[str, str]) -> Report:
    """``rep`` with ``report.skipped == skipped``: through ``coverage`` where Report has it, else as an attribute."""
    if "coverage" in Report.__dataclass_fields__:
        rep.coverage = {"ran": [], "off": [k for k, v in skipped.items() if v == "turned off"],
                        "skipped": {k: v for k, v in skipped.items() if v != "turned off"}}
    else:
        rep.skipped = skipped  # type: ignore[attr-defined]
    assert dict(rep.skipped) == skipped  # type: ignore[attr-defined]
    return rep


def info() -> Finding:
    return Finding(code="AE406", severity="info", title="lr", message="try 3e-3")


def warning() -> Finding:
    return Finding(code="AE106", severity="warning", title="sigmoid code", message="m", line=3)


def error() -> Finding:
    return Finding(code="AE102", severity="error", title="dangling", message="m", line=4)


def shown(rep: Report) -> tuple[str, str]:
    """The verdict as the terminal and the HTML header show it."""
    line = rtext.verdict_line(rep)
    header = re.search(r'class="ae-verdict"[^>]*>(.*?)</span>', rhtml.header_html(rep), re.S)
    assert header
    return line, header.group(1)


def assert_not_ok(rep: Report) -> Verdict:
    v = verdict(rep)
    assert not v.ok and v.level != "ok"
    for where in (v.summary, *shown(rep)):
        assert not OK_WORDS.search(where), where
    assert rhtml.OK_COLOR not in rhtml.header_html(rep)
    return v


# -- complete checks ---------------------------------------------------------------------
def test_complete_clean_check_says_no_problems_found() -> None:
    v = verdict(report())
    assert v == Verdict(level="ok", summary="No problems found", subject="model `ae`", caveats=())
    line, header = shown(report())
    assert line == "ae_magic: model `ae`: no problems found"
    assert header == "No problems found"
    assert rhtml.OK_COLOR in rhtml.header_html(report())


def test_info_only_is_still_ok_with_its_suggestions_counted() -> None:
    assert verdict(report([info()])).summary == "No problems found (1 suggestion)"
    assert verdict(report([info(), info()])).summary == "No problems found (2 suggestions)"


def test_errors_and_warnings_are_counted_the_same_everywhere() -> None:
    rep = report([error(), warning(), warning(), info()])
    v = verdict(rep)
    assert v.level == "error" and v.summary == "1 error, 2 warnings, 1 info"
    line, header = shown(rep)
    assert line == "ae_magic: model `ae`: 1 error, 2 warnings, 1 info"
    assert header == v.summary
    assert verdict(report([warning()])).level == "warning"


def test_the_fake_reports_used_by_the_panel_tests() -> None:
    assert verdict(make_report(findings=False)).summary == "No problems found"
    assert verdict(make_report()).summary == "1 error, 1 warning, 1 info"


# -- incomplete checks -------------------------------------------------------------------
def test_internal_error_is_never_no_problems() -> None:
    rep = report(internal_errors=[{"check": "ae_magic.checks.data.check_range", "error": "ValueError: x"}])
    v = assert_not_ok(rep)
    assert v.level == "incomplete"
    assert v.summary == "Not fully checked: 1 check failed inside ae_magic"
    # With findings, the counts stay and the gap is said too.
    v = verdict(report([error()], internal_errors=[{"check": "a", "error": "b"}] * 2))
    assert v.summary == "1 error; not fully checked: 2 checks failed inside ae_magic"


def test_skipped_checks_are_never_no_problems() -> None:
    rep = with_skipped(report([info()]), {"gradients": "the model can't run on the data (AE204)", "training": "x" * 80})
    v = assert_not_ok(rep)
    assert "skipped: gradients (the model can't run on the data (AE204)), training" in v.summary
    assert v.summary.endswith("(1 info)")


def test_families_turned_off_on_purpose_are_not_a_gap() -> None:
    rep = with_skipped(report(), {"range_test": "turned off"})
    assert verdict(rep).ok


def test_train_false_says_the_probes_were_off() -> None:
    rep = with_skipped(report(params={"train": False}),
                       {"gradients": "turned off", "training": "turned off", "range_test": "turned off"})
    v = assert_not_ok(rep)
    assert v.summary == "Not fully checked: probes were off (train=False)"
    line, header = shown(rep)
    assert "probes were off (train=False)" in line and "probes were off (train=False)" in header
    # A report without a train parameter (hand-made, loaded) is not assumed to be missing the probes.
    assert verdict(report(params={})).ok


@pytest.mark.parametrize(
    "note",
    [
        "Probes skipped: the model has no trainable weights.",
        "--data x_train: not defined (the cell raised before defining it?); data checks skipped.",
        "AE111 (output ignores input) not checked: the model could not be copied for a forward pass.",
        "The range test could not run on this model.",
    ],
)
def test_notes_that_say_something_was_skipped_are_never_no_problems(note: str) -> None:
    v = assert_not_ok(report(notes=[note]))
    assert "see the notes" in v.summary


@pytest.mark.parametrize("note", [
    "The held-out MSE ended the 171-step probe run above the per-feature mean's error, still falling; a run 4x as "
    "long (684 steps) took it to 0.0003534, still above the mean's 2.876e-07: not shown to leave the mean (...)",
    "A slow learner, not shown to leave the mean: at the configured learning rate 0.0001 the held-out MSE ...",
])
def test_a_model_not_shown_to_leave_the_mean_is_never_no_problems(note: str) -> None:
    # Round 50's be07 read "no problems found" with a note that its 4x run ended 1,200x above the mean's error.
    v = assert_not_ok(report(notes=[note]))
    assert "learning was not shown" in v.summary


def test_a_slow_start_shown_keeps_the_verdict() -> None:
    note = ("The held-out MSE ended the 171-step probe run above the per-feature mean's error, still falling; a run 4x "
            "as long (684 steps) took it to 0.2 (the mean reaches 0.9): a slow start.")
    assert verdict(report(notes=[note])).ok


def test_harmless_notes_keep_the_verdict() -> None:
    assert verdict(report(notes=["no optimizer: probes use Adam(1e-3)"])).ok


def test_no_model_is_not_a_clean_bill_of_health() -> None:
    rep = Report(params={"train": True})
    v = assert_not_ok(rep)
    assert v.subject == "no Keras model found in the cell"
    assert rtext.verdict_line(rep).startswith("ae_magic: no Keras model found in the cell: not fully checked")
    failed = Report(cell_error={"type": "ValueError", "message": "boom"}, params={"train": True})
    assert verdict(failed).subject == "cell failed"


def test_caveats_read_odd_skipped_values() -> None:
    class Odd(Report):
        @property
        def skipped(self) -> Any:  # a newer Report's property failing on a hand-made one
            raise KeyError("coverage")

    rep = Odd(model={"variable": "ae"}, params={"train": True})
    assert caveats(rep) == ["skipped: some checks"]


def test_verdict_is_the_only_verdict_logic() -> None:
    """text.py and html.py render ``verdict()``; neither decides by itself."""
    import inspect

    from ae_magic.render import html, text

    for mod in (html, text):
        src = inspect.getsource(mod)
        assert "No problems found" not in src and "no problems found" not in src, mod.__name__
        assert "from .verdict import verdict" in src
    try:
        from ae_magic.render import panel
    except ImportError:
        return
    assert "problems found" not in inspect.getsource(panel).lower()
