"""Were the sliding windows cut from a series whose time order was lost?

AE205 (data-degenerate). keras.io's anomaly detector cuts overlapping
windows from one series: window ``k+1`` is window ``k`` moved on by a few
steps. Shuffle the series *before* cutting the windows
(``np.random.shuffle(values)``, meant for the windows) and every window is
a random bag of readings: neighbours no longer correlate, there is no
shape for a code to capture, and the autoencoder learns little more than
the marginal distribution (round 20: 0.39x the mean's error against 0.035x
with the shuffle after windowing).

From the data alone: consecutive windows that overlap exactly (a shift of
``s`` steps, for at least 90 % of the pairs) are sliding windows of one
series. The series is rebuilt from them, and when its neighbouring values
correlate below ROUGH in every feature, its order is gone. Named at the
shuffle line when the cell has one, else at the line that made the data.
"""

from __future__ import annotations

import ast
import re
from typing import Any

import numpy as np

from ..context import Context
from ..report import Finding
from .locate import assigned_at

MAX_SHIFT = 16
OVERLAP_SHARE = 0.9
ROUGH = 0.2
_PAIRS = 400


def _shift(x: np.ndarray) -> int | None:
    """The step between consecutive windows when they overlap exactly, else None."""
    pairs = min(len(x) - 1, _PAIRS)
    if pairs < 8:
        return None
    for s in range(1, min(MAX_SHIFT, x.shape[1] // 2) + 1):
        same = np.all(np.isclose(x[1:pairs + 1, :-s], x[:pairs, s:]), axis=(1, 2))
        if float(np.mean(same)) >= OVERLAP_SHARE:
            return s
    return None


def _series(x: np.ndarray, s: int) -> np.ndarray:
    """The series the windows were cut from (its first stretch)."""
    n = min(len(x), 4 * _PAIRS)
    return np.concatenate([x[0]] + [x[k, -s:] for k in range(1, n)], axis=0)


def lost_order(data: Any) -> dict[str, Any] | None:
    """``{"shift", "lag1_correlation"}`` when ``data`` is sliding windows of a series with no time order, else None."""
    if not isinstance(data, np.ndarray) or data.ndim != 3 or data.shape[1] < 8 or not np.issubdtype(data.dtype, np.number):
        return None
    x = np.asarray(data[: 4 * _PAIRS], dtype=np.float64)
    if not np.all(np.isfinite(x)):
        return None
    s = _shift(x)
    if s is None:
        return None
    series = _series(x, s)
    r = []
    for f in range(series.shape[1]):
        a, b = series[:-1, f], series[1:, f]
        if np.std(a) > 0 and np.std(b) > 0:
            r.append(float(np.corrcoef(a, b)[0, 1]))
    if not r or max(r) >= ROUGH:
        return None
    return {"shift": s, "lag1_correlation": r}


# What shuffles a series: NumPy's shuffle/permutation, pandas' sample(frac=...), and sklearn's train_test_split,
# which shuffles unless told shuffle=False (round 81's fc07: the hourly series split before windowing).
_SHUFFLES = re.compile(r"\.shuffle\(|permutation\(|\.sample\(\s*frac|train_test_split\(")
_KEEPS_ORDER = re.compile(r"shuffle\s*=\s*False")


def _function_lines(source: str) -> set[int]:
    """The lines of every function definition in ``source`` (a helper that shuffles acts where it is called)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    return {i for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            for i in range(node.lineno, (node.end_lineno or node.lineno) + 1)}


def _shuffle_line(ctx: Context) -> tuple[int | None, str | None]:
    data_line = ctx.assign_lines.get(ctx.data_name) if ctx.data_name else None
    inside = _function_lines(ctx.source or "")
    for i, text in enumerate((ctx.source or "").splitlines(), start=1):
        if data_line is not None and i >= data_line:
            break
        if i in inside:
            continue
        code = text.split("#", 1)[0]
        if _SHUFFLES.search(code) and not _KEEPS_ORDER.search(code):
            return ctx.cell_line(i), text.strip()
    return None, None


def check_time_order(ctx: Context) -> list[Finding]:
    """AE205: sliding windows cut from a series whose neighbouring values no longer correlate (shuffled first)."""
    found = lost_order(ctx.data)
    if found is None:
        return []
    line, text = _shuffle_line(ctx)
    shuffled = line is not None
    if not shuffled:
        line, text = assigned_at(ctx, ctx.data_name)
    r = max(found["lag1_correlation"])
    return [
        Finding(
            code="AE205",
            severity="warning",
            title="The series lost its time order before it was cut into windows",
            message=(f"`{ctx.data_name or 'the data'}` holds overlapping windows of one series (each moved on by "
                     f"{found['shift']} step{'s' if found['shift'] > 1 else ''}), but neighbouring values of that series "
                     f"do not correlate (lag-1 correlation at most {r:.2f}): every window is a random bag of readings, "
                     "with no shape for the code to capture."
                     + (f" The series was shuffled before the windows were cut (line {line}): shuffle the windows "
                        "instead, and split a series in time (train_test_split(..., shuffle=False))."
                        if shuffled else " Check for a shuffle or a sort of the series before windowing.")),
            line=line,
            source_line=text,
            evidence=found,
            fix=("# cut the windows from the series in time order, then shuffle the windows if you like:\n"
                 "# x_train = create_sequences(values); np.random.shuffle(x_train)"),
        )
    ]


CHECKS = [check_time_order]
