"""Is a layer computing with a frozen copy of another layer's weight?

AE301 (no-gradient), read from the model's layers alone. The tied-weights
autoencoder done in ``build()``::

    def build(self, input_shape):
        self.kernel_t = ops.transpose(self.tied_to.kernel)

takes the transpose *once*: on TensorFlow and JAX that is a constant
tensor holding the encoder's initial random kernel, not a view of the
variable. The decoder then multiplies by a frozen random matrix however
long it trains, and no gradient ever reaches it (round 20: 0.69x the
mean's error against 0.13x with the transpose taken in ``call``; a PCA
code of the same width reaches 0.01x).

A layer attribute that is a tensor or array (not a variable) and equals one
of the model's weights, or its transpose, value for value, is such a copy.
Only weights with at least two axes and varied values count (a zero bias
matches many things). PyTorch's transpose is a view that follows the
parameter, so a view is not reported. Nothing runs the model: the check
reads values.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from .. import keras_compat as kc
from .. import probes as probe
from ..context import Context
from ..report import Finding
from . import gradients as G


def _is_copy(value: Any) -> bool:
    """A tensor or array that is not a variable (nor a view of one)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return False
    if isinstance(value, np.ndarray):
        return value.ndim >= 2
    cls = type(value)
    if "Variable" in cls.__name__ or "Parameter" in cls.__name__ or hasattr(value, "assign"):
        return False
    if getattr(value, "_base", None) is not None:  # a PyTorch view: follows its parameter
        return False
    return len(getattr(value, "shape", ()) or ()) >= 2 and hasattr(value, "dtype") and not callable(value)


def _weights(model: Any) -> list[tuple[str, Any, np.ndarray]]:
    out = []
    for v in list(getattr(model, "weights", []) or []):
        if len(getattr(v, "shape", ()) or ()) < 2:
            continue
        try:
            arr = np.asarray(kc.to_numpy(v))
        except Exception:
            continue
        if arr.size and float(np.std(arr)) > 0:
            out.append((getattr(v, "path", None) or v.name, v, arr))
    return out


def frozen_copies(model: Any) -> list[dict[str, Any]]:
    """``{"layer", "attribute", "of", "transposed"}`` for each layer attribute that copies a weight of ``model``."""
    weights = _weights(model)
    found: list[dict[str, Any]] = []
    if not weights:
        return found
    for layer in probe.leaf_layers(model):
        for attr, value in list(vars(layer).items()):
            if not _is_copy(value):
                continue
            try:
                arr = np.asarray(kc.to_numpy(value))
            except Exception:
                continue
            for path, _var, w in weights:
                same = arr.shape == w.shape and np.array_equal(arr, w)
                flipped = arr.ndim == 2 and arr.shape == w.T.shape and np.array_equal(arr, w.T)
                if same or flipped:
                    found.append({"layer": layer.name, "attribute": attr, "of": path, "transposed": bool(flipped)})
                    break
                # The cell trained after taking the copy (round 45's al04 ends with fit): the weight moved on, the
                # copy did not, but it still follows the weight far beyond chance (|r| ~ 1/sqrt(size) for an
                # unrelated matrix of that shape).
                r_same = _correlation(arr, w) if arr.shape == w.shape else None
                r_flip = _correlation(arr, w.T) if arr.ndim == 2 and arr.shape == w.T.shape else None
                r = max((v for v in (r_same, r_flip) if v is not None), default=None)
                if r is not None and r >= SNAPSHOT_CORR and arr.size >= SNAPSHOT_SIZE:
                    found.append({"layer": layer.name, "attribute": attr, "of": path,
                                  "transposed": r_same is None or (r_flip is not None and r_flip > r_same),
                                  "correlation": round(float(r), 3)})
                    break
    return found


# A copy that the weight has left behind since (the cell trained after taking it) is still correlated with it at least
# this much, over at least this many values (a matrix of unrelated values: |r| about 1/sqrt(size)).
SNAPSHOT_CORR = 0.5
SNAPSHOT_SIZE = 64


def _correlation(a: np.ndarray, b: np.ndarray) -> float | None:
    """Pearson correlation of two equally shaped arrays' values; None where either is constant or not finite."""
    a = a.astype(np.float64).ravel()
    b = b.astype(np.float64).ravel()
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))) or a.std() == 0 or b.std() == 0:
        return None
    return float(np.corrcoef(a, b)[0, 1])


def _assignment_line(ctx: Context, attr: str) -> tuple[int | None, str | None]:
    """The cell line ``self.<attr> = ...`` where the copy is taken."""
    pattern = re.compile(rf"self\.{re.escape(attr)}\s*=(?!=)")
    for i, text in enumerate((ctx.source or "").splitlines(), start=1):
        if pattern.search(text.split("#", 1)[0]):
            return ctx.cell_line(i), text.strip()
    return None, None


def _scan(ctx: Context, scan: Any) -> tuple[list[dict[str, Any]], dict[str, Any], int | None, str | None] | None:
    """``scan(model)``'s findings, the first one, and the line to name (its ``self.<attr> =``, else its layer's);
    None when there is no model or nothing was found."""
    if ctx.model is None:
        return None
    try:
        found = scan(ctx.model)
    except Exception:  # a layer we can't read: say nothing rather than guess
        return None
    if not found:
        return None
    first = found[0]
    line, text = _assignment_line(ctx, first["attribute"])
    if line is None:
        line, text = G.locate(ctx, first["layer"])
    return found, first, line, text


def check_frozen_copies(ctx: Context) -> list[Finding]:
    """AE301: a layer computes with a copy of a weight taken once, which never trains."""
    found = _scan(ctx, frozen_copies)
    if found is None:
        return []
    copies, first, line, text = found
    which = ", ".join(f"{c['layer']}.{c['attribute']} ({'the transpose of ' if c['transposed'] else 'a copy of '}{c['of']})"
                      for c in copies)
    expr = "ops.transpose(self.tied_to.kernel)" if first["transposed"] else "self.tied_to.kernel"
    return [
        Finding(
            code="AE301",
            severity="error",
            title="A layer uses a frozen copy of a weight",
            message=(f"{which} {'is a tensor' if len(copies) == 1 else 'are tensors'} computed once from the weight's "
                     "initial value, not the weight itself: the layer multiplies by that random snapshot however long "
                     "it trains, no gradient reaches it, and it does not follow the weight as it learns."
                     + (f" The cell trained since: the weight has moved on and the copy has not (their values correlate "
                        f"{first['correlation']:.2f}, not 1)." if "correlation" in first else "")),
            line=line,
            source_line=text,
            layer=first["layer"],
            evidence={"copies": copies},
            # Comments only: the names are the user's own layer's (the fix text is localised otherwise).
            fix=("# read the weight inside call(), on every step, instead of keeping a copy from build():\n"
                 f"#     return self.activation(ops.matmul(inputs, {expr}) + self.bias)"),
        )
    ]


def constant_kernels(model: Any) -> list[dict[str, Any]]:
    """``{"layer", "attribute", "shape"}`` for each layer that trains a bias of its own but keeps its kernel as a
    plain tensor attribute: a matrix (or conv kernel) whose last axis is the bias's size, with varied values.

    Round 35: ``self.w = ops.convert_to_tensor(np.random.normal(...))`` in a hand-written Dense layer's
    ``__init__`` (where ``self.add_weight`` was meant) is a constant: only the biases train. A layer with no
    trainable weight of its own (a fixed random projection, a positional table) is not reported.
    """
    found: list[dict[str, Any]] = []
    for layer in probe.leaf_layers(model):
        own = list(getattr(layer, "trainable_weights", []) or [])
        if not own or any(len(getattr(w, "shape", ()) or ()) >= 2 for w in own):
            continue
        sizes = {int(w.shape[0]) for w in own if len(getattr(w, "shape", ()) or ()) == 1}
        for attr, value in list(vars(layer).items()):
            if attr.startswith("_") or not _is_copy(value) or not _multiplies_by(layer, attr):
                continue
            shape = tuple(int(d) for d in getattr(value, "shape", ()))
            if not shape or shape[-1] not in sizes:
                continue
            try:
                if float(np.std(np.asarray(kc.to_numpy(value)))) == 0.0:
                    continue
            except Exception:
                continue
            found.append({"layer": layer.name, "attribute": attr, "shape": list(shape)})
            break
    return found


_PRODUCTS = ("matmul", "dot", "tensordot", "einsum", "conv", "conv1d", "conv2d", "conv3d", "conv_transpose")


def _multiplies_by(layer: Any, attr: str) -> bool:
    """``layer``'s ``call`` reads ``self.<attr>`` and takes a product (``ops.matmul``, ``@``, a convolution): the
    attribute is used as a kernel, not as a table added or looked up."""
    import dis
    import inspect

    fn = getattr(type(layer), "call", None)
    code = getattr(fn, "__code__", None)
    if code is None or attr not in code.co_names:
        return False
    if any(p in code.co_names for p in _PRODUCTS):
        return True
    try:
        return any(i.opname in ("BINARY_MATRIX_MULTIPLY", "BINARY_OP") and "@" in str(i.argrepr)
                   for i in dis.get_instructions(fn)) or "@" in inspect.getsource(fn)
    except (OSError, TypeError):
        return False


def check_constant_kernels(ctx: Context) -> list[Finding]:
    """AE301: layers that train only their biases, their kernels being tensors that no gradient can change."""
    found = _scan(ctx, constant_kernels)
    if found is None:
        return []
    consts, first, line, text = found
    which = ", ".join(f"{c['layer']}.{c['attribute']} {tuple(c['shape'])}" for c in consts)
    return [Finding(
        code="AE301", severity="error", title="A layer's kernel is a constant",
        message=(f"{which}: {'this layer trains' if len(consts) == 1 else 'these layers train'} a bias made with "
                 "add_weight, but the kernel is a plain tensor attribute, not a weight: it is not in "
                 "trainable_weights, no gradient reaches it, and only the biases learn. "
                 "ops.convert_to_tensor / a NumPy array in __init__ makes a constant."),
        line=line, source_line=text, layer=first["layer"],
        evidence={"constants": consts},
        fix=("# make the kernel a weight, in build():\n"
             f"#     self.{first['attribute']} = self.add_weight(shape=(input_dim, units), initializer='he_normal')"),
    )]


CHECKS = [check_frozen_copies, check_constant_kernels]
