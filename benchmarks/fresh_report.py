"""The fresh held-out round (tests/zoo_fresh.py) through the command line, as issue 9 judges it.

Run by hand (not part of the test suite)::

    .venv/bin/python benchmarks/fresh_report.py [--only NAME ...]

Each cell written for the current backend is written to a file and run
through ``ae-magic check FILE --data x --json`` (denoising cells with
``--data x_noisy --target x``), one process per flag set. One row per cell:
whether the root cause was named (one of the cell's codes as a warning or
error), whether that hit names a line or a layer, whether a healthy cell
stayed silent (no warning, no error), internal errors, the probes that did
not run (coverage), and the check's own
time from the report's timings (the imports and the cell's own code
excluded; not a benchmark on a shared machine). Then the totals against
the bar: root cause named in >= 95 % of buggy cells, >= 90 % of hits
located, 0 warnings or errors on healthy cells, 0 internal errors.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
sys.path.insert(0, HERE)

from families_report import loud, run_cli  # noqa: E402


def _seconds(report: dict) -> float:
    """The check's own time: the total the report gives, else the sum of its stage timings."""
    t = report.get("timings", {})
    return float(t.get("total", sum(v for k, v in t.items() if k != "total")))


def main() -> None:
    """Run the fresh zoo through the CLI and print one row per cell and the totals."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=None, help="these cells only")
    args = parser.parse_args()

    import zoo_fresh as zr

    from ae_magic.keras_compat import keras

    backend = keras.backend.backend()
    cells = {n: c for n, c in zr.cells_for(backend).items() if not args.only or n in args.only}
    tmp = tempfile.mkdtemp(prefix="ae_fresh_")
    paths = {}
    for name, cell in cells.items():
        paths[name] = os.path.join(tmp, f"{name}.py")
        with open(paths[name], "w") as fh:
            fh.write(cell.source)
    groups: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for name, cell in cells.items():
        groups[tuple(cell.cli_args())].append(name)
    reports: dict[str, dict] = {}
    for flags, names in groups.items():
        for name, rep in zip(names, run_cli([paths[n] for n in names], list(flags)), strict=True):
            reports[name] = rep

    print(f"fresh zoo on {backend}: {len(cells)} cells ({sum(c.healthy for c in cells.values())} healthy)")
    print(f"{'cell':<40}{'want':<22}{'named':>6}{'located':>8}{'silent':>7}{'internal':>9}{'s':>7}  got")
    buggy = hit = located = healthy = silent = internal = 0
    problems = []
    for name, cell in cells.items():
        rep = reports[name]
        got = loud(rep)
        codes = sorted({f["code"] for f in got})
        n_int = len(rep["internal_errors"])
        internal += n_int
        named = loc = quiet = ""
        if cell.healthy:
            healthy += 1
            quiet = "yes" if not got else "NO"
            silent += not got
            if got:
                problems.append(f"noisy   {name}: {codes}")
        else:
            buggy += 1
            hits = [f for f in got if f["code"] in cell.codes]
            hit += bool(hits)
            is_loc = any(f["line"] is not None or f["layer"] for f in hits)
            located += is_loc
            named = "yes" if hits else "NO"
            loc = ("yes" if is_loc else "NO") if hits else "-"
            if not hits:
                problems.append(f"missed  {name}: want {sorted(cell.codes)}, got {codes} ({cell.why})")
        if n_int:
            problems.append(f"internal {name}: {rep['internal_errors']}")
        want = ",".join(sorted(cell.codes)) or "healthy"
        skipped = sorted(rep.get("coverage", {}).get("skipped", {}))
        print(f"{name:<40}{want[:21]:<22}{named:>6}{loc:>8}{quiet:>7}{n_int:>9}{_seconds(rep):>7.1f}  {','.join(codes)}"
              + (f"  [skipped: {', '.join(skipped)}]" if skipped else ""))
    print(f"buggy {buggy}: root cause named {hit} ({100 * hit / max(buggy, 1):.0f} %), located {located} "
          f"({100 * located / max(hit, 1):.0f} % of hits); healthy {healthy}: silent {silent}; internal errors {internal}")
    for line in problems:
        print("  " + line)


if __name__ == "__main__":
    main()
