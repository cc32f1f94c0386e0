"""The fault catalogue holds together: ae_magic/catalogue.py, docs/faults.md,
the README's "What it finds" table, and every code ae_magic's source names.

Cheap: no TensorFlow model is built here.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from ae_magic.catalogue import CATALOGUE, CODES, fault, is_code
from ae_magic.report import Finding

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "ae_magic"
CODE = re.compile(r"AE\d{3}")
FAMILY_OF_DIGIT = {"1": "structure", "2": "data", "3": "gradients", "4": "training"}


def _doc_tables() -> dict[str, tuple[str, str]]:
    """code -> (name, family heading) from docs/faults.md's tables."""
    out: dict[str, tuple[str, str]] = {}
    heading = ""
    for line in (ROOT / "docs" / "faults.md").read_text(encoding="utf-8").splitlines():
        m = re.match(r"## AE\dxx: (\w+)", line)
        if m:
            heading = m.group(1)
            continue
        m = re.match(r"\|\s*(AE\d{3})\s*\|\s*([a-z0-9-]+)\s*\|", line)
        if m:
            assert m.group(1) not in out, f"{m.group(1)} twice in docs/faults.md"
            out[m.group(1)] = (m.group(2), heading)
    return out


def _source_literals() -> dict[str, set[str]]:
    """Every string literal of the form AE123 in ae_magic's Python source -> the files naming it."""
    found: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and CODE.fullmatch(node.value):
                found.setdefault(node.value, set()).add(str(path.relative_to(ROOT)))
    return found


def _emitted() -> dict[str, set[str]]:
    """Codes passed as ``code="AE..."`` (a Finding's keyword) in ae_magic's source."""
    found: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for code in re.findall(r"""\bcode\s*=\s*["'](AE\d+)["']""", path.read_text(encoding="utf-8")):
            found.setdefault(code, set()).add(str(path.relative_to(ROOT)))
    return found


def test_docs_and_catalogue_agree() -> None:
    docs = _doc_tables()
    assert set(docs) == set(CATALOGUE), (
        f"only in docs/faults.md: {sorted(set(docs) - set(CATALOGUE))}; "
        f"only in ae_magic/catalogue.py: {sorted(set(CATALOGUE) - set(docs))}"
    )
    for code, (name, heading) in docs.items():
        assert CATALOGUE[code].name == name, (code, name, CATALOGUE[code].name)
        assert CATALOGUE[code].family == heading, (code, heading, CATALOGUE[code].family)


def test_catalogue_entries_are_well_formed() -> None:
    assert len(CODES) == len(set(CODES))
    assert list(CODES) == sorted(CODES)
    names = [f.name for f in CATALOGUE.values()]
    assert len(names) == len(set(names)), "two codes share a name"
    for code, f in CATALOGUE.items():
        assert f.code == code and CODE.fullmatch(code)
        assert f.family == FAMILY_OF_DIGIT[code[2]], code
        assert f.severity in ("error", "warning", "info"), code
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", f.name), code
        assert f.title and "\n" not in f.title and len(f.title) <= 80, code
    # Each family's codes count up from x01 (x00 for AE1xx) without gaps.
    for digit in FAMILY_OF_DIGIT:
        nums = [int(c[3:]) for c in CODES if c[2] == digit]
        start = 0 if digit == "1" else 1
        assert nums == list(range(start, start + len(nums))), (digit, nums)
    assert fault("AE111").name == "output-ignores-input"
    assert is_code("AE101") and not is_code("AE999") and not is_code(None)


def test_every_code_in_the_source_is_catalogued() -> None:
    literals = _source_literals()
    unknown = {c: sorted(paths) for c, paths in literals.items() if c not in CATALOGUE}
    assert not unknown, f"codes named in ae_magic but not in the catalogue: {unknown}"
    emitted = _emitted()
    assert emitted, "found no code=... literals: the pattern is out of date"
    assert set(emitted) <= set(CATALOGUE), sorted(set(emitted) - set(CATALOGUE))


def test_detected_flags_match_the_checks() -> None:
    """A code marked detected is emitted somewhere; one marked not detected nowhere."""
    emitted = _emitted()
    for code, f in CATALOGUE.items():
        assert (code in emitted) == f.detected, (code, f.detected, sorted(emitted.get(code, ())))


def test_readme_lists_every_code_with_its_name() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("## What it finds")
    end = text.find("\n## ", start + 1)
    section = text[start : end if end != -1 else len(text)]
    assert "docs/faults.md" in section
    pairs = dict(re.findall(r"\b(AE\d{3}) ([a-z0-9]+(?:-[a-z0-9]+)*)", section))
    for code, f in CATALOGUE.items():
        assert pairs.get(code) == f.name, (code, f.name, pairs.get(code))
    assert set(pairs) <= set(CATALOGUE), sorted(set(pairs) - set(CATALOGUE))


def test_finding_refuses_unknown_codes() -> None:
    Finding(code="AE104", severity="warning", title="t", message="m")
    for bad in ("AE999", "AE1", "ae104", ""):
        with pytest.raises(ValueError, match="fault catalogue"):
            Finding(code=bad, severity="warning", title="t", message="m")


def test_structure_checks_run_in_code_order() -> None:
    """The structure checks run AE102 ... AE113, each module's checks in the catalogue's order."""
    from ae_magic.checks import structure_checks

    checks = structure_checks()
    codes = [CODE.match((fn.__doc__ or "").strip()) for fn in checks]
    assert all(codes), [fn.__name__ for fn, c in zip(checks, codes, strict=True) if not c]
    order = [c.group(0) for c in codes if c]
    assert order == sorted(order)
    assert set(order) == {c for c in CODES if "AE102" <= c <= "AE113"}
    # AE108 has seven (the compiled loss, noise after the output, three hand-written losses: arguments swapped,
    # probabilities of a linear output, logits of a sigmoid output; per-output losses, a distribution head's
    # variance),
    # AE103 two (a bypass, an encoder off the path), AE111 two (the output's dependence, a normalisation over
    # one or two values).
    assert len(checks) == 21
