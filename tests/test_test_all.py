"""scripts/test_all.py's scheduling: which runs go to which lane, and the counts summed over a backend's shares."""

from __future__ import annotations

import importlib.util
import itertools
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def test_all(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("test_all_script", ROOT / "scripts" / "test_all.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "ROOT", tmp_path)
    return module


def _estimate(test_all, job):
    name, (k, n) = job
    tests = test_all.test_files(name)
    cost = test_all._cost(tests, test_all._measured(name))
    return sum(cost[t] for t in test_all.shares(tests, n, test_all._measured(name))[k - 1])


def test_two_cpus_cut_every_backend_into_shares_taken_longest_first(test_all):
    workers, jobs = test_all.plan(["tensorflow", "jax", "torch"], 2)
    assert workers == 2
    for name in ("tensorflow", "jax", "torch"):
        parts = sorted(part for job_name, part in jobs if job_name == name)
        n = parts[0][1]
        assert parts == [(k, n) for k in range(1, n + 1)]
    # TensorFlow's run is the longest: it is cut, so no lane runs it whole (that was the floor at 44 minutes).
    assert len([job for job in jobs if job[0] == "tensorflow"]) >= 3
    assert jobs[0][0] != jobs[1][0]  # two installs at once, not one lane waiting on the other's
    times = [_estimate(test_all, job) for job in jobs]
    rest = [times[0], *times[2:]]
    assert all(a >= b - 1e-6 for a, b in itertools.pairwise(rest)), times
    assert max(times) <= 1.5 * test_all.SHARE_SECONDS


def test_the_shares_cover_every_file_of_each_run_once(test_all):
    for name in ("tensorflow", "jax", "torch"):
        suite = test_all.test_files(name)
        seconds = test_all._measured(name)
        # No stale names (a new file counts as the median until the next --save-seconds).
        assert seconds and set(seconds) <= set(suite), (name, set(seconds) - set(suite))
        n = 4
        shares = test_all.shares(suite, n, seconds)
        assert sorted(f for share in shares for f in share) == sorted(suite)
        for share in shares:  # each share keeps the suite's order
            assert share == sorted(share, key=suite.index)
        cost = test_all._cost(suite, seconds)
        times = [sum(cost[f] for f in share) for share in shares]
        assert all(a >= b - 1e-6 for a, b in itertools.pairwise(times))  # the longest share is taken first
        assert times[0] - times[-1] <= max(cost.values())  # balanced to within the longest file (greedy's bound)


def test_tensorflow_runs_every_test_file_and_the_others_the_backend_suite(test_all):
    tf = test_all.test_files("tensorflow")
    on_disk = sorted(f"tests/{p.name}" for p in (ROOT / "tests").glob("test_*.py"))
    assert tf == [*on_disk, "notebooks"]
    assert test_all.test_files("jax") == test_all.test_files("torch") == test_all.BACKEND_SUITE
    both = set(test_all.BACKEND_SUITE) & set(test_all.REGRESSION_TWINS)
    assert not both, both
    assert set(test_all.BACKEND_SUITE) | set(test_all.REGRESSION_TWINS) <= set(on_disk)
    # A new round's twin file is put in one list or the other on purpose, never forgotten.
    rounds = {f for f in on_disk if Path(f).name.startswith("test_round")}
    forgotten = rounds - set(test_all.BACKEND_SUITE) - set(test_all.REGRESSION_TWINS)
    assert not forgotten, forgotten


def test_shares_are_cut_by_time_not_by_count(test_all):
    seconds = {"a": 90.0, "b": 10.0, "c": 10.0, "d": 10.0, "e": 10.0}
    shares = test_all.shares(["a", "b", "c", "d", "e"], 2, seconds)
    assert shares == [["a"], ["b", "c", "d", "e"]]
    # A file with no measured time counts as the median of the others (10 s here), not as nothing.
    shares = test_all.shares(["a", "b", "c", "new"], 2, {"a": 30.0, "b": 10.0, "c": 10.0})
    assert shares == [["a"], ["b", "c", "new"]]
    assert test_all.shares(["x", "y"], 3, {}) == [["x"], ["y"], []]


def test_save_seconds_sums_each_backends_shares_per_file(test_all, tmp_path, monkeypatch):
    folder = tmp_path / "test-artifacts"
    folder.mkdir()
    target = tmp_path / "test_seconds.json"
    monkeypatch.setattr(test_all, "SECONDS_FILE", target)
    target.write_text('{"jax": {"tests/test_old.py": 5.0}}')
    (folder / "junit-torch-1.xml").write_text(
        '<testsuites><testsuite><testcase classname="tests.test_a" name="t1" time="1.5"/>'
        '<testcase classname="tests.test_a.TestK" name="t2" time="2"/></testsuite></testsuites>')
    (folder / "junit-torch-2.xml").write_text(
        '<testsuites><testsuite><testcase classname="tests.test_b" name="t" time="4"/></testsuite></testsuites>')
    (folder / "junit-tensorflow-3.xml").write_text(
        '<testsuites><testsuite><testcase classname="tests.test_c" name="t" time="9"/>'
        '<testcase classname="notebooks.00-quickstart.ipynb" name="Cell 0" time="2"/>'
        '<testcase classname="notebooks.01-x.ipynb" name="Cell 1" time="1"/></testsuite></testsuites>')
    table = test_all.save_seconds()
    assert table["torch"] == {"tests/test_a.py": 3.5, "tests/test_b.py": 4.0}
    assert table["tensorflow"] == {"notebooks": 3.0, "tests/test_c.py": 9.0}
    assert table["jax"] == {"tests/test_old.py": 5.0}  # no JUnit file this time: kept
    assert test_all._measured("torch") == {"tests/test_a.py": 3.5, "tests/test_b.py": 4.0}
    target.write_text("not json")
    assert test_all._measured("torch") == {}


def test_many_cpus_run_each_backend_whole_and_one_cpu_runs_them_in_turn(test_all):
    assert test_all.plan(["tensorflow", "jax", "torch"], 8) == (3, [("tensorflow", None), ("jax", None), ("torch", None)])
    assert test_all.plan(["tensorflow", "jax", "torch"], 1) == (1, [("tensorflow", None), ("jax", None), ("torch", None)])
    # One backend on two CPUs: run whole (two lanes of one backend would only share its install).
    assert test_all.plan(["jax"], 2) == (1, [("jax", None)])


def test_counts_sum_a_backends_shares_and_leave_other_backends_out(test_all, tmp_path):
    folder = tmp_path / "test-artifacts"
    folder.mkdir()

    def junit(name: str, tests: int, failures: int, skipped: int) -> None:
        (folder / name).write_text(
            f'<testsuites><testsuite tests="{tests}" failures="{failures}" errors="0" skipped="{skipped}"/></testsuites>')

    junit("junit-torch-1.xml", 10, 1, 2)
    junit("junit-torch-2.xml", 5, 0, 1)
    junit("junit-tensorflow.xml", 7, 0, 0)
    (folder / "junit-torch-3.xml").write_text("not xml")  # a share that died before writing its file
    assert test_all.counts("torch") == {"tests": 15, "failures": 1, "errors": 0, "skipped": 3}
    assert test_all.counts("tensorflow") == {"tests": 7, "failures": 0, "errors": 0, "skipped": 0}


def test_two_lanes_take_every_job_once_and_a_backends_shares_sum(test_all, monkeypatch, capsys):
    ran = []
    workers, jobs = test_all.plan(["tensorflow", "jax", "torch"], 2)
    failing = next(job for job in jobs if job[0] == "tensorflow" and job[1][0] == 2)

    def fake(name, log, part=None):
        ran.append((name, part))
        log.write_text(f"log of {name} {part}\n")
        return (1 if (name, part) == failing else 0), 1.0, 10.0

    monkeypatch.setattr(test_all, "run_backend", fake)
    results = test_all.run_parallel(workers, jobs)
    assert sorted(ran, key=str) == sorted(jobs, key=str)
    n_tf = failing[1][1]
    assert results["tensorflow"] == (1, 1.0 * n_tf, 10.0 * n_tf)  # one share failed: the backend failed
    n_jax = next(part[1] for name, part in jobs if name == "jax")
    assert results["jax"] == (0, 1.0 * n_jax, 10.0 * n_jax)
    assert f"log of tensorflow {failing[1]}" in capsys.readouterr().out
