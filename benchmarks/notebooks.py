"""Run every tutorial notebook in a real kernel; report wall time and the kernel's peak memory.

    python benchmarks/notebooks.py                 # run all, print a Markdown table
    python benchmarks/notebooks.py --write         # also save the executed notebooks (outputs)
    python benchmarks/notebooks.py 00-quickstart.ipynb --cores 2

Peak memory is the highest resident set size (RSS) of the kernel process and
its children, sampled every 0.1 s: what Binder's 2 GB limit is checked
against. ``--cores N`` pins the kernel to N CPU cores (Linux ``taskset``
semantics through ``os.sched_setaffinity``) to mimic a small machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import threading
import time
from pathlib import Path

import nbformat
import psutil
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


class PeakRSS(threading.Thread):
    """Samples the RSS of a process tree until stopped; keeps the maximum."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.proc = psutil.Process(pid)
        self.interval = interval
        self.peak = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                procs = [self.proc, *self.proc.children(recursive=True)]
                rss = sum(p.memory_info().rss for p in procs)
                self.peak = max(self.peak, rss)
            except psutil.Error:
                pass
            self._halt.wait(self.interval)

    def stop(self) -> int:
        self._halt.set()
        self.join()
        return self.peak


def slim(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Keep the panel's text rendering only, not its widget view and image-laden HTML.

    Each panel's static HTML embeds several PNG plots (hundreds of kB per
    check); committed notebooks keep the findings as text, and the pictures
    the notebook draws itself. Running a notebook brings the full panel back.
    """
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "application/vnd.jupyter.widget-view+json" in data:
                for key in ("application/vnd.jupyter.widget-view+json", "text/html"):
                    data.pop(key, None)
    nb.metadata.pop("widgets", None)
    return nb


def run_notebook(path: Path, *, cores: int | None = None, write: bool = False) -> dict[str, object]:
    """Execute ``path`` in a fresh python3 kernel; returns seconds, peak MiB and errors."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONHASHSEED="0")
    t0 = time.perf_counter()
    monitor: PeakRSS | None = None
    with client.setup_kernel(env=env):
        pid = client.km.provisioner.process.pid  # type: ignore[union-attr]
        if cores:
            os.sched_setaffinity(pid, set(range(cores)))
        monitor = PeakRSS(pid)
        monitor.start()
        failure = None
        try:
            for index, cell in enumerate(nb.cells):
                client.execute_cell(cell, index)
        except CellExecutionError as exc:
            # Keep going to the report: the failing cell's error is in its outputs.
            failure = str(exc).strip().splitlines()[-1][:300]
        finally:
            peak = monitor.stop()
    seconds = time.perf_counter() - t0
    errors = [
        i
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code"
        and any(o.get("output_type") == "error" for o in c.get("outputs", []))
        and "raises-exception" not in c.get("metadata", {}).get("tags", [])
    ]
    if write:
        nbformat.write(slim(nb), path)
    return {
        "notebook": path.name,
        "seconds": round(seconds, 1),
        "peak_mib": round(peak / 2**20),
        "errors": errors,
        "failure": failure,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help="notebook file names (default: all in notebooks/)")
    ap.add_argument("--write", action="store_true", help="save the executed notebooks")
    ap.add_argument("--cores", type=int, help="pin the kernel to this many CPU cores")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = ap.parse_args(argv)
    paths = [NOTEBOOKS / n for n in args.names] if args.names else sorted(NOTEBOOKS.glob("[0-9]*.ipynb"))
    rows = []
    for path in paths:
        row = run_notebook(path, cores=args.cores, write=args.write)
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    total = sum(float(r["seconds"]) for r in rows)  # type: ignore[arg-type]
    cpu = f"{psutil.cpu_count()} cores" + (f", kernel pinned to {args.cores}" if args.cores else "")
    print(f"\nMachine: {platform.machine()}, {cpu}, Python {platform.python_version()}\n")
    print("| notebook | wall time (s) | kernel peak RSS (MiB) |")
    print("|---|---:|---:|")
    for r in rows:
        print(f"| {r['notebook']} | {r['seconds']} | {r['peak_mib']} |")
    print(f"| **all** | **{total:.0f}** | max **{max(int(r['peak_mib']) for r in rows)}** |")  # type: ignore[call-overload]
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 1 if any(r["errors"] or r["failure"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
