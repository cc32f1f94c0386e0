"""Does the model have to compress?

AE104 (no-compression): the narrowest representation is at least as wide as
the input, so the model can learn the identity.
"""

from __future__ import annotations

import ast
import math
import re

from .. import keras_compat as kc
from ..context import Context
from ..graph import GNode, GraphInfo
from ..report import Finding
from .locate import assigned_at, graph_of, label, loc
from .preprocess import PASS_THROUGH
from .wiring import narrow_dangling

# Layers that hand the input on with its values and width (masking, noise, scaling): never the code.
INPUT_AS_IS = PASS_THROUGH | {"Masking", "Normalization", "Rescaling", "BatchNormalization", "LayerNormalization"}


def check_no_compression(ctx: Context) -> list[Finding]:
    """AE104: the narrowest representation is at least as wide as the input; a warning whatever the design when the
    denoising input the user gave is the clean target itself (:func:`noise_never_added`)."""
    found = _no_compression(ctx)
    same = noise_never_added(ctx)
    if found and same:
        f = found[0]
        f.severity = "warning"
        f.line, f.source_line = assigned_at(ctx, ctx.data_name)
        if ctx.data is ctx.target:
            # Round 86's kb09: `x_noisy = add_noise(x_train)` where add_noise adds to its argument in place and
            # returns it: both names hold one array, and the "clean" target carries the noise.
            f.message += (f" And there is no clean target: --data {ctx.data_name} and --target {ctx.target_name} are "
                          f"one and the same array, so the noise made at line {f.line} went into `{ctx.target_name}` "
                          "too (a helper that adds noise in place, `batch += ...` or `out=batch`, changes its "
                          "argument); a code this wide learns to copy the noisy images.")
            f.fix = (f"{ctx.data_name} = ...({ctx.target_name}.copy())  # noise a copy: the target stays clean")
        else:
            f.message += (f" And there is nothing to denoise: --data {ctx.data_name} holds exactly the values of --target "
                          f"{ctx.target_name}, so no noise was added (the noise helper returns its input, or the clean "
                          "array was passed on), and a code this wide learns to copy it.")
            f.fix = (f"{ctx.data_name} = ...  # the clean data with noise added, e.g. "
                     "np.clip(clean + 0.4 * np.random.normal(size=clean.shape), 0, 1)")
        f.layer = None
        f.evidence["input_equals_target"] = True
        f.evidence["same_array"] = ctx.data is ctx.target
        f.edit = None
    elif found and found[0].severity == "warning" and (noisy := noisy_copy_as_target(ctx)) is not None:
        # Round 69's da03: the keras blog's denoiser fitted noisy -> noisy; the fix is the target, not the width.
        fit_at, clean, made_at = noisy
        f = found[0]
        f.message += (f" And the cell makes `{ctx.data_name}` from `{clean}` with random noise added (line "
                      f"{ctx.cell_line(made_at)}), then fits the model to reproduce `{ctx.data_name}` itself (line "
                      f"{ctx.cell_line(fit_at)}): a denoiser's target is the clean `{clean}`; with the noisy array as "
                      "target a code this wide learns to copy the noise.")
        f.line, f.source_line, f.layer, f.edit = ctx.cell_line(fit_at), ctx.line_text(fit_at), None, None
        f.evidence["noisy_target"] = {"input": ctx.data_name, "clean": clean}
        f.fix = _with_target(ctx.line_text(fit_at) or "", clean) or f"{ctx.model_name}.fit({ctx.data_name}, {clean}, ...)"
    elif same and ctx.data is ctx.target:
        ctx.notes.append(f"--data {ctx.data_name} and --target {ctx.target_name} are one and the same array (noise added "
                         "in place reaches both names): the model was checked as a plain autoencoder of its input.")
    elif same:
        ctx.notes.append(f"--data {ctx.data_name} holds exactly the values of --target {ctx.target_name}: no noise was "
                         "added, so the model was checked as a plain autoencoder of its input.")
    return found


_RANDOM = {"normal", "randn", "standard_normal", "uniform", "rand", "binomial", "random_noise"}


def noisy_copy_as_target(ctx: Context) -> tuple[int, str, int] | None:
    """``(fit line, clean name, line)``: the cell fits ``X`` onto itself (``fit(X, X)``) where it made ``X`` from
    another array of the same shape with random noise added (``X = clean + 0.4 * rng.normal(...)``), that line;
    else None."""
    from .fit_target import fit_pairs

    if not ctx.data_name or ctx.source is None or (ctx.target_name not in (None, ctx.data_name)):
        return None
    pair = next(((call, x) for call, x, y in fit_pairs(ctx) if x == y == ctx.data_name), None)
    if pair is None:
        return None
    try:
        tree = ast.parse(ctx.source)
    except SyntaxError:
        return None
    shape = getattr(ctx.data, "shape", None)
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == ctx.data_name
                                                     for t in node.targets)):
            continue
        calls = {(c.func.attr if isinstance(c.func, ast.Attribute) else getattr(c.func, "id", ""))
                 for c in ast.walk(node.value) if isinstance(c, ast.Call)}
        if not calls & _RANDOM:
            continue
        for name in (n.id for n in ast.walk(node.value) if isinstance(n, ast.Name) and n.id != ctx.data_name):
            clean = ctx.namespace.get(name)
            if getattr(clean, "shape", None) == shape and clean is not ctx.data:
                return pair[0].lineno, name, node.lineno
    return None


def _with_target(text: str, clean: str) -> str | None:
    """The fit line ``text`` with its second argument (the target) made ``clean``."""
    try:
        call = ast.parse(text.strip()).body[0].value
    except (SyntaxError, IndexError, AttributeError):
        return None
    if not isinstance(call, ast.Call) or len(call.args) < 2:
        return None
    call.args[1] = ast.Name(id=clean)
    return ast.unparse(call)


def noise_never_added(ctx: Context) -> bool:
    """The user gave a target under another name than the data, and its values are the data's, exactly: a denoising
    set-up whose noise was never added (round 39: keras.io's ``noise()`` returning ``np.clip(array, ...)`` instead
    of ``np.clip(noisy_array, ...)``), or was added in place to the clean array too (both names one array)."""
    d, t = ctx.data, ctx.target
    if d is None or t is None or not ctx.data_name or not ctx.target_name or ctx.data_name == ctx.target_name:
        return False
    return not ctx.is_denoising  # (two names bound to one array too: noise added in place, round 86's kb09)


def _no_compression(ctx: Context) -> list[Finding]:
    g = graph_of(ctx)
    if g is None or g.code_width is None or g.input_width is None:
        return []
    if g.code_width < g.input_width or ctx.is_denoising:
        return []
    if narrow_dangling(ctx, g):
        return []  # AE103 explains it: the intended code is bypassed
    code = g.nodes[g.code] if g.code is not None else None
    if code is not None and (g.code in g.outputs or code.cls in INPUT_AS_IS):
        # Every hidden representation is wider than the input, so the
        # "narrowest" node is the reconstruction itself, or a layer that only
        # passes the input on (a Masking before a GRU, round 19): name the
        # narrowest hidden one, which is the code the model really has.
        hidden = [g.nodes[i] for i in g.main_path
                  if i not in g.outputs and not g.nodes[i].is_input and g.nodes[i].width is not None
                  and g.nodes[i].cls not in INPUT_AS_IS]
        if hidden:
            code = min(hidden, key=lambda n: n.width)
    line, src = loc(ctx, code)
    suggestion = max(2, g.input_width // 8)
    if code is not None and _downsampled_feature_map(g, code):
        # A strided/pooled feature map with more channels than it dropped
        # positions (keras.io's Conv1D anomaly detector: 288 steps -> 72 x 16):
        # the usual conv design, and it trains. Counting values says it could
        # copy, but the convolutions' locality and the resolution loss still
        # shape what it learns; a note, not a warning.
        return [
            Finding(
                code="AE104",
                severity="info",
                title="The conv code holds more values than the input",
                message=(
                    f"The narrowest feature map of `{ctx.model_name}`, {label(ctx, code)}, has a lower resolution "
                    f"than the input but {code.width} values per sample against the input's {g.input_width}. "
                    "That is common in conv autoencoders and trains fine; but nothing forces it to compress, so "
                    "an anomaly detector built on it may reconstruct anomalies well too."
                ),
                line=line,
                layer=code.name,
                source_line=src,
                evidence={"code_width": code.width, "input_width": g.input_width,
                          "code_shape": list(code.shape or []), "input_shape": list(g.nodes[g.inputs[0]].shape or [])},
                fix="To make it compress, give the layer at the code fewer filters (e.g. half), or add a stride.",
            )
        ]
    if code is not None and _sequence_summary(g, code) and code.width < ROOM_TO_COPY * g.input_width:
        # keras.io's and the blogs' LSTM autoencoders (a 32-d code on 30 values, 64 on 32): the code is one
        # vector a recurrent layer made from the whole sequence, which it cannot copy position by position the
        # way a dense layer can; the usual design, and it trains. A note, as for conv feature maps.
        return [
            Finding(
                code="AE104",
                severity="info",
                title="The sequence code holds as many values as the sequence",
                message=(
                    f"The code of `{ctx.model_name}`, {label(ctx, code)}, is one vector of {code.width} values that "
                    f"a recurrent layer made from the whole input sequence ({g.input_width} values). A recurrent "
                    "encoder summarises the sequence through its state rather than copying it, so this is a common "
                    "design and trains; but nothing forces it to compress, so an anomaly detector built on it may "
                    "reconstruct anomalies well too."
                ),
                line=line,
                layer=code.name,
                source_line=src,
                evidence={"code_width": code.width, "input_width": g.input_width,
                          "input_shape": list(g.nodes[g.inputs[0]].shape or [])},
                fix=f"To make it compress, give the code fewer units than the sequence has values, e.g. {suggestion}.",
            )
        ]
    sparse = _sparsity_penalty(g)
    if sparse is not None:
        # An overcomplete code held sparse by a penalty (the UFLDL sparse autoencoder, an L1
        # activity_regularizer): the penalty, not the width, stops the identity. A design, not a fault.
        return [
            Finding(
                code="AE104",
                severity="info",
                title="An overcomplete code held sparse by a penalty",
                message=(
                    f"The narrowest layer of `{ctx.model_name}` has {code.width if code else g.code_width} features "
                    f"and the input has {g.input_width}, but {label(ctx, sparse)} carries a sparsity penalty, "
                    "which is what keeps an overcomplete code from learning the identity. If the penalty is too "
                    "weak the model can still copy its input."
                ),
                line=sparse.line and ctx.cell_line(sparse.line),
                layer=sparse.name,
                source_line=ctx.line_text(sparse.line),
                evidence={"code_width": code.width if code else g.code_width, "input_width": g.input_width,
                          "penalty_layer": sparse.name},
                fix="Check on held-out data that the code's mean activation is as sparse as intended.",
            )
        ]
    width = code.width if code is not None and code.width is not None else g.code_width
    fix = (f"Make the bottleneck narrower than the input, e.g. `layers.Dense({suggestion}, activation='relu')` "
           "as the code layer.")
    evidence = {"code_width": code.width if code else g.code_width, "input_width": g.input_width}
    why = ""
    short = _loop_stops_short(ctx, code, width, g.input_width) if code is not None else None
    meant = _intended_code(ctx, g) if short is None else None
    if meant is not None and meant is not code and meant.width is not None and meant.width >= g.input_width:
        # The code the cell means (the output of its `encoder` model, or a tensor it calls `bottleneck`) is what
        # is too wide, not the first layer as narrow as the input (round 78's du04: Dense(n_bottleneck=32) on 30
        # features, behind a 30-wide hidden layer).
        code, width = meant, meant.width
        line, src = loc(ctx, code)
        evidence["code_width"], evidence["meant_code"] = width, code.name
    if code is not None and _sequence_summary(g, code) and width is not None and width >= ROOM_TO_COPY * g.input_width:
        # ROOM_TO_COPY times the sequence's values or more (round 78's dv03, Machine Learning Mastery's
        # LSTM(100) on 9-step sequences): the state has a unit to spare for every value, so it can hold the
        # sequence whole; the model reconstructs anything, anomalies included.
        evidence["sequence_code"] = True
        why = (f" It is one vector a recurrent layer made from the sequence, with {width / g.input_width:.0f}x as "
               "many units as the sequence has values: room to hold every value, so it need not summarise.")
        fix = (f"Give the recurrent encoder fewer units than the sequence has values, e.g. "
               f"`layers.{code.cls}({max(2, g.input_width // 2)}, ...)`.") if code.cls in kc.RECURRENT else fix
    rows = _dense_per_row(ctx, g, code, width) if short is None else None
    if rows is not None:
        # A Dense stack on an unflattened image or table of rows: each row gets its own code (round 82's gc05, the
        # Keras blog's simplest autoencoder on 8x8 images without Flatten). The fix starts at the input.
        n_rows, units, shape, at = rows
        why = (f" A Dense layer acts on the last axis only: on a {tuple(shape)} input, each of the {n_rows} rows gets its "
               f"own {units}-unit code, {width} values for {g.input_width}.")
        fix = (f"x = layers.Flatten()(inputs)  # then the Dense stack, and layers.Reshape({tuple(shape)}) after a "
               f"last Dense({g.input_width})")
        evidence["dense_per_row"] = {"rows": n_rows, "units": units}
        if at is not None:
            line, src = ctx.cell_line(at), ctx.line_text(at)
    named = _width_constant(ctx, code, width) if short is None and rows is None and code is not None else None
    if named is not None:
        # The width is a constant the cell names (``n_bottleneck = 32``): the number to change lives there.
        name, at = named
        line, src = ctx.cell_line(at), ctx.line_text(at)
        evidence["width_from"] = name
        fix = f"{name} = {suggestion}  # narrower than the input's {g.input_width} features"
    if short is not None:
        # The code layer is built in a loop that never reaches the list's narrow entries: the loop is the fix.
        at, listed, skipped, fixed = short
        line, src = ctx.cell_line(at), ctx.line_text(at)
        evidence["loop_skips"] = {"list": listed, "skipped": skipped}
        why = (f" The layer is built in the loop on line {line}, which stops before the last "
               f"{'entry' if len(skipped) == 1 else f'{len(skipped)} entries'} of `{listed}` ({', '.join(map(str, skipped))}): "
               "the narrow code the list asks for is never built.")
        fix = f"{fixed}  # every entry of {listed}, the code included"
    return [
        Finding(
            code="AE104",
            severity="warning",
            title="No compression: the code is as wide as the input",
            message=(
                f"The {'code' if 'meant_code' in evidence else 'narrowest layer'} of `{ctx.model_name}`, "
                f"{label(ctx, code) if code else 'its output'}, has {width} features"
                + (f" (`{evidence['width_from']}`, line {line})" if "width_from" in evidence else "")
                + f" and the input has {g.input_width}. With no narrower code the model can "
                "learn the identity and output its input without learning any structure (for denoising, pass "
                "the clean data as the target)." + why
            ),
            line=line,
            layer=code.name if code else None,
            source_line=src,
            evidence=evidence,
            fix=fix,
        )
    ]


def _dense_per_row(ctx: Context, g: GraphInfo, code: GNode | None, width: int | None) -> tuple[int, int, list[int], int | None] | None:
    """``(rows, units, input shape, raw line of the model's Input)`` when the code is a Dense layer applied to an
    input of two or more axes per sample, so its width is the rows times its units; None otherwise."""
    if code is None or code.cls != "Dense" or not width or ctx.model is None:
        return None
    try:
        shape = [int(d) for d in ctx.model.inputs[0].shape[1:]]
        layer = next(la for la in ctx.model._flatten_layers(include_self=False) if la.name == code.name)
        units = int(layer.units)
    except Exception:  # no single input, or not a Keras Dense: nothing to explain
        return None
    n_rows = math.prod(shape[:-1]) if len(shape) >= 2 else 1
    if n_rows < 2 or width != n_rows * units:
        return None
    var = ctx.var_of(ctx.model.inputs[0])
    return n_rows, units, shape, ctx.assign_lines.get(var) if var else None


def _loop_stops_short(
    ctx: Context, code: GNode, width: int | None, input_width: int | None
) -> tuple[int, str, list[int], str] | None:
    """``(for line, list name, skipped widths, fixed for line)`` when the code layer is called in a ``for`` loop
    over ``range(len(units) - k)`` or ``units[:-k]`` and the ``k`` entries it skips are narrower than the input.

    Round 65's cr10: ``for i in range(len(encoder_units) - 1)`` over ``[64, 32, 3]`` never builds the 3-unit code.
    """
    import ast

    if code.line is None or not ctx.source or width is None or input_width is None:
        return None
    try:
        tree = ast.parse(ctx.source)
    except SyntaxError:
        return None
    loop = next((n for n in ast.walk(tree) if isinstance(n, ast.For)
                 and any(getattr(st, "lineno", -1) <= code.line <= (getattr(st, "end_lineno", None) or -1)
                         for st in n.body)), None)
    if loop is None:
        return None
    it = loop.iter
    if isinstance(it, ast.Call) and getattr(it.func, "id", None) == "enumerate" and it.args:
        it = it.args[0]
    listed, k = None, None
    if (isinstance(it, ast.Call) and getattr(it.func, "id", None) == "range" and len(it.args) == 1
            and isinstance(it.args[0], ast.BinOp) and isinstance(it.args[0].op, ast.Sub)
            and isinstance(it.args[0].left, ast.Call) and getattr(it.args[0].left.func, "id", None) == "len"
            and it.args[0].left.args and isinstance(it.args[0].left.args[0], ast.Name)
            and isinstance(it.args[0].right, ast.Constant)):
        listed, k = it.args[0].left.args[0].id, it.args[0].right.value
        fixed_iter = f"range(len({listed}))"
    elif (isinstance(it, ast.Subscript) and isinstance(it.value, ast.Name) and isinstance(it.slice, ast.Slice)
          and it.slice.lower is None and it.slice.step is None and isinstance(it.slice.upper, ast.UnaryOp)
          and isinstance(it.slice.upper.op, ast.USub) and isinstance(it.slice.upper.operand, ast.Constant)):
        listed, k = it.value.id, it.slice.upper.operand.value
        fixed_iter = listed
    else:
        return None
    values = ctx.namespace.get(listed)
    if not isinstance(k, int) or k < 1 or not isinstance(values, (list, tuple)) or len(values) <= k:
        return None
    skipped = list(values[-k:])
    if not all(isinstance(v, int) for v in skipped) or min(skipped) >= min(width, input_width):
        return None
    line_text = ctx.source.splitlines()[loop.lineno - 1]
    fixed = line_text.strip().replace(ast.unparse(loop.iter), ast.unparse(loop.iter).replace(ast.unparse(it), fixed_iter), 1)
    return loop.lineno, listed, skipped, fixed



# Variable names a cell gives the code it means (``bottleneck = layers.Dense(...)(h)``, ``z``, ``latent``).
_CODE_NAME = re.compile(r"^(code|bottleneck|latent|encoded|encoding|embedding|z)(_|\d|$)", re.IGNORECASE)


def _intended_code(ctx: Context, g: GraphInfo) -> GNode | None:
    """The node on the model's main path that the cell means as its code: the output of another model the cell
    builds from the same input (an ``encoder``), else the one node assigned to a code-like name; None if unclear."""
    on_path = [g.nodes[i] for i in g.main_path if i not in g.outputs and not g.nodes[i].is_input]
    by_layer = {id(n.layer): n for n in on_path if n.layer is not None}
    for value in (getattr(ctx, "other_models", None) or {}).values():
        try:
            outs = list(value.outputs or [])
        except Exception:  # a subclassed model has no symbolic outputs
            continue
        if len(outs) != 1:
            continue
        h = kc.history(outs[0])
        node = by_layer.get(id(h[0])) if h is not None else None
        if node is not None:
            return node
    named = [n for n in on_path if n.variable and _CODE_NAME.match(n.variable)]
    return named[0] if len({n.variable for n in named}) == 1 and len(named) == 1 else None


def _width_constant(ctx: Context, code: GNode, width: int | None) -> tuple[str, int] | None:
    """``(name, line)`` when the code layer's units are a plain name (``layers.Dense(n_bottleneck)``) that the cell
    binds once to that very number as a literal (``n_bottleneck = 32``)."""
    if code.line is None or not ctx.source or width is None:
        return None
    try:
        tree = ast.parse(ctx.source)
    except SyntaxError:
        return None
    call = next((n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n, "lineno", None) == code.line
                 and isinstance(n.func, ast.Attribute) and n.func.attr == code.cls and n.args), None)
    arg = call.args[0] if call is not None else None
    if not isinstance(arg, ast.Name):
        return None
    binds = [n for n in ast.walk(tree) if isinstance(n, ast.Assign) and any(
        isinstance(t, ast.Name) and t.id == arg.id for t in n.targets)]
    if len(binds) != 1 or not isinstance(binds[0].value, ast.Constant) or binds[0].value.value != width:
        return None
    return arg.id, binds[0].lineno


# A sequence code (one recurrent vector) this many times as wide as the sequence's values, or wider, is AE104's
# warning: below it, a note (round 13's healthy LSTM autoencoder: 32 units on 30 values; round 76's do10: 64 on 32).
ROOM_TO_COPY = 4


def _downsampled_feature_map(g: GraphInfo, code: GNode) -> bool:
    """The code is a conv feature map (positions x channels) at a lower resolution than the input's."""
    shape = list(code.shape or [])
    inp = list(g.nodes[g.inputs[0]].shape or []) if g.inputs else []
    if len(shape) < 3 or len(inp) != len(shape):
        return False
    positions, in_positions = shape[1:-1], inp[1:-1]
    if any(not isinstance(d, int) for d in positions + in_positions):
        return False
    return math.prod(positions) < math.prod(in_positions)



def _sequence_summary(g: GraphInfo, code: GNode) -> bool:
    """The code is a vector that a recurrent layer made from a sequence input (its time axis summarised away)."""
    inp = list(g.nodes[g.inputs[0]].shape or []) if g.inputs else []
    if len(inp) != 3 or len(code.shape or []) != 2:
        return False
    path = g.main_path
    upto = path[: path.index(code.id) + 1] if code.id in path else path
    return any(g.nodes[i].cls in kc.RECURRENT and len(g.nodes[i].shape or []) == 2 for i in upto)


CHECKS = [check_no_compression]


def _sparsity_penalty(g: GraphInfo) -> GNode | None:
    """A hidden layer whose activations carry a penalty: an ``activity_regularizer``, or a layer of the
    user's own that adds a loss with ``add_loss`` on what it computes (a sparsity KL)."""
    for i in g.main_path:
        node = g.nodes[i]
        if node.is_input or i in g.outputs or node.layer is None:
            continue
        if getattr(node.layer, "activity_regularizer", None) is not None:
            return node
        call = getattr(type(node.layer), "call", None)
        code = getattr(call, "__code__", None)
        if code is not None and "add_loss" in code.co_names and not type(node.layer).__module__.startswith("keras"):
            return node
    return None


def check_measured_compression(ctx: Context) -> list[Finding]:
    """AE104 for a model with no layer graph (subclassed): the narrowest layer output the probe measured is at
    least as wide as the input.

    Round 37: the TensorFlow tutorial's ``Autoencoder(latent_dim=64)`` with its ``Flatten``/``Reshape``
    dropped. Each Dense then works on one 28-pixel row, so the "64-unit code" is 28 x 64 = 1792 values for
    784 pixels: rows reconstruct as well shuffled as real. A feature map at a lower resolution than the input
    (a conv encoder's) is left alone, as in the graph's own reading.
    """
    g = ctx.graph
    tr = ctx.traces.get("training") or {}
    code = tr.get("code")
    if (g is not None and g.has_graph) or not code or ctx.is_denoising or ctx.data is None:
        return []
    shape = tuple(int(d) for d in ctx.data.shape[1:])
    width = math.prod(shape) if shape else 0
    if not width or code["width"] < width:
        return []
    positions_in = width // shape[-1] if shape[-1] else width
    if code["width"] // max(code["units"], 1) < positions_in:
        return []  # a downsampled feature map: the conv design, not a missing bottleneck
    from .gradients import locate as locate_layer
    from .locate import activity_regularizers

    line, src = locate_layer(ctx, code["layer"])
    # An overcomplete code held sparse by a penalty (an activity regularizer, or a layer that adds a loss) is
    # the sparse autoencoder's design: said, not warned (as for the graph's overcomplete code).
    penalised = bool(activity_regularizers(ctx.model)) or bool(tr.get("added_terms"))
    return [Finding(
        code="AE104",
        severity="info" if penalised else "warning",
        title="No compression: the narrowest layer is as wide as the input",
        message=(f"Measured on a forward pass, the narrowest layer output of `{ctx.model_name}`, `{code['layer']}`, "
                 f"holds {code['width']} values per sample ({code['units']} on its last axis), against the input's "
                 f"{width} {shape}: nothing forces the model to compress, and it can learn to copy. "
                 + ("A Dense layer acts on the last axis only: on a "
                    f"{shape} input, each of the {positions_in} rows gets its own {code['units']}-unit code. "
                    if len(shape) >= 2 and code["width"] // max(code["units"], 1) == positions_in else "")),
        line=line,
        source_line=src,
        layer=code["layer"],
        evidence={"code_width": code["width"], "input_width": width, "code_layer": code["layer"], "measured": True},
        fix=("layers.Flatten()  # before the encoder's Dense layers, and layers.Reshape(input_shape) after the decoder"
             if len(shape) >= 2 else f"layers.Dense({max(2, width // 8)})  # a code narrower than the input"),
    )]


check_measured_compression.family = "training"  # type: ignore[attr-defined]  # it reads the training trace
