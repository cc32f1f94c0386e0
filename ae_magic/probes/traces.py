"""Traces: what the probes measure, per layer, and how they report progress.

Leaf layers and their forward order, dead/saturated activations, the
per-layer rows of the gradient trace, the range test's suggestion and the
progress events. numpy and Keras only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .. import keras_compat as kc
from .sequence import gate_stats, gate_targets, gates_from_calls, input_mask, record_calls, recurrent_activation, unmasked
from .sizes import SAT_SAMPLE_SHARE, SIGMOID_LIKE, SIGMOID_SAT, TANH_LIKE, TANH_SAT

keras = kc.keras


# -- layers ----------------------------------------------------------------
def leaf_layers(model: Any) -> list[Any]:
    """The model's layers with nested models expanded (InputLayers dropped)."""
    out: list[Any] = []
    seen: set[int] = set()

    def walk(m: Any) -> None:
        for layer in getattr(m, "layers", []):
            if id(layer) in seen:
                continue
            seen.add(id(layer))
            if isinstance(layer, keras.Model):
                walk(layer)
            elif type(layer).__name__ != "InputLayer":
                out.append(layer)

    walk(model)
    return out


def layers_by_name(model: Any) -> dict[str, Any]:
    """Leaf layers of ``model`` keyed by name."""
    return {layer.name: layer for layer in leaf_layers(model)}


# Layers that rearrange, trim or pad values without computing new ones.
SHAPE_ONLY = {
    "Reshape", "Flatten", "Permute", "Cropping1D", "Cropping2D", "Cropping3D",
    "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D",
}


def layer_order(model: Any, layers: list[Any], sample: np.ndarray) -> tuple[list[Any], set[str], dict[str, int], dict[str, int]]:
    """Forward order of the leaf layers, from one recorded eager call.

    Returns ``(ordered layers, output layer names, widths, units)``: the
    layers that produce the model's output (and the width-preserving layers
    right before it), and each called layer's output width (features per
    sample) and units (last axis).
    """
    wanted = {id(layer): layer for layer in layers}
    with kc.record_outputs(wanted) as seen:
        outputs = model(sample, training=False)
    called = [wanted[i] for i in seen]
    rest = [layer for layer in layers if id(layer) not in seen]
    output_layers: set[str] = set()
    out_flat = [kc.to_numpy(o) for o in keras.tree.flatten(outputs)]
    # The layers that produce the model's output (and the width-preserving
    # layers right before it) are judged apart: a sigmoid output that
    # saturates toward 0/1 targets is doing its job.
    # A layer that only moves values (Reshape((28, 28)) after the sigmoid,
    # a Cropping2D trimming 32x32 to 28x28) passes that role on to the layer
    # it reads.
    feeds_shape_only = False
    for layer in reversed(called):
        outs = seen[id(layer)]
        val = kc.to_numpy(outs[-1]) if not isinstance(outs[-1], (list, tuple)) else None
        same = val is not None and any(val.size == o.size and np.array_equal(val.reshape(-1), o.reshape(-1)) for o in out_flat)
        if not (same or feeds_shape_only):
            break
        output_layers.add(layer.name)
        feeds_shape_only = type(layer).__name__ in SHAPE_ONLY
    widths: dict[str, int] = {}
    units: dict[str, int] = {}
    for layer in called:
        out = seen[id(layer)][0]
        shape = getattr(out, "shape", None)
        if shape is not None and len(shape) >= 2:
            widths[layer.name] = int(np.prod([int(d) for d in shape[1:]]))
            units[layer.name] = int(shape[-1])
    return called + rest, output_layers, widths, units


def var_owners(layers: list[Any], train_vars: list[Any]) -> list[int]:
    """Index in ``layers`` of the layer owning each trainable variable (-1: none)."""
    owner: dict[int, int] = {}
    for li, layer in enumerate(layers):
        for v in layer.trainable_variables:
            owner.setdefault(id(v), li)
    return [owner.get(id(v), -1) for v in train_vars]


# -- activations -------------------------------------------------------------
def activation_stats(layer: Any, out: np.ndarray, act: str | None = None) -> tuple[float | None, float | None]:
    """``(dead_share, saturated_share)`` of one layer's output batch.

    A unit is a feature of a Dense layer or a channel of a conv/recurrent
    one (last axis). A ReLU unit is dead when it is zero for every sample
    (and every position): counting per unit, not per activation, is the
    lesson of DeepDiagnosis' false alarms (the project's prior-art notes). A sigmoid/tanh unit
    is saturated when it sits in its flat region for at least
    ``SAT_SAMPLE_SHARE`` of the samples and positions. ``act`` overrides
    the layer's activation (a recurrent layer's hidden-state activation).
    """
    act = act or kc.activation_name(layer)
    if act is None or out.ndim < 2 or out.shape[-1] == 0:
        return None, None
    flat = out.reshape(-1, out.shape[-1]).astype(np.float64)
    if act in kc.RELU_LIKE:
        dead = np.all(flat <= 0.0, axis=0)
        return float(dead.mean()), None
    if act in SIGMOID_LIKE:
        flat_region = (flat < SIGMOID_SAT) | (flat > 1.0 - SIGMOID_SAT)
    elif act in TANH_LIKE:
        flat_region = np.abs(flat) > TANH_SAT
    else:
        return None, None
    return None, float((flat_region.mean(axis=0) >= SAT_SAMPLE_SHARE).mean())


def layer_activations(model: Any, layers: list[Any], x: np.ndarray) -> dict[str, tuple[float | None, float | None]]:
    """Dead/saturated shares per layer from one eager forward pass.

    Padded steps of masked sequences are left out, and a recurrent layer is
    judged by its hidden state's activation (``probes/sequence.py``).
    """
    wanted = {id(layer): layer for layer in layers}
    with kc.record_outputs(wanted) as seen:
        model(x, training=False)
    return _activations_from(layers, {k: outs[0] for k, outs in seen.items() if outs}, input_mask(layers, x))


def _activations_from(
    layers: list[Any], first_out: dict[int, Any], mask: np.ndarray | None
) -> dict[str, tuple[float | None, float | None]]:
    """:func:`layer_activations` from each layer's first recorded output."""
    stats: dict[str, tuple[float | None, float | None]] = {}
    for layer in layers:
        out = first_out.get(id(layer))
        if out is None or isinstance(out, (list, tuple, dict)):
            continue
        try:
            arr = kc.to_numpy(out)
        except Exception:
            continue
        stats[layer.name] = activation_stats(layer, unmasked(arr, mask), recurrent_activation(layer))
    return stats


def activations_and_gates(
    model: Any, layers: list[Any], x_act: np.ndarray, x_gate: np.ndarray
) -> tuple[dict[str, tuple[float | None, float | None]], dict[str, dict[str, Any]]]:
    """``(layer_activations(x_act), gate_stats(x_gate))``, from one eager pass where it can.

    An eager pass through a recurrent layer runs its cell step by step in
    Python (about 0.4 s for a small LSTM on 2 cores), so for a model with
    LSTM/GRU layers both measurements share one pass on ``x_act`` and
    ``x_gate`` stacked, and each takes its own rows. That needs every
    recorded tensor to have one row per sample (a ``TimeDistributed``
    wrapper folds the time steps into the rows); otherwise, or if the
    stacked pass fails, the two passes run apart as before. It assumes an
    inference pass treats each sample apart, as Keras' layers do at
    ``training=False``; this is not checked (a custom layer that mixes
    samples would already make the two passes depend on their batch).
    """
    targets = gate_targets(layers)
    if not targets or len(x_gate) == 0:
        return layer_activations(model, layers, x_act), {}
    stackable = (
        isinstance(x_act, np.ndarray) and isinstance(x_gate, np.ndarray) and len(x_act) > 0
        and x_act.shape[1:] == x_gate.shape[1:] and x_act.dtype == x_gate.dtype
    )
    if stackable:
        n, total = len(x_act), len(x_act) + len(x_gate)
        wanted_out = {id(layer): layer for layer in layers}
        wanted_in = {id(ly): ly for group in targets.values() for ly in group}
        try:
            with kc.record_outputs(wanted_out) as seen, record_calls(wanted_in) as calls:
                model(np.concatenate([x_act, x_gate]), training=False)
            first = {k: outs[0] for k, outs in seen.items() if outs and not isinstance(outs[0], (list, tuple, dict))}
            first_np = {k: kc.to_numpy(v) for k, v in first.items()}
            mine = {k: _rows(c, total) for k, c in calls.items()}
        except Exception:
            first_np, mine = {}, {}
        row_per_sample = all(a.ndim and a.shape[0] == total for a in first_np.values())
        if first_np and row_per_sample and len(mine) == len(wanted_in) and all(c is not None for c in mine.values()):
            act = _activations_from(layers, {k: a[:n] for k, a in first_np.items()}, input_mask(layers, x_act))
            gates = gates_from_calls(targets, {k: _take(c, slice(n, None)) for k, c in mine.items() if c is not None})
            return act, gates
    return layer_activations(model, layers, x_act), gate_stats(model, layers, x_gate)


def _rows(call: tuple[Any, Any, Any], total: int) -> tuple[np.ndarray, np.ndarray | None, list[np.ndarray] | None] | None:
    """A recorded call as numpy arrays, or None when any of them is not one row per sample."""
    inputs, mask, initial = call
    x = np.asarray(kc.to_numpy(inputs))
    m = None if mask is None else np.asarray(kc.to_numpy(mask))
    states = None if initial is None else [np.asarray(kc.to_numpy(s)) for s in keras.tree.flatten(initial)]
    arrays = [x] + ([m] if m is not None else []) + (states or [])
    if any(a.ndim == 0 or a.shape[0] != total for a in arrays):
        return None
    return x, m, states


def _take(call: tuple[np.ndarray, np.ndarray | None, list[np.ndarray] | None], rows: slice) -> tuple[Any, Any, Any]:
    """The given rows of a call from :func:`_rows`."""
    x, m, states = call
    return x[rows], None if m is None else m[rows], None if states is None else [s[rows] for s in states]


def activation_rows(
    act: dict[str, tuple[float | None, float | None]], output_layers: set[str], units: dict[str, int]
) -> list[dict[str, Any]]:
    """The ``activations_after`` rows of the training trace (layers with a measurement)."""
    return [
        {"layer": name, "dead_share": d, "saturated_share": sat, "is_output": name in output_layers, "units": units.get(name)}
        for name, (d, sat) in act.items()
        if d is not None or sat is not None
    ]


# -- gradients ---------------------------------------------------------------
def gradient_layers(
    layers: list[Any],
    var_layer: list[int],
    norms: np.ndarray,
    act: dict[str, tuple[float | None, float | None]],
    initial_var: Callable[[int], np.ndarray],
    output_layers: set[str],
    widths: dict[str, int],
    units: dict[str, int],
) -> list[dict[str, Any]]:
    """Per-layer rows of the gradient trace from the ``batches x n_vars`` norms (-1: None)."""
    rows = []
    for li, layer in enumerate(layers):
        vidx = [i for i, owner in enumerate(var_layer) if owner == li]
        dead, sat = act.get(layer.name, (None, None))
        if not vidx and dead is None and sat is None:
            continue
        col = norms[:, vidx] if vidx else np.zeros((len(norms), 0))
        none = [i for k, i in enumerate(vidx) if np.all(col[:, k] < 0)]
        finite = bool(np.all(np.isfinite(col)))
        per_var = np.where(col < 0, 0.0, col)
        zero = [i for k, i in enumerate(vidx) if i not in none and np.all(per_var[:, k] == 0.0)]
        # RMS over the batches of each variable's norm, then the layer's
        # L2 norm over its variables.
        var_norm = np.sqrt(np.mean(per_var**2, axis=0)) if len(per_var) else np.zeros(len(vidx))
        gnorm = float(np.sqrt(np.sum(var_norm**2))) if finite else float("nan")
        wnorm = float(np.sqrt(sum(float(np.sum(np.square(initial_var(i)))) for i in vidx)))
        rows.append(
            {
                "layer": layer.name,
                "class": type(layer).__name__,
                "activation": kc.activation_name(layer),
                "grad_norm": gnorm,
                "n_vars": len(vidx),
                "none_vars": len(none),
                "zero_vars": len(zero),
                "dead_share": dead,
                "saturated_share": sat,
                "weight_norm": wnorm,
                "finite": finite,
                "is_output": layer.name in output_layers,
                "width": widths.get(layer.name),
                "units": units.get(layer.name),
            }
        )
    return rows


def layer_grad_norms(layers: list[Any], var_layer: list[int], rows: list[np.ndarray]) -> dict[str, list[float]]:
    """Each layer's gradient norm (L2 over its variables) at the sampled steps."""
    gn = np.array(rows, dtype=np.float64).reshape(len(rows), -1)
    out: dict[str, list[float]] = {}
    for li, layer in enumerate(layers):
        vidx = [i for i, owner in enumerate(var_layer) if owner == li]
        if vidx:
            col = np.where(gn[:, vidx] < 0, 0.0, gn[:, vidx])
            out[layer.name] = [float(v) for v in np.sqrt(np.sum(col**2, axis=1))]
    return out


# -- learning rate -------------------------------------------------------------
def suggest_lr(lrs: list[float], smooth: list[float]) -> float | None:
    """The range test's suggestion: a tenth of the rate at the smoothed minimum.

    fastai's ``lr_find`` "lr_min" rule: the minimum itself already sits at the
    edge of instability, a tenth of it learns fast and stays stable.
    """
    if len(smooth) < 5:
        return None
    arr = np.asarray(smooth, dtype=np.float64)
    k = int(np.nanargmin(arr))
    if k == 0 or not np.isfinite(arr[k]) or arr[k] >= arr[0]:
        return None
    # Rounded to the one significant digit the advice prints, so the rate the
    # repeat run confirms is exactly the one a user types in.
    return float(f"{lrs[k] / 10.0:.1g}")


# -- progress ------------------------------------------------------------------
def emit(progress: Any, phase: str, step: int, total: int, loss: float, **extra: Any) -> None:
    """Send one progress event ``{"phase", "step", "total", "loss", ...}`` (no-op without a callback)."""
    if progress is None:
        return
    progress({"phase": phase, "step": int(step), "total": int(total), "loss": float(loss), **extra})
