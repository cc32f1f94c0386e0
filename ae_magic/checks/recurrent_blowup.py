"""AE303 for a recurrent layer with an unbounded hidden-state activation whose loss blew up in the probe run.

An LSTM/GRU/SimpleRNN with ``activation="relu"`` (the machinelearningmastery
recipe) feeds its hidden state back through the recurrent kernel at every
time step with nothing bounding it: over a long sequence the state, and the
gradient through it, grow geometrically for the inputs that push it up.
``tanh`` keeps the state in [-1, 1]. Round 71's de07: two relu LSTMs over 120
steps under Adam(1e-3); the probe run's loss sat near the mean's and jumped
to 3.5e9 (training step) and 5e16 (held out) now and then, and ``fit`` went
NaN by its third epoch. AE401 blamed the learning rate (and offered half of
it); the cause is the activation.

A bounded model can't reach such a loss at a moderate rate (its outputs
would have to be thousands of times the data's scale), so the judge asks
for a loss BLOWUP_FACTOR times its start, a run that did not learn (round
21's healthy relu LSTM spiked 30x once and went on to 0.07x the mean's
error), and a rate that is not itself too high.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import probes as probe
from ..context import Context
from ..numeric import all_finite
from ..probes.sequence import recurrent_activation
from ..report import Finding
from .locate import keyword_binding_line, layer_line
from .optimizer_source import ADAPTIVE, ADAPTIVE_DEFAULT_LR

# A training step's or a held-out loss this many times its start: an overflow, not a step that overshoots.
BLOWUP_FACTOR = 1e3
# A run that ends at or below this share of the mean predictor's error learned despite its spikes.
LEARNED = 0.6
# Rates above these are suspects themselves (AE401 names them): 3x Adam's default, SGD's 0.01.
ADAPTIVE_RATE_LIMIT = 3 * ADAPTIVE_DEFAULT_LR
PLAIN_RATE_LIMIT = 1e-2
# Hidden-state activations with no bound (relu6, tanh, sigmoid, hard_sigmoid and softsign are bounded).
UNBOUNDED = {"relu", "elu", "selu", "linear", "softplus", "exponential", "leaky_relu", "gelu", "silu", "swish",
             "mish", "celu"}


def _peak_ratio(values: Any) -> tuple[float, bool]:
    """``(largest finite value / the first, whether any value is NaN/Inf)`` of a loss curve."""
    v = np.asarray(values, dtype=np.float64)
    if not len(v) or not math.isfinite(v[0]) or v[0] <= 0:
        return 0.0, bool(len(v) and not np.all(np.isfinite(v)))
    finite = v[np.isfinite(v)]
    return float(np.max(finite)) / float(v[0]), bool(not np.all(np.isfinite(v)))


def _rate_is_moderate(ctx: Context, lr: float) -> bool:
    opt = getattr(ctx.model, "optimizer", None)
    inner = getattr(opt, "inner_optimizer", None) or opt
    adaptive = inner is None or type(inner).__name__ in ADAPTIVE
    return lr <= (ADAPTIVE_RATE_LIMIT if adaptive else PLAIN_RATE_LIMIT)


def recurrent_blowup(ctx: Context, tr: dict[str, Any]) -> list[Finding]:
    """AE303 on the first recurrent layer with an unbounded activation when the probe run's loss blew up."""
    if ctx.model is None:
        return []
    layers = probe.layers_by_name(ctx.model)
    unbounded = [(name, layer, act) for name, layer in layers.items()
                 if (act := recurrent_activation(layer)) in UNBOUNDED]
    if not unbounded or not _rate_is_moderate(ctx, float(tr["lr"])):
        return []
    train_ratio, train_bad = _peak_ratio(tr["loss"])
    val_ratio, val_bad = _peak_ratio(tr["val_curve"]["loss"])
    nonfinite = bool(tr.get("diverged")) or train_bad or val_bad
    ratio = max(train_ratio, val_ratio)
    if not nonfinite and ratio < BLOWUP_FACTOR:
        return []
    b = tr.get("baselines") or {}
    final, mean = b.get("final"), b.get("mean")
    if not nonfinite and all_finite([final, mean]) and mean > 0 and final <= LEARNED * mean:
        return []
    name, layer, act = unbounded[0]
    kind = type(layer).__name__
    raw = ctx.creation_lines.get(id(layer))
    at = keyword_binding_line(ctx, raw, "activation")
    line, text = (ctx.cell_line(at), ctx.line_text(at)) if at is not None else layer_line(ctx, layer)
    others = [n for n, _, _ in unbounded[1:]]
    what = ("went NaN/Inf" if nonfinite and ratio < BLOWUP_FACTOR else
            f"jumped to {ratio:.3g}x its start")
    return [Finding(
        code="AE303",
        severity="error",
        title="Exploding recurrent state",
        message=(
            f"{name} is {'an' if kind == 'LSTM' else 'a'} {kind} with activation='{act}'"
            + (f" (as are {', '.join(others)})" if others else "")
            + f": its hidden state goes back through the recurrent kernel at every time step with nothing to bound it, "
            f"so for inputs that push it up it grows step after step, and so does the gradient through it. In the "
            f"probe run at learning rate {float(tr['lr']):.3g} the loss {what}"
            + (f" and the run ended at {final / mean:.2f}x the per-feature mean's error" if all_finite([final, mean])
               and mean > 0 else "")
            + ". A moderate rate does not explain a loss that size; tanh (the default) keeps the state in [-1, 1]."
        ),
        line=line,
        source_line=text,
        layer=name,
        evidence={"recurrent": kind, "hidden_activation": act, "loss_peak_ratio": ratio, "nonfinite": nonfinite,
                  "lr": float(tr["lr"]), "layers": [n for n, _, _ in unbounded]},
        fix=((f"{(text or '').split('=')[0].strip()} = \"tanh\"  # the recurrent layers' default: a bounded hidden state"
              if at is not None and at != raw and text and "=" in text else
              f"layers.{kind}(units)  # the default activation='tanh' keeps the hidden state bounded")
             + "\n# or keep relu with clipnorm=1.0 in the optimizer and shorter sequences"),
    )]
