"""The seed articles' examples with the probes on: each gets the gradient and
training codes its story is about (``zoo.FAULTY_PROBE_CODES``), on the real
MNIST digits bundled with ae_magic.

The cells' own weights are random (the user's init, not ours), so each cell
starts with ``keras.utils.set_random_seed(0)``, as a reproducible notebook
would; the probes are seeded by ``check(seed=...)``.
"""

from __future__ import annotations

import pytest
import zoo

import ae_magic

PROBE_CASES = sorted(zoo.FAULTY_PROBE_CODES)


def _probe_codes(report: ae_magic.Report) -> set[str]:
    return {f.code for f in report.findings if f.code[2] in "34" and f.severity != "info"}


@pytest.mark.parametrize("name", PROBE_CASES)
def test_seed_example_gets_its_probe_codes(name: str) -> None:
    src, kwargs, _ = zoo.FAULTY[name]
    report = ae_magic.check("import keras\nkeras.utils.set_random_seed(0)\n" + src, namespace={}, **kwargs)
    assert report.internal_errors == [], report.internal_errors
    expected = zoo.FAULTY_PROBE_CODES[name]
    got = _probe_codes(report)
    if expected:
        assert expected <= got, report.text()
    else:
        # Silent probes: the model is fine to train (or a static error stops
        # them). A probe finding shown as a consequence of the cell's static
        # root cause (caused_by, e.g. AE405 "because of AE110" when a huge
        # init leaves the model worse than the mean) is not a new diagnosis.
        independent = {f.code for f in report.findings
                       if f.code in got and not (f.caused_by and f.caused_by[2] in "12")}
        assert independent == set(), report.text()
