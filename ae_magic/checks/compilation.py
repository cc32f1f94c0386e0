"""Is the model compiled?

AE109 (not-compiled): no loss or optimizer; the probes then use MSE and
Adam(1e-3) and say so.
"""

from __future__ import annotations

from .. import keras_compat as kc
from ..context import Context
from ..report import Finding


def check_not_compiled(ctx: Context) -> list[Finding]:
    """AE109: no loss/optimizer (probes then use MSE and Adam(1e-3))."""
    m = ctx.model
    if m is None or kc.is_compiled(m):
        return []
    target = ctx.model_name or "model"
    return [
        Finding(
            code="AE109",
            severity="info",
            title="The model is not compiled",
            message=(f"`{target}` has no loss or optimizer yet. The probes use MSE and Adam(learning_rate=1e-3) "
                     "on a copy; compile it before fit()."),
            evidence={"compiled": False},
            fix=f"{target}.compile(optimizer=keras.optimizers.Adam(1e-3), loss='mse')",
        )
    ]


CHECKS = [check_not_compiled]
