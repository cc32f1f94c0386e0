"""Does the learning-rate schedule leave the model any rate to learn with?

AE402 (loss-stagnant), from the optimizer's schedule and the data's size.
The probes train at the schedule's starting rate (they must set the rate
themselves for the range test and the sliders), so a schedule that decays
to nothing is invisible to them. The usual slip: ``decay_steps`` written
in epochs while Keras counts optimizer steps (batches):
``ExponentialDecay(1e-3, decay_steps=10, decay_rate=0.5)`` halves the rate
every 10 batches, and after two epochs it is about 1e-7 (round 20: a GRU
seq2seq stalls at 0.5x the mean's error, 0.28x with ``decay_steps`` in
steps).

Measured by evaluating the schedule itself (no training): the rate summed
over 20 epochs of ``fit``'s default batch size, against one epoch at the
starting rate. Less than that, and 20 epochs move the weights less than
one epoch at the starting rate would: the loss stops moving early. A
healthy decay (``decay_steps`` in the thousands, cosine decay over the
run) sums to many epochs' worth and is silent.
"""

from __future__ import annotations

import math
import re

import numpy as np

from .. import keras_compat as kc
from ..context import Context
from ..report import Finding
from .locate import keyword_line

# fit's default batch size, and the length of training judged.
FIT_BATCH = 32
EPOCHS = 20
# Flag when EPOCHS epochs under the schedule sum to less than this many epochs at the starting rate.
BUDGET_EPOCHS = 1.0
_POINTS = 400


def _schedule(model: object) -> object | None:
    opt = getattr(model, "optimizer", None)
    opt = getattr(opt, "inner_optimizer", None) or opt
    sched = getattr(opt, "_learning_rate", None)
    return sched if isinstance(sched, kc.keras.optimizers.schedules.LearningRateSchedule) else None


def _rates(sched: object, steps: np.ndarray) -> np.ndarray:
    return np.array([float(kc.to_numpy(sched(int(s)))) for s in steps], dtype=np.float64)  # type: ignore[operator]


def schedule_budget(model: object, n_samples: int) -> dict[str, float] | None:
    """``{"start", "after_1_epoch", "after_5_epochs", "budget_epochs", "steps_per_epoch"}`` for a model whose
    optimizer runs a learning-rate schedule, else None."""
    sched = _schedule(model)
    if sched is None or n_samples <= 0:
        return None
    per_epoch = max(1, math.ceil(n_samples / FIT_BATCH))
    total = per_epoch * EPOCHS
    steps = np.unique(np.linspace(0, total, min(_POINTS, total + 1)).astype(np.int64))
    rates = _rates(sched, steps)
    start = rates[0] if rates[0] > 0 else float(np.max(rates))
    if not np.all(np.isfinite(rates)) or start <= 0:
        return None
    budget = float(np.trapezoid(rates, steps)) if hasattr(np, "trapezoid") else float(np.trapz(rates, steps))
    at = _rates(sched, np.array([per_epoch, 5 * per_epoch]))
    return {"start": float(start), "after_1_epoch": float(at[0]), "after_5_epochs": float(at[1]),
            "budget_epochs": budget / (start * per_epoch), "steps_per_epoch": float(per_epoch)}


def _schedule_line(ctx: Context) -> tuple[int | None, str | None]:
    pattern = re.compile(r"schedules\.|Decay\(|PiecewiseConstant|decay_steps")
    for i, text in enumerate((ctx.source or "").splitlines(), start=1):
        if pattern.search(text.split("#", 1)[0]):
            return ctx.cell_line(i), text.strip()
    return None, None


def check_schedule(ctx: Context) -> list[Finding]:
    """AE402: a learning-rate schedule that decays to almost nothing within the first epochs."""
    if ctx.model is None or ctx.data is None or not hasattr(ctx.data, "__len__"):
        return []
    try:
        b = schedule_budget(ctx.model, len(ctx.data))
    except Exception:  # a schedule we can't evaluate: say nothing rather than guess
        return []
    if b is None or b["budget_epochs"] >= BUDGET_EPOCHS:
        return []
    line, text = _schedule_line(ctx)
    per = int(b["steps_per_epoch"])
    # The argument that makes it decay so fast, where the call spreads its arguments over lines (round 86's ka04:
    # `decay_steps=1` meant as one epoch): decay_steps when it is shorter than an epoch, else decay_rate.
    steps = getattr(_schedule(ctx.model), "decay_steps", None)
    short = isinstance(steps, (int, float)) and steps < per
    line, text = keyword_line(ctx, line, "decay_steps" if short else "decay_rate")
    return [
        Finding(
            code="AE402",
            severity="warning",
            title="The learning-rate schedule decays to almost nothing",
            message=(f"The optimizer's schedule starts at {b['start']:.3g} but is down to {b['after_1_epoch']:.3g} "
                     f"after one epoch ({per} steps of batch {FIT_BATCH}) and {b['after_5_epochs']:.3g} after five: "
                     f"{EPOCHS} epochs under it move the weights as much as {b['budget_epochs']:.2g} of one epoch at "
                     "the starting rate, so the loss stops moving early. Keras counts decay_steps in optimizer steps "
                     "(batches), not epochs. (The probes train at the starting rate; this is read off the schedule.)"),
            line=line,
            source_line=text,
            evidence={"schedule": b},
            fix=(f"# decay_steps counts batches: one epoch is about {per} steps here, e.g.\n"
                 f"# keras.optimizers.schedules.ExponentialDecay(initial_learning_rate={b['start']:.3g}, "
                 f"decay_steps={10 * per}, decay_rate=0.5)"),
        )
    ]


CHECKS = [check_schedule]
