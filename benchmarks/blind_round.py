"""Score a blind round: cells written by someone who has not read ae_magic, through the CLI.

Run by hand (not part of the test suite)::

    .venv/bin/python benchmarks/blind_round.py FOLDER [FOLDER ...] [--range-test] [--only FILE ...]

Each FOLDER holds cells (``xx01.py`` ...) and a ``cells.json`` manifest
written with them, one object per cell: ``file``, ``healthy``, ``codes``
(the root-cause codes the author expects, best first), ``lines`` (the
1-based lines a user must edit), ``data`` (the variable passed as
``--data``) and ``target`` (``--target``, for denoising cells, or null).
This is how issue 9 judges the engine: each file goes through
``ae-magic check FILE --data NAME [--target NAME] --json`` in its own
process (a fresh interpreter per cell, as a user's CI would run it), and
the report is scored:

* a healthy cell is *silent* when it has no warning, no error, no internal
  error and no usage error;
* a buggy cell is *named* when a warning or error carries one of the
  author's codes, and *at the line* when such a finding points at one of
  the author's lines.

The reports are written beside the cells (``FILE.json``), the scores as one
line per cell and a total. With ``--range-test`` every cell runs with the
learning-rate range test and the AE406 suggestions are listed (follow one
with ``--lr``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

LOUD = ("warning", "error")


def run_cell(path: Path, data: str, target: str | None, extra: list[str]) -> dict:
    """One cell through ``ae-magic check --json`` in a fresh process; its report (or a stand-in saying why none came)."""
    pair = ["--data", data, *(["--target", target] if target else [])]
    cmd = [sys.executable, "-m", "ae_magic", "check", str(path), *pair, *extra, "--json"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    reports = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if not reports:
        return {"usage_error": f"no report (exit {out.returncode}): {out.stderr[-2000:]}", "findings": []}
    return json.loads(reports[-1])


def score(cell: dict, report: dict) -> dict:
    """What the report got right about ``cell``: silent / named / at the line, with the loud findings."""
    loud = [f for f in report.get("findings", []) if f.get("severity") in LOUD]
    broken = bool(report.get("internal_errors")) or "usage_error" in report
    got = [f"{f['code']}@{f.get('line')}" for f in loud]
    if cell["healthy"]:
        return {"ok": not loud and not broken, "got": got, "broken": broken}
    hits = [f for f in loud if f["code"] in cell["codes"]]
    at_line = any(f.get("line") in cell["lines"] for f in hits)
    return {"ok": bool(hits), "at_line": at_line, "got": got, "broken": broken}


def main(argv: list[str] | None = None) -> int:
    """Run and score the folders' cells; print one line per cell and the totals."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--range-test", action="store_true", help="run the learning-rate range test too (AE406)")
    parser.add_argument("--only", nargs="*", default=None, help="these files only (names as in cells.json)")
    parser.add_argument("--jobs", type=int, default=1, help="cells checked at once (each one process)")
    parser.add_argument("--extra", default="", help="more CLI flags, one string (e.g. '--lr 0.003')")
    args = parser.parse_args(argv)

    cells = []
    for folder in args.folders:
        for cell in json.loads((folder / "cells.json").read_text()):
            if args.only is None or cell["file"] in args.only:
                cells.append((folder / cell["file"], cell))
    extra = (["--range-test"] if args.range_test else []) + args.extra.split()

    def one(item: tuple[Path, dict]) -> tuple[Path, dict, dict]:
        path, cell = item
        report = run_cell(path, cell.get("data") or "x", cell.get("target"), extra)
        path.with_suffix(".json").write_text(json.dumps(report, indent=1))
        return path, cell, report

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(pool.map(one, cells))

    tally = {"healthy": 0, "silent": 0, "buggy": 0, "named": 0, "at_line": 0, "broken": 0}
    for path, cell, report in results:
        s = score(cell, report)
        tally["broken"] += s["broken"]
        if cell["healthy"]:
            tally["healthy"] += 1
            tally["silent"] += s["ok"]
            mark = "silent" if s["ok"] else "NOISY"
        else:
            tally["buggy"] += 1
            tally["named"] += s["ok"]
            tally["at_line"] += s["at_line"]
            mark = ("named" + (" @line" if s["at_line"] else " (other line)")) if s["ok"] else "MISSED"
            mark += f"  want {','.join(cell['codes'])}@{cell['lines']}"
        suggestions = [f"AE406 {f.get('evidence', {}).get('suggested_lr')}" for f in report.get("findings", []) if f.get("code") == "AE406"]
        print(f"{path.parent.name}/{path.name:10s} {mark:44s} got {' '.join(s['got']) or '-'}"
              f"{'  BROKEN' if s['broken'] else ''}{'  ' + ' '.join(suggestions) if suggestions else ''}")
    print(f"healthy silent {tally['silent']}/{tally['healthy']}, buggy named {tally['named']}/{tally['buggy']}, "
          f"at the line {tally['at_line']}/{tally['buggy']}, internal or usage errors {tally['broken']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
