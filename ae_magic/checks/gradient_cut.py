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


# Ops with no gradient (or a zero one) with respect to their input, as a subclassed model's call() writes them.
_CUTTING_CALLS = frozenset({"round", "argmax", "argmin", "floor", "ceil", "sign", "stop_gradient", "greater",
                            "less", "greater_equal", "less_equal", "equal", "top_k"})


def _cuts(call: Any) -> bool:
    import ast

    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    if name in ("cast", "astype"):
        dtype = call.args[-1] if call.args else next((k.value for k in call.keywords if k.arg == "dtype"), None)
        text = ast.unparse(dtype) if dtype is not None else ""
        return "int" in text or "bool" in text
    return name in _CUTTING_CALLS


def cut_in_call(source: str | None, cls_name: str) -> int | None:
    """The line of the first op in ``cls_name.call`` (a class of the cell) that stops the gradient: a round,
    argmax, integer cast or ``stop_gradient`` applied to what the layers computed; None when there is none.

    Round 69's cz05: a subclassed Conv1D autoencoder with ``bits = ops.round(ops.sigmoid(logits))`` between its
    encoder and decoder; with no layer graph, the cut is read from the source. A straight-through estimator
    (``t + ops.stop_gradient(ops.round(t) - t)``) passes the gradient and is not a cut.
    """
    import ast

    try:
        tree = ast.parse(source or "")
    except SyntaxError:
        return None
    cls = next((n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == cls_name), None)
    call = next((n for n in (cls.body if cls else []) if isinstance(n, ast.FunctionDef) and n.name == "call"), None)
    if call is None:
        return None
    for stmt in ast.walk(call):
        if not isinstance(stmt, (ast.Assign, ast.Return, ast.AugAssign, ast.AnnAssign)) or stmt.value is None:
            continue
        value = stmt.value
        straight = isinstance(value, ast.BinOp) and isinstance(value.op, (ast.Add, ast.Sub)) and any(
            isinstance(side, ast.Call) and getattr(side.func, "attr", getattr(side.func, "id", "")) == "stop_gradient"
            for side in (value.left, value.right))
        if straight:
            continue
        if any(isinstance(n, ast.Call) and _cuts(n) for n in ast.walk(value)):
            return stmt.lineno
    return None


def batch_of_one_norm(model: Any, names: list[str], batch_size: int | None) -> Any:
    """The BatchNormalization layer, among or right after the layers ``names`` cut off, that normalises each
    feature over the batch axis alone (its input is ``(batch, features)``) while the batch holds one sample: in
    training it subtracts each sample from itself, so its output is ``beta`` for every input and nothing flows back.

    Round 89's nb10: ``Dense(latent_dim)``, ``BatchNormalization()``, ``Activation("relu")`` as the code of a conv
    autoencoder fitted with ``batch_size=1``: every layer before it got an exactly zero gradient, and AE301 named the
    first conv with the advice for dead units.
    """
    if batch_size != 1 or model is None:
        return None
    try:
        leaves = [ly for ly in model._flatten_layers(include_self=False, recursive=True) if not getattr(ly, "_layers", None)]
    except Exception:  # not a Keras 3 model
        return None
    cut = set(names)
    for layer in leaves:
        if type(layer).__name__ != "BatchNormalization":
            continue
        try:
            rank = len(layer.input.shape)
        except Exception:  # a layer of a nested model called twice, or never: its input is not one tensor
            continue
        if rank != 2:
            continue  # over images or sequences the positions still give each channel a spread
        if layer.name in cut or any(c.name in cut for c in _producers(layer)):
            return layer
    return None


def _producers(layer: Any) -> list[Any]:
    out = []
    for node in getattr(layer, "_inbound_nodes", None) or []:
        for t in getattr(node, "input_tensors", None) or []:
            hist = getattr(t, "_keras_history", None)
            op = getattr(hist, "operation", None) if hist is not None else None
            if op is not None and op not in out:
                out.append(op)
    return out
