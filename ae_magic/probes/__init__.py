"""Probes: measure a *copy* of the user's model while it runs.

One :class:`ProbeSession` per (model, data) holds a clone of the model (its
architecture and weights), a fresh optimizer of the same class and config, a
single compiled train step and the data split. Every probe starts from a
snapshot of the clone's initial state and restores it afterwards, so

* the gradient probe (a few steps with the learning rate set to 0),
* the learning-rate range test (exponentially growing learning rate),
* the training probe (a short run),
* the confirmation run behind AE406, and
* every re-run with another learning rate (``rerun``)

all share one compiled step: the learning rate lives in the optimizer's
variable and the batch axis is left open in the step's signature, so nothing
is re-traced after the first step.

The user's model, its optimizer and its compiled state are only ever read
(``get_weights``, ``get_config``); nothing here assigns to them. The
thresholds used by the judges live in :mod:`ae_magic.checks.gradients` and
:mod:`ae_magic.checks.training`; the sizes of the probes live in
:mod:`.sizes`.

The modules, one responsibility each:

* :mod:`.session`: :class:`ProbeSession` (the copy, snapshot/restore, the
  gradient probe, range test and training run) and the session a context
  shares between its checks (:func:`session_for`, :func:`prepared_session`);
* :mod:`.training`: the fresh loss and optimizer and the compiled
  ``k``-steps-per-call training step;
* :mod:`.batches`: the subset, validation slice and batch order;
* :mod:`.reference`: the baselines (mean, zero, PCA) and error helpers;
* :mod:`.traces`: per-layer measurements, the range test's suggestion and
  progress events;
* :mod:`ae_magic.backends` (below this package): the training step, forward
  pass and gradients for the backend Keras runs on, one module a backend.
"""

from __future__ import annotations

from ..errors import ProbeError
from ..keras_compat import clone_model, record_outputs, seeded
from .batches import as_input, epoch_blocks, first_steps, prepare_split, segments
from .reference import baselines, mse, spread, top_components
from .session import ProbeSession, prepared_session, session_for
from .sizes import (
    ACT_SAMPLES,
    CONFIRM_STEPS,
    DEFAULT_BATCH,
    DEFAULT_EPOCHS,
    DEFAULT_SUBSET,
    FALLBACK_LR,
    GRAD_BATCHES,
    GRAD_SAMPLES,
    MIN_STEPS,
    MIN_VAL,
    PCA_MAX_ROWS,
    PROGRESS_EVERY,
    RANGE_LR_MAX,
    RANGE_LR_MIN,
    RANGE_SMOOTHING,
    RANGE_STEPS,
    RANGE_STOP_FACTOR,
    RECON_SAMPLES,
    SAT_SAMPLE_SHARE,
    SIGMOID_LIKE,
    SIGMOID_SAT,
    TANH_LIKE,
    TANH_SAT,
    VAL_POINTS_PER_EPOCH,
    VAL_SHARE,
)
from .traces import activation_stats, emit, layers_by_name, leaf_layers, suggest_lr
from .training import TrainStep, fresh_loss, fresh_optimizer, lr_variable

# The probes send their progress events through this name (tests replace it).
_emit = emit

__all__ = [
    "ACT_SAMPLES",
    "CONFIRM_STEPS",
    "DEFAULT_BATCH",
    "DEFAULT_EPOCHS",
    "DEFAULT_SUBSET",
    "FALLBACK_LR",
    "GRAD_BATCHES",
    "GRAD_SAMPLES",
    "MIN_STEPS",
    "MIN_VAL",
    "PCA_MAX_ROWS",
    "PROGRESS_EVERY",
    "RANGE_LR_MAX",
    "RANGE_LR_MIN",
    "RANGE_SMOOTHING",
    "RANGE_STEPS",
    "RANGE_STOP_FACTOR",
    "RECON_SAMPLES",
    "SAT_SAMPLE_SHARE",
    "SIGMOID_LIKE",
    "SIGMOID_SAT",
    "TANH_LIKE",
    "TANH_SAT",
    "VAL_POINTS_PER_EPOCH",
    "VAL_SHARE",
    "ProbeError",
    "ProbeSession",
    "TrainStep",
    "activation_stats",
    "as_input",
    "baselines",
    "clone_model",
    "emit",
    "epoch_blocks",
    "first_steps",
    "fresh_loss",
    "fresh_optimizer",
    "layers_by_name",
    "leaf_layers",
    "lr_variable",
    "mse",
    "prepare_split",
    "prepared_session",
    "record_outputs",
    "seeded",
    "segments",
    "session_for",
    "spread",
    "suggest_lr",
    "top_components",
]
