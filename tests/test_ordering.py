"""Root cause first: the cause -> consequence table, ``Finding.caused_by`` and
the order and indentation every renderer gives a consequence under its cause."""

from __future__ import annotations

import re

import numpy as np
import pytest
import zoo

import ae_magic
from ae_magic.catalogue import CATALOGUE
from ae_magic.render import html as rhtml
from ae_magic.report import CAUSES, SEVERITY_RANK, Finding, Report, causes_of

FAMILY_RANK = {"structure": 0, "data": 0, "gradients": 1, "training": 2}

SOFTMAX_BCE = """\
import keras
from keras import layers
inp = keras.Input((64,))
h = layers.Dense(16, activation="relu")(inp)
out = layers.Dense(64, activation="softmax")(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
"""


def _f(code: str, line: int | None = None, severity: str | None = None) -> Finding:
    sev = severity or CATALOGUE[code].severity
    return Finding(code=code, severity=sev, title=f"t{code}", message=f"m{code}", line=line)  # type: ignore[arg-type]


def test_cause_table_names_catalogue_codes_and_has_no_cycle() -> None:
    for consequence, causes in CAUSES.items():
        assert consequence in CATALOGUE
        assert causes and all(c in CATALOGUE for c in causes), consequence
        assert consequence not in causes
        assert len(set(causes)) == len(causes), consequence
    # No cycle: follow every chain of causes; none comes back to where it started.
    def reach(code: str, seen: frozenset[str]) -> None:
        for c in CAUSES.get(code, ()):
            assert c not in seen, f"cycle through {c}"
            reach(c, seen | {c})

    for code in CAUSES:
        reach(code, frozenset({code}))


def test_causes_come_from_an_earlier_or_the_same_family() -> None:
    # Structure/data explain gradients, gradients explain training; never backwards.
    for consequence, causes in CAUSES.items():
        for c in causes:
            assert FAMILY_RANK[CATALOGUE[c].family] <= FAMILY_RANK[CATALOGUE[consequence].family], (c, consequence)


def test_consequence_follows_its_cause_with_caused_by() -> None:
    report = Report(findings=[_f("AE404"), _f("AE102", 3), _f("AE108", 6), _f("AE109")])
    report.sort()
    # AE108 (a warning) leads: its group holds an error (the collapse it causes).
    assert report.codes == ["AE108", "AE404", "AE102", "AE109"]
    assert report.get("AE404").caused_by == "AE108"  # type: ignore[union-attr]
    assert [f.caused_by for f in report.findings if f.code != "AE404"] == [None, None, None]
    assert [report.depth(f) for f in report.findings] == [1 if f.code == "AE404" else 0 for f in report.findings]
    assert report.to_dict()["findings"][1]["caused_by"] == "AE108"


def test_caused_by_only_when_the_cause_is_present() -> None:
    report = Report(findings=[_f("AE404"), _f("AE102", 3)])
    report.sort()
    assert report.codes == ["AE404", "AE102"]  # errors first, as before
    assert all(f.caused_by is None for f in report.findings)


def _stuck(**extra: object) -> Finding:
    f = _f("AE301", 45, "error")
    f.evidence = {"layers": ["conv2d", "dense"], "frozen": [], "steps": 600,
                  "measured": "update-to-weight ratio per layer and step (per-layer gradients unavailable)", **extra}
    return f


def test_weights_a_posterior_collapse_stopped_go_under_it() -> None:
    # Round 62's cm02 (keras.io VAE, mean BCE beside a summed KL): the encoder's weights got exactly zero updates
    # from the model's own train_step because the collapse cut the code off; the AE301 error led the report.
    report = Report(findings=[_stuck(), _f("AE407", 84), _f("AE405", 96)])
    report.sort()
    assert report.codes[0] == "AE407"
    assert report.get("AE301").caused_by == "AE407"  # type: ignore[union-attr]
    # Without the collapse, or when the step itself is what drops the weights (frozen layers, a compute_loss that
    # never calls super(), a gradient of one term), the AE301 is its own root.
    for stuck in (_stuck(frozen=["conv2d"]), _stuck(compute_loss_without_super=True), _stuck(gradient_of="kl_loss")):
        report = Report(findings=[stuck, _f("AE407", 84)])
        report.sort()
        assert report.codes[0] == "AE301" and stuck.caused_by is None
    report = Report(findings=[_stuck(), _f("AE405", 96)])
    report.sort()
    assert report.get("AE301").caused_by is None  # type: ignore[union-attr]


def test_units_dead_in_the_cells_own_fit_go_under_the_collapse_that_fit_made() -> None:
    # Round 64's cp10: a beta-VAE whose own fit collapsed the code left the encoder's Dense all dead.
    dead = _f("AE304", 63, "warning")
    dead.evidence = {"dead_share": {"dense": 1.0}, "when": "at the initial weights", "cell_fit_steps": 64}
    report = Report(findings=[dead, _f("AE407", 56)])
    report.sort()
    assert report.codes[0] == "AE407" and dead.caused_by == "AE407"
    fresh = _f("AE304", 63, "warning")  # dead at the probes' own fresh weights: not the cell fit's doing
    fresh.evidence = {"dead_share": {"dense": 1.0}, "when": "at the initial weights"}
    report = Report(findings=[fresh, _f("AE407", 56)])
    report.sort()
    assert fresh.caused_by is None


def test_units_dead_because_the_model_zeroes_its_input_go_under_that_ae111() -> None:
    # Round 75's dl07: `Rescaling(1 // 255)` multiplies every input by 0, so every ReLU after it outputs its bias (0):
    # the dead units are the zero scale's doing, and the report leads with the AE111 that names it.
    dead = _f("AE304", 11, "warning")
    dead.evidence = {"dead_share": {"conv2d": 1.0}, "when": "at the initial weights"}
    zero = _f("AE111", 9)
    zero.evidence = {"zero_scale": True}
    report = Report(findings=[dead, zero])
    report.sort()
    assert report.codes[0] == "AE111" and dead.caused_by == "AE111"
    alone = _f("AE304", 11, "warning")
    report = Report(findings=[alone, _f("AE407", 20)])
    report.sort()
    assert alone.caused_by is None  # units dead at the probes' fresh weights: a collapse in training can't explain them


def test_chains_nest_and_the_most_direct_cause_is_named() -> None:
    # Unscaled data -> exploding gradients -> divergence; the divergence is put
    # under the exploding gradients (its most direct cause), not the data.
    report = Report(findings=[_f("AE401"), _f("AE303"), _f("AE201"), _f("AE106", 4)])
    report.sort()
    assert report.codes == ["AE201", "AE303", "AE401", "AE106"]
    assert [f.caused_by for f in report.findings] == [None, "AE201", "AE303", None]
    assert [report.depth(f) for f in report.findings] == [0, 1, 2, 0]


def test_sort_is_idempotent_and_roots_keep_severity_then_line_order() -> None:
    report = Report(findings=[_f("AE106", 9), _f("AE102", 3), _f("AE105", 20), _f("AE101", 4), _f("AE406")])
    report.sort()
    first = report.codes
    assert first == ["AE101", "AE105", "AE102", "AE106", "AE406"]
    report.sort()
    assert report.codes == first


def test_round_trip_keeps_caused_by() -> None:
    report = Report(findings=[_f("AE405"), _f("AE108", 6)])
    report.sort()
    again = Report.from_json(report.to_json())
    assert [(f.code, f.caused_by) for f in again.findings] == [("AE108", None), ("AE405", "AE108")]
    with pytest.raises(ValueError):
        Finding(code="AE404", severity="error", title="t", message="m", caused_by="AE999")


def test_text_and_html_show_the_consequence_under_its_cause() -> None:
    report = Report(findings=[_f("AE404"), _f("AE108", 6)])
    report.sort()
    text = report.text()
    cause = text.index("AE108")
    line = next(ln for ln in text.splitlines() if "AE404" in ln)
    assert text.index("AE404") > cause
    assert line.startswith("    └ ") and line.endswith("because of AE108")
    page = rhtml.render_html(report, with_plots=False)
    blocks = re.findall(r'<div class="ae-finding [^"]*" data-code="(AE\d+)" [^>]*data-depth="(\d)"', page)
    assert blocks == [("AE108", "0"), ("AE404", "1")]
    assert 'data-cause="AE108"' in page and 'because of <span style="font-weight:bold">AE108</span>' in page
    assert re.search(r'data-code="AE404"[^>]*style="margin-left:24px', page)


def test_softmax_with_bce_leads_with_the_mismatch_and_shows_the_collapse_under_it() -> None:
    # Binary, mostly-zero data: softmax spreads a sum of 1 over 64 outputs, so
    # every reconstruction is the same near-uniform vector.
    x = (np.random.default_rng(0).random((512, 64)) < 0.3).astype("float32")
    report = ae_magic.check(SOFTMAX_BCE, data=x, epochs=5, seed=0)
    first = next(f for f in report.findings if f.severity in ("error", "warning"))
    assert first.code == "AE108" and first.caused_by is None
    collapse = report.get("AE404")
    assert collapse is not None, report.codes
    assert collapse.caused_by == "AE108"
    assert report.codes.index("AE404") == report.codes.index("AE108") + 1
    assert "because of AE108" in report.text()


# Catalogue cases whose fault can explain what the probes then measure.
CAUSE_CASES = sorted(k for k in zoo.CATALOGUE if k.startswith(("AE106", "AE107", "AE108", "AE110", "AE111", "AE201")))


@pytest.mark.parametrize("name", CAUSE_CASES)
def test_first_error_or_warning_is_a_root_cause_on_catalogue_cases(name: str) -> None:
    src, kwargs, expected = zoo.CATALOGUE[name]
    report = ae_magic.check(src, epochs=3, seed=0, **kwargs)
    assert expected <= set(report.codes), report.codes
    ranked = [f for f in report.findings if SEVERITY_RANK[f.severity] <= 1]
    assert ranked and ranked[0].caused_by is None, report.codes
    # The case's own fault is never put under a consequence of itself (only under another of its own faults:
    # raw pixels as the target are out of the sigmoid's range because they are not scaled, AE203 under AE201).
    assert all(f.caused_by is None or f.caused_by in expected for f in report.findings if f.code in expected), report.codes
    for f in report.findings:
        if f.caused_by is not None:
            cause = report.codes.index(f.caused_by)
            assert cause < report.codes.index(f.code), report.codes
            assert f.caused_by in causes_of(f)
