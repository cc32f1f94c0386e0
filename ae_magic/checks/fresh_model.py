"""One fresh copy of the user's model per check: its architecture at new initial weights, as re-running the cell
builds it.

Two checks compare against the start of the cell's own fit, which the weights in the namespace no longer show:
the weight penalties at fresh weights (``weight_penalty.fresh_penalties``) and the learning rate's wreck from
fresh weights (``wrecked_start``). Each is behind its own rare gate; when both run they share this copy, drawn
once inside ``kc.seeded`` so the user's random state is put back.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import keras_compat as kc
from ..context import Context


def fresh_model(ctx: Context) -> Any | None:
    """The cached fresh copy of ``ctx.model`` (None when it can't be rebuilt: a subclassed model without data to
    build it on, a failing clone)."""
    if "fresh_model" not in ctx.cache:
        data = ctx.data
        sample = data[:1] if isinstance(data, np.ndarray) and data.ndim >= 2 and len(data) else None
        try:
            with kc.seeded(int(ctx.options.seed)):  # initializers draw from the global state: put it back after
                ctx.cache["fresh_model"] = kc.fresh_copy(ctx.model, sample)
        except Exception:  # no fresh copy: nothing is claimed about the start of the cell's fit
            ctx.cache["fresh_model"] = None
    return ctx.cache["fresh_model"]
