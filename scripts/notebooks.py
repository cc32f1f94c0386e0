"""Keep the tutorials' two forms in step: ``notebooks/NN-name.py`` (jupytext
percent scripts, what you edit and review) and ``NN-name.ipynb`` (the same
cells with their executed outputs, what nbval runs and readers open).

    python scripts/notebooks.py sync              # after editing a script: update each .ipynb's cells
    python scripts/notebooks.py run               # sync, execute every notebook, strip noise, save outputs
    python scripts/notebooks.py run 05-vae        # one notebook (name with or without extension)
    python scripts/notebooks.py strip             # only drop TensorFlow/CUDA start-up lines from outputs

``run`` executes each notebook in a fresh kernel through
``benchmarks/notebooks.py`` (which keeps each panel as text) and then removes
the start-up notices that TensorFlow, XLA and CUDA print to the kernel's
stderr (``tests/test_notebooks.py`` refuses a committed notebook with any).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
sys.path.insert(0, str(ROOT))

from ae_magic.backends import NATIVE_NOISE  # noqa: E402  (after the path is set)

# Python-side start-up lines of the same libraries, besides ae_magic's list of native ones.
PY_NOISE = re.compile(r"^(?:WARNING|INFO|E|W|I)\S*:absl:|^\S+ \d\d:\d\d:\d\d\.\d+ +\d+ \S+\.cc:\d+\]")


def scripts(names: list[str]) -> list[Path]:
    """The tutorial scripts named (stem or file name), or all of them."""
    found = sorted(NOTEBOOKS.glob("[0-9][0-9]-*.py"))
    if not names:
        return found
    stems = {Path(n).stem for n in names}
    chosen = [p for p in found if p.stem in stems]
    missing = stems - {p.stem for p in chosen}
    if missing:
        raise SystemExit(f"no such tutorial: {', '.join(sorted(missing))}")
    return chosen


def sync(paths: list[Path]) -> None:
    """Write each script's cells into its notebook (outputs of unchanged cells are kept)."""
    for path in paths:
        subprocess.run([sys.executable, "-m", "jupytext", "--sync", "--quiet", str(path)], cwd=ROOT, check=True)


def is_noise(line: str) -> bool:
    """A start-up notice of TensorFlow, XLA, CUDA or absl (nothing a tutorial says)."""
    return bool(NATIVE_NOISE.search(line) or PY_NOISE.search(line))


def strip(nb: nbformat.NotebookNode) -> int:
    """Drop noise lines from the stream outputs of ``nb`` (and outputs left empty); returns lines dropped."""
    dropped = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                lines = out["text"].splitlines(keepends=True)
                clean = [line for line in lines if not is_noise(line)]
                dropped += len(lines) - len(clean)
                out["text"] = "".join(clean)
                if not out["text"].strip():
                    continue
            kept.append(out)
        cell["outputs"] = kept
    return dropped


def strip_files(paths: list[Path]) -> None:
    """Strip the notebooks of ``paths`` (scripts or notebooks) in place."""
    for path in paths:
        ipynb = path.with_suffix(".ipynb")
        nb = nbformat.read(ipynb, as_version=4)
        if strip(nb):
            nbformat.write(nb, ipynb)


def run(paths: list[Path]) -> int:
    """Sync, execute, strip and save each notebook; non-zero if any cell failed unexpectedly."""
    from benchmarks.notebooks import run_notebook

    sync(paths)
    status = 0
    for path in paths:
        row = run_notebook(path.with_suffix(".ipynb"), write=True)
        print(row, flush=True)
        status |= bool(row["errors"] or row["failure"])
    strip_files(paths)
    return int(status)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see the module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=["sync", "run", "strip"])
    ap.add_argument("names", nargs="*", help="tutorials (default: all)")
    args = ap.parse_args(argv)
    paths = scripts(args.names)
    if args.command == "sync":
        sync(paths)
    elif args.command == "strip":
        strip_files(paths)
    else:
        return run(paths)
    return 0


if __name__ == "__main__":
    sys.exit(main())
