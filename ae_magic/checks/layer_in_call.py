"""AE301 for a layer with weights created inside a subclassed model's (or layer's) ``call``.

``call`` runs on every batch: ``layers.Dense(n)(h)`` there makes a new,
randomly initialised layer each time, which is not tracked as one of the
model's weights, so no step ever trains it and the output passes through
fresh random weights on every call. Under ``fit``'s compiled step
TensorFlow refuses it ("tf.function only supports singleton tf.Variables
created on the first call"); the usual workaround, ``run_eagerly=True``,
makes the failure silent (round 44's ag02: the model ended at the mean's
error). Read from the cell's source; a layer kept on ``self`` (made once,
the lazy-build idiom) and layers without weights (``Flatten``,
``Concatenate``, ``Dropout``) are fine.
"""

from __future__ import annotations

import ast
from typing import Any

from ..context import Context
from ..report import Finding

# Keras layer classes that own weights (by name, or the prefix of a family: Conv1D, Conv2DTranspose, ...).
WEIGHTED = ("Dense", "EinsumDense", "Conv", "SeparableConv", "DepthwiseConv", "LSTM", "GRU", "SimpleRNN",
            "Bidirectional", "Embedding", "BatchNormalization", "LayerNormalization", "GroupNormalization",
            "MultiHeadAttention", "PReLU", "TimeDistributed")
_MODULES = ("layers", "keras.layers", "tf.keras.layers", "keras.src.layers")


def _layer_class(call: ast.Call, imported: set[str]) -> str | None:
    """The weighted Keras layer class a constructor call makes (``layers.Dense(...)``, ``Dense(...)`` imported
    from keras.layers), else None."""
    f = call.func
    if isinstance(f, ast.Attribute) and ast.unparse(f.value) in _MODULES:
        name = f.attr
    elif isinstance(f, ast.Name) and f.id in imported:
        name = f.id
    else:
        return None
    return name if any(name == w or name.startswith(w) for w in WEIGHTED) else None


def _imported_layers(tree: ast.AST) -> set[str]:
    """Names imported from a keras layers module (``from keras.layers import Dense``)."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").endswith("layers"):
            out.update(a.asname or a.name for a in node.names)
    return out


def _kept_on_self(call: ast.Call, parents: dict[int, ast.AST]) -> bool:
    """The new layer is assigned to an attribute (``self.head = layers.Dense(...)``): made once and tracked."""
    node: Any = call
    while id(node) in parents:
        parent = parents[id(node)]
        if isinstance(parent, (ast.Assign, ast.AnnAssign)):
            targets = parent.targets if isinstance(parent, ast.Assign) else [parent.target]
            return any(isinstance(t, ast.Attribute) for t in targets)
        if isinstance(parent, (ast.stmt,)):
            return False
        node = parent
    return False


def check_layer_in_call(ctx: Context) -> list[Finding]:
    """AE301 at the line of ``call`` that constructs a layer with weights on every call."""
    try:
        tree = ast.parse(ctx.source or "")
    except SyntaxError:
        return []
    imported = _imported_layers(tree)
    found: list[Finding] = []
    for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
        if not any(("Model" in ast.unparse(b) or "Layer" in ast.unparse(b)) for b in cls.bases):
            continue
        call_fn = next((f for f in cls.body if isinstance(f, ast.FunctionDef) and f.name == "call"), None)
        if call_fn is None:
            continue
        parents = {id(c): p for p in ast.walk(call_fn) for c in ast.iter_child_nodes(p)}
        for node in ast.walk(call_fn):
            if not isinstance(node, ast.Call):
                continue
            name = _layer_class(node, imported)
            if name is None or _kept_on_self(node, parents):
                continue
            line = ctx.cell_line(node.lineno)
            found.append(Finding(
                code="AE301", severity="error", title="A layer with weights is made anew on every call",
                message=(f"`{cls.name}.call` creates a `{name}` layer each time it runs: every batch passes through a "
                         "new layer with fresh random weights. The layer is not one of the model's tracked weights, "
                         "so no training step updates it, and whatever comes after it can't learn a stable mapping. "
                         "Under fit's compiled step TensorFlow refuses this (\"tf.function only supports singleton "
                         "tf.Variables created on the first call\"); run_eagerly=True only hides it."),
                line=line, source_line=ctx.line_text(node.lineno),
                evidence={"class": cls.name, "layer_class": name},
                fix=(f"# make the layer once, in __init__ (or build), and call it in call():\n"
                     f"#     self.out_layer = layers.{name}(...)   # in __init__\n"
                     "#     return self.out_layer(h)              # in call"),
            ))
            break  # one finding a class: the first such layer is where the fix starts
    return found


CHECKS: list = [check_layer_in_call]
