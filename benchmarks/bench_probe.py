"""Benchmark: the whole default check() against a plain model.fit.

Run by hand (not part of the test suite)::

    .venv/bin/python benchmarks/bench_probe.py [--repeats 5] [--samples 2000]
    KERAS_BACKEND=jax .venv-jax/bin/python benchmarks/bench_probe.py      # on JAX
    KERAS_BACKEND=torch .venv-torch/bin/python benchmarks/bench_probe.py  # on PyTorch

The model is the dense 784-128-32-128-784 autoencoder of the Keras blog on
2,000 bundled MNIST digits. Each repeat builds a fresh model for every
contender in one process and times, tracing included:

* ``fit``: build + compile + ``model.fit(x, x, epochs=E, batch_size=32)``;
* ``check``: ``ae_magic.check(cell, data="x")`` with the defaults (the
  learning-rate range test is off by default, ``ae_magic/options.py``):
  running the cell, static and data checks, gradient probe and training
  probe of ``E`` epochs (``DEFAULT_EPOCHS``, ``ae_magic/probes/sizes.py``);
* ``check+range``: the same with ``range_test=True``: the learning-rate range
  test and the AE406 confirmation run;
* ``check (re-run)``: the default check of the same cell again, as when a
  notebook cell runs twice: it adopts the last check's parked copy and
  compiled step (the other contenders clear it first, so they pay for a new
  architecture, as ``fit`` pays for its new model).

The order of the contenders rotates between repeats; the table gives each
one's median time and the median of the per-repeat ratios to ``fit``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

CELL = """\
import keras
from keras import layers

inp = keras.Input(shape=(784,))
h = layers.Dense(128, activation="relu")(inp)
code = layers.Dense(32, activation="relu")(h)
h = layers.Dense(128, activation="relu")(code)
out = layers.Dense(784, activation="sigmoid")(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
"""


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else platform's guess."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    """Time the contenders and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--samples", type=int, default=2000)
    args = parser.parse_args()

    import ae_magic
    from ae_magic import datasets
    from ae_magic.keras_compat import keras
    from ae_magic.probes.sizes import DEFAULT_EPOCHS

    x = datasets.load_mnist(flatten=True)[: args.samples].astype("float32")
    epochs = DEFAULT_EPOCHS

    def run_fit() -> None:
        ns = {"x": x}
        exec(CELL, ns)
        ns["autoencoder"].fit(x, x, epochs=epochs, batch_size=32, verbose=0)

    from ae_magic.probes import session as probe_session

    def run_check(reuse: bool = False, **options: bool) -> dict:
        if not reuse:
            # A new architecture: nothing parked by the last check to adopt.
            probe_session._PARKED.clear()
        report = ae_magic.check(CELL, namespace={"x": x}, data="x", **options)
        assert not report.internal_errors, report.internal_errors
        assert not report.coverage.get("skipped"), report.coverage
        return report.timings

    contenders = {
        "fit": run_fit,
        "check": run_check,  # the defaults: no range test
        "check+range": lambda: run_check(range_test=True),
        # The same cell checked again (a notebook re-run): the closed check's
        # copy and compiled step are adopted.
        "check (re-run)": lambda: run_check(reuse=True),
    }
    # Warm-up: first imports and TF's one-off initialisation count for nobody.
    keras.utils.set_random_seed(0)
    run_fit()
    run_check(range_test=True)

    times: dict[str, list[float]] = {name: [] for name in contenders}
    cpu: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    for r in range(args.repeats):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            keras.utils.set_random_seed(r)
            t, c = time.perf_counter(), time.process_time()
            contenders[name]()
            times[name].append(time.perf_counter() - t)
            cpu[name].append(time.process_time() - c)

    print(f"machine: {os.cpu_count()} CPUs (nproc), {cpu_model()}; load average {os.getloadavg()[0]:.1f}")
    print(f"keras {keras.__version__} on {keras.backend.backend()}; data {x.shape}; epochs {epochs}; batch 32; repeats {args.repeats}")
    print(f"{'contender':<16}{'wall s':>8}{'wall ratio':>12}{'cpu s':>8}{'cpu ratio':>11}")
    for name in names:
        wall = statistics.median(t / f for t, f in zip(times[name], times["fit"], strict=True))
        work = statistics.median(t / f for t, f in zip(cpu[name], cpu["fit"], strict=True))
        print(
            f"{name:<16}{statistics.median(times[name]):>8.2f}{wall:>12.2f}"
            f"{statistics.median(cpu[name]):>8.2f}{work:>11.2f}"
        )
    print("ratios: median over repeats of (contender / fit of the same repeat); cpu = process time, all threads")


if __name__ == "__main__":
    main()
