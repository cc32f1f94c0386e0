"""Bounded memory: re-running ``%%ae_check`` in one kernel does not grow memory run over run.

The old panel of a cell that runs again is closed and its Session released
(``magics._LIVE``). Measured on the resident set size of this process, after
a warm-up that pays TensorFlow's and Keras' one-time costs.
"""

from __future__ import annotations

import gc
from typing import Any

import pytest
import zoo
from IPython.core.interactiveshell import InteractiveShell

from ae_magic import magics

RUNS = 30
WARMUP = 6
# Bytes per run the resident memory may grow by (the bar: < 3 MB).
MAX_GROWTH_PER_RUN = 3 * 2**20


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    import os

    return pages * os.sysconf("SC_PAGE_SIZE")


@pytest.fixture
def ip(monkeypatch) -> InteractiveShell:
    import IPython.display

    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "ae_magic")
    # The panel is built and "shown" (kept by no one but ae_magic, as in a kernel).
    monkeypatch.setattr(IPython.display, "display", lambda *o, **kw: None)
    return shell


@pytest.mark.slow
@pytest.mark.skipif(not __import__("os").path.exists("/proc/self/statm"), reason="needs Linux /proc to read memory")
def test_memory_stays_flat_over_30_runs(ip) -> None:
    src = zoo.HEALTHY["dense"]
    for key in list(magics._LIVE):  # checks left by other tests in this process
        magics._release(key, close=True)
    ip.run_cell(src)
    line = "--data x --epochs 1 --subset 64"
    samples: list[int] = []
    for i in range(WARMUP + RUNS):
        ip.run_cell_magic("ae_check", line, src)
        gc.collect()
        if i >= WARMUP - 1:
            samples.append(_rss())
    assert len(magics._LIVE) == 1  # the same cell: one live check, the older ones released
    growth = (samples[-1] - samples[0]) / RUNS
    # A least-squares slope is less sensitive to one noisy sample than the end points.
    n = len(samples)
    mean_x, mean_y = (n - 1) / 2, sum(samples) / n
    slope = sum((i - mean_x) * (y - mean_y) for i, y in enumerate(samples)) / sum((i - mean_x) ** 2 for i in range(n))
    detail: dict[str, Any] = {"first_mb": samples[0] / 2**20, "last_mb": samples[-1] / 2**20,
                              "per_run_kb": growth / 1024, "slope_kb": slope / 1024}
    assert slope < MAX_GROWTH_PER_RUN, detail
