"""Where the cell sets its optimizer: the line a learning-rate finding points at and the class its fix names."""

from __future__ import annotations

import ast
from typing import Any

from ..context import Context

# Adaptive optimizers rescale each step, so rates past ADAPTIVE_MAX_LR (the
# top of the usual Adam range) rarely help even where a range test's short
# run learns fastest there; SGD's rates are not capped.
ADAPTIVE = {"Adam", "AdamW", "Nadam", "Adamax", "RMSprop", "Adagrad", "Adadelta", "Lion", "Adafactor", "Lamb", "Muon"}
ADAPTIVE_MAX_LR = 1e-2
# Keras' own default rate for Adam and its kin: the rate a too-high adaptive rate is compared with.
ADAPTIVE_DEFAULT_LR = 1e-3
# The adaptive optimizers whose step is about the rate whatever the gradient (Adam-like sign or
# normalised steps), so a rate far past ADAPTIVE_MAX_LR bounces; Adagrad/Adadelta shrink their steps and
# Adafactor/Muon scale theirs by other means.
RATE_BOUND = ADAPTIVE - {"Adagrad", "Adadelta", "Adafactor", "Muon"}


def opt_class(ctx: Context) -> str:
    """The class name of the model's optimizer (``Adam`` when it has none), for a learning-rate fix."""
    opt = getattr(ctx.model, "optimizer", None)
    return type(opt).__name__ if opt is not None else "Adam"


def optimizer_line(ctx: Context) -> tuple[int | None, str | None]:
    """The cell line that sets the learning rate (compile / optimizer), when known."""
    if not ctx.source:
        return None, None
    lines = ctx.source.splitlines()
    for pattern in ("learning_rate", "optimizers.", ".compile("):
        for i, text in enumerate(lines, start=1):
            # The code only: a comment that quotes compile(...) (or a commented-out fit) is not where the rate is set.
            if pattern in text.split("#", 1)[0]:
                named = _rate_constant(ctx.source, i)
                if named is not None:
                    return ctx.cell_line(named), lines[named - 1].strip()
                return ctx.cell_line(i), text.strip()
    return None, None


def _rate_constant(source: str, line: int) -> int | None:
    """The line that binds the name an optimizer on ``line`` takes as its rate (``Adam(learning_rate=LEARNING_RATE)``
    with ``LEARNING_RATE = 1e-6`` in a config block above), when that name is bound once to a number; else None.

    Round 68's cx05: the fix changes the constant, not the optimizer line that reads it.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    names = []
    for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call) and n.lineno == line):
        rate = next((kw.value for kw in call.keywords if kw.arg in ("learning_rate", "lr")), None)
        cls = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", None)
        if rate is None and cls in ADAPTIVE | {"SGD"} and call.args:
            rate = call.args[0]
        if isinstance(rate, ast.Name):
            names.append(rate.id)
    for name in names:
        binds = [n for n in tree.body if isinstance(n, ast.Assign) and len(n.targets) == 1
                 and isinstance(n.targets[0], ast.Name) and n.targets[0].id == name and n.lineno < line]
        if len(binds) == 1 and _number(binds[0].value):
            return binds[0].lineno
    return None


def _number(value: ast.AST) -> bool:
    """A numeric literal (``1e-6``, ``-0.5``, ``10 ** -3``)."""
    if isinstance(value, ast.Constant):
        return isinstance(value.value, (int, float)) and not isinstance(value.value, bool)
    if isinstance(value, ast.UnaryOp):
        return _number(value.operand)
    if isinstance(value, ast.BinOp):
        return _number(value.left) and _number(value.right)
    return False


def rate_cap(optimizer: Any) -> float | None:
    """The highest learning rate to advise for ``optimizer`` (a LossScaleOptimizer's inner one): None when uncapped."""
    inner = getattr(optimizer, "inner_optimizer", None) or optimizer
    return ADAPTIVE_MAX_LR if inner is None or type(inner).__name__ in ADAPTIVE else None


def capped_suggestion(ctx: Context, sugg: float | None) -> float | None:
    """The range test's suggestion as advice for the model's optimizer: at most ADAPTIVE_MAX_LR for an adaptive one."""
    cap = rate_cap(getattr(ctx.model, "optimizer", None))
    return cap if sugg is not None and cap is not None and sugg > cap else sugg


def rate_phrase(ctx: Context, sugg: float, *, cite: bool = True) -> str:
    """How a finding quotes the range test's suggestion ``sugg`` (a clause, no final stop).

    ``cite``: name the range test after an uncapped suggestion.
    """
    advised = capped_suggestion(ctx, sugg)
    if advised is not None and advised < sugg:
        return (f"the learning-rate range test learns fastest around {sugg:.1g}, above {opt_class(ctx)}'s usual range; "
                f"{advised:.1g}, its top, is the safer pick")
    return f"around {sugg:.1g} learns fastest" + (" (learning-rate range test)" if cite else "")
