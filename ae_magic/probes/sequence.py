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
    ``_before``: at the initial weights).
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
    return out


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
    layers: list[Any], output_names: set[str], split: dict[str, Any], pred0: np.ndarray, pred: np.ndarray
) -> dict[str, Any]:
    """The training trace's ``per_position`` entry: :func:`position_stats` on the validation slice,
    plus the output layer (name, activation) the dead-output measure is about."""
    mask_tr = input_mask(layers, split["x_tr"])
    mask_val = input_mask(layers, split["x_val"])
    if mask_val is not None and tuple(mask_val.shape) != tuple(np.shape(split["y_val"])[:2]):
        mask_tr = mask_val = None  # the target is not a sequence of the input's steps
    stats = position_stats(split["y_tr"], split["y_val"], pred, pred0, mask_tr, mask_val)
    stats["output_layer"], stats["output_activation"] = output_layer(layers, output_names)
    return stats
