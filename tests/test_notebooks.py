"""Static checks of the tutorials (fast); running them is nbval's job:

    pytest --nbval-lax notebooks/

Each tutorial is a pair: ``notebooks/NN-name.py``, a jupytext percent script
(what you edit and review), and ``NN-name.ipynb``, the same cells with their
executed outputs. ``python scripts/notebooks.py run`` syncs, executes and
saves them.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import jupytext
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NB_DIR.glob("[0-9]*.ipynb"))
SCRIPTS = sorted(NB_DIR.glob("[0-9]*.py"))
CODE = re.compile(r"AE\d{3}")
# Start-up notices of TensorFlow, XLA, CUDA and absl: never part of a tutorial.
NOISE = re.compile(r"oneDNN|absl|cuda|TF-TRT|computation placer|computation_placer|This TensorFlow binary is optimized"
                   r"|cpu_feature_guard|^[IWE]\d{4} \d\d:\d\d:\d\d", re.I | re.M)


def _texts(cell: nbformat.NotebookNode) -> str:
    """All text a code cell's outputs show: streams, plain-text reprs, error messages."""
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(out.get("text", ""))
        elif out.get("output_type") == "error":
            parts.append(f"{out.get('ename')}: {out.get('evalue')}")
        else:
            data = out.get("data", {})
            parts.extend(str(data[k]) for k in ("text/plain", "text/markdown") if k in data)
    return "\n".join(parts)


def _is_check(cell: nbformat.NotebookNode) -> bool:
    return cell.cell_type == "code" and cell.source.lstrip().startswith(("%%ae_check", "%ae_probe"))


def test_each_notebook_has_its_script() -> None:
    assert [p.stem for p in NOTEBOOKS] == [p.stem for p in SCRIPTS]
    names = [p.name for p in NOTEBOOKS]
    assert names[0] == "00-quickstart.ipynb"
    assert len(names) == 7
    assert {"05-vae.ipynb", "06-sequence-autoencoder.ipynb"} <= set(names)
    assert not (NB_DIR / "_build.py").exists()


def test_jupytext_pairs_the_notebooks_with_percent_scripts() -> None:
    config = tomllib.loads((NB_DIR / "jupytext.toml").read_text())
    assert config["formats"] == "ipynb,py:percent"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_notebook_matches_its_script(path: Path) -> None:
    """Edit the .py, then `python scripts/notebooks.py run` (or `jupytext --sync`): the two must hold the same cells."""
    script = jupytext.read(path.with_suffix(".py"))
    nb = nbformat.read(path, as_version=4)

    def cells(book: nbformat.NotebookNode) -> list[tuple[str, str, list[str]]]:
        return [(c.cell_type, c.source, list(c.metadata.get("tags", []))) for c in book.cells]

    assert cells(nb) == cells(script)


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
    assert images, "run `python scripts/notebooks.py run` to store outputs"


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


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_code_cell_was_executed(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code), "run `python scripts/notebooks.py run` to store outputs"
    checks = [c for c in code if _is_check(c)]
    assert all("ae_magic: " in _texts(c) for c in checks), "a check shows its report"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_tensorflow_or_cuda_noise_in_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    noise = [m.group(0) for c in nb.cells if c.cell_type == "code" for m in [NOISE.search(_texts(c))] if m]
    assert noise == [], "strip them: python scripts/notebooks.py strip"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_codes_the_text_names_are_in_the_outputs_it_describes(path: Path) -> None:
    """A fault code in bold in the text (``**AE405``) must show in the outputs of the check it explains:
    that check cell and the cells up to the next check."""
    nb = nbformat.read(path, as_version=4)
    section_outputs: list[str] = []  # outputs since the latest check
    missing = []
    for cell in nb.cells:
        if _is_check(cell):
            section_outputs = []
        if cell.cell_type == "code":
            section_outputs.append(_texts(cell))
            continue
        claimed = set(re.findall(r"\*\*(AE\d{3})", cell.source))
        shown = set(CODE.findall("\n".join(section_outputs)))
        missing += sorted(claimed - shown)
    assert missing == [], f"the text names {missing}, which the outputs of the check it describes do not show"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_asserted_codes_are_named_in_the_text(path: Path) -> None:
    """What the test cells assert is what the learner is told about."""
    nb = nbformat.read(path, as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    asserted = {code for c in nb.cells if c.cell_type == "code" and "last_report()" in c.source
                for line in c.source.splitlines() if line.startswith("assert {") for code in CODE.findall(line)}
    assert asserted, "each tutorial asserts some finding"
    assert sorted(asserted - set(CODE.findall(text))) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_links_between_tutorials_resolve(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    links = re.findall(r"\]\(([^)#]+\.ipynb)\)", text)
    assert {p.name for p in NOTEBOOKS} <= set(links), "'Where next' lists every tutorial"
    assert [link for link in links if not (NB_DIR / link).exists()] == []
