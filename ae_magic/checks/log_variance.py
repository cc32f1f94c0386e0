"""Can a VAE's log-variance head go below zero?

AE407 (posterior-collapse), read from the cell's source. ``z_log_var`` is a
logarithm: it must be free to go negative, because a posterior narrower than
the N(0, 1) prior has ``log_var < 0``. Written with
``activation="softplus"`` (as if it were a variance that must be
positive), ``relu``, ``sigmoid`` or ``exponential``, the head can never go
below 0: every posterior is at least as wide as the prior, the sample ``z``
is swamped by noise of standard deviation 1 or more, and the decoder can
read little from it (round 20: 0.45x the mean's error against 0.30x with a
linear head).

A head whose name says it is a standard deviation or variance *itself*
(``z_sigma``, ``z_var``) is right to be positive and is not reported: only
names with ``log`` in them (``z_log_var``, ``logvar``, ``log_sigma``).

The TensorFlow tutorial's CVAE makes one Dense of ``2 * latent_dim`` units and
splits it (``mean, logvar = tf.split(self.encoder(x), 2, axis=1)``, or
slices it). Then the head is whatever made the split tensor: a layer of the
cell (``h = layers.Dense(..., activation=...)(...)``), or a layer or
sub-model that the model or the cell holds (``self.encoder``: its last
layer's activation), read from the objects without running them (round 32:
``relu`` there held the reconstruction at the mean's error).
"""

from __future__ import annotations

import ast
import re
from typing import Any

from .. import keras_compat as kc
from ..context import Context
from ..report import Finding

# Activations whose output is never negative.
NON_NEGATIVE = {"softplus", "relu", "sigmoid", "exponential", "hard_sigmoid", "relu6", "softmax"}
_LOG_SCALE = re.compile(r"log_?(var|variance|sigma|std|scale|sd)", re.IGNORECASE)


def _target_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _activation(call: ast.Call) -> str | None:
    """The constant ``activation=`` of a layer constructor found in ``call`` (or the call it wraps)."""
    for node in ast.walk(call):
        if isinstance(node, ast.Call):
            for kw in node.keywords:
                if kw.arg == "activation" and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str):
                    return kw.value.value
    return None


def bounded_log_variance(source: str | None) -> tuple[int, str, str] | None:
    """``(line, name, activation)`` for the first log-scale head built with a non-negative activation."""
    try:
        tree = ast.parse(source or "")
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if not isinstance(node, ast.Assign) or not isinstance(node.value, ast.Call) or len(node.targets) != 1:
            continue
        name = _target_name(node.targets[0])
        if not name or not _LOG_SCALE.search(name):
            continue
        act = _activation(node.value)
        if act and act.lower() in NON_NEGATIVE:
            return node.lineno, name, act
    return None


def _split_source(value: ast.AST) -> ast.AST | None:
    """The tensor that ``value`` splits: ``split(t, ...)`` (ops/tf/np), or slices of one tensor ``t[..., :d], t[..., d:]``."""
    if isinstance(value, ast.Call) and ast.unparse(value.func).split(".")[-1] == "split" and value.args:
        return value.args[0]
    if isinstance(value, (ast.Tuple, ast.List)) and value.elts and all(isinstance(e, ast.Subscript) for e in value.elts):
        bases = {ast.unparse(e.value) for e in value.elts}  # type: ignore[attr-defined]
        return value.elts[0].value if len(bases) == 1 else None  # type: ignore[attr-defined]
    return None


def _object_activation(obj: Any) -> tuple[str | None, Any]:
    """The activation of what ``obj`` returns (a layer's own, or a model's last layer's), and that layer."""
    if obj is None:
        return None, None
    try:
        if isinstance(obj, kc.keras.Model):
            leaves = [la for la in kc.leaf_layers(obj) if hasattr(la, "activation")]
            obj = leaves[-1] if leaves else None
        if isinstance(obj, kc.keras.layers.Layer):
            return kc.activation_name(obj), obj
    except Exception:  # an object we can't read is no evidence
        pass
    return None, None


def _producer_activation(ctx: Context, tree: ast.AST, src: ast.AST) -> tuple[str | None, Any, int | None]:
    """``(activation, layer, line)`` of whatever made the tensor ``src``: a call of a layer/sub-model the model or
    the cell holds (``self.encoder(x)``, ``encoder(x)``), or a name the cell assigned from a layer call. ``layer``
    is the layer object when one was read, ``line`` the cell line of the layer's constructor when the AST has it."""
    if isinstance(src, ast.Call):
        fn = src.func
        if isinstance(fn, ast.Call):  # layers.Dense(n, activation=...)(h) in place
            return _activation(fn), None, fn.lineno
        if isinstance(fn, ast.Attribute) and isinstance(fn.value, ast.Name) and fn.value.id == "self":
            return (*_object_activation(getattr(ctx.model, fn.attr, None)), None)
        if isinstance(fn, ast.Name):
            return (*_object_activation(ctx.namespace.get(fn.id) if ctx.namespace else None), None)
        return None, None, None
    if isinstance(src, ast.Name):
        for node in ast.walk(tree):
            if (isinstance(node, ast.Assign) and len(node.targets) == 1 and _target_name(node.targets[0]) == src.id
                    and isinstance(node.value, ast.Call)):
                return _producer_activation(ctx, tree, node.value)
    return None, None, None


def split_log_variance(ctx: Context) -> dict[str, Any] | None:
    """Where a log-scale name is split off a tensor that a non-negative activation made: the split's line, the
    name, the activation, the split tensor's source text and the producing layer's line (None when unknown)."""
    try:
        tree = ast.parse(ctx.source or "")
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if not isinstance(node, ast.Assign) or len(node.targets) != 1 or not isinstance(node.targets[0], (ast.Tuple, ast.List)):
            continue
        names = [_target_name(t) for t in node.targets[0].elts]
        name = next((n for n in names if n and _LOG_SCALE.search(n)), None)
        src = _split_source(node.value) if name else None
        if src is None:
            continue
        act, layer, line = _producer_activation(ctx, tree, src)
        if act and act.lower() in NON_NEGATIVE:
            if line is None and layer is not None:
                line = ctx.creation_lines.get(id(layer))
            return {"split_line": node.lineno, "name": name, "activation": act, "tensor": ast.unparse(src),
                    "layer_line": line}
    return None


def check_log_variance_head(ctx: Context) -> list[Finding]:
    """AE407: a VAE's log-variance head whose activation keeps it at or above 0 (posteriors at least as wide as the prior)."""
    hit = bounded_log_variance(ctx.source)
    split = None if hit is not None else split_log_variance(ctx)
    if hit is None and split is None:
        return []
    if split is not None:
        # Named at the layer that has the activation (the fix goes there); the split is in the message.
        raw = split["layer_line"] or split["split_line"]
        name, act = split["name"], split["activation"]
        head = (f"`{name}` is a log-variance split off `{split['tensor']}` (line {ctx.cell_line(split['split_line'])}), "
                f"whose last layer uses activation='{act}'")
        fix = (f"# the layer whose output is split into the mean and `{name}` must be linear: a log-variance (and a mean)\n"
               "# may be any real number, e.g. layers.Dense(latent_dim + latent_dim)  # no activation")
    else:
        raw, name, act = hit
        head = f"`{name}` is a log-variance, but its layer uses activation='{act}'"
        # A comment: the line's names are the cell's own.
        fix = f"# a linear head: a log-variance may be any real number\n#   {name} = layers.Dense(latent_dim)(...)  # no activation"
    line = ctx.cell_line(raw)
    return [
        Finding(
            code="AE407",
            severity="warning",
            title="The log-variance can't go below zero",
            message=(f"{head}, which never goes below 0. "
                     "A posterior narrower than the N(0, 1) prior needs a negative log-variance, so every posterior "
                     "stays at least as wide as the prior: z is swamped by sampling noise of standard deviation 1 or "
                     "more, and the decoder can read little of the input from it."),
            line=line,
            source_line=ctx.line_text(raw) if line is not None else None,
            evidence={"head": name, "activation": act, **({"split_from": split["tensor"]} if split else {})},
            fix=fix,
        )
    ]


CHECKS = [check_log_variance_head]
