"""Batches and subsets: the probe's data split and its batch order.

:func:`prepare_split` picks the subset, the validation slice and the fixed
samples once per (subset, batch size, seed); the training slice stays on the
device as a tensor, and each epoch's batches are a seeded permutation of it,
stacked into blocks the compiled step runs in one call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ..keras_compat import keras
from .sizes import DEFAULT_BATCH, DEFAULT_SUBSET, MIN_VAL, RECON_SAMPLES, VAL_SHARE

ops = keras.ops

Split = dict[str, Any]


def as_input(a: np.ndarray) -> np.ndarray:
    """``a`` as the probes feed it: floats and bools as float32, other dtypes as they are."""
    a = np.asarray(a)
    if np.issubdtype(a.dtype, np.floating) or a.dtype == bool:
        return a.astype(np.float32)
    return a


# Rows of the targets read to tell class indices from a signal.
_INDEX_SAMPLE = 512


def class_index_count(y: np.ndarray, out_shape: Any) -> int | None:
    """The number of classes when ``y`` holds class indices for an output of ``out_shape``, else None.

    A sparse categorical loss reads a target one axis short of the output
    (``(n, steps)`` for ``(n, steps, classes)``) holding whole numbers in
    ``[0, classes)``: a token autoencoder's input is its own target.
    """
    if out_shape is None or len(out_shape) < 2 or not isinstance(out_shape[-1], int) or out_shape[-1] < 2:
        return None
    y = np.asarray(y)
    if y.ndim < 1 or list(y.shape[1:]) != list(out_shape[1:-1]) or y.dtype.kind not in "fiub" or not y.size:
        return None
    rows = y if len(y) <= _INDEX_SAMPLE else y[np.linspace(0, len(y) - 1, _INDEX_SAMPLE).astype(np.int64)]
    s = rows.astype(np.float64)
    if not np.all(np.isfinite(s)) or not np.all(s == np.round(s)) or s.min() < 0 or s.max() >= out_shape[-1]:
        return None
    return int(out_shape[-1])


def one_hot(y: np.ndarray, classes: int) -> np.ndarray:
    """Class indices as one-hot rows on a new last axis (float32)."""
    return np.eye(classes, dtype=np.float32)[np.asarray(y).astype(np.int64)]


def prepare_split(
    x_all: np.ndarray,
    y_all: np.ndarray,
    same_target: bool,
    *,
    subset: int | None,
    batch_size: int | None,
    seed: int,
    current: Split | None = None,
    classes: int | None = None,
) -> Split:
    """Choose the subset, the validation slice and the fixed samples.

    ``y_tr``/``y_val`` are what the loss reads; ``r_tr``/``r_val`` are the
    targets as a reconstruction, in the output's shape, which every error,
    spread and baseline is measured on: the same arrays, or one-hot rows
    when the targets are ``classes`` class indices (a sparse categorical
    loss). Returns ``current`` itself when it was made with the same subset,
    batch size and seed.
    """
    subset = int(subset) if subset else DEFAULT_SUBSET
    bs = int(batch_size) if batch_size else DEFAULT_BATCH
    key = (subset, bs, seed)
    if current is not None and current.get("key") == key:
        return current
    rng = np.random.default_rng(seed)
    n = len(x_all)
    idx = np.sort(rng.choice(n, size=subset, replace=False)) if n > subset else np.arange(n)
    idx = rng.permutation(idx)
    n_val = max(MIN_VAL, round(len(idx) * VAL_SHARE))
    if len(idx) - n_val < 2:
        n_val = max(1, len(idx) // 4)
    val, tr = idx[:n_val], idx[n_val:]
    x_tr, x_val = as_input(x_all[tr]), as_input(x_all[val])
    if same_target:
        y_tr, y_val = x_tr, x_val
    else:
        y_tr, y_val = as_input(y_all[tr]), as_input(y_all[val])
    return {
        "key": key,
        "seed": seed,
        "batch_size": min(bs, len(tr)),
        "subset": len(idx),
        "x_tr": x_tr,
        "y_tr": y_tr,
        "x_val": x_val,
        "y_val": y_val,
        "r_tr": y_tr if classes is None else one_hot(y_tr, classes),
        "r_val": y_val if classes is None else one_hot(y_val, classes),
        "classes": classes,
        "tx": ops.convert_to_tensor(x_tr),
        "ty": None if same_target else ops.convert_to_tensor(y_tr),
        "recon": list(range(min(RECON_SAMPLES, n_val))),
    }


def epoch_blocks(split: Split, epoch: int) -> list[tuple[Any, Any]]:
    """The epoch's batches as stacked blocks: ``(nb, bs, ...)`` and the remainder ``(1, r, ...)``."""
    s = split
    rng = np.random.default_rng([s["seed"], epoch])
    n = len(s["x_tr"])
    perm = ops.convert_to_tensor(rng.permutation(n))
    xp = ops.take(s["tx"], perm, axis=0)
    yp = xp if s["ty"] is None else ops.take(s["ty"], perm, axis=0)
    bs = s["batch_size"]
    nb = n // bs
    blocks = []
    if nb:
        blocks.append((ops.reshape(xp[: nb * bs], (nb, bs, *xp.shape[1:])), ops.reshape(yp[: nb * bs], (nb, bs, *yp.shape[1:]))))
    if n - nb * bs:
        blocks.append((xp[None, nb * bs :], yp[None, nb * bs :]))
    return blocks


def segments(split: Split, epoch: int, bounds: Callable[[int], bool] | None = None) -> Iterator[tuple[Any, Any]]:
    """The epoch's steps in stacked segments, cut after every step where ``bounds(step_in_epoch)``."""
    start = 0
    for xs, ys in epoch_blocks(split, epoch):
        k = int(xs.shape[0])
        a = 0
        for i in range(k):
            if bounds is not None and bounds(start + i + 1) and i + 1 < k:
                yield xs[a : i + 1], ys[a : i + 1]
                a = i + 1
        yield xs[a:], ys[a:]
        start += k


def first_steps(split: Split, n: int) -> Iterator[tuple[Any, Any]]:
    """Stacked segments covering the first ``n`` steps of the probe's batch order."""
    done, epoch = 0, 0
    while done < n:
        for xs, ys in epoch_blocks(split, epoch):
            k = min(int(xs.shape[0]), n - done)
            if k <= 0:
                return
            yield xs[:k], ys[:k]
            done += k
        epoch += 1
