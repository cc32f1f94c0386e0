"""A denoising pair shuffled apart: AE404/AE405 name the broken pairing and the line that broke it.

Round 13 (written blind): ``rng.shuffle(x_clean)`` after ``x_noisy`` was made
from it got only AE405 at the model's line. The measurement (checks/pairing.py)
is tested on both sides: matched pairs under heavy noise, on another scale,
and shuffled pairs; the healthy denoiser stays silent.
"""

from __future__ import annotations

import numpy as np
import pytest

import ae_magic
from ae_magic.checks.pairing import UNPAIRED_RANK, _measure
from ae_magic.datasets import load

DENOISER = """\
import numpy as np
import keras
from keras import layers
from ae_magic.datasets import load

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
x_clean = load(limit=800).reshape(-1, 784).astype("float32")
x_noisy = np.clip(x_clean + rng.normal(0.0, 0.3, size=x_clean.shape), 0.0, 1.0).astype("float32")
SHUFFLE
inp = keras.Input(shape=(784,))
h = layers.Dense(128, activation="relu")(inp)
code = layers.Dense(32, activation="relu")(h)
h = layers.Dense(128, activation="relu")(code)
denoiser = keras.Model(inp, layers.Dense(784, activation="sigmoid")(h))
denoiser.compile(optimizer="adam", loss="mse")
"""


def _pairs(noise: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    clean = load(limit=512).reshape(-1, 784).astype("float32")
    noisy = np.clip(clean + np.random.default_rng(seed).normal(0.0, noise, size=clean.shape), 0.0, 1.0)
    return noisy.astype("float32"), clean


@pytest.mark.parametrize("noise", [0.1, 0.5])
def test_matched_pairs_pair_and_shuffled_ones_do_not(noise: float) -> None:
    noisy, clean = _pairs(noise)
    matched = _measure(noisy, clean)
    assert matched is not None and matched["paired"] and matched["median_rank"] < 0.05, matched
    # Another scale and offset than the target (a standardised input): correlation still pairs them.
    assert _measure((noisy - noisy.mean()) / noisy.std() * 7.0 + 3.0, clean)["paired"]
    shuffled = clean[np.random.default_rng(1).permutation(len(clean))]
    apart = _measure(noisy, shuffled)
    assert apart is not None and not apart["paired"] and apart["median_rank"] > 2 * UNPAIRED_RANK - 0.1, apart


def test_nothing_to_measure_says_none() -> None:
    noisy, clean = _pairs(0.1)
    assert _measure(noisy, None) is None
    assert _measure(noisy, noisy) is None  # the data is its own target
    assert _measure(noisy, clean[:, :100]) is None  # rows of another size
    assert _measure(noisy[:8], clean[:8]) is None  # too few rows
    assert _measure(np.zeros((64, 10)), np.zeros((64, 10))) is None  # nothing varies


def test_a_denoiser_with_its_pairs_shuffled_apart_names_the_shuffle_line() -> None:
    src = DENOISER.replace("SHUFFLE", "rng.shuffle(x_clean)  # so the validation split is not the last digits")
    report = ae_magic.check(src, namespace={}, data="x_noisy", target="x_clean", seed=0)
    hits = [f for f in report.findings if f.code in ("AE404", "AE405")]
    assert hits, report.text()
    for f in hits:
        assert f.evidence["pairing"]["paired"] is False
        assert "do not belong to the rows of `x_noisy`" in f.message
        assert f.source_line is not None and f.source_line.startswith("rng.shuffle(x_clean)"), f.source_line
        assert "permutation(len(x_noisy))" in f.fix and "x_noisy[perm], x_clean[perm]" in f.fix


def test_the_same_denoiser_with_its_pairs_intact_is_silent() -> None:
    src = DENOISER.replace("SHUFFLE", "perm = rng.permutation(len(x_clean))\nx_noisy, x_clean = x_noisy[perm], x_clean[perm]")
    report = ae_magic.check(src, namespace={}, data="x_noisy", target="x_clean", seed=0)
    assert [f.code for f in report.findings if f.severity != "info"] == [], report.text()
    assert "do not belong" not in report.text()


def test_a_shuffle_of_the_array_both_were_cut_from_is_the_named_line() -> None:
    # Round 18: the noisy copies are made, then the clean images are shuffled in place, then both are sliced.
    src = DENOISER.replace(
        'x_clean = load(limit=800).reshape(-1, 784).astype("float32")\n'
        'x_noisy = np.clip(x_clean + rng.normal(0.0, 0.3, size=x_clean.shape), 0.0, 1.0).astype("float32")\n',
        'images = load(limit=900).reshape(-1, 784).astype("float32")\n'
        'noisy_images = np.clip(images + rng.normal(0.0, 0.3, size=images.shape), 0.0, 1.0).astype("float32")\n'
        'np.random.shuffle(images)\n'
        'x_clean, x_noisy = images[:800], noisy_images[:800]\n',
    ).replace("SHUFFLE", "")
    report = ae_magic.check(src, namespace={}, data="x_noisy", target="x_clean", seed=0)
    hits = [f for f in report.findings if f.code in ("AE404", "AE405")]
    assert hits, report.text()
    for f in hits:
        assert f.source_line == "np.random.shuffle(images)", f.source_line
