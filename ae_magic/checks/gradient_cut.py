"""Where the gradient stops: the weightless layer just after the layers AE301 finds without a gradient.

AE301 names the layers that get no gradient; the fix goes where the path is cut, usually a ``Lambda`` (or a
layer of the user's own) that rounds, casts, takes an argmax or calls ``stop_gradient`` right after them
(round 60's ci10: ``Lambda(lambda t: ops.round(t))`` after a conditional AE's code). A one-input model gets
that from AE111's forward pass; a several-input model does not, so the graph is read here instead: from the
cut-off layers forward, through Keras' own weightless layers that pass a gradient on (Reshape, Flatten,
Concatenate, ...), to the first layer that may not. Nothing runs the model.
"""

from __future__ import annotations

from typing import Any

from .. import keras_compat as kc

# Keras layers without weights that pass the gradient on: the cut lies beyond them.
PASS_THROUGH = frozenset({
    "Reshape", "Flatten", "Dropout", "GaussianNoise", "GaussianDropout", "AlphaDropout", "SpatialDropout1D",
    "SpatialDropout2D", "SpatialDropout3D", "Concatenate", "Add", "Subtract", "Multiply", "Average", "Maximum",
    "Minimum", "Dot", "RepeatVector", "Permute", "Cropping1D", "Cropping2D", "Cropping3D", "ZeroPadding1D",
    "ZeroPadding2D", "ZeroPadding3D", "UpSampling1D", "UpSampling2D", "UpSampling3D", "Identity", "Activation",
    "ReLU", "LeakyReLU", "ELU", "Softmax", "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D",
    "AveragePooling2D", "AveragePooling3D", "GlobalAveragePooling1D", "GlobalAveragePooling2D",
    "GlobalMaxPooling1D", "GlobalMaxPooling2D", "InputLayer",
})
# Keras layers that stop the gradient by what they compute (indices, bins).
STOPPERS = frozenset({"Discretization", "IntegerLookup", "StringLookup", "Hashing", "HashedCrossing",
                      "CategoryEncoding"})


def _consumers(layer: Any) -> list[Any]:
    out = []
    for node in getattr(layer, "_outbound_nodes", None) or []:
        op = getattr(node, "operation", None)
        if op is not None and op not in out:
            out.append(op)
    return out


def _may_cut(layer: Any) -> bool:
    """A weightless layer that may stop the gradient: a Lambda, a layer class of the user's, a stopper."""
    cls = type(layer).__name__
    if cls in STOPPERS:
        return True
    if getattr(layer, "weights", None):
        return False
    if cls == "Lambda":
        return True
    return not str(type(layer).__module__).startswith("keras") and cls not in PASS_THROUGH


def cut_after(model: Any, names: list[str]) -> Any:
    """The layer where the gradient of the layers ``names`` (no gradient at all) stops, or None.

    Walks forward from each of them through pass-through layers to the first that may cut; only a layer
    reached from the cut-off layers and outside them counts, so a frozen or dangling branch finds none.
    """
    try:
        by_name = {layer.name: layer for layer in [*model.layers, *kc.leaf_layers(model)]}
    except Exception:  # a model without a readable graph
        return None
    starts = [by_name[n] for n in names if n in by_name]
    seen: set[int] = {id(layer) for layer in starts}
    frontier = list(starts)
    for _ in range(32):  # a bounded walk: graphs have few weightless layers in a row
        nxt = []
        for layer in frontier:
            for op in _consumers(layer):
                if id(op) in seen or getattr(op, "name", None) in names:
                    continue
                seen.add(id(op))
                if _may_cut(op):
                    return op
                if type(op).__name__ in PASS_THROUGH:
                    nxt.append(op)
        if not nxt:
            return None
        frontier = nxt
    return None
