"""The family zoo through the command line, the way issue 9 judges it: hit rates.

Run by hand (not part of the test suite)::

    .venv/bin/python benchmarks/families_report.py [--range-test] [--only NAME ...]
    KERAS_BACKEND=jax .venv-jax/bin/python benchmarks/families_report.py

Each cell of ``tests/zoo_families.py`` (those written for the current
backend) is written to a file and run through ``ae-magic check FILE --data x
--json`` (denoising cells with ``--data NOISY --target x``), a batch of files
per flag set in one process. For each family it prints:

* buggy cells: how many got one of their root-cause codes as a warning or
  error (a *hit*), and how many hits point at a cell line or a layer;
* healthy cells: how many got no warning and no error;
* internal errors (a bug of ae_magic's, never the user's).

With ``--range-test`` the healthy cells run with the learning-rate range test
and the AE406 suggestions are listed. Two more runs check that a check
without data and one with ``--no-train`` say the probes did not run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))


def run_cli(files: list[str], flags: list[str]) -> list[dict]:
    """``ae-magic check FILES FLAGS --json`` in a subprocess; one report per file, in order."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run(
        [sys.executable, "-m", "ae_magic", "check", *files, *flags, "--json"], capture_output=True, text=True, env=env, check=False
    )
    reports = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    if len(reports) != len(files):
        raise SystemExit(f"ae-magic returned {len(reports)} reports for {len(files)} files (exit {out.returncode}):\n{out.stderr[-3000:]}")
    return reports


def loud(report: dict) -> list[dict]:
    """The report's warnings and errors."""
    return [f for f in report["findings"] if f["severity"] in ("warning", "error")]


def main() -> None:
    """Run the zoo through the CLI and print the hit rates per family."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--range-test", action="store_true", help="healthy cells with the learning-rate range test (AE406)")
    parser.add_argument("--only", nargs="*", default=None, help="these cells only")
    args = parser.parse_args()

    import zoo_families as zf

    from ae_magic.keras_compat import keras

    backend = keras.backend.backend()
    cells = {n: c for n, c in zf.cells_for(backend).items() if not args.only or n in args.only}
    tmp = tempfile.mkdtemp(prefix="ae_families_")
    paths = {}
    for name, cell in cells.items():
        paths[name] = os.path.join(tmp, f"{name}.py")
        with open(paths[name], "w") as fh:
            fh.write(cell.source)

    groups: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for name, cell in cells.items():
        flags = cell.cli_args() + (["--range-test"] if args.range_test and cell.healthy else [])
        groups[tuple(flags)].append(name)
    reports: dict[str, dict] = {}
    for flags, names in groups.items():
        for name, rep in zip(names, run_cli([paths[n] for n in names], list(flags)), strict=True):
            reports[name] = rep

    rows: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    misses, noisy, suggestions = [], [], []
    for name, cell in cells.items():
        rep, row = reports[name], rows[cell.family]
        row["internal"] += len(rep["internal_errors"])
        got = loud(rep)
        if cell.healthy:
            row["healthy"] += 1
            row["silent"] += not got
            if got:
                noisy.append(f"{name}: {sorted({f['code'] for f in got})}")
            suggestions += [f"{name}: {f['message']}" for f in rep["findings"] if f["code"] == "AE406"]
        else:
            hits = [f for f in got if f["code"] in cell.codes]
            row["buggy"] += 1
            row["hit"] += bool(hits)
            row["located"] += any(f["line"] is not None or f["layer"] for f in hits)
            if not hits:
                misses.append(f"{name}: want {sorted(cell.codes)}, got {sorted({f['code'] for f in got})}")

    print(f"family zoo on {backend}: {len(cells)} cells ({sum(c.healthy for c in cells.values())} healthy)")
    print(f"{'family':<16}{'buggy':>6}{'hit':>6}{'located':>9}{'healthy':>9}{'silent':>8}{'internal':>10}")
    total: dict[str, int] = defaultdict(int)
    for family in sorted(rows):
        r = rows[family]
        for k, v in r.items():
            total[k] += v
        print(f"{family:<16}{r['buggy']:>6}{r['hit']:>6}{r['located']:>9}{r['healthy']:>9}{r['silent']:>8}{r['internal']:>10}")
    print(f"{'all':<16}{total['buggy']:>6}{total['hit']:>6}{total['located']:>9}{total['healthy']:>9}{total['silent']:>8}{total['internal']:>10}")
    if total["buggy"]:
        print(f"root cause named: {100 * total['hit'] / total['buggy']:.0f} % of buggy cells; "
              f"located (line or layer): {100 * total['located'] / max(total['hit'], 1):.0f} % of hits")
    for line in misses:
        print("  missed  " + line)
    for line in noisy:
        print("  noisy   " + line)
    for line in suggestions:
        print("  AE406   " + line)

    # Without data, and with --no-train, the probes must say they did not run.
    probe = next(iter(cells))
    no_data = run_cli([paths[probe]], [])[0]["coverage"]
    no_train = run_cli([paths[probe]], [*cells[probe].cli_args(), "--no-train"])[0]["coverage"]
    said = {"gradients", "training"}
    print(f"no data: probes skipped {sorted(said & set(no_data.get('skipped', {})))}; "
          f"--no-train: probes off {sorted(said & set(no_train.get('off', [])))}")


if __name__ == "__main__":
    main()
