"""Does a layer compute with a variable that Keras does not track?

AE301 (no-gradient), read from the model's layers alone. The TensorFlow
guide's ``Linear`` layer, written for ``tf.keras``::

    def __init__(self, units=32, input_dim=32):
        super().__init__()
        self.w = tf.Variable(w_init(shape=(input_dim, units)), trainable=True)

makes a raw ``tf.Variable``. Keras 3 tracks only its own variables (made with
``self.add_weight`` or ``keras.Variable``): the raw one is not in the layer's
``weights``, nor in the model's ``trainable_weights``, so ``fit`` never
updates it and it is not saved. The layer keeps its random initial values
however long it trains (round 40: a decoder's output layer; the loss crept
down to 0.94x the mean's error through the layers before it). A
``torch.nn.Parameter`` set on a layer under the PyTorch backend is the same
fault.

Reported: an attribute of a layer (or of a subclassed model) that is a
trainable backend variable with at least one axis, is not the value of any
of the model's Keras variables, and is read by one of the class's methods
other than ``__init__``/``build``. A scalar (a KL weight a callback assigns)
is left alone. Nothing runs the model.
"""

from __future__ import annotations

import re
from typing import Any

from .. import probes as probe
from ..context import Context
from ..report import Finding
from . import gradients as G


def _raw_trainable(value: Any) -> bool:
    """A backend variable (tf.Variable, torch Parameter) that would train, with at least one axis."""
    cls = type(value)
    module = getattr(cls, "__module__", "") or ""
    if module.startswith("keras"):
        return False  # Keras' own Variable: tracked when set on a layer
    if module.startswith("tensorflow"):
        is_var = "Variable" in cls.__name__ and hasattr(value, "assign")
        trains = bool(getattr(value, "trainable", False))
    elif module.startswith("torch"):
        is_var = cls.__name__ == "Parameter"
        trains = bool(getattr(value, "requires_grad", False))
    else:
        return False
    return is_var and trains and len(tuple(getattr(value, "shape", ()) or ())) >= 1


def _tracked_ids(model: Any) -> set[int]:
    """``id`` of every Keras variable of ``model`` and of the backend value it wraps."""
    ids: set[int] = set()
    for v in list(getattr(model, "weights", []) or []):
        ids.add(id(v))
        for attr in ("value", "_value"):
            try:
                inner = getattr(v, attr, None)
            except Exception:  # an unbuilt variable: nothing to wrap
                inner = None
            if inner is not None:
                ids.add(id(inner))
    return ids


def _read_outside_init(obj: Any, attr: str) -> bool:
    """Some method of ``obj``'s class other than ``__init__``/``build`` reads ``self.<attr>``."""
    for klass in type(obj).__mro__:
        if (getattr(klass, "__module__", "") or "").startswith(("keras", "torch", "tensorflow")):
            continue
        for name, fn in vars(klass).items():
            if name in ("__init__", "build"):
                continue
            code = getattr(fn, "__code__", None)
            if code is not None and attr in code.co_names:
                return True
    return False


def _owners(model: Any) -> list[Any]:
    """The model, its nested models and its leaf layers: every object that may hold a variable."""
    out: list[Any] = [model]
    seen = {id(model)}

    def walk(m: Any) -> None:
        for layer in getattr(m, "layers", []) or []:
            if id(layer) not in seen:
                seen.add(id(layer))
                out.append(layer)
                walk(layer)

    walk(model)
    for layer in probe.leaf_layers(model):
        if id(layer) not in seen:
            seen.add(id(layer))
            out.append(layer)
    return out


def untracked_variables(model: Any) -> list[dict[str, Any]]:
    """``{"layer", "attribute", "shape", "kind"}`` for each trainable backend variable a layer holds and reads
    that is not one of ``model``'s Keras variables."""
    tracked = _tracked_ids(model)
    found: list[dict[str, Any]] = []
    for owner in _owners(model):
        attrs = dict(vars(owner))
        # torch.nn.Module keeps the Parameters set on it in _parameters, not in __dict__.
        params = attrs.get("_parameters")
        if isinstance(params, dict):
            attrs.update({k: v for k, v in params.items() if k not in attrs})
        for attr, value in attrs.items():
            items = list(value) if isinstance(value, (list, tuple)) else [value]
            for item in items:
                if not _raw_trainable(item) or id(item) in tracked:
                    continue
                if not _read_outside_init(owner, attr):
                    continue
                found.append({"layer": getattr(owner, "name", type(owner).__name__), "attribute": attr,
                              "shape": [int(d) for d in item.shape],
                              "kind": "torch.nn.Parameter" if type(item).__name__ == "Parameter" else "tf.Variable"})
                break
    return found


def _creation_line(ctx: Context, attr: str) -> tuple[int | None, str | None]:
    """The cell line ``self.<attr> = tf.Variable(...)`` (or the first line of a multi-line one)."""
    pattern = re.compile(rf"self\.{re.escape(attr)}\s*=(?!=)")
    for i, text in enumerate((ctx.source or "").splitlines(), start=1):
        code = text.split("#", 1)[0]
        if pattern.search(code):
            return ctx.cell_line(i), text.strip()
    return None, None


def check_untracked(ctx: Context) -> list[Finding]:
    """AE301: a layer computes with a raw backend variable that Keras never trains."""
    if ctx.model is None:
        return []
    try:
        if not len(ctx.model.trainable_variables):
            return []  # nothing trains at all: gradients.py's "Nothing in the model can learn" names the raw ones
        found = untracked_variables(ctx.model)
    except Exception:  # a layer we can't read: say nothing rather than guess
        return []
    if not found:
        return []
    first = found[0]
    line, text = _creation_line(ctx, first["attribute"])
    if line is None:
        line, text = G.locate(ctx, first["layer"])
    which = ", ".join(f"{f['layer']}.{f['attribute']} {tuple(f['shape'])}" for f in found)
    kinds = sorted({f["kind"] for f in found})
    ctx.traces["untracked_variables"] = found
    return [Finding(
        code="AE301", severity="error", title="A layer's weight is not tracked by Keras",
        message=(f"{which} {'is a raw ' if len(found) == 1 else 'are raw '}{' / '.join(kinds)}, not a Keras weight. "
                 "Keras 3 tracks only the variables made with self.add_weight (or keras.Variable): "
                 f"{'this one is' if len(found) == 1 else 'these are'} not in the model's trainable_weights, so fit "
                 "never updates them (no gradient is applied) and they are not saved. The layer keeps its random "
                 "initial values however long the model trains."),
        line=line, source_line=text, layer=first["layer"],
        evidence={"untracked": found},
        fix=("# make it a Keras weight (in __init__ or build):\n"
             f"#     self.{first['attribute']} = self.add_weight(shape={tuple(first['shape'])}, "
             "initializer='random_normal', trainable=True)"),
    )]


CHECKS = [check_untracked]
