"""Check families. Each check is a small function ``(Context) -> list[Finding]``.

The engine runs the families in order: structure, data, then the probe
families (gradients, training), which measure on a copy of the model and
store their traces in ``ctx.traces`` before judging them. ``refine`` lets
measurements confirm or upgrade structural findings (AE106, AE110, AE111).
"""

from __future__ import annotations

from collections.abc import Callable

from ..context import Context
from ..report import Finding

Check = Callable[[Context], list[Finding]]


# The structure checks' modules, each named by the question its checks answer,
# in the order the checks run (AE102 ... AE113); each module has a CHECKS list.
STRUCTURE_MODULES = (
    "wiring",  # AE102 dangling layers, AE103 bottleneck bypass
    "capacity",  # AE104 no compression
    "shapes",  # AE105 shape mismatch
    "activations",  # AE106 saturating code, AE107 saturating stack, AE108 output/loss mismatch
    "split_outputs",  # AE108 per-output losses on heads that split the input (swapped loss lists)
    "loss_args",  # AE108 a hand-written loss called with the prediction first
    "variance_head",  # AE108 a distribution head's variance from a relu/linear layer (after shapes' AE105)
    "compilation",  # AE109 not compiled
    "initialisation",  # AE110 bad initializer
    "dependence",  # AE111 output ignores input
    "narrow_norm",  # AE111/AE106 a per-sample normalisation over 1-2 values (a constant or a sign)
    "building",  # AE112 unbuilt model, AE113 subclassed model
)


def structure_checks() -> list[Check]:
    """AE102-AE113 checks that read the model and the cell (no data).

    Checks that need a forward pass run it on ``ctx.forward_model()``, never
    on the user's model (``locate.forward_copy``).
    """
    from importlib import import_module

    checks: list[Check] = []
    for name in STRUCTURE_MODULES:
        checks.extend(import_module(f"{__name__}.{name}").CHECKS)
    return checks


def weight_checks() -> list[Check]:
    """Checks that read the user's weights and source (no data, no forward pass): AE301 for layers frozen
    at init, for layers computing with a frozen copy of a weight (a tied kernel transposed in ``build``),
    for raw backend variables Keras does not track, and for a layer with weights made inside ``call``; AE407
    for a VAE's log-variance head that can't go below zero, and for a sampling layer called with its mean and
    log-variance swapped.

    They run with the structure checks (and count as that family), after the
    AE1xx ones, whether or not the probes can run.
    """
    from . import diverged_weights, frozen, layer_in_call, log_variance, recompile, sampling, snapshot, untracked

    return (list(frozen.CHECKS) + list(recompile.CHECKS) + list(snapshot.CHECKS) + list(untracked.CHECKS) + list(layer_in_call.CHECKS)
            + list(log_variance.CHECKS) + list(sampling.CHECKS) + list(diverged_weights.CHECKS))


def data_checks() -> list[Check]:
    """AE201-AE205 checks that read the data."""
    from . import (
        augmentation,
        axis_order,
        categorical,
        clipped_input,
        data,
        data_loss,
        fit_settings,
        fit_target,
        int_buffer,
        kl_anneal,
        loss_mask,
        masked_input,
        masking,
        moving_stats,
        pipeline_pairs,
        row_scaled,
        schedule,
        side_inputs,
        step_target,
        swapped_pair,
        target_scale,
        time_order,
    )

    return (list(data.CHECKS) + list(axis_order.CHECKS) + list(target_scale.CHECKS) + list(masking.CHECKS)
            + list(clipped_input.CHECKS) + list(schedule.CHECKS) + list(time_order.CHECKS) + list(data_loss.CHECKS)
            + list(swapped_pair.CHECKS) + list(masked_input.CHECKS) + list(augmentation.CHECKS) + list(row_scaled.CHECKS)
            + list(categorical.CHECKS) + list(loss_mask.CHECKS) + list(step_target.CHECKS)
            + list(kl_anneal.CHECKS) + list(moving_stats.CHECKS) + list(fit_target.CHECKS)
            + list(int_buffer.CHECKS) + list(fit_settings.CHECKS) + list(side_inputs.CHECKS)
            + list(pipeline_pairs.CHECKS))


def probe_checks() -> list[Check]:
    """AE3xx/AE4xx checks; each runs its probe on a copy of the model."""
    checks: list[Check] = []
    try:
        from . import gradients
    except ImportError:  # pragma: no cover - family not installed yet
        gradients = None  # type: ignore[assignment]
    try:
        from . import training
    except ImportError:  # pragma: no cover
        training = None  # type: ignore[assignment]
    # AE304 on a dead relu output; AE108 an inverted loss; AE405 a penalty that outweighs the reconstruction
    from . import loss_direction, penalty_share, recurrent

    for mod in (gradients, training, recurrent, loss_direction, penalty_share):
        if mod is not None:
            checks.extend(mod.CHECKS)
    # After the training run: AE301 from its update ratios when gradients were unavailable (counted as training).
    from . import activations, capacity, updates

    checks.extend(updates.CHECKS)
    # AE104 from the code width the probe measured, for a model with no layer graph to read it from.
    checks.append(capacity.check_measured_compression)
    # AE103 from the code ablated on the trained copy, for the same models.
    from .code_ablation import check_code_ablation

    checks.append(check_code_ablation)
    # AE107 from the model's layers in order, when there is no graph and the run did not learn.
    checks.append(activations.check_saturating_stack_without_graph)
    return checks


def refine(ctx: Context, findings: list[Finding]) -> list[Finding]:
    """Let probe measurements confirm, upgrade or drop structural findings."""
    for modname in ("gradients", "training", "recurrent"):
        try:
            mod = __import__(f"{__name__}.{modname}", fromlist=["refine"])
        except ImportError:
            continue
        fn = getattr(mod, "refine", None)
        if fn is not None:
            findings = fn(ctx, findings)
    return merge_repeats(findings)


_RANK = {"error": 0, "warning": 1, "info": 2}


def merge_repeats(findings: list[Finding]) -> list[Finding]:
    """One finding per code, line and layer: a repeat's message and evidence join the first (the worst) of them.

    Round 88's mb01 (a VAE whose KL has its sign flipped, NaN by the cell's third epoch): the weights left NaN by
    the cell's own fit and the probe run's divergence were two AE401s at the same line, each naming the sign. Two
    measurements of one fault are one finding with both pieces of evidence.
    """
    kept: dict[tuple[str, int | None, str | None], Finding] = {}
    out: list[Finding] = []
    for f in sorted(findings, key=lambda f: _RANK.get(f.severity, 3)):
        key = (f.code, f.line, f.layer)
        first = kept.get(key)
        if first is None or f.line is None:
            kept.setdefault(key, f)
            out.append(f)
            continue
        first.message += " " + f.message
        first.evidence.setdefault("also", []).append(f.evidence)
    return [f for f in findings if any(f is g for g in out)]
