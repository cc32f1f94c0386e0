"""Baselines: the reconstruction errors the probe run is measured against.

The per-feature mean, an all-zero output and a PCA code of the bottleneck's
width (numpy only), and the small error and spread helpers the traces use.
"""

from __future__ import annotations

from collections.abc import Callable
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
    y_val = split["r_val"].reshape(len(split["r_val"]), -1).astype(np.float64)
    mean, rec = reference_predictions(split, same_target, width)
    return {
        "mean": float(np.mean((y_val - mean) ** 2)),
        # An all-zero output: the trivial solution for mostly-zero data.
        "zero": float(np.mean(y_val**2)),
        "pca": None if rec is None else float(np.mean((y_val - rec) ** 2)),
        "pca_width": None if rec is None else int(width or 0),
    }


def reference_predictions(split: dict[str, Any], same_target: bool, width: int | None) -> tuple[np.ndarray, np.ndarray | None]:
    """The per-feature mean (one row) and the PCA reconstruction of the validation targets (None without one), flat.

    Kept on the split (its arrays don't change): the baselines in MSE and in
    the loss's units, and every re-run on the same split, share one SVD.
    """
    cache = split.setdefault("_reference", {})
    key = (bool(same_target), width)
    if key not in cache:
        cache[key] = _reference_predictions(split, same_target, width)
    return cache[key]


def _reference_predictions(split: dict[str, Any], same_target: bool, width: int | None) -> tuple[np.ndarray, np.ndarray | None]:
    y_tr = split["r_tr"].reshape(len(split["r_tr"]), -1).astype(np.float64)
    y_val = split["r_val"].reshape(len(split["r_val"]), -1).astype(np.float64)
    mean = y_tr.mean(axis=0)
    d = y_tr.shape[1]
    if not same_target or width is None or width >= d or not np.all(np.isfinite(y_tr)):
        return mean, None
    rows = PCA_MAX_ROWS if d <= 4096 else PCA_MAX_ROWS // 2
    fit = y_tr[:rows] - mean
    if width >= min(fit.shape):
        return mean, None
    try:
        comp = top_components(fit, width, seed=int(split["seed"]))
    except np.linalg.LinAlgError:
        return mean, None
    return mean, (y_val - mean) @ comp.T @ comp + mean


# Probability outputs are clipped into [PROB_EPS, 1 - PROB_EPS] before a
# cross-entropy sees them, as Keras' own losses clip (backend epsilon).
PROB_EPS = 1e-7


def loss_baselines(
    split: dict[str, Any],
    same_target: bool,
    width: int | None,
    loss: Callable[[np.ndarray, np.ndarray], float],
    logits: str | None,
    probabilities: bool,
) -> dict[str, Any]:
    """The mean and PCA baselines in the units of the model's own loss.

    ``loss(y, output)`` is the loss the validation curve uses. The mean and
    the PCA reconstruction are turned into what the model would output for
    them: clipped to [PROB_EPS, 1 - PROB_EPS] when the loss reads
    probabilities (``probabilities``), and then into logits when the model
    outputs logits (``logits``: "sigmoid" or "softmax").
    """
    y_val = np.asarray(split["y_val"])
    shape = np.shape(split["r_val"])  # the output's shape (one-hot for class indices)
    mean, rec = reference_predictions(split, same_target, width)

    def value(pred: np.ndarray) -> float | None:
        p = np.broadcast_to(pred, (len(y_val), pred.shape[-1])).reshape(shape)
        if probabilities or logits:
            p = np.clip(p, PROB_EPS, 1 - PROB_EPS)
        if logits == "sigmoid":
            p = np.log(p) - np.log1p(-p)
        elif logits == "softmax":
            p = np.log(p)
        try:
            v = float(loss(y_val, p.astype(y_val.dtype if y_val.dtype.kind == "f" and split.get("classes") is None else np.float32)))
        except Exception:  # a loss that can't read this prediction: no baseline rather than a crash
            return None
        return v if np.isfinite(v) else None

    # The loss of a perfect reconstruction: a sound reconstruction loss is lowest there (below the mean's).
    same_size = split.get("classes") is None and y_val.size == int(np.prod(shape))
    flat = y_val.reshape(len(y_val), -1).astype(np.float64)
    exact = value(flat) if same_size else None
    out: dict[str, Any] = {"mean": value(mean), "pca": None if rec is None else value(rec), "target": exact}
    if same_size and len(flat) > 1:
        # Each sample's output set to another sample's target: a loss that compares samples with their own
        # targets charges about twice the mean's; one that reduces over the batch first charges nothing.
        out["shuffled"] = value(np.roll(flat, 1, axis=0))
        # Each sample's own values in a scrambled order: no reconstruction at all, with every per-sample statistic
        # (its mean, its spread) intact. A sound reconstruction loss charges it at least about the mean's loss;
        # one that only reads per-sample statistics charges nothing (round 38: the square of the mean error).
        out["scrambled"] = value(np.random.default_rng(0).permuted(flat, axis=1))
        # Each sample's target scaled by 1/2 and by 2: a sound reconstruction loss charges both; one that reads
        # only each sample's direction (cosine similarity) charges neither, so the intensity is never learned.
        out["scaled"] = [value(flat * k) for k in (0.5, 2.0)]
        # Outputs moved past the target by half and one feature std, up and down: a sound loss rises both ways.
        step = 0.5 * np.std(flat, axis=0)
        out["shifted"] = {"step": float(np.mean(step)),
                          "up": [value(flat + k * step) for k in (1, 2)],
                          "down": [value(flat - k * step) for k in (1, 2)]}
        # The same half-std misses with a random sign each: a per-element loss charges them as much as the
        # shift; one that sums or averages the error over a sample before judging it (with or without
        # per-feature weights) hardly sees them (round 46: the square of a weighted mean error).
        signs = np.where(np.random.default_rng(1).random(flat.shape) < 0.5, -1.0, 1.0)
        out["jittered"] = value(flat + signs * step)
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
