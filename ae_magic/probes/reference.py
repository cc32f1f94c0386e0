"""Baselines: the reconstruction errors the probe run is measured against.

The per-feature mean, an all-zero output and a PCA code of the bottleneck's
width (numpy only), and the small error and spread helpers the traces use.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .sizes import PCA_MAX_ROWS


def baselines(split: dict[str, Any], same_target: bool, width: int | None) -> dict[str, Any]:
    """MSE on the validation slice of the per-feature mean and of a PCA code.

    PCA with the bottleneck's width is the optimum of a linear autoencoder
    (Baldi & Hornik 1989). Its top components come from a randomized SVD
    (Halko et al. 2011: numpy QR + numpy SVD of a small projected matrix) on
    at most PCA_MAX_ROWS training rows: a full SVD of 1024x784 takes
    seconds on two busy cores, this takes a few hundredths. Only for plain
    reconstruction (target == input).
    """
    y_tr = split["y_tr"].reshape(len(split["y_tr"]), -1).astype(np.float64)
    y_val = split["y_val"].reshape(len(split["y_val"]), -1).astype(np.float64)
    mean = y_tr.mean(axis=0)
    out: dict[str, Any] = {
        "mean": float(np.mean((y_val - mean) ** 2)),
        # An all-zero output: the trivial solution for mostly-zero data.
        "zero": float(np.mean(y_val**2)),
        "pca": None,
        "pca_width": None,
    }
    d = y_tr.shape[1]
    if not same_target or width is None or width >= d or not np.all(np.isfinite(y_tr)):
        return out
    rows = PCA_MAX_ROWS if d <= 4096 else PCA_MAX_ROWS // 2
    fit = y_tr[:rows] - mean
    if width >= min(fit.shape):
        return out
    try:
        comp = top_components(fit, width, seed=int(split["seed"]))
    except np.linalg.LinAlgError:
        return out
    rec = (y_val - mean) @ comp.T @ comp + mean
    out["pca"] = float(np.mean((y_val - rec) ** 2))
    out["pca_width"] = int(width)
    return out


def top_components(a: np.ndarray, k: int, *, seed: int, oversample: int = 10, power: int = 2) -> np.ndarray:
    """Top-``k`` right singular vectors of ``a`` by randomized SVD (rows of the result)."""
    rng = np.random.default_rng(seed)
    p = min(k + oversample, min(a.shape))
    q, _ = np.linalg.qr(a @ rng.standard_normal((a.shape[1], p)))
    for _ in range(power):
        q, _ = np.linalg.qr(a.T @ q)
        q, _ = np.linalg.qr(a @ q)
    _, _, vt = np.linalg.svd(q.T @ a, full_matrices=False)
    return vt[:k]


def spread(a: np.ndarray) -> float:
    """Mean over features of the standard deviation across samples."""
    return float(np.mean(np.std(a, axis=0))) if len(a) > 1 else 0.0


def mse(y: np.ndarray, p: np.ndarray) -> float:
    """Mean squared error in float64 (non-finite predictions give nan/inf, silently)."""
    with np.errstate(all="ignore"):
        return float(np.mean((y.astype(np.float64) - p.astype(np.float64)) ** 2))
