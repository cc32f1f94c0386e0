"""A model the cell feeds several arrays, probed through one packed array.

A conditional autoencoder trains as ``cae.fit([x_train, labels], x_train)``:
two inputs, one reconstruction. The probes feed a model one array (they split,
subsample and batch it by rows), so such a model used to be "probes skipped",
though ``fit`` trains it. Here the arrays the cell's fit passes are read from
the namespace (plain names only: nothing is evaluated), flattened per sample
and joined side by side into one array; a wrapper model takes that array,
cuts it back into the inputs (:class:`Unpack`, no weights) and calls a copy of
the user's model on them. The probes train the wrapper with the user's
compiled loss, which trains the copy exactly as ``fit`` would; the user's
model is never called.

Models with their own ``train_step`` are not wrapped (the wrapper's step
would be Keras' default, not theirs): their probe session trains the model
(or its copy) itself, cutting each packed batch back into the inputs
(:func:`splitter`) just before it hands the batch to their step, in the
structure the cell's fit gave.
"""

from __future__ import annotations

import ast
from typing import Any

import numpy as np

from .. import keras_compat as kc
from ..fit_calls import argument, fit_calls

keras = kc.keras


class Unpack(keras.layers.Layer):
    """Cut a packed ``(batch, sum of sizes)`` array back into the model's inputs, each in its own shape."""

    def __init__(self, shapes: list[tuple[int, ...]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.shapes = [tuple(int(d) for d in s) for s in shapes]

    def call(self, packed: Any) -> list[Any]:
        out, start = [], 0
        for shape in self.shapes:
            size = int(np.prod(shape)) if shape else 1
            part = packed[:, start:start + size]
            out.append(keras.ops.reshape(part, (-1, *shape)))
            start += size
        return out

    def compute_output_spec(self, packed: Any) -> list[Any]:
        return [keras.KerasTensor((packed.shape[0], *s), dtype=packed.dtype) for s in self.shapes]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "shapes": [list(s) for s in self.shapes]}


def input_keys(model: Any) -> list[Any]:
    """For each of ``model.inputs`` in order, the key a dict feed uses for it: the key of a model built on a dict
    of inputs (``keras.Model({"spectrum": a, "label": b}, ...)``), else the input's name."""
    inputs = list(getattr(model, "inputs", None) or [])
    struct = getattr(model, "_inputs_struct", None)
    if isinstance(struct, dict):
        keys = [next((k for k, v in struct.items() if v is t), None) for t in inputs]
        if None not in keys:
            return keys
    return [getattr(t, "name", None) for t in inputs]


def fed_arrays(source: str | None, model_name: str | None, namespace: dict[str, Any],
               model: Any) -> tuple[list[np.ndarray], list[str], Any] | None:
    """``(arrays in the model's input order, their names, the fit's y or None)`` for the first ``fit`` that feeds
    several inputs as plain names; None when the feed can't be read without evaluating code."""
    inputs = list(getattr(model, "inputs", None) or [])
    for call in fit_calls(source, model_name):
        x = argument(call, 0, "x")
        bound = namespace.get(x.id) if isinstance(x, ast.Name) else None
        if isinstance(bound, (list, tuple, dict)) and len(bound) >= 2:
            # A name the cell bound to the inputs (``inputs = [images, labels]``, then ``fit(inputs, images)``).
            keys = list(bound) if isinstance(bound, dict) else list(range(len(bound)))
            if isinstance(bound, dict) and sorted(map(str, keys)) != sorted(map(str, input_keys(model))):
                return None
            order = input_keys(model) if isinstance(bound, dict) else keys
            values = [bound[k] for k in order]
            named = [f"{x.id}[{k!r}]" for k in order]
            arrays = _numeric(values, len(inputs))
            if arrays is None:
                return None
            y = argument(call, 1, "y")
            return arrays, named, namespace.get(y.id) if isinstance(y, ast.Name) else None
        if isinstance(x, (ast.List, ast.Tuple)):
            names = [e.id if isinstance(e, ast.Name) else None for e in x.elts]
        elif isinstance(x, ast.Dict):
            keys = [k.value if isinstance(k, ast.Constant) else None for k in x.keys]
            by_key = {k: (v.id if isinstance(v, ast.Name) else None) for k, v in zip(keys, x.values, strict=True)}
            order = input_keys(model)
            if sorted(map(str, by_key)) != sorted(map(str, order)):
                return None
            names = [by_key[k] for k in order]
        else:
            continue
        if len(names) < 2 or any(n is None or n not in namespace for n in names):
            return None
        arrays = _numeric([namespace[n] for n in names], len(inputs))  # type: ignore[index]
        if arrays is None:
            return None
        y = argument(call, 1, "y")
        target = namespace.get(y.id) if isinstance(y, ast.Name) else None
        return arrays, [n for n in names if n], target  # type: ignore[misc]
    return None


def _numeric(values: list[Any], inputs: int) -> list[np.ndarray] | None:
    """``values`` as numeric arrays of one length, one per model input (``inputs``: how many the model declares,
    0 for a subclassed model that declares none); None when they are not."""
    if len(values) < 2 or (inputs and len(values) != inputs):
        return None
    try:
        arrays = [np.asarray(v) for v in values]
    except Exception:  # an object numpy can't read: not a feed the probes can pack
        return None
    if any(a.ndim < 1 or a.dtype.kind not in "biuf" or len(a) != len(arrays[0]) for a in arrays):
        return None
    return arrays


def pack(arrays: list[np.ndarray]) -> np.ndarray:
    """The arrays flattened per sample and joined side by side (float32)."""
    return np.concatenate([a.reshape(len(a), -1).astype("float32") for a in arrays], axis=1)


def splitter(arrays: list[np.ndarray], keys: list[Any] | None = None) -> Any:
    """A function that cuts a packed batch (:func:`pack` of ``arrays``) back into the arrays' shapes and dtypes: a
    list in ``arrays``' order, or a dict under ``keys`` when given (a dict feed)."""
    shapes = [tuple(a.shape[1:]) for a in arrays]
    dtypes = [a.dtype if a.dtype.kind in "biu" else np.dtype("float32") for a in arrays]
    sizes = [int(np.prod(sh)) if sh else 1 for sh in shapes]

    def split(packed: np.ndarray) -> Any:
        packed = np.asarray(packed)
        out, start = [], 0
        for shape, dtype, size in zip(shapes, dtypes, sizes, strict=True):
            out.append(packed[:, start:start + size].reshape(len(packed), *shape).astype(dtype))
            start += size
        return dict(zip(keys, out, strict=True)) if keys is not None else out

    return split


def wrap(copy: Any, arrays: list[np.ndarray]) -> Any:
    """A one-input model: the packed array -> :class:`Unpack` -> ``copy`` (a copy of the user's model)."""
    shapes = []
    # A subclassed model has no `inputs` (round 83's ha05, a conditional VAE): each array's own shape.
    model_inputs = getattr(copy, "inputs", None) or [None] * len(arrays)
    for a, t in zip(arrays, model_inputs, strict=True):
        want = tuple(getattr(t, "shape", ())[1:])
        # The model's own input shape when it is known and holds as many values (a (n,) label array fed to an
        # Input(shape=(1,)), as fit accepts); else the array's.
        fits = all(isinstance(d, int) for d in want) and int(np.prod(want)) == int(np.prod(a.shape[1:]))
        shapes.append(want if fits else tuple(a.shape[1:]))
    total = int(sum(int(np.prod(s)) if s else 1 for s in shapes))
    packed = keras.Input(shape=(total,), name="packed_inputs")
    parts = Unpack(shapes, name="unpack_inputs")(packed)
    if isinstance(getattr(copy, "_inputs_struct", None), dict):
        # A model built on a dict of inputs takes a dict, not a list (round 59's cf02).
        parts = dict(zip(input_keys(copy), parts, strict=True))
    return keras.Model(packed, copy(parts), name=f"{copy.name}_packed")
