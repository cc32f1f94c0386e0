"""Run every test on every Keras backend, each in its own virtual environment.

    python3 scripts/test_all.py                 # TensorFlow, then JAX, then PyTorch
    python3 scripts/test_all.py --only jax      # one backend
    python3 scripts/test_all.py --only jax --only torch
    python3 scripts/test_all.py --sequential    # one backend at a time, even on a big machine

Needs only Python (3.11+): it makes ``.venv`` (TensorFlow: every test,
the notebooks and the real-browser test), ``.venv-jax`` and ``.venv-torch``
(the engine, probe, zoo and backend tests: ``BACKEND_SUITE``), installing
into each only what its run needs, so the JAX and torch runs also prove that
ae_magic works without TensorFlow installed. Prints install and run times
per backend; exits non-zero when any run fails.

The backends run in lanes side by side, each run writing to
``test-artifacts/log-<run>.txt``, and the logs are printed in turn at the
end: with at least ``PARALLEL_MIN_CPUS`` CPUs all three at once; with two or
three CPUs (CI has two) in two lanes, every backend's run cut into shares of
about ``SHARE_SECONDS`` of measured time (``scripts/test_seconds.json``) that
whichever lane is free takes next, longest first (each suite keeps about one
core busy); with one CPU one after another, streamed.

TensorFlow runs every test file and the notebooks; JAX and PyTorch run
``BACKEND_SUITE``. The blind rounds' regression twins (``REGRESSION_TWINS``)
run on TensorFlow only (see the comment there).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The tests that run on every backend: the engine, the probes, the zoo, the
# families (add_loss models, VAEs), the fuzzer, the CLI (and its progress
# bar) and demo, quiet Keras imports, and the cross-backend agreement. The
# notebooks, the kernel and browser tests and lint run once, on TensorFlow.
BACKEND_SUITE = [
    "tests/test_backends.py",
    "tests/test_added_losses.py",
    "tests/test_vae.py",
    "tests/test_categorical.py",
    "tests/test_multi_output.py",
    "tests/test_preprocessing.py",
    "tests/test_fuzz.py",
    "tests/test_session.py",
    "tests/test_probes.py",
    "tests/test_healthy.py",
    "tests/test_seeds.py",
    "tests/test_seed_probes.py",
    "tests/test_copy_safety.py",
    "tests/test_no_forward.py",
    "tests/test_bad_input.py",
    "tests/test_cli.py",
    "tests/test_demo.py",
    "tests/test_report.py",
    "tests/test_small_fixes.py",
    "tests/test_train_step.py",
    "tests/test_verdicts.py",
    "tests/test_longer_run.py",
    "tests/test_sequence.py",
    "tests/test_ordering.py",
    "tests/test_data_lines.py",
    "tests/test_trial.py",
    "tests/test_families.py",
    "tests/test_frozen.py",
    "tests/test_sampling.py",
    "tests/test_jax_conv_transpose.py",
    "tests/test_round41.py",
    "tests/test_snapshot.py",
]

# The regression twins of the blind rounds and of single fixes: each reproduces one reported cell and its
# healthy twin. They run on TensorFlow (the backend those cells were written and judged on, in its full run),
# not on JAX and PyTorch: on CI's two cores the three full runs took 52 minutes (c90, 7ca487c), JAX's alone
# 43 (its probe programs are XLA-compiled per model, ~0.8 s a check), against the project's 40. What differs
# between backends (a backend module, its spelling of a parameter or a transposed convolution) is in
# BACKEND_SUITE, and so is every family and zoo verdict. ``tests/test_test_all.py`` checks that every round's
# file is in one of the two lists (the other TensorFlow-only files: notebooks, kernel, browser, lint, magics).
REGRESSION_TWINS = [
    "tests/test_round21_verdicts.py",
    "tests/test_ignored_positions.py",
    "tests/test_spike.py",
    "tests/test_round22.py",
    "tests/test_round23.py",
    "tests/test_round24.py",
    "tests/test_round25.py",
    "tests/test_round26.py",
    "tests/test_round27.py",
    "tests/test_round28.py",
    "tests/test_round29.py",
    "tests/test_round31.py",
    "tests/test_round32.py",
    "tests/test_round33.py",
    "tests/test_round35.py",
    "tests/test_round36.py",
    "tests/test_round37.py",
    "tests/test_round38.py",
    "tests/test_round43.py",
    "tests/test_round45.py",
    "tests/test_clipping.py",
    "tests/test_round46.py",
    "tests/test_round47.py",
    "tests/test_heads.py",
    "tests/test_missing_zeros.py",
    "tests/test_fit_target.py",
    "tests/test_diverged_weights.py",
    "tests/test_int_buffer.py",
    "tests/test_graph_ops_scaling.py",
    "tests/test_fit_settings.py",
    "tests/test_rate_advice.py",
    "tests/test_data_loss.py",
    "tests/test_round50.py",
    "tests/test_round53.py",
    "tests/test_batch_sum.py",
    "tests/test_round55.py",
    "tests/test_round56.py",
    "tests/test_narrow_norm.py",
    "tests/test_packed.py",
    "tests/test_distribution_head.py",
    "tests/test_side_inputs.py",
    "tests/test_round60.py",
    "tests/test_round61.py",
    "tests/test_round62.py",
    "tests/test_round64.py",
    "tests/test_round66.py",
    "tests/test_round69.py",
    "tests/test_round71.py",
    "tests/test_round72.py",
    "tests/test_round73.py",
    "tests/test_packed_own_step.py",
    "tests/test_round74.py",
    "tests/test_round75.py",
    "tests/test_round76.py",
    "tests/test_round78.py",
    "tests/test_round79.py",
    "tests/test_round81.py",
    "tests/test_round82.py",
    "tests/test_round83.py",
    "tests/test_round84.py",
    "tests/test_round85.py",
    "tests/test_round86.py",
    "tests/test_round87.py",
    "tests/test_partial_scaling.py",
    "tests/test_round88.py",
    "tests/test_round89.py",
]

# torch: the CPU build. An unpinned torch on Linux is a multi-GB CUDA build.
TORCH = os.environ.get("AE_MAGIC_TORCH", "torch==2.13.0")

# Side by side, each lane gets one core's worth of compute threads: TensorFlow, XLA and OpenMP otherwise each start
# a pool as wide as the machine, and two lanes on CI's 2 cores then fight over them (test_families.py on
# TensorFlow beside JAX: 98 s / 162 s unlimited, 85 s / 145 s capped). A user's run is never capped.
LANE_THREADS = {
    "TF_NUM_INTRAOP_THREADS": "1",
    "TF_NUM_INTEROP_THREADS": "2",
    "OMP_NUM_THREADS": "1",
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
}

# Each suite keeps about one core busy (Python between short numeric calls),
# so running the three together pays from four CPUs on.
PARALLEL_MIN_CPUS = 4

# Two lanes (two or three CPUs; CI has two): every backend's run is cut into shares of about this many seconds
# (each file whole), and whichever lane is free takes the longest share left. A share costs one more pytest start
# (~10 s with TensorFlow's import); the last shares are short, so the two lanes end within a few minutes.
SHARE_SECONDS = 420.0

# Seconds each test file took, per backend, on CI's two cores in two lanes (c90's JUnit files; refresh with
# ``--save-seconds`` after a two-lane run). Shares are cut by these; a file missing here counts as its
# backend's median.
SECONDS_FILE = Path(__file__).with_name("test_seconds.json")

# Where the test files are read from (``ROOT`` is where runs write; tests point it elsewhere).
SOURCE = Path(__file__).resolve().parents[1]

RUNS = {
    # backend: (venv, pip install arguments, test files; None: every test file and the notebooks)
    "tensorflow": (".venv", ["-e", ".[tensorflow,test,browser]"], None),
    "jax": (".venv-jax", ["-e", ".[jax,test]"], BACKEND_SUITE),
    "torch": (".venv-torch", [TORCH, "-e", ".[torch,test]"], BACKEND_SUITE),
}


def test_files(name: str) -> list[str]:
    """The files (and folders) ``name``'s run passes to pytest, in the suite's order."""
    files = RUNS[name][2]
    if files is None:
        return [*sorted(f"tests/{p.name}" for p in (SOURCE / "tests").glob("test_*.py")), "notebooks"]
    return list(files)


def _run(cmd: list[str], env: dict[str, str] | None = None, log: Path | None = None) -> int:
    """Run ``cmd`` in the repository root; its output goes to ``log`` when given, else to ours."""
    if log is None:
        print("$", " ".join(cmd), flush=True)
        return subprocess.call(cmd, cwd=ROOT, env=env)
    with log.open("a") as fh:
        print("$", " ".join(cmd), file=fh, flush=True)
        return subprocess.call(cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT)


def _install(name: str, log: Path | None = None) -> tuple[int, float]:
    """Make ``name``'s venv and install into it: ``(exit status, seconds)``. Once per backend, even from two lanes."""
    with _INSTALL_LOCK:
        lock = _INSTALLS.setdefault(name, threading.Lock())
    with lock:
        if name in _INSTALLED:
            return _INSTALLED[name][0], 0.0
        venv, install, _ = RUNS[name]
        py = ROOT / venv / "bin" / "python"
        t0 = time.monotonic()
        rc = 0
        if not py.exists():
            rc = _run([sys.executable, "-m", "venv", venv], log=log)
        if rc == 0:
            rc = _run([str(py), "-m", "pip", "install", "-q", *install], log=log)
        _INSTALLED[name] = (rc, time.monotonic() - t0)
        return _INSTALLED[name]


_INSTALL_LOCK = threading.Lock()
_INSTALLS: dict[str, threading.Lock] = {}
_INSTALLED: dict[str, tuple[int, float]] = {}


def run_backend(name: str, log: Path | None = None, part: tuple[int, int] | None = None) -> tuple[int, float, float]:
    """Make the venv, install, run pytest: ``(exit status, install s, test s)``.

    ``log``: a file for all of its output (a parallel run), else the terminal.
    ``part``: ``(k, n)`` runs only the k-th of n interleaved shares of the
    backend's test files (each file whole), with its own JUnit file.
    """
    venv = RUNS[name][0]
    rc, installed = _install(name, log)
    if rc != 0:
        return 1, installed, 0.0
    tests = test_files(name)
    if part is not None:
        tests = shares(tests, part[1], _measured(name))[part[0] - 1]
    if name == "tensorflow":
        tests = ["--nbval-lax", *tests]  # the notebooks' outputs are not compared, only that every cell runs
    py = ROOT / venv / "bin" / "python"
    t1 = time.monotonic()
    env = {**os.environ, "KERAS_BACKEND": name, "AE_MAGIC_ISOLATED": "1"}
    if log is not None:
        env.update(LANE_THREADS)
    junit = ROOT / "test-artifacts" / (f"junit-{name}.xml" if part is None else f"junit-{name}-{part[0]}.xml")
    junit.unlink(missing_ok=True)
    rc = _run([str(py), "-m", "pytest", "-p", "no:cacheprovider", f"--junitxml={junit}", *tests], env=env, log=log)
    return rc, installed, time.monotonic() - t1


Job = tuple[str, "tuple[int, int] | None"]


def _measured(name: str) -> dict[str, float]:
    """``name``'s per-file seconds from :data:`SECONDS_FILE`; empty when it is missing or unreadable."""
    try:
        table = json.loads(SECONDS_FILE.read_text()).get(name, {})
        return {str(k): float(v) for k, v in table.items()}
    except (OSError, ValueError, AttributeError):
        return {}


def _cost(tests: list[str], seconds: dict[str, float]) -> dict[str, float]:
    """Each file's measured seconds; the median of the measured ones for a file not measured yet."""
    known = sorted(seconds[t] for t in tests if t in seconds)
    default = known[len(known) // 2] if known else 1.0
    return {t: seconds.get(t, default) for t in tests}


def shares(tests: list[str], n: int, seconds: dict[str, float]) -> list[list[str]]:
    """``tests`` cut into ``n`` shares of about equal time, each file whole, the longest share first.

    Longest file first onto the share with the least time so far (the
    classic greedy); a file without a measured time counts as the median of
    those that have one. Within a share the files keep the suite's order.
    """
    cost = _cost(tests, seconds)
    totals = [0.0] * n
    members: list[list[str]] = [[] for _ in range(n)]
    for t in sorted(tests, key=lambda t: (-cost[t], tests.index(t))):
        k = min(range(n), key=lambda i: (totals[i], i))
        totals[k] += cost[t]
        members[k].append(t)
    order = sorted(range(n), key=lambda i: (-totals[i], i))
    return [sorted(members[i], key=tests.index) for i in order]


def save_seconds() -> dict[str, dict[str, float]]:
    """Write :data:`SECONDS_FILE` from the last run's JUnit files (each backend's shares or whole run, summed per file).

    A backend without JUnit files keeps the seconds it had.
    """
    folder = ROOT / "test-artifacts"
    try:
        table: dict[str, dict[str, float]] = json.loads(SECONDS_FILE.read_text())
    except (OSError, ValueError):
        table = {}
    for name in RUNS:
        seconds: dict[str, float] = {}
        for path in [folder / f"junit-{name}.xml", *sorted(folder.glob(f"junit-{name}-[0-9]*.xml"))]:
            try:
                root = ET.parse(path).getroot()
            except (OSError, ET.ParseError):
                continue
            for case in root.iter("testcase"):
                parts = case.get("classname", "").split(".")
                if len(parts) >= 2 and parts[0] == "tests":
                    key = f"tests/{parts[1]}.py"
                elif parts and parts[0] == "notebooks":
                    key = "notebooks"
                else:
                    continue
                seconds[key] = seconds.get(key, 0.0) + float(case.get("time", 0) or 0)
        if seconds:
            table[name] = {k: round(v, 1) for k, v in sorted(seconds.items())}
    if table:
        SECONDS_FILE.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
    return table


def plan(chosen: list[str], cpus: int) -> tuple[int, list[Job]]:
    """The jobs in the order the lanes take them, and how many lanes run side by side.

    With four CPUs or more each backend runs whole, all at once; with one, one after another. With two or three
    (CI has two): two lanes, and each backend's run cut into shares of about :data:`SHARE_SECONDS` (by measured
    time), the longest share first, so that neither lane idles while the other has hours left (a backend run whole
    in one lane was the floor: TensorFlow's alone took 44 minutes). The first two jobs are of two backends, so the
    lanes do not wait on one install.
    """
    if cpus >= PARALLEL_MIN_CPUS:
        return len(chosen), [(name, None) for name in chosen]
    if cpus < 2 or len(chosen) < 2:
        return 1, [(name, None) for name in chosen]
    estimated: list[tuple[float, Job]] = []
    for name in chosen:
        tests = test_files(name)
        cost = _cost(tests, _measured(name))
        n = max(1, round(sum(cost.values()) / SHARE_SECONDS))
        for k, share in enumerate(shares(tests, n, _measured(name)), start=1):
            estimated.append((sum(cost[t] for t in share), (name, (k, n))))
    estimated.sort(key=lambda e: (-e[0], chosen.index(e[1][0]), e[1][1]))
    jobs = [job for _, job in estimated]
    second = next((i for i, job in enumerate(jobs) if job[0] != jobs[0][0]), None)
    if second is not None and second != 1:
        jobs.insert(1, jobs.pop(second))
    return 2, jobs


def _job_name(job: Job) -> str:
    name, part = job
    return name if part is None else f"{name}-{part[0]}"


def run_parallel(workers: int, jobs: list[Job]) -> dict[str, tuple[int, float, float]]:
    """Run the jobs on ``workers`` lanes side by side, each logging to its own file; print the logs in turn.

    Returns one ``(exit status, install s, test s)`` per backend, its shares summed.
    """
    logs = {_job_name(job): ROOT / "test-artifacts" / f"log-{_job_name(job)}.txt" for job in jobs}
    for log in logs.values():
        log.parent.mkdir(exist_ok=True)
        log.write_text("")
    shown = ", ".join(_job_name(job) for job in jobs)
    print(f"running on {workers} lanes side by side, each taking the next of: {shown} "
          f"({os.cpu_count()} CPUs); logs in test-artifacts/", flush=True)
    start = time.monotonic()
    queue = list(jobs)
    taken = threading.Lock()
    done: dict[str, tuple[int, float, float]] = {}

    def lane() -> None:
        while True:
            with taken:
                if not queue:
                    return
                job = queue.pop(0)
            result = run_backend(job[0], logs[_job_name(job)], job[1])
            with taken:
                done[_job_name(job)] = result
            print(f"  {_job_name(job)} done after {time.monotonic() - start:.0f} s (exit {result[0]})", flush=True)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for future in [pool.submit(lane) for _ in range(workers)]:
            future.result()
    results: dict[str, tuple[int, float, float]] = {}
    for job in jobs:
        rc, inst, test = done[_job_name(job)]
        prev = results.get(job[0], (0, 0.0, 0.0))
        results[job[0]] = (max(prev[0], rc), prev[1] + inst, prev[2] + test)
    for job in jobs:
        print(f"\n=== {_job_name(job)} (test-artifacts/log-{_job_name(job)}.txt) ===", flush=True)
        sys.stdout.write(logs[_job_name(job)].read_text(errors="replace"))
        sys.stdout.flush()
    return results


def counts(name: str) -> dict[str, int]:
    """Tests, failures, errors and skips of one backend's run, from its JUnit file."""
    out = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    folder = ROOT / "test-artifacts"
    for path in [folder / f"junit-{name}.xml", *sorted(folder.glob(f"junit-{name}-[0-9]*.xml"))]:
        try:
            root = ET.parse(path).getroot()
        except (OSError, ET.ParseError):
            continue
        for suite in [root] if root.tag == "testsuite" else list(root):
            for key in out:
                out[key] += int(suite.get(key, 0))
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the chosen backends (side by side on a big enough machine); non-zero if any failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", choices=sorted(RUNS), help="run only this backend (repeatable)")
    parser.add_argument("--sequential", action="store_true",
                        help="one backend after another, output streamed, even with several CPUs")
    parser.add_argument("--save-seconds", action="store_true",
                        help="write scripts/test_seconds.json from the last run's JUnit files and stop")
    args = parser.parse_args(argv)
    if args.save_seconds:
        saved = save_seconds()
        print(f"{sum(map(len, saved.values()))} files' seconds written to {SECONDS_FILE}" if saved else "no JUnit files to read")
        return 0 if saved else 1
    chosen = list(dict.fromkeys(args.only or RUNS))
    start = time.monotonic()
    for stale in (ROOT / "test-artifacts").glob("junit-*.xml"):
        stale.unlink()  # a share's file from an earlier run must not count in this one
    workers, jobs = plan(chosen, os.cpu_count() or 1)
    if workers > 1 and not args.sequential:
        results = run_parallel(workers, jobs)
    else:
        results = {}
        for name in chosen:
            print(f"\n=== {name} ===", flush=True)
            results[name] = run_backend(name)
    print("\n=== summary ===")
    total = {"passed": 0, "failed": 0, "skipped": 0}
    for name, (rc, inst, test) in results.items():
        c = counts(name)
        failed = c["failures"] + c["errors"]
        total["passed"] += c["tests"] - failed - c["skipped"]
        total["failed"] += failed + (1 if rc != 0 and not failed else 0)
        total["skipped"] += c["skipped"]
        print(f"{name:<11} {'ok' if rc == 0 else f'FAILED (exit {rc})':<16} {c['tests']:5d} tests   "
              f"install {inst:6.0f} s   tests {test:6.0f} s")
    # One closing line for all backends together.
    print(f"{total['passed']} passed, {total['failed']} failed, {total['skipped']} skipped "
          f"in {time.monotonic() - start:.0f} s")
    return 0 if all(rc == 0 for rc, _, _ in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
