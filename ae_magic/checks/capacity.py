"""Does the model have to compress?

AE104 (no-compression): the narrowest representation is at least as wide as
the input, so the model can learn the identity.
"""

from __future__ import annotations

from ..context import Context
from ..report import Finding
from .locate import graph_of, label, loc
from .wiring import narrow_dangling


def check_no_compression(ctx: Context) -> list[Finding]:
    """AE104: the narrowest representation is at least as wide as the input."""
    g = graph_of(ctx)
    if g is None or g.code_width is None or g.input_width is None:
        return []
    if g.code_width < g.input_width or ctx.is_denoising:
        return []
    if narrow_dangling(ctx, g):
        return []  # AE103 explains it: the intended code is bypassed
    code = g.nodes[g.code] if g.code is not None else None
    line, src = loc(ctx, code)
    suggestion = max(2, g.input_width // 8)
    return [
        Finding(
            code="AE104",
            severity="warning",
            title="No compression: the code is as wide as the input",
            message=(
                f"The narrowest layer of `{ctx.model_name}`, {label(ctx, code) if code else 'its output'}, has "
                f"{g.code_width} features and the input has {g.input_width}. With no narrower code the model can "
                "learn the identity and output its input without learning any structure (for denoising, pass "
                "the clean data as the target)."
            ),
            line=line,
            layer=code.name if code else None,
            source_line=src,
            evidence={"code_width": g.code_width, "input_width": g.input_width},
            fix=f"Make the bottleneck narrower than the input, e.g. `layers.Dense({suggestion}, activation='relu')` "
            "as the code layer.",
        )
    ]


CHECKS = [check_no_compression]
