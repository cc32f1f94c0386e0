"""Where the cell sets its optimizer: the line a learning-rate finding points at and the class its fix names."""

from __future__ import annotations

from ..context import Context


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
            if pattern in text:
                return ctx.cell_line(i), text.strip()
    return None, None
