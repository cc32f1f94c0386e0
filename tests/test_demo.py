"""``ae-magic demo`` (ae_magic.demo.run_demo): bundled data, the quickstart's broken model, text and HTML."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from ae_magic import demo

ROOT = Path(__file__).resolve().parents[1]


def test_quickstart_notebook_checks_the_demo_cells() -> None:
    """The demo and the quickstart must show the same model, so they are kept in step."""
    nb = nbformat.read(ROOT / "notebooks" / "00-quickstart.ipynb", as_version=4)
    sources = [c.source for c in nb.cells if c.cell_type == "code"]
    assert any(s.startswith(demo.DATA_CELL.strip()) for s in sources)
    assert f"%%ae_check --data x_train\n{demo.BROKEN_CELL.strip()}" in sources
    assert f"%%ae_check --data x_train\n{demo.FIXED_CELL.strip()}" in sources


def test_run_demo_finds_the_three_mistakes_and_writes_html(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sub" / "demo.html"
    report = demo.run_demo(out_html=str(out), train=False)
    assert {"AE201", "AE203", "AE106"} <= set(report.codes)
    assert not report.ok
    printed = capsys.readouterr().out
    for code in ("AE201", "AE203", "AE106"):
        assert code in printed
    # The file it names exists and holds the findings.
    assert str(out.resolve()) in printed
    page = out.read_text(encoding="utf-8")
    assert page.lstrip().lower().startswith("<!doctype html")
    for code in ("AE201", "AE203", "AE106"):
        assert code in page
    # The bundled data was used, raw as the quickstart loads it.
    assert report.data["shape"] == [2000, 784]
    assert report.data["dtype"] == "uint8"


def test_fixed_demo_cell_is_clean() -> None:
    """The quickstart's fix really fixes it (structure and data checks)."""
    import ae_magic

    ns: dict = {}
    exec(compile(demo.DATA_CELL, "<data>", "exec"), ns)
    exec(compile("from ae_magic.datasets import load\n" + demo.FIXED_DATA_CELL, "<fixed data>", "exec"), ns)
    report = ae_magic.check(demo.FIXED_CELL, namespace=ns, data="x_train", train=False)
    assert report.ok, [(f.code, f.severity) for f in report.findings]
