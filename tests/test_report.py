"""Report and Finding: the documented, versioned, strict-JSON data model."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import zoo

import ae_magic
from ae_magic.report import SCHEMA_VERSION, Finding, Report, jsonable

DOCS = Path(__file__).resolve().parents[1] / "docs" / "report-schema.md"


def _strict_loads(text: str) -> object:
    """json.loads that refuses NaN/Infinity literals (what other parsers do)."""

    def bad(token: str) -> object:
        raise ValueError(f"non-standard JSON constant {token}")

    return json.loads(text, parse_constant=bad)


def _finding(code: str, severity: str, line: int | None, **kw: object) -> Finding:
    return Finding(code=code, severity=severity, title=f"t{code}", message=f"m{code}", line=line, **kw)  # type: ignore[arg-type]


def test_finding_round_trip() -> None:
    f = _finding("AE106", "warning", 9, layer="dense", evidence={"units": np.int64(32), "share": np.float32(0.5)},
                 fix="Dense(32, activation='relu')", source_line="encoded = Dense(32)(x)")
    d = _strict_loads(json.dumps(f.to_dict(), allow_nan=False))
    # "Try the fix" keys (edit, verified, trial) belong to tests/test_fixes.py.
    d = {k: v for k, v in d.items() if k not in ("edit", "verified", "trial")}
    assert d == {
        "code": "AE106",
        "severity": "warning",
        "title": "tAE106",
        "message": "mAE106",
        "line": 9,
        "layer": "dense",
        "evidence": {"units": 32, "share": 0.5},
        "fix": "Dense(32, activation='relu')",
        "source_line": "encoded = Dense(32)(x)",
        "caused_by": None,
    }
    assert type(d["evidence"]["units"]) is int


def test_nonfinite_evidence_is_strict_json() -> None:
    ev = {
        "nan": float("nan"),
        "inf": float("inf"),
        "neg": -math.inf,
        "np_nan": np.float32("nan"),
        "array": np.array([1.0, np.nan, np.inf]),
        "nested": {"t": (np.float64("-inf"), 2)},
    }
    report = Report(findings=[_finding("AE202", "error", None, evidence=ev)])
    text = report.to_json()
    assert "NaN" not in text and "Infinity" not in text
    got = _strict_loads(text)["findings"][0]["evidence"]  # type: ignore[index]
    assert got == {
        "nan": "nan",
        "inf": "inf",
        "neg": "-inf",
        "np_nan": "nan",
        "array": [1.0, "nan", "inf"],
        "nested": {"t": ["-inf", 2]},
    }


def test_jsonable_plain_types() -> None:
    assert jsonable((1, 2.5, "a", None, True)) == [1, 2.5, "a", None, True]
    assert jsonable({3: np.arange(3)}) == {"3": [0, 1, 2]}
    assert jsonable(np.bool_(True)) is True


def test_ordering_by_severity_then_line() -> None:
    report = Report(
        findings=[
            _finding("AE109", "info", None),
            _finding("AE106", "warning", 12),
            _finding("AE102", "warning", 3),
            _finding("AE201", "warning", None),
            _finding("AE105", "error", 20),
            _finding("AE101", "error", 4),
        ]
    )
    report.sort()
    assert report.codes == ["AE101", "AE105", "AE102", "AE106", "AE201", "AE109"]
    assert [f["code"] for f in report.to_dict()["findings"]] == report.codes


def test_engine_report_is_ordered() -> None:
    # 001 ex.1: the error (AE105) sits on a later line than the warning (AE102).
    src, kwargs, _ = zoo.FAULTY["001_ex1_broken"]
    report = ae_magic.check(src, train=False, **kwargs)
    roots = [f.sort_key() for f in report.findings if f.caused_by is None]
    assert roots == sorted(roots)
    assert report.findings[0].severity == "error" and report.findings[0].caused_by is None


def test_queries() -> None:
    report = Report(findings=[_finding("AE105", "error", 2), _finding("AE106", "warning", 1), _finding("AE109", "info", None)])
    assert report.counts == {"error": 1, "warning": 1, "info": 1}
    assert report.has_errors and not report.ok
    assert report.get("AE106") is report.findings[1]
    assert report.get("AE999") is None
    assert [f.code for f in report.by_severity("info")] == ["AE109"]
    only_info = Report(findings=[_finding("AE109", "info", None)])
    assert only_info.ok and not only_info.has_errors
    assert Report().ok


@pytest.mark.parametrize(
    ("src", "kwargs"),
    [
        (zoo.FAULTY["000_ex1_decoder_reads_input"][0], {"data": "x_train"}),
        (zoo.HEALTHY["composed"], {"data": "x"}),
        (zoo.HEALTHY["subclassed"], {"data": "x"}),
        ("import keras\nx = (1,\n", {}),
        ("", {}),
    ],
    ids=["faulty", "healthy-nested", "subclassed", "syntax-error", "empty"],
)
def test_engine_report_round_trip(src: str, kwargs: dict) -> None:
    report = ae_magic.check(src, train=False, **kwargs)
    d = report.to_dict()
    loaded = _strict_loads(report.to_json())
    assert loaded == json.loads(json.dumps(d, allow_nan=False))
    assert loaded["schema_version"] == SCHEMA_VERSION  # type: ignore[index]
    assert re.fullmatch(r"\d+\.\d+", SCHEMA_VERSION)
    for key in ("label", "ok", "counts", "findings", "model", "data", "cell_error", "params", "timings", "traces", "notes",
                "internal_errors"):
        assert key in loaded, key  # type: ignore[operator]
    assert loaded["internal_errors"] == []  # type: ignore[index]
    assert loaded["params"]["train"] is False  # type: ignore[index]
    assert all(isinstance(v, float) for v in loaded["timings"].values())  # type: ignore[index]
    for f in loaded["findings"]:  # type: ignore[index]
        # "Try the fix" keys (edit, verified, trial) are held by tests/test_fixes.py.
        assert set(f) - {"edit", "verified", "trial"} == {"code", "severity", "title", "message", "line", "layer",
                                                           "evidence", "fix", "source_line", "caused_by"}
        assert re.fullmatch(r"AE\d{3}", f["code"]) and f["severity"] in ("error", "warning", "info")
        assert f["title"] and f["message"]


def test_report_keys_match_the_documented_schema() -> None:
    documented = set(re.findall(r"^\| `(\w+)` \|", DOCS.read_text(), flags=re.M))
    report = ae_magic.check(zoo.HEALTHY["dense"], train=False, data="x")
    keys = set(report.to_dict())
    finding_keys = {"code", "severity", "title", "message", "line", "layer", "evidence", "fix", "source_line",
                    "caused_by", "edit", "verified", "trial"}
    cli_only = {"file", "usage_error", "try_all"}
    assert keys - documented == set(), f"undocumented report keys: {keys - documented}"
    assert documented - finding_keys - cli_only - keys == set(), "documented keys the report lacks"
    assert report.model is not None
    for key in ("variable", "name", "kind", "input_shape", "output_shape", "params", "compiled", "loss", "optimizer",
                "other_models", "graph"):
        assert key in report.model, key
    assert report.model["input_shape"] == [None, 32]
    assert report.data == {"name": "x", "shape": [1000, 32], "dtype": "float32"}


def test_denoising_report_names_the_target() -> None:
    report = ae_magic.check(zoo.HEALTHY["denoising"], train=False, **zoo.HEALTHY_CALLS["denoising"])
    assert report.data is not None
    assert report.data["name"] == "x_noisy"
    assert report.data["target"]["name"] == "x"


def test_text_rendering_mentions_codes_lines_and_fix() -> None:
    src, kwargs, _ = zoo.FAULTY["000_ex1_decoder_reads_input"]
    report = ae_magic.check(src, train=False, **kwargs)
    text = report.text()
    assert "AE102" in text and "AE103" in text
    assert "(line 10)" in text
    assert "fix:" in text
    assert str(report) == text
