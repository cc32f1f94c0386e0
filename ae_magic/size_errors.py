"""AE100 for a layer size that is not a Python ``int``: Keras 3's ``Dense`` and ``RepeatVector`` refuse it.

``Dense(np.prod(shape[1:]))`` (a ``numpy.int64``), ``Dense(input_dim / 2)``
(a float in Python 3) and ``RepeatVector(np.int64(n))`` built under Keras 2,
whose tutorials still show them; Keras 3 raises "expected a positive integer.
Received: units=3136", which reads as if 3136 were not a positive integer.
"""

from __future__ import annotations

import re

from .context import CellError, Context
from .report import Finding

# Keras 3's two wordings: Dense's ValueError and RepeatVector's TypeError.
_DENSE = re.compile(r"Received an invalid value for `(\w+)`, expected a positive integer\. Received: \w+=([0-9.eE+]+)\s*$")
_REPEAT = re.compile(r"Expected an integer value for `(\w+)`, got <class '([\w.]+)'>")


def explain(ctx: Context, err: CellError) -> Finding | None:
    """The finding for ``err`` when it is a layer size of the wrong type, else None."""
    m = _DENSE.search(err.message.strip())
    if m is not None:
        arg, value = m.group(1), m.group(2)
        try:
            number = float(value)
        except ValueError:
            return None
        if number <= 0:  # a real non-positive size: the plain AE100 says it
            return None
        kind = "a float" if ("." in value or "e" in value.lower()) else "a NumPy integer"
    else:
        m = _REPEAT.search(err.message)
        if m is None or "numpy" not in m.group(2):
            return None
        arg, value, kind = m.group(1), None, f"a `{m.group(2)}`"
    line = ctx.cell_line(err.line)
    src = ctx.line_text(err.line)
    got = f" got {value}," if value is not None else " got"
    why = ("`/` divides to a float in Python 3" if kind == "a float"
           else "`np.prod`, `np.sum` and NumPy shape arithmetic return NumPy integers")
    fix = _fixed_line(src, kind) if src else None
    return Finding(
        code="AE100",
        severity="error",
        title="A layer size is not a Python int",
        message=(f"{err.type} on line {line}: `{arg}`{got} {kind}, and Keras 3 takes only a Python `int` there "
                 f"({why}; Keras 2 accepted it, so tutorials still show it). The cell stopped here, so no model "
                 "was built."),
        line=line,
        source_line=src,
        evidence={"exception": err.type, "argument": arg, "value": value, "kind": kind, "message": err.message[:500]},
        fix=fix or f"Pass a Python int: {arg}=int(...)",
    )


def _fixed_line(src: str, kind: str) -> str | None:
    """``src`` with the size made a Python int: ``np.prod(...)`` wrapped in ``int()``, ``a / b`` as ``a // b``."""
    stripped = src.strip()
    if kind == "a float" and re.search(r"[\w)\]]\s*/\s*[\w(]", stripped) and "//" not in stripped:
        return re.sub(r"([\w)\]])\s*/\s*([\w(])", r"\1 // \2", stripped, count=1)
    m = re.search(r"\bnp\.(prod|sum|product)\(", stripped)
    if m is not None:
        depth, i = 0, m.end() - 1
        for j in range(i, len(stripped)):
            depth += {"(": 1, ")": -1}.get(stripped[j], 0)
            if depth == 0:
                return stripped[: m.start()] + "int(" + stripped[m.start(): j + 1] + ")" + stripped[j + 1:]
    return None
