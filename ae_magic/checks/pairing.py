"""Whether the target's rows belong to the input's rows (a denoising pair shuffled apart).

A denoising set-up trains ``fit(x_noisy, x_clean)``: row i of the target is
row i of the input without its noise. Shuffling one of the two arrays alone
(``rng.shuffle(x_clean)`` after ``x_noisy`` was made from it) breaks every
pair; the model can then do no better than the per-feature mean, and AE405
(or AE404) is all the run shows. This module measures the pairing, so those
findings can name the cause and the line that broke it.

The measurement: for an evenly spaced sample of rows, the correlation of
each input row with every target row; a row's own target should be among
the most alike (rank near 0 of 1). For pairs shuffled apart the own target's
rank is uniform (median near 0.5). Correlation, not distance, so a target
on another scale or offset than the input (clean in [0, 1], noisy
standardised) still pairs.
"""

from __future__ import annotations

import ast
from typing import Any

import numpy as np

from ..context import Context
from .locate import assigned_at

# Rows compared (evenly spaced): 256 x 256 correlations cost nothing.
PAIR_ROWS = 256
# Below this many rows with a non-constant input and target the measurement says nothing.
PAIR_MIN_ROWS = 16
# The rows do not pair when the median rank of a row's own target among all
# targets is at least this (0: always the most alike; 0.5: chance). Matched
# MNIST pairs under Gaussian noise of std 0.5 measure 0.0.
UNPAIRED_RANK = 0.25
# Rows that do not pair but whose means follow their targets' (correlation across rows at least this) hold their
# own target's values at other positions: scrambled by a reshape for a transpose, not rows shuffled apart.
SCRAMBLED_CORR = 0.5
# The input's departure from its target (std per feature) at least this many times the target's own spread across
# rows: the noise swamps the signal (rows shuffled apart give about sqrt(2) with little noise).
SWAMPED = 3.0
# A target whose values stay below this (non-negative data) was scaled for another range (0-16 pixels over 255).
SMALL_PEAK = 0.25
# Calls that reorder an array in place (rng.shuffle(x), np.random.shuffle(x), random.shuffle(x)).
IN_PLACE_REORDER = ("shuffle",)


def pairing(ctx: Context) -> dict[str, Any] | None:
    """``{"rows", "median_rank", "paired"}`` for a target given apart from the data, else None.

    None when there is no separate target, the rows are not the same size,
    or too few rows vary. Cached on the context.
    """
    if "pairing" in ctx.cache:
        return ctx.cache["pairing"]
    ctx.cache["pairing"] = out = _measure(ctx.data, ctx.target)
    return out


def _measure(data: Any, target: Any) -> dict[str, Any] | None:
    if target is None or data is None or target is data:
        return None
    try:
        x, y = np.asarray(data), np.asarray(target)
    except Exception:
        return None
    if x.ndim < 2 or len(x) != len(y) or len(x) < PAIR_MIN_ROWS or x.dtype.kind not in "fiub" or y.dtype.kind not in "fiub":
        return None
    n = len(x)
    idx = np.unique(np.linspace(0, n - 1, min(n, PAIR_ROWS)).astype(int))
    a = x[idx].reshape(len(idx), -1).astype(np.float64)
    b = y[idx].reshape(len(idx), -1).astype(np.float64)
    if a.shape[1] != b.shape[1] or a.shape[1] < 2:
        return None
    row_means, target_means = a.mean(axis=1), b.mean(axis=1)
    a -= row_means[:, None]
    b -= target_means[:, None]
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    ok = (na > 0) & (nb > 0) & np.isfinite(na) & np.isfinite(nb)
    if ok.sum() < PAIR_MIN_ROWS:
        return None
    raw_a, raw_b = x[idx].reshape(len(idx), -1).astype(np.float64)[ok], y[idx].reshape(len(idx), -1).astype(np.float64)[ok]
    a, b = a[ok] / na[ok, None], b[ok] / nb[ok, None]
    median = _median_rank(a, b)
    if median >= UNPAIRED_RANK:
        # Features on scales far apart (a raw table whose time column is 1e5, the target standardised): one column
        # sets every row's pattern, and rows look alike. Each column standardised first, the pairs show again
        # (round 82's ga02). Only ever read as paired: rows shuffled apart stay at chance either way.
        median = min(median, _median_rank(_columns_standardised(raw_a), _columns_standardised(raw_b)))
    out: dict[str, Any] = {"rows": int(ok.sum()), "median_rank": round(median, 4), "paired": median < UNPAIRED_RANK}
    # Round 87's lb07: digits divided by 255 where their maximum is 16 (targets in [0, 0.063]) under noise of std
    # 0.2. The pairs are right, but the noise is many times the targets' own spread: rows barely resemble their
    # targets, whether or not the measurement still pairs them (rows shuffled apart give about 1.4x).
    spread = float(raw_b.std(axis=0).mean())
    noise = float((raw_a - raw_b).std(axis=0).mean())
    if spread > 0 and np.isfinite(noise) and noise >= SWAMPED * spread:
        out["noise_to_target"] = round(noise / spread, 3)
        out["noise_std"], out["target_spread"] = noise, spread
        out["target_peak"] = float(np.nanmax(np.abs(raw_b)))
    if not out["paired"]:
        # Round 45: channels-first noisy images reshaped (not transposed) to channels-last, the clean ones
        # transposed: every row holds its own target's values, at other positions. Each row's mean then still
        # follows its target's across rows (a brighter image stays brighter); for rows shuffled apart it does not.
        ma, mb = row_means[ok], target_means[ok]
        r = float(np.corrcoef(ma, mb)[0, 1]) if ma.std() > 0 and mb.std() > 0 else float("nan")
        out["row_mean_corr"] = round(r, 4) if np.isfinite(r) else None
        out["order_scrambled"] = bool(np.isfinite(r) and r >= SCRAMBLED_CORR)
    return out


def _columns_standardised(a: np.ndarray) -> np.ndarray:
    """Each column of ``a`` at mean 0 and std 1 (constant columns at 0)."""
    std = a.std(axis=0)
    return (a - a.mean(axis=0)) / np.where(std > 0, std, 1.0)


def _median_rank(a: np.ndarray, b: np.ndarray) -> float:
    """Median rank of each row's own target (row i of ``b``) among all rows of ``b``, by correlation with row i of ``a``.

    0: always the most alike; 0.5: chance. Rows are centred and normalised here.
    """
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    corr = a @ b.T
    own = np.diag(corr)
    rank = (corr > own[:, None]).sum(axis=1) / max(1, len(own) - 1)
    return float(np.median(rank))


def unpaired_line(ctx: Context) -> tuple[int | None, str | None]:
    """The cell line that most likely broke the pairs, and its text.

    The last in-place reorder (``rng.shuffle(name)``) of the data or the
    target, else the target's last assignment.
    """
    names = {n for n in (ctx.data_name, ctx.target_name) if n}
    try:
        tree = ast.parse(ctx.source) if ctx.source and names else None
    except SyntaxError:
        tree = None
    p = ctx.cache.get("pairing") or {}
    if tree is not None and p.get("noise_to_target") is not None:
        # Noise that swamps the target: where the target was scaled to a range too small for the noise (a
        # division), else where the noisy input was made.
        if p.get("target_peak", 1.0) < SMALL_PEAK and ctx.target_name:
            at = _last_division(tree, ctx.target_name)
            if at is not None:
                return ctx.cell_line(at), ctx.line_text(at)
        return assigned_at(ctx, ctx.data_name)
    if tree is not None and p.get("order_scrambled"):
        # Positions scrambled: the array made with a reshape (and no transpose) is the suspect.
        at = _reshaped_at(tree, names)
        if at is not None:
            return ctx.cell_line(at), ctx.line_text(at)
    if tree is not None:
        # The arrays themselves first, then those they were cut or made from
        # (``x_train = images[:2000]`` after ``np.random.shuffle(images)``).
        for wanted in (names, _sources(tree, names)):
            last = _last_reorder(tree, wanted)
            if last is not None:
                return ctx.cell_line(last), ctx.line_text(last)
    return assigned_at(ctx, ctx.target_name)


def _last_division(tree: ast.AST, name: str) -> int | None:
    """The last line that assigns ``name`` from an expression with a true division (``x = x / 255.``)."""
    lines = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Assign)
             and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
             and any(isinstance(n, ast.BinOp) and isinstance(n.op, ast.Div) for n in ast.walk(node.value))]
    return max(lines, default=None)


def _reshaped_at(tree: ast.AST, names: set[str]) -> int | None:
    """The last line that assigns one of ``names`` from a ``reshape`` without a transpose or axis move."""
    last: int | None = None
    for node in ast.walk(tree):
        if not isinstance(node, ast.Assign) or not any(
            isinstance(t, ast.Name) and t.id in names for tgt in node.targets for t in ast.walk(tgt)
        ):
            continue
        calls = {c.func.attr if isinstance(c.func, ast.Attribute) else getattr(c.func, "id", "")
                 for c in ast.walk(node.value) if isinstance(c, ast.Call)}
        if "reshape" in calls and not calls & {"transpose", "moveaxis", "swapaxes", "permute_dims"}:
            last = max(last or 0, node.lineno)
    return last


def _last_reorder(tree: ast.AST, names: set[str]) -> int | None:
    """The last line that reorders one of ``names`` in place (``rng.shuffle(name)``)."""
    last: int | None = None
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        fn = node.func
        fname = fn.attr if isinstance(fn, ast.Attribute) else fn.id if isinstance(fn, ast.Name) else ""
        if any(k in fname.lower() for k in IN_PLACE_REORDER) and any(
            isinstance(arg, ast.Name) and arg.id in names for arg in node.args
        ):
            last = max(last or 0, node.lineno)
    return last


def _sources(tree: ast.AST, names: set[str], depth: int = 3) -> set[str]:
    """The names that ``names`` were computed from in the cell, up to ``depth`` assignments back."""
    found: set[str] = set()
    frontier = set(names)
    for _ in range(depth):
        step: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id in frontier for tgt in node.targets for t in ast.walk(tgt)
            ):
                step |= {n.id for n in ast.walk(node.value) if isinstance(n, ast.Name)}
        frontier = step - found - names
        found |= step
    return found - names


def unpaired_sentence(ctx: Context, p: dict[str, Any]) -> str:
    """What to tell the user when the rows do not pair."""
    data = f"`{ctx.data_name}`" if ctx.data_name else "the data"
    target = f"`{ctx.target_name}`" if ctx.target_name else "the target"
    if p.get("noise_to_target") is not None:
        small = p.get("target_peak", 1.0) < SMALL_PEAK
        return (
            f" The cause is in the data: the noise swamps the signal. {data} departs from its target {target} by "
            f"{p['noise_std']:.3g} (std per feature), {p['noise_to_target']:.1f}x the target's own spread across rows "
            f"({p['target_spread']:.3g})"
            + (", so the input says little about its own target, and the model learns little more than the mean."
               if p.get("paired") else
               f", so a row's own target is no more alike than any other (median rank {p['median_rank']:.2f} among "
               "all targets, where 0 is the most alike and 0.5 is chance) and the model can only learn the mean.")
            + (f" The target's values reach only {p['target_peak']:.3g}: it was scaled for another range (divided "
               "by 255 where its raw maximum is smaller?), while the noise was sized for data in [0, 1]." if small else
               " Lower the noise to about the data's own spread.")
        )
    if p.get("order_scrambled"):
        return (
            f" The cause is in the data: each row of {data} holds its own target's values, but at other positions. "
            f"Over {p['rows']} rows, a row's own target is no more alike than any other (median rank "
            f"{p['median_rank']:.2f} among all targets, where 0 is the most alike and 0.5 is chance), while each "
            f"row's mean follows its target's (correlation {p['row_mean_corr']:.2f} across rows): feature j of the "
            "input is not feature j of the target. A reshape where a transpose was needed (channels-first images "
            "to channels-last), or one array flattened in another order, does this."
        )
    return (
        f" The cause is in the data: the rows of {target} do not belong to the rows of {data}. Over {p['rows']} rows, "
        f"a row's own target is no more alike than any other (median rank {p['median_rank']:.2f} among all targets, "
        "where 0 is the most alike and 0.5 is chance; matched pairs measure near 0), so nothing in the input predicts "
        "its target. Were the two arrays shuffled or split apart?"
    )


def unpaired_fix(ctx: Context) -> str:
    """The fix: reorder both arrays with one permutation (or, for scrambled positions, move axes the same way)."""
    data = ctx.data_name or "x_noisy"
    target = ctx.target_name or "x_clean"
    p = ctx.cache.get("pairing") or {}
    if p.get("noise_to_target") is not None:
        if p.get("target_peak", 1.0) < SMALL_PEAK:
            return (f"# scale {target} to [0, 1] by its own maximum before adding noise, e.g.\n"
                    f"{target} = {target} / {target}.max()")
        return f"# noise about the data's own spread, e.g. noise_factor = 0.5 * {target}.std()"
    if p.get("order_scrambled"):
        return (f"# Build {data} and {target} with the same axis moves: np.transpose moves axes, reshape only\n"
                f"# regroups the values in memory order, e.g. for channels-first (N, C, H, W) images:\n"
                f"{data} = np.transpose(noisy_images, (0, 2, 3, 1))  # as for {target}")
    # Code first: a snippet that starts with a comment is localised line by line, and ``perm`` would be unknown.
    return (
        f"perm = np.random.default_rng(0).permutation(len({data}))  # one permutation for both arrays\n"
        f"{data}, {target} = {data}[perm], {target}[perm]  # or shuffle neither: fit(shuffle=True) does it per epoch"
    )
