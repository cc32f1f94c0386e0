"""How each term a model's own ``train_step`` reports grows with the batch size.

Round 54: a keras.io-style VAE computed ``kl = reduce_mean(reduce_sum(kl, axis=0))``:
the KL summed over the batch axis, the reconstruction averaged over it. The
KL's weight against the reconstruction is then the batch size (128 in the
cell's fit, 32x what ``axis=1`` gives), and the posterior collapsed; nothing
in the loss curve says why. A term's reduction over the batch axis can't be
read reliably from source (helpers, ``ops``/``tf``/``K`` spellings, an
``axis`` given by name), but it can be measured: the same samples given
``REPEAT`` times in one batch leave a per-sample mean unchanged and multiply
a sum over the batch by ``REPEAT``.

:func:`batch_scaling` runs the model's step twice at learning rate 0 (the
session puts every variable back): on ``SAMPLES`` training samples, and on
those samples repeated ``REPEAT`` times. Each reported term's ratio is kept;
``checks/batch_sum.py`` judges them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ModelError, ProbeError

REPEAT = 4
# A ratio within this factor of REPEAT is a sum over the batch, within it of 1 a mean (the steps' own noise,
# a dropout draw or a sampled z, moves a term by a few percent, never by 4x).
TOLERANCE = 1.25
# Samples in the smaller batch; the larger one (SAMPLES * REPEAT) is fit's default batch size.
SAMPLES = 8
# Totals: what the other terms add up to, so not a term of their own.
TOTALS = frozenset({"loss", "total_loss", "total", "elbo", "neg_elbo"})


def scaling_kind(small: float, big: float, repeat: int = REPEAT) -> str | None:
    """``"sum"`` (the term grew ``repeat``-fold with the batch), ``"mean"`` (it did not) or None (neither, a sign
    change, or a value that can't be read)."""
    if not (math.isfinite(small) and math.isfinite(big)) or small == 0 or (small > 0) != (big > 0):
        return None
    r = math.log(big / small)
    if abs(r - math.log(repeat)) < math.log(TOLERANCE):
        return "sum"
    return "mean" if abs(r) < math.log(TOLERANCE) else None


def batch_scaling(session: Any, terms: dict[str, list[float]]) -> dict[str, Any] | None:
    """``{"samples", "repeat", "terms": {name: [small, repeated]}}`` for a step that reports two or more
    terms beside its total, else None (nothing to weigh against each other, or the step fails on these batches).

    ``session``: an :class:`~ae_magic.probes.updates.OwnStepSession` (its ``still_logs`` runs one step at
    learning rate 0 and restores everything). ``terms``: the per-step logs of its training probe.
    """
    parts = [k for k in terms if k.lower() not in TOTALS]
    if len(parts) < 2:
        return None
    s = session.split
    x, y = np.asarray(s["x_tr"]), np.asarray(s["y_tr"])
    n = min(SAMPLES, len(x))
    if n < 2:
        return None
    xb, yb = x[:n], y[:n]
    try:
        small = session.still_logs(xb, yb)
        repeated = session.still_logs(np.concatenate([xb] * REPEAT), np.concatenate([yb] * REPEAT))
    except (ModelError, ProbeError):
        return None  # a step that can't run on these batches only loses this measurement
    out = {k: [small[k], repeated[k]] for k in parts if k in small and k in repeated}
    return {"samples": n, "repeat": REPEAT, "terms": out} if len(out) >= 2 else None
