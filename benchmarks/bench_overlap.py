"""Benchmark: the first compiled step beside the validation trace and activation pass, on and off.

Run by hand (not part of the test suite), TensorFlow only::

    .venv/bin/python benchmarks/bench_overlap.py [--repeats 3] [CELL ...]

Each named zoo cell (a suffix of its benchmark name, e.g. ``healthy:lstm``;
by default the zoo's recurrent cells and one conv cell) is checked with the
defaults, once with ``TrainStep.run_alongside`` overlapping the first step
and once with it running in turn (``ProbeSession._overlap_safe`` forced
off), alternating the order each repeat, in one process: the ratio is
measured side by side. No parked copy is reused between checks, so every
check traces its own step. Prints the median wall time of each mode per
cell and their ratio, with the machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import bench_diagnosis as bd  # noqa: E402  (after the path set-up)

DEFAULT = [
    "healthy:lstm", "gru_seq2seq_healthy", "lstm_sigmoid_on_standardised",
    "anomaly_lstm_standardised", "lstm_repeatvector_healthy", "conv_blog",
]


def main() -> None:
    """Time each cell with the overlap on and off and print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="checks per cell and mode")
    parser.add_argument("cells", nargs="*", default=DEFAULT, help="zoo cell name suffixes")
    args = parser.parse_args()

    import ae_magic
    from ae_magic.keras_compat import keras
    from ae_magic.probes import session as ps

    if keras.backend.backend() != "tensorflow":
        sys.exit("bench_overlap: only TensorFlow's step overlaps (KERAS_BACKEND=tensorflow)")
    on = ps.ProbeSession._overlap_safe

    def off(self: object) -> bool:
        return False

    ae_magic.check(bd.WARM_UP, namespace={}, data="x")
    cells = bd.zoo_cells(None)
    keys = {}
    for name in args.cells:
        found = [k for k in cells if k.endswith(name)]
        if not found:
            sys.exit(f"bench_overlap: no zoo cell ends with {name!r}")
        keys[name] = found[0]
    times: dict[tuple[str, bool], list[float]] = {}
    for rep in range(args.repeats):
        for overlap in ((True, False) if rep % 2 == 0 else (False, True)):
            ps.ProbeSession._overlap_safe = on if overlap else off
            for name, key in keys.items():
                src, kwargs = cells[key]
                ps._PARKED.clear()
                t = time.perf_counter()
                ae_magic.check(src, namespace={}, **kwargs)
                times.setdefault((name, overlap), []).append(time.perf_counter() - t)
    ps.ProbeSession._overlap_safe = on
    for name in keys:
        a, b = statistics.median(times[(name, True)]), statistics.median(times[(name, False)])
        print(f"{name:36s} overlap {a:6.2f} s   in turn {b:6.2f} s   ratio {a / b:.2f}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\nmachine: {os.cpu_count()} CPUs, {bd.cpu_model()}; load average {load:.1f} at the end")
    print(f"keras {keras.__version__} on {keras.backend.backend()}; commit {bd.commit()}; {args.repeats} repeats")


if __name__ == "__main__":
    main()
