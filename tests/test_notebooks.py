"""Static checks of the tutorial notebooks (fast); running them is nbval's job:

    pytest --nbval-lax notebooks/
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NB_DIR.glob("[0-9]*.ipynb"))


def _builder():
    spec = importlib.util.spec_from_file_location("_nb_build", NB_DIR / "_build.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_one_notebook_per_story() -> None:
    names = [p.name for p in NOTEBOOKS]
    assert names == sorted(_builder().NOTEBOOKS)
    assert names[0] == "00-quickstart.ipynb"
    assert len(names) == 5


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_notebook_matches_its_generator(path: Path) -> None:
    """Edit notebooks/_build.py, not the .ipynb: the committed sources must be what it writes."""
    cells = _builder().NOTEBOOKS[path.name]()
    nb = nbformat.read(path, as_version=4)
    assert [(c.cell_type, c.source) for c in nb.cells] == [(c.cell_type, c.source.strip("\n")) for c in cells]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_check_is_followed_by_an_assertion(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[0].source.startswith("%load_ext ae_magic")
    checks = [i for i, c in enumerate(code) if c.source.startswith("%%ae_check")]
    assert len(checks) >= 2, "a broken cell and its fix"
    for i in checks:
        nxt = code[i + 1].source
        assert "ae_magic.last_report()" in nxt, f"cell after check {i} asserts nothing"
        assert re.search(r"assert .*report\.(codes|ok)", nxt)
    # The last check is the fixed model, which must pass.
    assert "assert report.ok" in code[checks[-1] + 1].source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_learner_material(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "Your turn" in text, "an invitation to a slider experiment"
    assert "slider" in text.lower()
    assert "What it found" in text
    # Pictures: at least one committed image output (inputs beside reconstructions).
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert images, "run `python benchmarks/notebooks.py --write` to store outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_only_cells_meant_to_fail_may_fail(path: Path) -> None:
    """Cells that raise on purpose carry the tag nbval and nbclient honour; no other cell has an error."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        tagged = "raises-exception" in cell.metadata.get("tags", [])
        errored = any(o.get("output_type") == "error" for o in cell.get("outputs", []))
        assert errored == tagged, cell.source[:80]
        assert "NBVAL_CHECK_OUTPUT" not in cell.source or not cell.source.startswith("%%ae_check")
