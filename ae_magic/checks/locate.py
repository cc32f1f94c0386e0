"""What the structure checks share: where a graph node is in the cell, how to
name it, the model's graph and output activation, and inputs and a copy of
the model for the checks that need a forward pass.

Checks never call the user's model: every forward pass runs on
``ctx.forward_model()``, a copy with the same weights (``forward_copy``).
"""

from __future__ import annotations

import ast
import dis
import re
from typing import Any

import numpy as np

from .. import keras_compat as kc
from ..context import Context
from ..graph import GNode, GraphInfo

# Layers that only move values around; they neither start nor break a run
# of saturating layers (AE107), nor hide the output's activation (AE108, AE203).
TRANSPARENT = {"Dropout", "Flatten", "Reshape", "MaxPooling2D", "MaxPooling1D", "AveragePooling2D",
               "UpSampling2D", "UpSampling1D", "GaussianNoise", "SpatialDropout2D", "Cropping2D",
               "ZeroPadding2D", "RepeatVector", "Permute", "GlobalAveragePooling2D", "Cropping1D", "Cropping3D",
               "ZeroPadding1D", "ZeroPadding3D", "UpSampling3D", "SpatialDropout1D", "SpatialDropout3D",
               "GaussianDropout", "AlphaDropout", "ActivityRegularization", "Identity"}

# What a Lambda that only reshapes may name: the modules and the shape ops (round 62's cm07 ends its Sequential
# with ``Lambda(lambda t: ops.squeeze(t, axis=-1))`` after the sigmoid layer, which the loss's check then read
# as a linear output).
_SHAPE_NAMES = {"ops", "keras", "K", "backend", "tf", "np", "jnp", "numpy", "torch", "squeeze", "expand_dims",
                "reshape", "transpose", "permute_dims", "moveaxis", "swapaxes", "flatten", "ravel", "shape", "math",
                "unsqueeze", "view", "permute", "identity"}
# Bytecode a shape-only lambda is made of: loads, calls, tuples and slices, no arithmetic.
_SHAPE_OPS = {"RESUME", "NOP", "CACHE", "PRECALL", "CALL", "CALL_KW", "CALL_FUNCTION", "CALL_FUNCTION_KW",
              "CALL_METHOD", "KW_NAMES", "PUSH_NULL", "COPY_FREE_VARS", "MAKE_CELL", "RETURN_VALUE", "RETURN_CONST",
              "BUILD_TUPLE", "BUILD_LIST", "BUILD_SLICE", "BINARY_SUBSCR", "BINARY_SLICE"}


def shape_only(node: GNode) -> bool:
    """Whether the layer of ``node`` only moves values around: a TRANSPARENT class, or a Lambda whose function
    calls nothing but shape ops (squeeze, expand_dims, reshape, transpose) and slices."""
    if node.cls in TRANSPARENT:
        return True
    fn = getattr(node.layer, "function", None) if node.cls == "Lambda" else None
    if getattr(fn, "__code__", None) is None:
        return False
    try:
        names = set(fn.__code__.co_names)
        ops = {ins.opname for ins in dis.get_instructions(fn)}
    except Exception:  # a callable object, a builtin: not read
        return False
    return names <= _SHAPE_NAMES and all(op.startswith("LOAD_") or op in _SHAPE_OPS for op in ops)


def loc(ctx: Context, node: GNode | None) -> tuple[int | None, str | None]:
    """``(cell line, source text)`` of the node, or ``(None, None)``."""
    if node is None or node.line is None:
        return None, None
    return ctx.cell_line(node.line), ctx.line_text(node.line)


def label(ctx: Context, node: GNode) -> str:
    """`encoded` (Dense 'dense_1', line 3) — the user's names first."""
    bits = [f"{node.cls} '{node.name}'"]
    if node.line is not None:
        bits.append(f"line {ctx.cell_line(node.line)}")
    head = f"`{node.variable}` " if node.variable else ""
    return f"{head}({', '.join(bits)})"


def graph_of(ctx: Context) -> GraphInfo | None:
    """The model's layer graph, or None (no model, subclassed, not analysed)."""
    g = ctx.graph
    return g if g is not None and g.has_graph else None


def trained_output_node(g: GraphInfo) -> GNode:
    """The output node the loss trains (the first unless a per-output loss trains another alone)."""
    return g.nodes[g.outputs[g.trained_output if g.trained_output < len(g.outputs) else 0]]


def output_activation(g: GraphInfo, node: GNode | None = None) -> tuple[str | None, GNode | None]:
    """The activation that produces the trained output (or output ``node``), looking through TRANSPARENT layers."""
    node = node if node is not None else trained_output_node(g)
    seen = set()
    while node is not None and node.id not in seen:
        seen.add(node.id)
        if node.activation is not None:
            return node.activation, node
        if node.parents and shape_only(node):
            node = g.nodes[node.parents[0]]
            continue
        return ("linear" if not node.is_input else None), node
    return None, None


def subclassed_output(ctx: Context) -> tuple[str | None, Any, tuple[int, ...] | None]:
    """For a model with no layer graph (subclassed): ``(activation, layer, output shape)`` of its output.

    The layer is the user's own layer object whose output the model returns,
    found with one forward pass of two data samples through
    ``ctx.forward_model()`` (a copy: the user's model never runs); its
    activation decides what range the reconstruction can reach (AE203) and
    whether it suits the loss (AE108), as the graph's output node does for a
    Functional model. ``(None, None, None)`` when there is no data, no copy,
    or no single layer that produced the output. Computed once per check.
    """
    if "subclassed_output" in ctx.cache:
        return ctx.cache["subclassed_output"]
    found: tuple[str | None, Any, tuple[int, ...] | None] = (None, None, None)
    ctx.cache["subclassed_output"] = found
    model, data = ctx.model, ctx.data
    if model is None or kc.model_kind(model) != "subclassed" or data is None or getattr(data, "ndim", 0) < 2:
        return found
    copy = ctx.forward_model()
    if copy is None or copy is model:
        found = _decoder_output(model)
        ctx.cache["subclassed_output"] = found
        return found

    # The copy is the same class built from the same constructor call, so its
    # leaf layers come in the same order as the user's (InputLayers aside: a
    # nested Sequential only gets one when it is built, and the copy is).
    mine, theirs = kc.leaf_layers(copy), kc.leaf_layers(model)
    if not mine or len(mine) != len(theirs) or any(type(a) is not type(b) for a, b in zip(mine, theirs, strict=True)):
        return found
    try:
        x = np.asarray(data[:2], dtype="float32")
        with kc.preserved_random_state(), kc.record_outputs({id(la): la for la in mine}) as seen:
            out = kc.to_numpy(copy(x, training=False))
        index = {id(la): k for k, la in enumerate(mine)}
        # The last leaf (in call order) whose output is the model's output.
        match = None
        for lid, outs in seen.items():
            val = outs[-1]
            if not isinstance(val, (list, tuple, dict)) and tuple(val.shape) == out.shape and np.array_equal(kc.to_numpy(val), out):
                match = index[lid]
        if match is None:
            return found
        if type(mine[match]).__name__ in TRANSPARENT and kc.activation_name(mine[match]) is None:
            # A shape-only last layer (the TF tutorial's decoder ends ``Dense(784, activation=...), Reshape(shape)``,
            # round 54's bq09): the activation is the one of the last layer before it whose values it passes on.
            flat = out.reshape(-1)
            for lid, outs in seen.items():
                val = outs[-1]
                if (not isinstance(val, (list, tuple, dict)) and index[lid] != match
                        and type(mine[index[lid]]).__name__ not in TRANSPARENT and int(np.prod(val.shape)) == flat.size
                        and np.array_equal(kc.to_numpy(val).reshape(-1), flat)):
                    match = index[lid]
        layer = theirs[match]
        found = (kc.activation_name(layer) or ("linear" if hasattr(layer, "activation") else None), layer, tuple(out.shape))
    except Exception:
        # The copy's call can't take one array (a conditional model's call unpacks [images, labels]): the
        # decoder's graph says it without one.
        found = _decoder_output(model)
    ctx.cache["subclassed_output"] = found
    return found


def _decoder_output(model: Any) -> tuple[str | None, Any, tuple[int, ...] | None]:
    """``(activation, layer, output shape)`` of the last layer of a subclassed model's ``decoder`` attribute when
    that is a Functional or Sequential model with one output, read from its graph (no forward pass: for a model
    that can't be copied, or whose call takes several inputs); ``(None, None, None)`` otherwise.

    Round 74's dk05: a conditional VAE (no get_config, ``call([images, labels])``) whose decoder ends in
    ``Conv2D(1, 3, activation="sigmoid")``, trained on images scaled into [-1, 1].
    """
    none: tuple[str | None, Any, tuple[int, ...] | None] = (None, None, None)
    dec = getattr(model, "decoder", None)
    if dec is None or kc.model_kind(dec) not in ("functional", "sequential"):
        return none
    try:
        outs = kc.graph_outputs(kc.inner_functional(dec))
        if len(outs) != 1:
            return none
        tensor, shape = outs[0], tuple(outs[0].shape)
        for _ in range(8):  # through shape-only layers (a Reshape after the last Dense)
            hist = kc.history(tensor)
            if hist is None:
                return none
            layer, node_index, _ = hist
            if type(layer).__name__ in TRANSPARENT and kc.activation_name(layer) is None:
                inputs = kc.node_input_tensors(layer, node_index)
                if len(inputs) != 1:
                    return none
                tensor = inputs[0]
                continue
            act = kc.activation_name(layer) or ("linear" if hasattr(layer, "activation") else None)
            return act, layer, shape
    except Exception:  # a graph this reading does not know: no activation rather than a wrong one
        return none
    return none


def layer_line(ctx: Context, layer: Any) -> tuple[int | None, str | None]:
    """``(cell line, source text)`` where ``layer`` was created (subclassed models: its ``self.x = ...`` line)."""
    line = ctx.creation_lines.get(id(layer)) if layer is not None else None
    if not line:
        return None, None
    line = ctx.wrapped_line(layer, line)
    return ctx.cell_line(line), ctx.line_text(line)


def created_within(ctx: Context, layer: Any, line: int) -> int:
    """The line that created ``layer`` when it lies inside the statement of ``line`` (its call), else ``line``.

    A Sequential's layers are called by the ``keras.Sequential([...])``
    statement, which spans many lines: the one that wrote the layer is the
    one to name. A layer created elsewhere (shared, or made before the
    statement that calls it) keeps its call line.
    """
    created = ctx.creation_lines.get(id(layer))
    if created and created > line and ctx.statement_end(line) >= created:
        line = created
    return ctx.wrapped_line(layer, line)


# Layers that only add noise while training (identity at inference).
NOISE_LAYERS = ("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
                "GaussianDropout", "AlphaDropout")


def trailing_noise(model: Any) -> list[Any]:
    """Training-only noise layers after the model's last layer with weights: they noise the reconstruction
    itself, so the loss compares a randomly zeroed or jittered output with the clean target."""
    from ..probes import leaf_layers

    try:
        layers = leaf_layers(model)
    except Exception:
        return []
    last = max((i for i, ly in enumerate(layers) if getattr(ly, "weights", None)), default=None)
    if last is None:
        return []
    return [ly for ly in layers[last + 1:] if type(ly).__name__ in NOISE_LAYERS
            and float(getattr(ly, "rate", getattr(ly, "stddev", 0.0)) or 0.0) > 0]


def noise_hint(noise: list[Any]) -> str:
    """Why trailing noise layers (:func:`trailing_noise`) hold the reconstruction back (a clause)."""
    names = ", ".join(f"{ly.name} ({type(ly).__name__}"
                      f"({float(getattr(ly, 'rate', getattr(ly, 'stddev', 0.0)) or 0.0):g}))" for ly in noise)
    return (f"{names} comes after the output layer: while training it noises the reconstruction itself, so the "
            "loss compares a randomly zeroed or jittered output with the clean target and is lowest for an output "
            "pulled toward zero and the mean, not toward the input")


NOISE_FIX = "# remove the Dropout/noise layer after the output layer: keep it between hidden layers, or on the input"


def probe_inputs(ctx: Context, n: int) -> np.ndarray | None:
    """``n`` inputs for a forward pass: spread-out samples of the data when it fits, else seeded noise."""
    m = ctx.model
    shape = kc.safe_input_shape(m)
    if shape is None:
        return None
    dims = [d if d is not None else 8 for d in shape[1:]]
    if ctx.data is not None and list(ctx.data.shape[1:]) == list(shape[1:]) and len(ctx.data) >= n and ctx.data.dtype.kind in "fiub":
        idx = np.linspace(0, len(ctx.data) - 1, n).astype(int)
        x = np.asarray(ctx.data[idx], dtype="float32")
        if x.size and np.isfinite(x).all() and float(np.ptp(x)) > 0:
            return x
    rng = np.random.default_rng(ctx.options.seed)
    return rng.standard_normal((n, *dims)).astype("float32")


def forward_copy(ctx: Context, skipped: str) -> Any:
    """``ctx.forward_model()``: the model to run forward passes on (never the user's).

    When the model can't be copied, None, and a note in ``ctx.notes`` that
    starts with ``skipped`` (e.g. "AE111 (output ignores input) not checked").
    """
    model = ctx.forward_model()
    if model is None:
        note = f"{skipped}: the model could not be copied for a forward pass (ae_magic never runs your own model)."
        if note not in ctx.notes:
            ctx.notes.append(note)
    return model


def assigned_at(ctx: Context, name: str | None) -> tuple[int | None, str | None]:
    """The cell line (as the user sees it) where the cell last bound ``name``, and its text."""
    line = ctx.assign_lines.get(name) if name else None
    if line is None:
        return None, None
    return ctx.cell_line(line), ctx.line_text(line)


# Calls that only give an array another shape (its values and scale stay): ``x = x.reshape(-1, 784)``.
_RESHAPES = {"reshape", "expand_dims", "squeeze", "transpose", "flatten", "ravel", "moveaxis", "swapaxes"}


def _reshapes(value: ast.AST, name: str) -> bool:
    """Whether ``value`` is ``name`` given another shape only (a reshape call, an indexing with None/slices)."""
    if isinstance(value, ast.Subscript):
        return isinstance(value.value, ast.Name) and value.value.id == name
    if not isinstance(value, ast.Call) or not isinstance(value.func, ast.Attribute) or value.func.attr not in _RESHAPES:
        return False
    receiver = value.func.value
    if isinstance(receiver, ast.Name) and receiver.id == name:
        return True  # x.reshape(...)
    first = value.args[0] if value.args else None
    return isinstance(first, ast.Name) and first.id == name  # np.reshape(x, ...)


def data_made_at(ctx: Context, name: str | None) -> tuple[int | None, str | None]:
    """:func:`assigned_at`, but past re-bindings that only reshape the array: where its values were made.

    ``x_train = x_raw.astype("float32")`` then ``x_train = x_train.reshape(-1, 784)`` (round 63's cn02): the
    missing ``/ 255`` goes on the first line, not on the reshape.
    """
    line, text = assigned_at(ctx, name)
    if line is None or not name:
        return line, text
    try:
        tree = ast.parse(ctx.source or "")
    except SyntaxError:
        return line, text
    binds = sorted((node for node in ast.walk(tree) if isinstance(node, ast.Assign) and len(node.targets) == 1
                    and isinstance(node.targets[0], ast.Name) and node.targets[0].id == name),
                   key=lambda node: node.lineno)
    if not binds or binds[-1].lineno != ctx.assign_lines.get(name):
        return line, text  # bound some other way last (a for loop, a tuple): keep that line
    k = len(binds) - 1
    while k > 0 and _reshapes(binds[k].value, name):
        k -= 1
    return ctx.cell_line(binds[k].lineno), ctx.line_text(binds[k].lineno)


def data_origin(ctx: Context, name: str | None) -> str | None:
    """The array ``name``'s values were selected from, when the cell last bound ``name`` as a split or slice of
    another array it made (``x_train, x_test = train_test_split(X)``, ``x_train = X[:800]``); else ``name``.

    Round 77's dq07: ``X = X.astype("float32")`` (digits 0-16), then ``X_train, X_test = train_test_split(X)``:
    the scaling the data needs goes where its values were made, on the cast line, not on the split.
    """
    tree = _tree(ctx) if name else None
    if tree is None:
        return name
    seen = {name}
    while True:
        src = _selected_from(tree, name, ctx.assign_lines.get(name))
        if src is None or src in seen or ctx.assign_lines.get(src) is None:
            return name
        seen.add(src)
        name = src


def _selected_from(tree: ast.AST, name: str | None, line: int | None) -> str | None:
    """The array the statement at ``line`` selects ``name``'s values from (a split, a slice), else None."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Assign) or node.lineno != line or len(node.targets) != 1:
            continue
        target, value = node.targets[0], node.value
        if isinstance(target, (ast.Tuple, ast.List)):
            names = [t.id if isinstance(t, ast.Name) else None for t in target.elts]
            if name not in names:
                return None
            if isinstance(value, (ast.Tuple, ast.List)) and len(value.elts) == len(names):
                value = value.elts[names.index(name)]
            elif isinstance(value, ast.Call):
                func = value.func.attr if isinstance(value.func, ast.Attribute) else getattr(value.func, "id", "")
                first = value.args[0] if value.args else None
                return first.id if func == "train_test_split" and isinstance(first, ast.Name) else None
        elif not (isinstance(target, ast.Name) and target.id == name):
            return None
        if isinstance(value, ast.Subscript) and isinstance(value.value, ast.Name) and value.value.id != name:
            return value.value.id
        return None
    return None


_ARITH = (ast.Div, ast.Mult, ast.Sub, ast.Add, ast.FloorDiv)


def _discarded(stmt: ast.AST, names: set[str]) -> str | None:
    """The name of ``names`` that ``stmt`` does arithmetic on while nothing keeps the result (``x / 255.0`` on a
    line of its own), else None."""
    if not isinstance(stmt, ast.Expr) or not isinstance(stmt.value, ast.BinOp) or not isinstance(stmt.value.op, _ARITH):
        return None
    return next((n.id for n in ast.walk(stmt.value) if isinstance(n, ast.Name) and n.id in names), None)


def _size_only(name: ast.Name, parent: dict[int, ast.AST]) -> bool:
    """``name`` is read only for its size: ``len(name)``, ``name.shape``, ``name.ndim``, ``name.size``."""
    up = parent.get(id(name))
    if isinstance(up, ast.Attribute) and up.attr in ("shape", "ndim", "size", "dtype"):
        return True
    return isinstance(up, ast.Call) and isinstance(up.func, ast.Name) and up.func.id == "len" and name in up.args


def ignored_argument(ctx: Context, name: str | None) -> tuple[int, str, str] | None:
    """``(source line, parameter, global)`` when the array ``name`` is made by calling a function of the cell that
    never reads the parameter it is given there and reads a global array of the cell instead, else None.

    Round 64's cp06 (keras.io's timeseries anomaly detector): ``create_sequences(values)`` slices the raw global
    ``readings`` instead of ``values``, so the z-scored series passed in is never used.
    """
    tree = _tree(ctx) if name else None
    if tree is None:
        return None
    funcs = {node.name: node for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
    binds = _binds(tree, name)
    for bind in binds:
        for call in (n for n in ast.walk(bind.value) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)):
            fn = funcs.get(call.func.id)
            if fn is None or not call.args:
                continue
            params = [a.arg for a in [*fn.args.posonlyargs, *fn.args.args]][: len(call.args)]
            loads = [n for n in ast.walk(fn) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)]
            parent = {id(child): node for node in ast.walk(fn) for child in ast.iter_child_nodes(node)}
            # Read for its values: not only its length or shape (``range(len(values) - n)`` reads no value).
            read = {n.id for n in loads if not _size_only(n, parent)}
            local = {n.id for n in ast.walk(fn) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
            unused = [p for p in params if p not in read]
            if len(unused) != 1:
                continue
            arrays = [n for n in loads if n.id not in local and n.id not in params
                      and hasattr(ctx.namespace.get(n.id), "__array__") and getattr(ctx.namespace[n.id], "ndim", 0) >= 1]
            if arrays:
                return arrays[0].lineno, unused[0], arrays[0].id
    return None


def _tree(ctx: Context) -> ast.Module | None:
    """The cell's source parsed, or None (IPython syntax the cell ran with)."""
    try:
        return ast.parse(ctx.source or "")
    except SyntaxError:
        return None


def _binds(tree: ast.AST, name: str | None) -> list[ast.Assign]:
    """Every plain ``name = ...`` statement of the tree, in no particular order."""
    return [node for node in ast.walk(tree) if isinstance(node, ast.Assign) and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name) and node.targets[0].id == name]


_STATISTICS = {"mean", "std", "var", "min", "max", "nanmean", "nanstd", "amin", "amax", "median"}


def whole_array_statistic(ctx: Context, name: str | None) -> tuple[int, str, str] | None:
    """``(source line, statistic's name, the call)`` when the array ``name`` is scaled by a statistic computed over
    the whole array (no ``axis``) instead of per feature, else None.

    Round 65's cr02: ``train_mean = X_train.mean()`` beside ``train_std = X_train.std(axis=0)``; the scaled
    channels keep their own offsets. Read only for a data finding about scale (the data's features are measured
    to be off); a global statistic on data that comes out well scaled is never looked at.
    """
    tree = _tree(ctx) if name else None
    if tree is None:
        return None
    assigns = [node for node in ast.walk(tree) if isinstance(node, ast.Assign) and len(node.targets) == 1
               and isinstance(node.targets[0], ast.Name)]
    for bind in (a for a in assigns if a.targets[0].id == name):
        used = [n.id for op in ast.walk(bind.value) if isinstance(op, ast.BinOp) and isinstance(op.op, (ast.Sub, ast.Div))
                for n in ast.walk(op.right) if isinstance(n, ast.Name)]
        for stat in dict.fromkeys(used):
            made = [a for a in assigns if a.targets[0].id == stat and a.lineno < bind.lineno]
            call = made[-1].value if made else None
            if not isinstance(call, ast.Call) or any(k.arg == "axis" for k in call.keywords):
                continue
            func = call.func
            if not isinstance(func, ast.Attribute) or func.attr not in _STATISTICS:
                continue
            module = isinstance(func.value, ast.Name) and func.value.id in ("np", "numpy", "jnp")
            if (module and len(call.args) == 1) or (not module and not call.args):
                return made[-1].lineno, stat, ast.unparse(call)
    return None


def discarded_scaling(ctx: Context, name: str | None) -> tuple[int, str] | None:
    """``(source line, array name)`` of a scaling of the data that throws its result away (the line 1-based in
    ``ctx.source``, the name the arithmetic reads), or None.

    Round 64's cp02 (keras.io's denoising tutorial re-typed): ``preprocess()`` computes
    ``array.astype("float32") / 255.0`` on a line of its own and returns ``array`` unscaled. The array is made
    by calling a function of the cell (its body's discarded arithmetic on a parameter), or the cell itself
    computes ``x / 255.0`` and keeps nothing (not its last line, which a notebook displays).
    """
    tree = _tree(ctx) if name else None
    if tree is None:
        return None
    binds = _binds(tree, name)
    funcs = {node.name: node for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
    for bind in binds:
        call = bind.value
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id in funcs:
            fn = funcs[call.func.id]
            params = {a.arg for a in [*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs]}
            hit = next((st for st in ast.walk(fn) if _discarded(st, params)), None)
            if hit is not None:
                return hit.lineno, str(_discarded(hit, params))
    names = {name} | {n.id for bind in binds for n in ast.walk(bind.value) if isinstance(n, ast.Name)}
    body = tree.body[:-1]  # the cell's last expression is displayed, not discarded
    hit = next((st for st in body if _discarded(st, names)), None)
    return (hit.lineno, str(_discarded(hit, names))) if hit is not None else None


_SCALER = re.compile(r"(Scaler|Normalizer|Transformer|Normalization)$")


def unapplied_scaler(ctx: Context, name: str | None) -> tuple[int, str, str] | None:
    """``(source line, scaler, how)``: a scaler object the cell fits on the data and never applies to it.

    Round 80's ea01 (Kaggle's credit-card fraud autoencoder): ``scaler.fit(X_train)`` on a line of its own and no
    ``scaler.transform`` anywhere, so the raw amounts go in (``how`` = "fit"); or ``scaler.fit_transform(X_train)``
    whose result nothing keeps (``how`` = "discarded"). The scaler is a variable bound to a class whose name ends in
    Scaler, Normalizer, Transformer or Normalization (sklearn's, Keras' ``Normalization``: ``adapt`` is its fit).
    """
    tree = _tree(ctx) if name else None
    if tree is None:
        return None
    scalers = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            f = node.value.func
            cls = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
            if _SCALER.search(cls or ""):
                scalers.update(t.id for t in node.targets if isinstance(t, ast.Name))
    if not scalers:
        return None

    def reads(call: ast.Call) -> bool:
        return any(isinstance(n, ast.Name) and n.id == name for a in call.args for n in ast.walk(a))

    applied = {n.func.value.id for n in ast.walk(tree)
               if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and isinstance(n.func.value, ast.Name)
               and n.func.value.id in scalers and n.func.attr in ("transform", "fit_transform")}
    # A Keras Normalization is applied by calling it (`normalizer(X)`, `normalizer(inputs)`) or by placing it in a
    # Sequential's list (round 82's ga02: adapted, then called on the arrays).
    applied |= {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
                and n.func.id in scalers}
    applied |= {e.id for n in ast.walk(tree) if isinstance(n, (ast.List, ast.Tuple))
                for e in n.elts if isinstance(e, ast.Name) and e.id in scalers}
    body = tree.body[:-1]  # the cell's last expression is displayed, not discarded
    for st in body:
        if not (isinstance(st, ast.Expr) and isinstance(st.value, ast.Call) and isinstance(st.value.func, ast.Attribute)
                and isinstance(st.value.func.value, ast.Name) and st.value.func.value.id in scalers and reads(st.value)):
            continue
        who, attr = st.value.func.value.id, st.value.func.attr
        if attr in ("fit", "adapt") and who not in applied:
            return st.lineno, who, "fit"
        if attr in ("fit_transform", "transform"):
            return st.lineno, who, "discarded"
    return None


def loss_line(ctx: Context) -> tuple[int | None, str | None]:
    """The cell line that sets the loss (``loss=`` first, else ``.compile(``), as the user sees it, and its text."""
    if not ctx.source:
        return None, None
    lines = ctx.source.splitlines()
    try:
        tree = ast.parse(ctx.source)
    except SyntaxError:
        tree = None
    if tree is not None:
        # The model's own compile call first, then any; its ``loss=`` keyword's line, else the call's. Text
        # matching would take `total_loss = ...` in a train_step for the loss argument.
        compiles = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                    and n.func.attr == "compile"]
        compiles.sort(key=lambda n: (not (isinstance(n.func.value, ast.Name) and n.func.value.id == ctx.model_name),
                                     n.lineno))
        for call in compiles[:1]:
            kw = next((k for k in call.keywords if k.arg == "loss"), None)
            at = kw.value.lineno if kw is not None else call.lineno
            return ctx.cell_line(at), lines[at - 1].strip()
    for pattern in ("loss=", ".compile("):
        for i, text in enumerate(lines, start=1):
            if pattern in text.replace(" ", "") and not text.lstrip().startswith("#"):
                return ctx.cell_line(i), text.strip()
    return None, None


def activity_regularizers(model: Any) -> dict[str, str]:
    """Layer name -> class name of its ``activity_regularizer``, for the model's layers that have one."""
    out: dict[str, str] = {}
    try:
        layers = list(model._flatten_layers(include_self=False)) if model is not None else []
    except Exception:
        layers = list(getattr(model, "layers", []) or [])
    for layer in layers:
        reg = getattr(layer, "activity_regularizer", None)
        if reg is not None:
            out[layer.name] = type(reg).__name__
    return out


def activity_penalties(ctx: Context, names: dict[str, Any]) -> dict[str, str]:
    """Dead layer name -> its activity regularizer as written (``L1(l1=1.0)``), for those of ``names`` that have one."""
    regs = activity_regularizers(ctx.model)
    out: dict[str, str] = {}
    try:
        layers = {ly.name: ly for ly in (ctx.model._flatten_layers(include_self=False) if ctx.model is not None else [])}
    except Exception:  # not a Keras 3 model (activity_regularizers found none either)
        layers = {}
    for name in names:
        if name in regs:
            try:
                cfg = layers[name].activity_regularizer.get_config()
                args = ", ".join(f"{k}={float(v):.3g}" for k, v in cfg.items() if isinstance(v, (int, float)))
            except Exception:
                args = ""
            out[name] = f"{regs[name]}({args})"
    return out


def loss_def_line(ctx: Context, name: str) -> tuple[int | None, str | None]:
    """The cell line of the ``return`` of the loss function ``name`` (else its ``def``), or of the ``call`` of the
    ``keras.losses.Loss`` subclass ``name``."""
    try:
        tree = ast.parse(ctx.source or "")
    except SyntaxError:
        return None, None
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == name:
            # A keras.losses.Loss subclass compiled as an instance: its name is the class's, the loss its call().
            node = next((f for f in node.body if isinstance(f, ast.FunctionDef) and f.name == "call"), node)
        if isinstance(node, ast.FunctionDef) and (node.name == name or node.name == "call"):
            if node.name == "call" and not _method_of(tree, node, name):
                continue
            rets = [n.lineno for n in ast.walk(node) if isinstance(n, ast.Return)]
            line = rets[-1] if rets else node.lineno
            return ctx.cell_line(line), ctx.line_text(line)
    return None, None


def _method_of(tree: ast.AST, fn: ast.FunctionDef, cls_name: str) -> bool:
    """``fn`` is defined in the body of the class ``cls_name``."""
    return any(isinstance(c, ast.ClassDef) and c.name == cls_name and fn in c.body for c in ast.walk(tree))


def loss_return_line(ctx: Context, name: str) -> tuple[int | None, str | None]:
    """The ``return`` of the loss function ``name``, else of the ``call`` of a ``keras.losses.Loss`` subclass in the
    cell (its instance's name is not its class's); (None, None) when neither is in the cell."""
    line, text = loss_def_line(ctx, name)
    if line is not None:
        return line, text
    try:
        tree = ast.parse(ctx.source or "")
    except SyntaxError:
        return None, None
    for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
        if not any("Loss" in ast.unparse(b) for b in cls.bases):
            continue
        call = next((f for f in cls.body if isinstance(f, ast.FunctionDef) and f.name == "call"), None)
        rets = [n.lineno for n in ast.walk(call) if isinstance(n, ast.Return)] if call is not None else []
        if rets:
            return ctx.cell_line(rets[-1]), ctx.line_text(rets[-1])
    return None, None


def keyword_line(ctx: Context, cell_line: int | None, keyword: str) -> tuple[int | None, str | None]:
    """``(cell line, text)`` of the ``keyword=`` argument of the call that starts at ``cell_line`` when it is
    written on a line of its own (``layers.Dense(16, activation="relu",`` / ``activity_regularizer=l1(1e-1))``);
    else ``(cell_line, its text)``. Round 80's eb04: the fix changes the regularizer's line."""
    raw = None if cell_line is None else cell_line - ctx.options.line_offset
    tree = _tree(ctx) if raw is not None else None
    if tree is not None:
        for call in ast.walk(tree):
            if isinstance(call, ast.Call) and call.lineno == raw:
                for kw in call.keywords:
                    if kw.arg == keyword and kw.value.lineno != raw:
                        return ctx.cell_line(kw.value.lineno), ctx.line_text(kw.value.lineno)
    return cell_line, (ctx.line_text(raw) if raw is not None else None)


def keyword_binding_line(ctx: Context, line: int | None, keyword: str) -> int | None:
    """The raw source line that sets ``keyword`` for the call at ``line``: the line of the name it is given
    (``activation=rnn_activation`` -> ``rnn_activation = "relu"``) when that is a plain name bound once before the
    call; else ``line`` itself.

    Round 71's de07: the fix changes ``rnn_activation``, not the LSTM call that reads it.
    """
    tree = _tree(ctx) if line is not None else None
    if tree is None:
        return line
    for call in ast.walk(tree):
        if not isinstance(call, ast.Call) or call.lineno != line:
            continue
        for kw in call.keywords:
            if kw.arg == keyword and isinstance(kw.value, ast.Name):
                binds = [b for b in _binds(tree, kw.value.id) if b.lineno < line]
                if len(binds) == 1:
                    return binds[0].lineno
    return line


# The keywords a regularizer's strength goes by (keras' own, and the names a hand-written one uses).
_STRENGTHS = ("l1", "l2", "weight", "beta", "strength", "lam", "lambda_", "alpha", "coef", "factor", "rate")


def weaker_binding(ctx: Context, raw: int | None) -> str | None:
    """The statement at raw source line ``raw`` (``kld_reg = KLDivergenceRegularizer(weight=5.0, target=0.005)``)
    with its strength, the first number given by a strength keyword (else the first positional number), a
    hundredth as large; None when it has no such number."""
    tree = _tree(ctx) if raw is not None else None
    if tree is None:
        return None
    stmt = next((n for n in ast.walk(tree) if isinstance(n, ast.Assign) and n.lineno == raw), None)
    call = stmt.value if stmt is not None and isinstance(stmt.value, ast.Call) else None
    if call is None:
        return None
    number = next((kw.value for kw in call.keywords if kw.arg in _STRENGTHS and isinstance(kw.value, ast.Constant)
                   and isinstance(kw.value.value, (int, float)) and not isinstance(kw.value.value, bool)), None)
    if number is None:
        number = next((a for a in call.args if isinstance(a, ast.Constant) and isinstance(a.value, (int, float))
                       and not isinstance(a.value, bool)), None)
    if number is None or not number.value:
        return None
    number.value = float(f"{number.value / 100:.2g}")
    return ast.unparse(stmt)


def spread_keyword(ctx: Context, line: int | None, keywords: tuple[str, ...]) -> int | None:
    """The source line of the dict that a layer call at ``line`` spreads (``**dense_kwargs``) and that sets one of
    ``keywords``, when the call does not set it itself; else None.

    Round 66's ct08: ``dense_kwargs = dict(activation="relu", kernel_initializer="zeros", ...)`` on a line of its
    own, spread into five Dense calls. The fix changes the dict, not the first call that reads it.
    """
    tree = _tree(ctx) if line is not None else None
    if tree is None:
        return None
    for call in ast.walk(tree):
        if not isinstance(call, ast.Call) or call.lineno != line:
            continue
        if any(kw.arg in keywords for kw in call.keywords):
            return None
        spread = [kw.value.id for kw in call.keywords if kw.arg is None and isinstance(kw.value, ast.Name)]
        for name in spread:
            binds = [b for b in _binds(tree, name) if b.lineno < line and _sets_key(b.value, keywords)]
            if binds:
                return max(b.lineno for b in binds)
    return None


def _sets_key(value: ast.AST, keywords: tuple[str, ...]) -> bool:
    """``dict(k=...)`` or ``{"k": ...}`` with one of ``keywords`` as a key."""
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "dict":
        return any(kw.arg in keywords for kw in value.keywords)
    if isinstance(value, ast.Dict):
        return any(isinstance(k, ast.Constant) and k.value in keywords for k in value.keys)
    return False


_CONSTANT_INITS = {"Constant", "Zeros", "Ones", "constant", "zeros", "ones"}


def _constant_initializer(value: ast.AST) -> bool:
    """``"zeros"``, ``keras.initializers.Constant(0.05)``, ``initializers.Zeros()``..."""
    if isinstance(value, ast.Constant):
        return value.value in _CONSTANT_INITS
    if isinstance(value, ast.Call):
        func = value.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
        return name in _CONSTANT_INITS
    return False


def initializer_line(ctx: Context, line: int | None) -> int | None:
    """The source line that sets a constant ``kernel_initializer`` for the layer called at ``line``, when that line
    does not say it itself: a name bound to the initializer (``INIT = keras.initializers.Constant(0.05)``) or a
    helper function that builds the layer with it; else None.

    Round 68's cy07: ``INIT`` was handed out by ``dense_block()`` to every Dense of the model; the fix changes
    ``INIT``, not the loop that calls the helper.
    """
    tree = _tree(ctx) if line is not None else None
    text = ctx.line_text(line) or ""
    # The line says it itself (``kernel_initializer="zeros"``), unless it gives a name bound elsewhere
    # (``kernel_initializer=init`` with ``init = keras.initializers.Zeros()`` above: round 75's dl05).
    if tree is None or ("initializer" in text and not re.search(r"initializer\s*=\s*[A-Za-z_]\w*\s*[,)]", text)):
        return None
    sites: list[int] = []
    for kw in (n for n in ast.walk(tree) if isinstance(n, ast.keyword) and n.arg == "kernel_initializer"):
        if isinstance(kw.value, ast.Name):
            binds = [b for b in _binds(tree, kw.value.id) if _constant_initializer(b.value)]
            sites += [max(b.lineno for b in binds)] if binds else []
        elif _constant_initializer(kw.value):
            sites.append(kw.value.lineno)
    return sites[0] if len(set(sites)) == 1 else None


def unscaled_return(ctx: Context, name: str | None) -> tuple[int, str, str] | None:
    """``(source line, returned parameter, the scaled name)`` when the array ``name`` is made by a function of the
    cell that computes a scaled copy of a parameter into a name it never reads, and returns the parameter itself;
    else None.

    Round 68's cy08: ``standardize(train, test)`` computes ``train_scaled = (train - mu) / sigma`` and ends with
    ``return train, test_scaled``, so the model trains on raw readings. The line is the ``return``.
    """
    tree = _tree(ctx) if name else None
    if tree is None:
        return None
    funcs = {node.name: node for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
    binds = [node for node in ast.walk(tree) if isinstance(node, ast.Assign) and len(node.targets) == 1
             and any(isinstance(t, ast.Name) and t.id == name for t in ast.walk(node.targets[0]))]
    for bind in binds:
        call = bind.value
        fn = funcs.get(call.func.id) if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) else None
        if fn is None:
            continue
        params = {a.arg for a in [*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs]}
        loaded = {n.id for n in ast.walk(fn) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        scaled = {}
        for st in ast.walk(fn):
            if (isinstance(st, ast.Assign) and len(st.targets) == 1 and isinstance(st.targets[0], ast.Name)
                    and st.targets[0].id not in loaded and isinstance(st.value, ast.BinOp)
                    and isinstance(st.value.op, _ARITH)):
                read = next((n.id for n in ast.walk(st.value) if isinstance(n, ast.Name) and n.id in params), None)
                if read is not None:
                    scaled[read] = st.targets[0].id
        for ret in (st for st in ast.walk(fn) if isinstance(st, ast.Return) and st.value is not None):
            parts = ret.value.elts if isinstance(ret.value, ast.Tuple) else [ret.value]
            bare = next((p.id for p in parts if isinstance(p, ast.Name) and p.id in scaled), None)
            if bare is not None:
                return ret.lineno, bare, scaled[bare]
    return None


def unscaled_cast(ctx: Context, name: str | None) -> int | None:
    """The source line inside a function of the cell that makes the array ``name`` where it casts its argument to
    floats (``raw.astype("float32")``) and does no arithmetic on it anywhere in the function, else None.

    Round 68's cx01: ``load_images(raw)`` returned ``raw.astype("float32")[..., None]``, 0-255 pixels; the
    division by 255 belongs on the cast line, not on the line that calls the helper.
    """
    tree = _tree(ctx) if name else None
    if tree is None:
        return None
    funcs = {node.name: node for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
    for bind in _binds(tree, name):
        call = bind.value
        fn = funcs.get(call.func.id) if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) else None
        if fn is None or any(isinstance(n, ast.BinOp) and isinstance(n.op, _ARITH) for n in ast.walk(fn)):
            continue
        params = {a.arg for a in fn.args.args}
        casts = [n for n in ast.walk(fn) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                 and n.func.attr == "astype" and isinstance(n.func.value, ast.Name) and n.func.value.id in params]
        if len(casts) == 1:
            return casts[0].lineno
    return None
