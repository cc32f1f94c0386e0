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


def test_two_cpus_run_tensorflow_and_jax_whole_and_share_out_torch(test_all):
    workers, jobs = test_all.plan(["tensorflow", "jax", "torch"], 2)
    assert workers == 2
    assert jobs[:2] == [("tensorflow", None), ("jax", None)]
    shares = jobs[2:]
    assert [name for name, _ in shares] == ["torch"] * test_all.SHARES
    assert [part for _, part in shares] == [(k, test_all.SHARES) for k in range(1, test_all.SHARES + 1)]


def test_the_shares_cover_every_file_of_the_suite_once(test_all):
    suite = test_all.RUNS["torch"][2]
    n = test_all.SHARES
    seconds = test_all._measured()
    # No stale names (a new file counts as the median until the next --save-seconds).
    assert set(seconds) <= set(suite), set(seconds) - set(suite)
    shares = test_all.shares(suite, n, seconds)
    assert len(shares) == n
    assert sorted(f for share in shares for f in share) == sorted(suite)
    for share in shares:  # each share keeps the suite's order
        assert share == sorted(share, key=suite.index)
    known = sorted(seconds.values())
    cost = {f: seconds.get(f, known[len(known) // 2]) for f in suite}  # a file not measured yet: the median
    times = [sum(cost[f] for f in share) for share in shares]
    assert all(a >= b - 1e-6 for a, b in itertools.pairwise(times))  # the longest share is taken first
    # Balanced to within the longest single file (greedy's bound): c81's file-count shares spread 160-230 s.
    assert times[0] - times[-1] <= max(cost.values())


def test_shares_are_cut_by_time_not_by_count(test_all):
    seconds = {"a": 90.0, "b": 10.0, "c": 10.0, "d": 10.0, "e": 10.0}
    shares = test_all.shares(["a", "b", "c", "d", "e"], 2, seconds)
    assert shares == [["a"], ["b", "c", "d", "e"]]
    # A file with no measured time counts as the median of the others (10 s here), not as nothing.
    shares = test_all.shares(["a", "b", "c", "new"], 2, {"a": 30.0, "b": 10.0, "c": 10.0})
    assert shares == [["a"], ["b", "c", "new"]]
    assert test_all.shares(["x", "y"], 3, {}) == [["x"], ["y"], []]


def test_save_seconds_sums_a_backends_shares_per_file(test_all, tmp_path, monkeypatch):
    folder = tmp_path / "test-artifacts"
    folder.mkdir()
    target = tmp_path / "torch_seconds.json"
    monkeypatch.setattr(test_all, "SECONDS_FILE", target)
    (folder / "junit-torch-1.xml").write_text(
        '<testsuites><testsuite><testcase classname="tests.test_a" name="t1" time="1.5"/>'
        '<testcase classname="tests.test_a.TestK" name="t2" time="2"/></testsuite></testsuites>')
    (folder / "junit-torch-2.xml").write_text(
        '<testsuites><testsuite><testcase classname="tests.test_b" name="t" time="4"/></testsuite></testsuites>')
    (folder / "junit-jax.xml").write_text(
        '<testsuites><testsuite><testcase classname="tests.test_c" name="t" time="9"/></testsuite></testsuites>')
    assert test_all.save_seconds("torch") == {"tests/test_a.py": 3.5, "tests/test_b.py": 4.0}
    assert test_all._measured() == {"tests/test_a.py": 3.5, "tests/test_b.py": 4.0}
    target.write_text("not json")
    assert test_all._measured() == {}


def test_many_cpus_run_each_backend_whole_and_one_cpu_runs_them_in_turn(test_all):
    assert test_all.plan(["tensorflow", "jax", "torch"], 8) == (3, [("tensorflow", None), ("jax", None), ("torch", None)])
    assert test_all.plan(["tensorflow", "jax", "torch"], 1) == (1, [("tensorflow", None), ("jax", None), ("torch", None)])
    # Two backends on two CPUs: nothing left to share out.
    assert test_all.plan(["jax", "torch"], 2) == (2, [("jax", None), ("torch", None)])


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

    def fake(name, log, part=None):
        ran.append((name, part))
        log.write_text(f"log of {name} {part}\n")
        return (1 if part == (2, test_all.SHARES) else 0), 1.0, 10.0

    monkeypatch.setattr(test_all, "run_backend", fake)
    workers, jobs = test_all.plan(["tensorflow", "jax", "torch"], 2)
    results = test_all.run_parallel(workers, jobs)
    assert sorted(ran, key=str) == sorted(jobs, key=str)
    n = test_all.SHARES
    assert results["torch"] == (1, 1.0 * n, 10.0 * n)  # one share failed: the backend failed
    assert results["tensorflow"] == (0, 1.0, 10.0)
    assert f"log of torch (3, {n})" in capsys.readouterr().out
