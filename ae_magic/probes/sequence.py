"""Sequence models: masks, recurrent hidden states and per-position measures.

A sequence autoencoder's data is ``(samples, time steps, features)``. Its
reconstruction is judged per position (time step x feature) against the
targets' own variation at that position, so a model that outputs the mean
curve is told apart from one that follows each input, whatever the scale of
each step. Padded steps (a ``Masking`` layer or an ``Embedding`` with
``mask_zero``) are left out of every statistic. A recurrent layer's output
is its hidden state (the sequence with ``return_sequences``): that is the
activation whose units die (relu) or sit pinned at +-1 (tanh/sigmoid).

numpy and Keras only; imports nothing else of the probes but the sizes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from .. import keras_compat as kc

# Recurrent layers whose output is a hidden state of their ``activation``.
RECURRENT_CELLS = ("LSTM", "GRU", "SimpleRNN")
# A position varies when the targets' std across samples there is above this
# share of the largest per-position std: constant positions (a padded tail,
# a fixed start value) carry no variation to reproduce.
VARYING_REL = 1e-3


# -- masks ---------------------------------------------------------------------
def input_mask(layers: list[Any], x: np.ndarray) -> np.ndarray | None:
    """``(samples, steps)`` booleans, True where a step is real data; None without masking.

    Read from the input itself, as Keras computes the mask: a ``Masking``
    layer applied to the input (a step is padding when every feature equals
    ``mask_value``) or an ``Embedding(mask_zero=True)`` on integer ids.
    """
    x = np.asarray(x)
    for layer in layers:
        kind = type(layer).__name__
        if kind == "Masking" and x.ndim >= 3 and _takes_input(layer, x):
            value = float(getattr(layer, "mask_value", 0.0))
            return np.any(x != value, axis=tuple(range(2, x.ndim)))
        if kind == "Embedding" and getattr(layer, "mask_zero", False) and x.ndim == 2 and _takes_input(layer, x):
            return x != 0
    return None


def _takes_input(layer: Any, x: np.ndarray) -> bool:
    """Whether ``layer`` reads an input shaped like the data (so the data's mask is its mask)."""
    try:
        shape = tuple(layer.input.shape[1:])
    except Exception:
        return True  # a subclassed model's layer: Masking comes first in practice
    return len(shape) == x.ndim - 1 and all(d is None or int(d) == s for d, s in zip(shape, x.shape[1:], strict=True))


def keras_mask(t: Any) -> Any:
    """The Keras mask a tensor carries (``None``: none), read where Keras' own losses read it."""
    try:
        from keras.src.backend.common.masking import get_keras_mask
    except ImportError:  # an older Keras 3: the mask is an attribute
        return getattr(t, "_keras_mask", None)
    return get_keras_mask(t)


def output_mask(model: Any, layers: list[Any], x: np.ndarray, chunk: int = 256) -> np.ndarray | None:
    """``(samples, steps)`` booleans of the mask Keras attaches to the model's output for ``x``; None without one.

    That is the mask ``fit`` applies in its loss (Keras' ``Loss`` reads it
    from the prediction): a ``Masking`` -> ``LSTM(return_sequences=True)`` ->
    ``TimeDistributed`` output carries the input's mask, a ``RepeatVector``
    in between drops it. Eager forward passes (``training=False``), only when
    the input has a mask at all.
    """
    x = np.asarray(x)
    if len(x) == 0 or input_mask(layers, x) is None:
        return None
    parts = []
    for i in range(0, len(x), chunk):
        m = keras_mask(model(x[i : i + chunk], training=False))
        if m is None:
            return None
        parts.append(np.asarray(kc.to_numpy(m)).astype(bool))
    mask = np.concatenate(parts, axis=0)
    return mask if mask.ndim == 2 and mask.shape[0] == len(x) else None


def fit_loss(loss_fn: Any, masked: bool) -> Any:
    """The loss as ``fit`` applies it when the output carries a mask: a Keras ``Loss``.

    ``compile`` wraps a loss function (``"mse"``) in ``LossFunctionWrapper``,
    whose ``__call__`` reads the output's mask and averages over the real
    steps only; the bare function would average the padding in. A ``Loss``
    object does that already; without a mask nothing changes.
    """
    if not masked or isinstance(loss_fn, kc.keras.losses.Loss) or not callable(loss_fn):
        return loss_fn
    # Not exported by keras.losses; the class compile itself wraps a function in.
    from keras.src.losses.losses import LossFunctionWrapper

    return LossFunctionWrapper(loss_fn, name=getattr(loss_fn, "__name__", None))


def masked_loss(loss_fn: Any, y: np.ndarray, pred: np.ndarray, mask: np.ndarray) -> Any:
    """``loss_fn(y, pred)`` with ``mask`` on the prediction, as ``fit`` computes it on the model's output tensor."""
    from keras.src.backend.common.masking import set_keras_mask

    ops = kc.keras.ops
    p = ops.convert_to_tensor(np.asarray(pred))
    set_keras_mask(p, ops.convert_to_tensor(np.asarray(mask, dtype=bool)))
    return fit_loss(loss_fn, True)(ops.convert_to_tensor(np.asarray(y)), p)


def unmasked(arr: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """The real steps of a ``(samples, steps, ...)`` batch as ``(steps kept, ...)``; other shapes unchanged."""
    if mask is None or arr.ndim < 3 or tuple(arr.shape[:2]) != tuple(mask.shape) or not mask.any():
        return arr
    return arr[mask]


# -- recurrent hidden states -------------------------------------------------------
def recurrent_activation(layer: Any) -> str | None:
    """The hidden-state activation of an LSTM/GRU/SimpleRNN (also inside Bidirectional); None for other layers."""
    kind = type(layer).__name__
    if kind == "Bidirectional":
        layer = getattr(layer, "forward_layer", None) or getattr(layer, "layer", None)
        kind = type(layer).__name__
    if kind not in RECURRENT_CELLS:
        return None
    act = getattr(layer, "activation", None)
    name = getattr(act, "__name__", None) if act is not None else None
    return str(name) if name else None


# -- per-position reconstruction measures --------------------------------------------
def position_stats(
    y_tr: np.ndarray,
    y_val: np.ndarray,
    pred: np.ndarray,
    pred0: np.ndarray,
    mask_tr: np.ndarray | None,
    mask_val: np.ndarray | None,
) -> dict[str, Any]:
    """The reconstruction against the targets' own variation, per position.

    A position is one entry of a sample (a time step x feature of a
    sequence, a feature of flat data). For each position that varies:
    ``spread_ratio`` averages ``std(output) / std(target)`` across samples
    (``_before``: at the initial weights); ``explained`` is the share of the
    targets' per-position variance the model explains, ``1 - final /
    position_mean`` where ``position_mean`` is the MSE of predicting each
    position's training mean. Masked (padded) steps count nowhere.
    ``dead_output`` is the share of the positions with a positive target
    where the output is <= 0 for every sample (a relu output stuck at zero;
    ``_before``: at the initial weights). ``time_ratio`` (unmasked sequences):
    the output's variation along the time axis against the targets'
    (:func:`_time_ratio`).
    """
    n = len(y_val)
    yv = _flat(y_val)
    m_val = _position_mask(mask_val, y_val)
    m_tr = _position_mask(mask_tr, y_tr)
    yt = _flat(y_tr)
    cnt_tr = m_tr.sum(axis=0)
    mean_tr = np.where(cnt_tr > 0, np.where(m_tr, yt, 0.0).sum(axis=0) / np.maximum(cnt_tr, 1), 0.0)
    std_y = _masked_std(yv, m_val)
    usable = m_val.sum(axis=0) >= 2
    top = float(np.max(std_y[usable])) if usable.any() else 0.0
    varying = usable & (std_y > VARYING_REL * top) if top > 0 else np.zeros_like(usable)
    out: dict[str, Any] = {
        "sequence": y_val.ndim >= 3,
        "masked": mask_val is not None,
        "positions": int(yv.shape[1]),
        "varying_positions": int(varying.sum()),
        "real_share": float(m_val.mean()) if m_val.size else 0.0,
        "samples": int(n),
    }
    base = _masked_mse(yv, np.broadcast_to(mean_tr, yv.shape), m_val)
    out["position_mean"] = base
    for key, p in (("", pred), ("_before", pred0)):
        pv = _flat(p)
        # An output that only broadcasts against the target (the loss allows it) has no positions to compare.
        finite = pv.shape == yv.shape and m_val.any() and bool(np.all(np.isfinite(pv[m_val])))
        ratio = expl = None
        if finite and varying.any():
            ratio = float(np.mean(_masked_std(pv, m_val)[varying] / std_y[varying]))
        err = _masked_mse(yv, pv, m_val) if finite else float("nan")
        if finite and base > 0:
            expl = float(1.0 - err / base)
        out["spread_ratio" + key] = ratio
        out["explained" + key] = expl
        out["final" if not key else "start"] = err
        out["dead_output" + key] = _dead_share(yv, pv, m_val) if finite else None
        out["time_ratio" + key] = _time_ratio(y_val, p) if finite and mask_val is None else None
    return out


def _time_ratio(y: np.ndarray, p: np.ndarray) -> float | None:
    """How much the output varies along the time axis, against the targets: ``sum std_t(p) / sum std_t(y)``.

    Per sample and feature, over the steps of an unmasked sequence ``(samples,
    steps, features...)``. Near 0: every step of a reconstruction is the same
    (a flat line per sequence). None for flat data or targets constant in time.
    """
    if y.ndim < 3 or y.shape[1] < 2 or p.shape != y.shape:
        return None
    ys = np.std(np.asarray(y, dtype=np.float64), axis=1)
    ps = np.std(np.asarray(p, dtype=np.float64), axis=1)
    total = float(ys.sum())
    return float(ps.sum() / total) if total > 0 else None


def _flat(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.float64).reshape(len(a), -1)


def _position_mask(mask: np.ndarray | None, y: np.ndarray) -> np.ndarray:
    """The step mask repeated over each step's features, as ``(samples, positions)``."""
    n = len(y)
    width = int(np.prod(y.shape[1:])) if y.ndim > 1 else 1
    if mask is None or y.ndim < 2 or tuple(mask.shape) != tuple(y.shape[:2]):
        return np.ones((n, width), dtype=bool)
    per_step = int(np.prod(y.shape[2:])) if y.ndim > 2 else 1
    return np.repeat(mask.astype(bool), per_step, axis=1)


def _masked_std(a: np.ndarray, m: np.ndarray) -> np.ndarray:
    cnt = np.maximum(m.sum(axis=0), 1)
    mean = np.where(m, a, 0.0).sum(axis=0) / cnt
    var = np.where(m, (a - mean) ** 2, 0.0).sum(axis=0) / cnt
    return np.sqrt(var)


def _masked_mse(y: np.ndarray, p: np.ndarray, m: np.ndarray) -> float:
    if not m.any():
        return float("nan")
    with np.errstate(all="ignore"):
        return float(np.mean((y[m] - p[m]) ** 2))


def _dead_share(y: np.ndarray, p: np.ndarray, m: np.ndarray) -> float | None:
    wanted = np.any(m & (y > 0), axis=0)
    if not wanted.any():
        return None
    stuck = np.all(~m | (p <= 0.0), axis=0)
    return float(np.mean(stuck[wanted]))


def output_layer(layers: list[Any], output_names: set[str]) -> tuple[str | None, str | None]:
    """Name and activation of the last layer producing the model's output that has an activation."""
    for layer in reversed([ly for ly in layers if ly.name in output_names]):
        inner = getattr(layer, "layer", None) if type(layer).__name__ == "TimeDistributed" else None
        act = kc.activation_name(inner if inner is not None else layer)
        if act is not None:
            return layer.name, act
    return None, None


def sequence_trace(
    layers: list[Any], output_names: set[str], split: dict[str, Any], pred0: np.ndarray, pred: np.ndarray,
    *, id_padding: bool = False,
) -> dict[str, Any]:
    """The training trace's ``per_position`` entry: :func:`position_stats` on the validation slice,
    plus the output layer (name, activation) the dead-output measure is about. ``id_padding``: token ids whose
    0 pads the rows' ends are masked as ``Embedding(mask_zero=True)`` would (a step's own masked loss)."""
    mask_tr = input_mask(layers, split["x_tr"])
    mask_val = input_mask(layers, split["x_val"])
    if mask_val is None and id_padding and np.ndim(split["x_val"]) == 2:
        mask_tr, mask_val = np.asarray(split["x_tr"]) != 0, np.asarray(split["x_val"]) != 0
    if mask_val is not None and tuple(mask_val.shape) != tuple(np.shape(split["r_val"])[:2]):
        mask_tr = mask_val = None  # the target is not a sequence of the input's steps
    stats = position_stats(split["r_tr"], split["r_val"], pred, pred0, mask_tr, mask_val)
    stats["output_layer"], stats["output_activation"] = output_layer(layers, output_names)
    return stats


# -- recurrent gates ---------------------------------------------------------------
# The gates are measured on this many validation sequences (at the initial
# weights and after the probe run): enough for a share of units, cheap.
GATE_SAMPLES = 32
# A sigmoid gate is stuck when it sits below GATE_LOW (closed) or above
# GATE_HIGH (open) over GATE_STEP_SHARE of the real steps and samples; a
# tanh candidate is saturated when |value| > GATE_HIGH as often.
GATE_LOW = 0.02
GATE_HIGH = 0.98
GATE_STEP_SHARE = 0.95
GATED_CELLS = ("LSTM", "GRU")


def _act_fn(fn: Any) -> Any:
    """A numpy version of a Keras activation (float64); Keras' own op for the rare others."""
    name = getattr(fn, "__name__", None)
    if name == "sigmoid":
        return lambda z: 0.5 * (1.0 + np.tanh(0.5 * z))  # overflow-free logistic
    if name == "tanh":
        return np.tanh
    if name == "hard_sigmoid":
        return lambda z: np.clip((z + 3.0) / 6.0, 0.0, 1.0)  # Keras 3: relu6(z + 3) / 6
    if name == "relu":
        return lambda z: np.maximum(z, 0.0)
    if name == "linear":
        return lambda z: z
    ops = kc.keras.ops
    return lambda z: np.asarray(kc.to_numpy(fn(ops.convert_to_tensor(z.astype("float32")))), dtype=np.float64)


def _weights(cell: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    def arr(v: Any) -> np.ndarray:
        return np.asarray(kc.to_numpy(v), dtype=np.float64)

    bias = getattr(cell, "bias", None)
    return arr(cell.kernel), arr(cell.recurrent_kernel), None if bias is None else arr(bias)


def _gates_lstm(cell: Any, x: np.ndarray, mask: np.ndarray, h0: np.ndarray, c0: np.ndarray) -> dict[str, np.ndarray]:
    """LSTM gates per step (Keras 3 order i, f, c, o) and the hidden state, as the cell computes them.

    A padded step keeps the previous state, as Keras' masked LSTM does.
    """
    kernel, rec, bias = _weights(cell)
    u = rec.shape[0]
    ra, act = _act_fn(cell.recurrent_activation), _act_fn(cell.activation)
    xw = x @ kernel + (0.0 if bias is None else bias)
    h, c = h0, c0
    out: dict[str, list[np.ndarray]] = {"input": [], "forget": [], "candidate": [], "output": [], "hidden": []}
    for t in range(x.shape[1]):
        z = xw[:, t] + h @ rec
        i, f, g, o = ra(z[:, :u]), ra(z[:, u : 2 * u]), act(z[:, 2 * u : 3 * u]), ra(z[:, 3 * u :])
        c_new = f * c + i * g
        h_new = o * act(c_new)
        m = mask[:, t : t + 1]
        h, c = np.where(m, h_new, h), np.where(m, c_new, c)
        for key, val in (("input", i), ("forget", f), ("candidate", g), ("output", o), ("hidden", h)):
            out[key].append(val)
    return {k: np.stack(v, axis=1) for k, v in out.items()}


def _gates_gru(cell: Any, x: np.ndarray, mask: np.ndarray, h0: np.ndarray) -> dict[str, np.ndarray]:
    """GRU gates per step (Keras 3 order z, r, h; ``reset_after`` or not) and the hidden state; padded steps keep it."""
    kernel, rec, bias = _weights(cell)
    u = rec.shape[0]
    ra, act = _act_fn(cell.recurrent_activation), _act_fn(cell.activation)
    after = bool(getattr(cell, "reset_after", True))
    if bias is None:
        b_in, b_rec = np.zeros(3 * u), np.zeros(3 * u)
    elif after:
        b_in, b_rec = bias.reshape(2, 3 * u)
    else:
        b_in, b_rec = bias.reshape(3 * u), np.zeros(3 * u)
    xw = x @ kernel + b_in
    h = h0
    out: dict[str, list[np.ndarray]] = {"update": [], "reset": [], "candidate": [], "hidden": []}
    for t in range(x.shape[1]):
        xz, xr, xh = xw[:, t, :u], xw[:, t, u : 2 * u], xw[:, t, 2 * u :]
        if after:
            inner = h @ rec + b_rec
            z, r = ra(xz + inner[:, :u]), ra(xr + inner[:, u : 2 * u])
            hh = act(xh + r * inner[:, 2 * u :])
        else:
            z, r = ra(xz + h @ rec[:, :u]), ra(xr + h @ rec[:, u : 2 * u])
            hh = act(xh + (r * h) @ rec[:, 2 * u :])
        h = np.where(mask[:, t : t + 1], z * h + (1.0 - z) * hh, h)
        for key, val in (("update", z), ("reset", r), ("candidate", hh), ("hidden", h)):
            out[key].append(val)
    return {k: np.stack(v, axis=1) for k, v in out.items()}


def _stuck(values: np.ndarray, below: float | None = None, above: float | None = None, magnitude: bool = False) -> float:
    """Share of units (last axis) in the given region over GATE_STEP_SHARE of the rows."""
    if magnitude:
        region = np.abs(values) > GATE_HIGH
    elif below is not None:
        region = values < below
    else:
        region = values > above
    return float((region.mean(axis=0) >= GATE_STEP_SHARE).mean())


def gate_summary(kind: str, gates: dict[str, np.ndarray], mask: np.ndarray, candidate_tanh: bool) -> dict[str, Any]:
    """The per-layer gate statistics of :func:`gate_stats` from ``(samples, steps, units)`` gate values.

    LSTM: the share of units whose input gate / output gate is closed
    (< GATE_LOW) and whose forget gate is open (> GATE_HIGH, normal: the
    forget bias starts at 1) over GATE_STEP_SHARE of the real steps; GRU: the
    share whose update gate is stuck open (> GATE_HIGH: the state is never
    written) or reset gate closed. Both: the share of units whose tanh
    candidate sits beyond +-GATE_HIGH as often (None for another activation).
    """
    real = {k: v[mask] for k, v in gates.items() if k != "hidden"}  # (real steps, units)
    first = next(iter(real.values()))
    out: dict[str, Any] = {"kind": kind, "units": int(first.shape[-1]), "steps": len(first)}
    if not len(first):
        return out
    if kind == "LSTM":
        out["input_closed"] = _stuck(real["input"], below=GATE_LOW)
        out["output_closed"] = _stuck(real["output"], below=GATE_LOW)
        out["forget_open"] = _stuck(real["forget"], above=GATE_HIGH)
    else:
        out["update_stuck_open"] = _stuck(real["update"], above=GATE_HIGH)
        out["reset_closed"] = _stuck(real["reset"], below=GATE_LOW)
    out["candidate_saturated"] = _stuck(real["candidate"], magnitude=True) if candidate_tanh else None
    for key, val in real.items():
        out[f"mean_{key}"] = float(np.mean(val))
    return out


@contextlib.contextmanager
def record_calls(wanted: dict[int, Any]) -> Iterator[dict[int, tuple[Any, Any, Any]]]:
    """Record ``id -> (inputs, mask, initial_state)`` of the first call of each wanted layer.

    Patches ``Layer.__call__`` for the duration of the ``with`` block (one
    eager forward pass), on top of whatever patch is already there.
    """
    base = kc.keras.layers.Layer
    original = base.__call__
    seen: dict[int, tuple[Any, Any, Any]] = {}

    def patched(self: Any, *args: Any, **kwargs: Any) -> Any:
        if id(self) in wanted and id(self) not in seen and args:
            mask = kwargs.get("mask")
            seen[id(self)] = (args[0], keras_mask(args[0]) if mask is None else mask, kwargs.get("initial_state"))
        return original(self, *args, **kwargs)

    base.__call__ = patched
    try:
        yield seen
    finally:
        base.__call__ = original


def gate_targets(layers: list[Any]) -> dict[str, list[Any]]:
    """Layer name -> the LSTM/GRU layers whose gates it has (both directions of a Bidirectional)."""
    targets: dict[str, list[Any]] = {}
    for layer in layers:
        kind = type(layer).__name__
        inner = [getattr(layer, "forward_layer", None), getattr(layer, "backward_layer", None)] if kind == "Bidirectional" else [layer]
        inner = [ly for ly in inner if ly is not None and type(ly).__name__ in GATED_CELLS]
        if inner:
            targets[layer.name] = inner
    return targets


def gate_stats(model: Any, layers: list[Any], x: np.ndarray) -> dict[str, dict[str, Any]]:
    """Gate statistics of every LSTM/GRU layer (both directions of a Bidirectional), by layer name.

    The gates are recomputed in numpy from the cell's weights and the
    layer's actual inputs (recorded in one eager forward pass on ``x``), its
    mask and initial state, step by step as the cell runs; padded steps
    count nowhere. Empty (and no forward pass) for a model without one; a
    layer whose inputs or weights can't be read is left out.
    """
    targets = gate_targets(layers)
    if not targets or len(x) == 0:
        return {}
    wanted = {id(ly): ly for group in targets.values() for ly in group}
    try:
        with record_calls(wanted) as calls:
            model(np.asarray(x), training=False)
    except Exception:
        return {}
    return gates_from_calls(targets, calls)


def gates_from_calls(targets: dict[str, list[Any]], calls: dict[int, tuple[Any, Any, Any]]) -> dict[str, dict[str, Any]]:
    """:func:`gate_stats` from the recorded calls of :func:`record_calls`."""
    stats: dict[str, dict[str, Any]] = {}
    for name, group in targets.items():
        parts = []
        for ly in group:
            try:
                parts.append(_layer_gates(ly, *calls[id(ly)]))
            except Exception:  # an input or weight we can't read: no measurement for this layer
                parts = []
                break
        if parts:
            kind = type(group[0]).__name__
            gates = {k: np.concatenate([p[0][k] for p in parts], axis=-1) for k in parts[0][0]}
            stats[name] = gate_summary(kind, gates, parts[0][1], parts[0][2])
    return stats


def _layer_gates(layer: Any, inputs: Any, mask: Any, initial: Any) -> tuple[dict[str, np.ndarray], np.ndarray, bool]:
    """One recurrent layer's gates ``(samples, steps, units)`` in input order, its mask, whether the candidate is tanh."""
    x = np.asarray(kc.to_numpy(inputs), dtype=np.float64)
    n, steps = x.shape[0], x.shape[1]
    m = np.ones((n, steps), dtype=bool) if mask is None else np.asarray(kc.to_numpy(mask)).astype(bool).reshape(n, steps)
    backwards = bool(getattr(layer, "go_backwards", False))
    if backwards:
        x, m = x[:, ::-1], m[:, ::-1]
    cell = layer.cell
    u = int(cell.units)
    states = [np.asarray(kc.to_numpy(s), dtype=np.float64) for s in kc.keras.tree.flatten(initial)] if initial is not None else []
    h0 = states[0] if states else np.zeros((n, u))
    if type(layer).__name__ == "LSTM":
        gates = _gates_lstm(cell, x, m, h0, states[1] if len(states) > 1 else np.zeros((n, u)))
    else:
        gates = _gates_gru(cell, x, m, h0)
    if backwards:
        gates, m = {k: v[:, ::-1] for k, v in gates.items()}, m[:, ::-1]
    return gates, m, getattr(cell.activation, "__name__", None) == "tanh"
