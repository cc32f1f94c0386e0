"""Shared pytest set-up: quiet TensorFlow, a headless matplotlib, and the zoo on the path."""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MPLBACKEND", "Agg")
sys.path.insert(0, os.path.dirname(__file__))

# Choose Keras' backend the way ae_magic does (KERAS_BACKEND, else an
# installed one) before any test module runs its own `import keras`.
from ae_magic.backends import import_keras

import_keras()


def pytest_collection_finish(session: object) -> None:
    """Freeze what collection left alive: TensorFlow/JAX/torch, Keras and the zoo.

    Why: every full ``gc.collect()`` (Keras' ``clear_session``, IPython's
    ``reset``, Python's own oldest-generation passes) walks all tracked
    objects, and after the backend imports that is about half a million that
    live for the whole run: a quarter to half a second each time, hundreds of
    times per suite. Objects the tests create afterwards are collected as
    before, so leak and memory tests still see them.
    """
    import gc

    gc.collect()
    gc.freeze()


import pytest  # noqa: E402  (after the backend is chosen, as above)


@pytest.fixture(autouse=True)
def _same_random_state_each_test() -> None:
    """Every test starts from one random state (Python, NumPy, the backend).

    Why: most zoo cells build their weights unseeded, as users write them,
    so each run of the suite drew new inits and a rare init could fail a
    different test in each CI run (a healthy VAE's KL, a slow starter). A
    detector's robustness over inits is measured over many seeds (as for the
    keras.io VAE and the GRU slow starter, docs/probes.md), not by the one
    init a CI run happens to draw; this makes a local pass mean a CI pass. ae_magic itself never reads or changes this
    state (tests/test_copy_safety.py).
    """
    import keras

    keras.utils.set_random_seed(0)
