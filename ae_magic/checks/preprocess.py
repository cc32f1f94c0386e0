"""The input as the model's first weighted layer sees it, through its preprocessing layers.

A model may take raw data and scale it itself (``Rescaling(1/255)`` on 0-255
pixels, a ``Normalization`` layer adapted on raw sensor units, a
``BatchNormalization`` first): the data checks then judge the scale the
layers with weights receive, not the array the user passes. Worked out from
the layers' settings and weights; a layer without weights (a ``Lambda``, an
Activation) is called on the forward copy. No forward pass on the user's model.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from .. import keras_compat as kc
from ..context import Context

# Layers that keep the values as they are (shape changes, noise and dropout
# that are off at inference and small in training, padding with zeros).
PASS_THROUGH = {
    "InputLayer", "Reshape", "Flatten", "Permute", "RepeatVector", "Masking",
    "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise", "GaussianDropout", "AlphaDropout",
    "Cropping1D", "Cropping2D", "Cropping3D", "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D",
}
# Layers that bring whatever they get to about unit scale (in training).
NORMALISING = {"BatchNormalization", "LayerNormalization", "GroupNormalization", "UnitNormalization"}


def input_as_seen(ctx: Context, sample: np.ndarray) -> tuple[np.ndarray | None, str | None]:
    """``(values, layer)``: ``sample`` mapped through the model's leading preprocessing layers.

    ``values`` is None when a normalising layer (BatchNormalization and
    kin) rescales the input whatever its scale; ``layer`` names the last
    preprocessing layer applied (None: the input reaches a weighted layer
    as it is, or the model has no graph to read).
    """
    values, applied, normaliser = _walk(ctx, sample)
    if normaliser is not None:
        return None, normaliser.name
    return values, applied


def normaliser_input(ctx: Context, sample: np.ndarray) -> tuple[Any, np.ndarray] | None:
    """``(layer, values)``: the normalising layer the input reaches first and ``sample`` as it reaches it;
    None when no normalising layer comes before the first weighted one."""
    values, _applied, normaliser = _walk(ctx, sample)
    if normaliser is None:
        return None
    return normaliser.layer, values


def _walk(ctx: Context, sample: np.ndarray) -> tuple[np.ndarray, str | None, Any]:
    """``sample`` through the leading preprocessing layers: ``(values, last layer applied, normalising node)``.

    Kept in ``ctx.cache`` per sample (the data, target-scale and moving-statistics checks ask about the same
    rows): a walk may run a forward pass of the copy, which for a recurrent model in eager mode costs 0.1-0.3 s.
    """
    arr = np.ascontiguousarray(sample)
    key = ("preprocess_walk", arr.shape, str(arr.dtype), hashlib.blake2b(arr.tobytes(), digest_size=16).hexdigest())
    walks = ctx.cache.setdefault("preprocess_walks", {})
    if key not in walks:
        walks[key] = _walk_uncached(ctx, sample)
    values, applied, node = walks[key]
    return (values.copy() if isinstance(values, np.ndarray) else values), applied, node


def _walk_uncached(ctx: Context, sample: np.ndarray) -> tuple[np.ndarray, str | None, Any]:
    g = ctx.graph
    if g is None or not getattr(g, "has_graph", False) or len(g.inputs) != 1:
        return sample, None, None
    values, applied = np.asarray(sample, dtype=np.float64), None
    node = g.nodes[g.inputs[0]]
    seen: set[int] = set()
    while node.id not in seen:
        seen.add(node.id)
        readers = [n for n in g.nodes if node.id in n.parents]
        if len(readers) != 1:  # a branch, or the end: judge what reaches it
            break
        node = readers[0]
        if node.cls in PASS_THROUGH:
            continue
        if node.cls in NORMALISING:
            return values, applied, node
        mapped = _mapped(node.cls, node.layer, values)
        if mapped is None:
            mapped = _weightless(ctx, node, values)
        if mapped is None and applied is None and not _weighted_leaf(node.layer) and not _builtin_recurrent(node.layer):
            # A nested encoder model, or keras.ops on the input tensor (round 49's ba06: ``(raw_in - mu) / sigma``
            # inside the encoder): what its first weighted layer receives, from a forward pass of the copy.
            seen = _first_weighted_input(ctx, values)
            if seen is not None:
                return seen, node.name, None
        if mapped is None:  # a layer with weights, or one we can't read: it sees these values
            break
        values, applied = mapped, node.name
    return values, applied, None


def _builtin_recurrent(layer: Any) -> bool:
    """A Keras recurrent layer (LSTM, GRU, SimpleRNN, ConvLSTM, their Bidirectional wrapper): its cell reads the
    input's values as they are, one step at a time, so no forward pass is needed to know what it sees."""
    k = kc.keras.layers
    inner = getattr(layer, "forward_layer", None) if isinstance(layer, k.Bidirectional) else layer
    return isinstance(inner, k.RNN) and type(inner).__module__.startswith("keras.")


def _weighted_leaf(layer: Any) -> bool:
    """A layer with variables and no sub-layers (a Dense, a Conv2D): the data reaches it as it is."""
    try:
        return (layer is not None and bool(list(layer.variables))
                and not list(layer._flatten_layers(include_self=False)))
    except Exception:
        return False


def weighted_calls(ctx: Context, values: np.ndarray) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]] | None:
    """One forward pass of the copy (never the user's model) on ``values``: its output, and ``(input, output)``
    of each call of a weighted leaf layer (a Dense, a Conv2D), in call order; None when it can't run."""
    copy = ctx.forward_model()
    if copy is None or copy is ctx.model:
        return None
    leaves = {id(la) for la in kc.leaf_layers(copy) if _weighted_leaf(la)}
    base = kc.keras.layers.Layer
    original = base.__call__
    calls: list[tuple[Any, Any]] = []

    def patched(self: Any, *args: Any, **kwargs: Any) -> Any:
        out = original(self, *args, **kwargs)
        if id(self) in leaves and args:
            calls.append((args[0], out))
        return out

    try:
        base.__call__ = patched
        with kc.preserved_random_state():
            final = copy(kc.keras.ops.convert_to_tensor(values.astype(np.float32)), training=False)
        as_np = [(np.asarray(kc.to_numpy(a), dtype=np.float64), np.asarray(kc.to_numpy(b), dtype=np.float64))
                 for a, b in calls]
        return np.asarray(kc.to_numpy(final), dtype=np.float64), as_np
    except Exception:  # a model that can't take these values alone: judge the data as given
        return None
    finally:
        base.__call__ = original


def _first_weighted_input(ctx: Context, values: np.ndarray) -> np.ndarray | None:
    """``values`` as the first weighted leaf layer the forward copy calls receives them; None when that can't be
    read, or it is not the data's shape (a layer deeper in, not the first)."""
    run = weighted_calls(ctx, values)
    if run is None or not run[1]:
        return None
    out = run[1][0][0]
    if out.shape != values.shape or not np.isfinite(out).all() or np.array_equal(out, values):
        return None
    return out


def _weightless(ctx: Context, node: Any, values: np.ndarray) -> np.ndarray | None:
    """``values`` through a layer without variables (a ``Lambda(ops.log1p)``, a custom scaling layer, an
    Activation), called on the forward copy (never the user's model) in inference mode; None for a layer with
    variables, one the copy lacks, or a call that raises or changes the number of samples.

    Round 43's ac01: counts up to 253 fed to a DCA-style model that takes ``log1p`` inside, so its first Dense
    sees values up to 5.5, and AE201 named the raw counts.
    """
    layer = node.layer
    try:
        if layer is None or list(layer.variables):
            return None
    except Exception:  # a layer whose variables can't be listed: not read
        return None
    copy = ctx.forward_model()
    if copy is None:
        return None
    try:
        twin = copy.get_layer(layer.name)
        if type(twin) is not type(layer) or list(twin.variables):
            return None
        x = kc.keras.ops.convert_to_tensor(values.astype(np.float32))
        try:
            out = twin(x, training=False)
        except TypeError:  # a call() without a training argument
            out = twin(x)
        out = np.asarray(kc.to_numpy(out), dtype=np.float64)
    except Exception:  # a layer that can't take these values alone: judge what reaches it as it is
        return None
    if out.ndim < 1 or len(out) != len(values) or not np.isfinite(out).all():
        return None
    return out


def _mapped(cls: str, layer: Any, values: np.ndarray) -> np.ndarray | None:
    """``values`` through a Rescaling or an adapted Normalization layer; None for any other layer."""
    try:
        if cls == "Rescaling":
            scale = np.asarray(kc.to_numpy(layer.scale) if not isinstance(layer.scale, (int, float)) else layer.scale, dtype=np.float64)
            offset = np.asarray(kc.to_numpy(layer.offset) if not isinstance(layer.offset, (int, float)) else layer.offset,
                                dtype=np.float64)
            return values * scale + offset
        if cls == "Normalization":
            mean = np.asarray(kc.to_numpy(layer.mean), dtype=np.float64)
            var = np.asarray(kc.to_numpy(layer.variance), dtype=np.float64)
            if getattr(layer, "invert", False):
                return values * np.sqrt(var) + mean
            return (values - mean) / np.maximum(np.sqrt(var), 1e-7)
    except Exception:  # a setting we can't read or broadcast: judge the data as given
        return None
    return None
