"""Benchmark: static + data checks of a 12-layer autoencoder on 60,000 x 784 float32.

Run by hand: ``python benchmarks/bench_static.py [--repeats 7]``. Bar (issue 2): under 200 ms
after imports. Prints the median and worst of several runs after one warm-up
run (the warm-up pays TensorFlow's one-time op initialisation, reported too).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
from bench_probe import cpu_model  # benchmarks/ is the script directory, so this imports

import ae_magic

CELL = """
import keras
from keras import layers
inp = keras.Input(shape=(784,))
h = layers.Dense(512, activation="relu")(inp)
h = layers.Dense(256, activation="relu")(h)
h = layers.Dense(128, activation="relu")(h)
h = layers.Dense(64, activation="relu")(h)
h = layers.Dense(32, activation="relu")(h)
code = layers.Dense(16, activation="relu")(h)
h = layers.Dense(32, activation="relu")(code)
h = layers.Dense(64, activation="relu")(h)
h = layers.Dense(128, activation="relu")(h)
h = layers.Dense(256, activation="relu")(h)
h = layers.Dense(512, activation="relu")(h)
out = layers.Dense(784, activation="sigmoid")(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
"""


def main(repeats: int = 7) -> None:
    rng = np.random.default_rng(0)
    x = rng.random((60_000, 784), dtype=np.float32)
    t = time.perf_counter()
    first = ae_magic.check(CELL, namespace={"x": x}, data="x", train=False)
    warm = time.perf_counter() - t
    assert first.model and first.model["variable"] == "autoencoder", first.text()
    assert not first.coverage.get("skipped") and not first.internal_errors, first.coverage
    times = []
    stages: dict[str, list[float]] = {}
    for _ in range(repeats):
        t = time.perf_counter()
        r = ae_magic.check(CELL, namespace={"x": x}, data="x", train=False)
        times.append(time.perf_counter() - t)
        for k, v in r.timings.items():
            stages.setdefault(k, []).append(v)
    plain = []
    for _ in range(repeats):
        t = time.perf_counter()
        exec(compile(CELL, "<cell>", "exec"), {})  # the cell alone, as Jupyter would run it
        plain.append(time.perf_counter() - t)
    print(f"machine: {os.cpu_count()} cores, {cpu_model()}, Python {platform.python_version()}")
    print(f"ae_magic {ae_magic.__version__}, findings: {r.codes or 'none'}")
    print(f"first run (includes TF op warm-up): {warm * 1000:.0f} ms")
    print(f"static + data checks, 12 layers, 60000x784 float32: median {statistics.median(times) * 1000:.0f} ms, "
          f"max {max(times) * 1000:.0f} ms over {repeats} runs (bar: 200 ms)")
    checks = [sum(v[i] for k, v in stages.items() if k in ("graph", "structure", "data", "cell")) for i in range(repeats)]
    print(f"checks alone (graph + structure + data): median {statistics.median(checks) * 1000:.0f} ms; "
          f"the cell itself without ae_magic: median {statistics.median(plain) * 1000:.0f} ms")
    print("median per stage (ms): " + ", ".join(f"{k} {statistics.median(v) * 1000:.1f}" for k, v in stages.items()))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed runs after the warm-up (default 7)")
    main(max(1, parser.parse_args().repeats))
