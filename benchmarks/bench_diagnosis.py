"""Benchmark: time-to-diagnosis per zoo cell, the backend's import excluded.

Run by hand (not part of the test suite)::

    .venv/bin/python benchmarks/bench_diagnosis.py [--only families|zoo] [--limit N]
    KERAS_BACKEND=jax .venv-jax/bin/python benchmarks/bench_diagnosis.py
    KERAS_BACKEND=torch .venv-torch/bin/python benchmarks/bench_diagnosis.py

Every cell of the engine's zoo (``tests/zoo.py``: ``HEALTHY``, ``FAULTY``,
``CATALOGUE``) and of the family zoo (``tests/zoo_families.py``) is checked
once with the defaults (``ae_magic.check(cell, data=..., target=...)``: the
cell run, static and data checks, gradient probe and training probe; no
range test), in one process, in a fresh namespace each, the way
``ae-magic check a.py b.py ...`` runs a batch. Keras and its backend are
imported and one warm-up check runs before the clock starts (a notebook
user has imported TensorFlow before their first ``%%ae_check``), so each
time is what a user waits for one diagnosis. The cells that a backend
cannot run (TensorFlow-only cells under JAX/torch) are left out.

It prints one line per cell (wall and CPU time), then the median, p90 and
max, with the machine
(``nproc``, CPU model, load average), the backend and the git commit.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

WARM_UP = """\
import numpy as np
import keras
from keras import layers

x = np.random.default_rng(0).random((256, 16)).astype("float32")
inp = keras.Input(shape=(16,))
out = layers.Dense(16, activation="sigmoid")(layers.Dense(4, activation="relu")(inp))
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer="adam", loss="mse")
"""


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else 'unknown'."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def commit() -> str:
    """The repository's HEAD commit (short), '+dirty' when tracked files changed."""
    try:
        def git(*a: str) -> str:
            return subprocess.run(["git", *a], cwd=HERE, capture_output=True, text=True, check=True).stdout.strip()

        head = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def zoo_cells(only: str | None) -> dict[str, tuple[str, dict]]:
    """name -> (source, check kwargs) for every cell this backend runs."""
    import zoo
    import zoo_families as zf

    from ae_magic.keras_compat import keras

    cells: dict[str, tuple[str, dict]] = {}
    if only in (None, "zoo"):
        for name, src in zoo.HEALTHY.items():
            cells[f"zoo:healthy:{name}"] = (src, dict(zoo.HEALTHY_CALLS.get(name, {"data": "x"})))
        for table, label in ((zoo.FAULTY, "faulty"), (zoo.CATALOGUE, "catalogue")):
            for name, (src, kwargs, _codes) in table.items():
                if name not in zoo.TF_ONLY:
                    cells[f"zoo:{label}:{name}"] = (src, dict(kwargs))
    if only in (None, "families"):
        for name, cell in zf.cells_for(keras.backend.backend()).items():
            cells[f"families:{name}"] = (cell.source, cell.check_kwargs())
    return cells


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), linear between closest ranks."""
    s = sorted(values)
    k = (len(s) - 1) * q / 100.0
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def main() -> None:
    """Time one default check per zoo cell and print the summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("zoo", "families"), default=None, help="one zoo only")
    parser.add_argument("--limit", type=int, default=None, help="the first N cells only (a quick run)")
    parser.add_argument("--sample", type=int, default=None, help="N cells evenly spread over the zoos (a shorter run)")
    args = parser.parse_args()

    import ae_magic
    from ae_magic.keras_compat import keras

    ae_magic.check(WARM_UP, namespace={}, data="x")  # first-use initialisation counts for nobody
    cells = zoo_cells(args.only)
    names = list(cells)[: args.limit]
    if args.sample and args.sample < len(names):
        step = len(names) / args.sample
        names = [names[int(i * step)] for i in range(args.sample)]
    times: dict[str, float] = {}
    cpu: dict[str, float] = {}
    problems = 0
    for name in names:
        src, kwargs = cells[name]
        t, c = time.perf_counter(), time.process_time()
        try:
            report = ae_magic.check(src, namespace={}, **kwargs)
            bad = len(report.internal_errors)
        except Exception as exc:  # a usage error of a zoo cell is a benchmark bug: count it, keep timing
            bad = 1
            print(f"  {name}: {type(exc).__name__}: {exc}")
        times[name] = time.perf_counter() - t
        cpu[name] = time.process_time() - c
        problems += bad
        print(f"{times[name]:7.2f} s wall {cpu[name]:7.2f} s cpu  {name}", flush=True)

    vals = list(times.values())
    print()
    print(f"machine: {os.cpu_count()} CPUs (nproc), {cpu_model()}; load average {os.getloadavg()[0]:.1f} at the end")
    print(f"keras {keras.__version__} on {keras.backend.backend()}; commit {commit()}; {len(vals)} cells; internal errors {problems}")
    print(f"time to diagnosis (wall): median {statistics.median(vals):.2f} s, p90 {percentile(vals, 90):.2f} s, max {max(vals):.2f} s")
    # CPU time (all threads of this process) is what the diagnosis costs; on a
    # machine shared with other jobs the wall time also holds their share.
    work = list(cpu.values())
    print(f"CPU time per diagnosis: median {statistics.median(work):.2f} s, p90 {percentile(work, 90):.2f} s, max {max(work):.2f} s")
    for group in ("zoo:", "families:"):
        g = [v for k, v in times.items() if k.startswith(group)]
        if g:
            print(f"  {group:<10} {len(g):3d} cells: median {statistics.median(g):.2f} s, p90 {percentile(g, 90):.2f} s")


if __name__ == "__main__":
    main()
