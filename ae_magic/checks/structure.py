"""AE102-AE113: structure checks, from the model and the cell (no training)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import keras_compat as kc
from ..context import Context
from ..graph import GNode, GraphInfo, _Builder, code_activation
from ..report import Finding

NORMALIZATION_LAYERS = {"BatchNormalization", "LayerNormalization", "GroupNormalization", "UnitNormalization"}
# Activations whose gradient vanishes away from zero (FAULTS AE106/AE107).
SATURATING = {"sigmoid", "tanh", "hard_sigmoid", "softsign"}
# Layers that only move values around; they neither start nor break a run.
TRANSPARENT = {"Dropout", "Flatten", "Reshape", "MaxPooling2D", "MaxPooling1D", "AveragePooling2D",
               "UpSampling2D", "UpSampling1D", "GaussianNoise", "SpatialDropout2D", "Cropping2D",
               "ZeroPadding2D", "RepeatVector", "Permute", "GlobalAveragePooling2D"}
# AE107: this many consecutive saturating hidden layers (the catalogue's rule).
SATURATING_RUN = 3
# AE110: combined init scale (product of per-layer std / recommended std)
# beyond which signals shrink or grow >10x through the stack at initialisation.
INIT_SCALE_LOW, INIT_SCALE_HIGH = 0.1, 10.0
# AE111: outputs for different inputs closer than this (relative) are identical.
IDENTICAL_RTOL = 1e-6


def _loc(ctx: Context, node: GNode | None) -> tuple[int | None, str | None]:
    if node is None or node.line is None:
        return None, None
    return ctx.cell_line(node.line), ctx.line_text(node.line)


def _label(ctx: Context, node: GNode) -> str:
    """`encoded` (Dense 'dense_1', line 3) — the user's names first."""
    bits = [f"{node.cls} '{node.name}'"]
    if node.line is not None:
        bits.append(f"line {ctx.cell_line(node.line)}")
    head = f"`{node.variable}` " if node.variable else ""
    return f"{head}({', '.join(bits)})"


def _graph(ctx: Context) -> GraphInfo | None:
    g = ctx.graph
    return g if g is not None and g.has_graph else None


# -- AE102 ------------------------------------------------------------------


def _model_tensor_ids(ctx: Context) -> tuple[set[int], set[int]]:
    tensors: set[int] = set()
    layers: set[int] = set()
    g = ctx.graph
    if g is not None:
        tensors |= g.tensor_ids
        layers |= g.layer_ids
    for m in ctx.other_models.values():
        if kc.model_kind(m) == "subclassed" or not kc.is_built(m):
            continue
        b = _Builder(ctx)
        try:
            for t in kc.graph_outputs(m):
                b.walk(t, "", {})
        except Exception:
            continue
        tensors |= b.tensor_ids
        layers |= b.layer_ids
    return tensors, layers


def check_dangling(ctx: Context) -> list[Finding]:
    """AE102: layer calls whose output never reaches a model, and layers never called."""
    if ctx.model is None or _graph(ctx) is None:
        return []
    tensors, layers = _model_tensor_ids(ctx)
    model_layers = {id(layer) for m in [ctx.model, *ctx.other_models.values()] for layer in _all_layers(m)}
    findings: list[Finding] = []
    for call in ctx.calls:
        if not call.direct or not call.outputs:
            continue
        if any(id(o) in tensors for o in call.outputs):
            continue
        if kc.is_model(call.layer) and call.layer is ctx.model:
            continue
        name = call.variable
        src = ctx.line_text(call.line)
        line = ctx.cell_line(call.line)
        what = f"`{name}`" if name else f"the output of {call.layer_class} '{call.layer_name}'"
        fed = [ctx.var_of(t) or getattr(t, "name", "?") for t in call.inputs]
        findings.append(
            Finding(
                code="AE102",
                severity="warning",
                title="Layer output never reaches the model's output",
                message=(
                    f"{what} on line {line} is computed from {', '.join(f'`{f}`' for f in fed) or 'a tensor'} "
                    f"but is not used by `{ctx.model_name}` (nor by any other model in the cell): "
                    f"its layer {call.layer_class} '{call.layer_name}' is not part of the model and is never trained."
                ),
                line=line,
                layer=call.layer_name,
                source_line=src,
                evidence={"variable": name, "layer": call.layer_name, "inputs": fed,
                          "output_shape": [list(o.shape) for o in call.outputs]},
                fix=(
                    f"Feed {what} into the next layer, e.g. `decoded = Dense(...)({name})`, "
                    "or delete the line if it is not needed."
                    if name
                    else "Use this layer's output in the model, or delete the call."
                ),
            )
        )
    for name in ctx.bound:
        obj = ctx.namespace.get(name)
        if not kc.is_layer(obj) or kc.is_model(obj) or id(obj) in model_layers or id(obj) in layers:
            continue
        if any(c.layer is obj for c in ctx.calls) or getattr(obj, "_inbound_nodes", None):
            continue
        line = ctx.cell_line(ctx.assign_lines.get(name))
        findings.append(
            Finding(
                code="AE102",
                severity="warning",
                title="Layer created but never called",
                message=(
                    f"`{name}` = {type(obj).__name__} on line {line} is created but never called on a "
                    f"tensor, so it is not part of `{ctx.model_name}`."
                ),
                line=line,
                layer=getattr(obj, "name", None),
                source_line=ctx.line_text(ctx.assign_lines.get(name)),
                evidence={"variable": name, "layer": getattr(obj, "name", None), "class": type(obj).__name__},
                fix=f"Call it on the previous tensor, e.g. `h = {name}(previous_tensor)`, and use `h` next.",
            )
        )
    return findings


def _all_layers(model: Any) -> list[Any]:
    out: list[Any] = []
    try:
        for layer in model.layers:
            out.append(layer)
            if kc.is_model(layer):
                out.extend(_all_layers(layer))
    except Exception:
        pass
    return out


# -- AE103 / AE104 --------------------------------------------------------------


def _narrow_dangling(ctx: Context, g: GraphInfo) -> list[Any]:
    """Dangling cell calls fed from the model's graph and narrower than the input."""
    out = []
    for call in ctx.calls:
        if not call.direct or not call.outputs or any(id(o) in g.tensor_ids for o in call.outputs):
            continue
        if not any(id(t) in g.tensor_ids for t in call.inputs):
            continue
        w = kc.width_of(call.outputs[0].shape)
        if w is not None and g.input_width is not None and w < g.input_width:
            out.append(call)
    return out


def check_bypass(ctx: Context) -> list[Finding]:
    """AE103: a path from input to reconstruction avoids the narrowest layer."""
    g = _graph(ctx)
    if g is None or g.code is None:
        return []
    findings: list[Finding] = []
    code = g.nodes[g.code]
    if g.bypass_paths:
        path = g.bypass_paths[0]
        main_edges = set(zip(g.main_path, g.main_path[1:], strict=False))
        # The first edge of the bypass that the main path does not take: where
        # the shortcut leaves; the next node back on the main path: where it joins.
        k = next((i for i in range(len(path) - 1) if (path[i], path[i + 1]) not in main_edges), 0)
        leave = g.nodes[path[k]]
        main = set(g.main_path)
        join = next((g.nodes[i] for i in path[k + 1 :] if i in main), g.nodes[path[-1]])
        between = [g.nodes[i] for i in path[k + 1 :] if i not in main]
        line, src = _loc(ctx, join)
        via = (" through " + " -> ".join(_label(ctx, n) for n in between[:4])) if between else " directly"
        bypass_w = max(w for w, _ in g.path_minima if w is not None)
        findings.append(
            Finding(
                code="AE103",
                severity="warning",
                title="A path to the output bypasses the bottleneck",
                message=(
                    f"The narrowest layer is {_label(ctx, code)} with {g.code_width} features, but "
                    f"{_label(ctx, leave)} also feeds {_label(ctx, join)}{via}, skipping the code: a path "
                    f"with at least {bypass_w} features reaches the output. The model can copy the input "
                    "around the code instead of compressing it."
                ),
                line=line,
                layer=join.name,
                source_line=src,
                evidence={"code_layer": code.name, "code_width": g.code_width,
                          "bypass": [g.nodes[i].name for i in path], "bypass_min_width": bypass_w,
                          "shortcut_from": leave.name, "shortcut_to": join.name},
                fix="Remove the skip/concatenate connection around the code, or narrow it, so every path passes "
                "through the bottleneck (skip connections belong in U-Nets, not in compressing autoencoders).",
            )
        )
    elif g.input_width is not None and g.code_width is not None and g.code_width >= g.input_width:
        narrow = _narrow_dangling(ctx, g)
        if narrow:
            call = narrow[0]
            name = call.variable or call.layer_name
            out_node = g.nodes[g.outputs[0]]
            # the layer that reads the input directly: first non-input node on the main path
            reader = next((g.nodes[i] for i in g.main_path if not g.nodes[i].is_input), out_node)
            fed = ctx.var_of(call.inputs[0]) if call.inputs else None
            line, src = _loc(ctx, reader)
            findings.append(
                Finding(
                    code="AE103",
                    severity="warning",
                    title="The decoder reads the input directly, bypassing the code",
                    message=(
                        f"{_label(ctx, reader)} is called on `{fed or 'the input'}` instead of on the code "
                        f"`{name}` (line {ctx.cell_line(call.line)}, {kc.width_of(call.outputs[0].shape)} features). "
                        f"So `{ctx.model_name}` never passes through the {kc.width_of(call.outputs[0].shape)}-wide "
                        f"code: it maps {g.input_width} features to {g.input_width} directly and can learn to copy."
                    ),
                    line=line,
                    layer=reader.name,
                    source_line=src,
                    evidence={"code_variable": name, "code_width": kc.width_of(call.outputs[0].shape),
                              "input_width": g.input_width, "reader": reader.name},
                    fix=(f"Call the decoder on the code:\n{src.split('#')[0].rstrip().replace(f'({fed})', f'({name})')}"
                         if src and fed and f"({fed})" in src else
                         f"Call the decoder layer on `{name}` instead of `{fed}`."),
                )
            )
    return findings


def check_no_compression(ctx: Context) -> list[Finding]:
    """AE104: the narrowest representation is at least as wide as the input."""
    g = _graph(ctx)
    if g is None or g.code_width is None or g.input_width is None:
        return []
    if g.code_width < g.input_width or ctx.is_denoising:
        return []
    if _narrow_dangling(ctx, g):
        return []  # AE103 explains it: the intended code is bypassed
    code = g.nodes[g.code] if g.code is not None else None
    line, src = _loc(ctx, code)
    suggestion = max(2, g.input_width // 8)
    return [
        Finding(
            code="AE104",
            severity="warning",
            title="No compression: the code is as wide as the input",
            message=(
                f"The narrowest layer of `{ctx.model_name}`, {_label(ctx, code) if code else 'its output'}, has "
                f"{g.code_width} features and the input has {g.input_width}. With no narrower code the model can "
                "learn the identity and output its input without learning any structure (for denoising, pass "
                "the clean data as the target)."
            ),
            line=line,
            layer=code.name if code else None,
            source_line=src,
            evidence={"code_width": g.code_width, "input_width": g.input_width},
            fix=f"Make the bottleneck narrower than the input, e.g. `layers.Dense({suggestion}, activation='relu')` "
            "as the code layer.",
        )
    ]


# -- AE105 ------------------------------------------------------------------------


def check_shape(ctx: Context) -> list[Finding]:
    """AE105: the reconstruction's shape differs from the input's."""
    g = _graph(ctx)
    if g is None or g.divergence is None:
        return []
    d = g.divergence
    if len(g.outputs) > 1 and any(g.nodes[o].shape[1:] == d["input_shape"] for o in g.outputs):
        return []
    node = next((n for n in g.nodes if n.name == d["node"]), None)
    line, src = _loc(ctx, node)
    ins, outs = tuple(d["input_shape"]), tuple(d["output_shape"])
    reason = d.get("reason")
    where = _label(ctx, node) if node else f"'{d['node']}'"
    if reason == "resize":
        detail = (
            f"The decoder's sizes first depart from the mirrored encoder at {where}: it makes "
            f"{_fmt(d['actual'])} from {_fmt(d['previous'])} where the encoder had {_fmt(d['expected'])}."
        )
        fix = _resize_fix(d, ins, outs)
    elif reason == "start":
        detail = f"The decoder starts at {_fmt(d['actual'])} at {where}, a size the encoder never had."
        fix = _resize_fix(d, ins, outs)
    elif reason == "too-few-resizes":
        detail = f"The decoder stops at {_fmt(outs[:-1])}; the input is {_fmt(ins[:-1])}: it upsamples too few times."
        fix = "Add upsampling steps (`Conv2DTranspose(..., strides=2, padding='same')` or `UpSampling2D()`) until the size matches."
    elif reason == "channels":
        detail = f"The output has {outs[-1]} channels at {where}; the input has {ins[-1]}."
        fix = f"Give the last layer {ins[-1]} filters/units, e.g. `layers.Conv2D({ins[-1]}, 3, padding='same', activation='sigmoid')`."
    elif reason == "reshape":
        detail = f"{where} outputs {outs}, the same number of values as the input {ins} in another layout."
        fix = f"End the decoder with `layers.Reshape({ins})`."
    else:
        detail = f"{where} outputs {_fmt(outs)} per sample; the input is {_fmt(ins)}."
        width = g.input_width
        fix = (f"Give the output layer {width} units: `layers.Dense({width}, ...)`" if len(ins) == 1
               else f"Make the last layer produce {ins}, e.g. a Dense({width}) followed by `layers.Reshape({ins})`.")
    return [
        Finding(
            code="AE105",
            severity="error",
            title="The reconstruction's shape differs from the input's",
            message=f"`{ctx.model_name}` maps {ins} to {outs}, so it cannot reconstruct its input. {detail}",
            line=line,
            layer=d["node"],
            source_line=src,
            evidence={k: v for k, v in d.items() if k != "line"},
            fix=fix,
        )
    ]


def _fmt(shape: Any) -> str:
    if shape is None:
        return "?"
    return "x".join(str(s) for s in shape)


def _resize_fix(d: dict[str, Any], ins: tuple, outs: tuple) -> str:
    sp_in = ins[:-1]
    enc = [tuple(e) for e in d.get("encoder_sizes") or []]
    odd = [e[0] for e in enc[:-1] if e and isinstance(e[0], int) and e[0] % 2]
    if outs[:-1] and all(isinstance(a, int) and isinstance(b, int) and a > b for a, b in zip(outs[:-1], sp_in, strict=False)):
        crop = [(a - b) for a, b in zip(outs[:-1], sp_in, strict=False)]
        if len(crop) == 2:
            return (
                f"A downsampling step rounded an odd size up ({odd[0] if odd else 'an odd size'} -> "
                f"{(odd[0] + 1) // 2 if odd else '?'} with padding='same'), so doubling overshoots. "
                "Either pad the input to a size divisible by the total stride, use padding='valid' on that pooling, "
                f"or crop at the end: `layers.Cropping2D((({crop[0] // 2}, {crop[0] - crop[0] // 2}), "
                f"({crop[1] // 2}, {crop[1] - crop[1] // 2})))`."
            )
    return "Mirror the encoder: each upsampling step should undo one downsampling step (same strides/padding)."


# -- AE106 / AE107 ---------------------------------------------------------------


def check_saturating_code(ctx: Context) -> list[Finding]:
    """AE106: the code layer uses a saturating activation."""
    g = _graph(ctx)
    if g is None or g.code is None or g.code in g.outputs:
        return []
    act, node = code_activation(g)
    if act not in SATURATING or node is None:
        return []
    line, src = _loc(ctx, node)
    fix_src = src.replace(f"activation='{act}'", "activation='relu'").replace(f'activation="{act}"', 'activation="relu"') if src else None
    return [
        Finding(
            code="AE106",
            severity="warning",
            title=f"Saturating activation ({act}) in the bottleneck",
            message=(
                f"The code layer {_label(ctx, node)} uses {act}. Its {g.code_width} units squash to "
                f"{'(0, 1)' if 'sigmoid' in act else '(-1, 1)'}, and once they saturate the gradient reaching "
                "the encoder vanishes: the code stops carrying information."
            ),
            line=line,
            layer=node.name,
            source_line=src,
            evidence={"activation": act, "code_width": g.code_width},
            fix=(fix_src if fix_src and fix_src != src else
                 "Use activation='relu' (or a linear code) in the bottleneck layer."),
        )
    ]


def check_saturating_stack(ctx: Context) -> list[Finding]:
    """AE107: three or more consecutive hidden sigmoid/tanh layers without normalisation."""
    g = _graph(ctx)
    if g is None:
        return []
    chain = [n for n in g.chain() if not n.is_input and n.id not in g.outputs]
    runs: list[list[GNode]] = []
    run: list[GNode] = []
    for n in chain:
        if n.cls in NORMALIZATION_LAYERS:
            run = []
            continue
        if n.cls in TRANSPARENT or n.activation is None:
            continue
        if n.activation in SATURATING:
            run.append(n)
            if len(run) == SATURATING_RUN:
                runs.append(run)
            continue
        run = []
    if not runs:
        return []
    r = runs[0]
    # extend to its full length
    start = chain.index(r[0])
    full: list[GNode] = []
    for n in chain[start:]:
        if n.cls in NORMALIZATION_LAYERS or (n.activation is not None and n.activation not in SATURATING and n.cls not in TRANSPARENT):
            break
        if n.activation in SATURATING:
            full.append(n)
    line, src = _loc(ctx, full[0])
    return [
        Finding(
            code="AE107",
            severity="warning",
            title=f"{len(full)} saturating layers in a row",
            message=(
                f"{len(full)} consecutive hidden layers use sigmoid/tanh with no normalisation between them: "
                + ", ".join(_label(ctx, n) for n in full[:6])
                + ". Each multiplies the gradient by at most 0.25 (sigmoid) or 1 (tanh), so the first layers "
                "barely learn (vanishing gradients)."
            ),
            line=line,
            layer=full[0].name,
            source_line=src,
            evidence={"layers": [n.name for n in full], "activations": [n.activation for n in full]},
            fix="Use activation='relu' with kernel_initializer='he_normal' in the hidden layers (keep sigmoid only "
            "on the output), or add layers.BatchNormalization() between them.",
        )
    ]


# -- AE108 / AE109 ---------------------------------------------------------------


def _output_activation(g: GraphInfo) -> tuple[str | None, GNode | None]:
    node = g.nodes[g.outputs[0]]
    seen = set()
    while node is not None and node.id not in seen:
        seen.add(node.id)
        if node.activation is not None:
            return node.activation, node
        if node.cls in TRANSPARENT and node.parents:
            node = g.nodes[node.parents[0]]
            continue
        return ("linear" if not node.is_input else None), node
    return None, None


def check_output_loss(ctx: Context) -> list[Finding]:
    """AE108: the output activation and the loss disagree."""
    g = _graph(ctx)
    m = ctx.model
    if g is None or not kc.is_compiled(m) or not g.outputs:
        return []
    loss = kc.canonical_loss(m)
    if loss is None:
        return []
    act, node = _output_activation(g)
    if act is None or node is None:
        return []
    from_logits = bool(kc.loss_config(m).get("from_logits", False))
    units = g.nodes[g.outputs[0]].width or 0
    problem = fix = None
    if loss in ("cce", "scce"):
        problem = (f"The loss is {kc.loss_name(m)}, a classification loss: it compares class probabilities, "
                   "not a reconstruction with its input.")
        fix = "model.compile(optimizer='adam', loss='mse')  # or 'binary_crossentropy' with a sigmoid output on [0, 1] data"
    elif loss == "bce" and act == "softmax" and units > 1:
        problem = (f"The output layer uses softmax over {units} units with binary cross-entropy: softmax makes the "
                   "outputs sum to 1, so they cannot each match their own pixel/feature.")
        fix = "Use activation='sigmoid' on the output layer with binary_crossentropy (data in [0, 1])."
    elif loss == "bce" and from_logits and act in ("sigmoid", "softmax"):
        problem = (f"The output already applies {act}, and the loss is told from_logits=True, so {act} is applied "
                   "twice: the loss sees squashed values and its gradient is wrong.")
        fix = "keras.losses.BinaryCrossentropy(from_logits=False)  # or remove the output activation"
    elif loss == "bce" and not from_logits and act not in ("sigmoid", "hard_sigmoid", "softmax"):
        problem = (f"The output layer is {act}, but binary cross-entropy expects probabilities in [0, 1]: "
                   f"a {act} output can leave that range (Keras clips it, and the gradient there is zero).")
        fix = ("Use activation='sigmoid' on the output layer, or keras.losses.BinaryCrossentropy(from_logits=True) "
               "to keep a linear output.")
    elif loss in ("mse", "mae", "huber") and act == "softmax" and units > 1:
        problem = (f"The output layer uses softmax over {units} units: the reconstruction is forced to sum to 1, "
                   "which an input reconstruction almost never does.")
        fix = "Use activation='sigmoid' for data in [0, 1], or a linear output for standardised data."
    if problem is None:
        return []
    line, src = _loc(ctx, node)
    return [
        Finding(
            code="AE108",
            severity="warning",
            title="Output activation and loss disagree",
            message=f"{problem} Output layer: {_label(ctx, node)}.",
            line=line,
            layer=node.name,
            source_line=src,
            evidence={"loss": kc.loss_name(m), "from_logits": from_logits, "output_activation": act, "output_units": units},
            fix=fix,
        )
    ]


def check_not_compiled(ctx: Context) -> list[Finding]:
    """AE109: no loss/optimizer (probes then use MSE and Adam(1e-3))."""
    m = ctx.model
    if m is None or kc.is_compiled(m):
        return []
    target = ctx.model_name or "model"
    return [
        Finding(
            code="AE109",
            severity="info",
            title="The model is not compiled",
            message=(f"`{target}` has no loss or optimizer yet. The probes use MSE and Adam(learning_rate=1e-3) "
                     "on a copy; compile it before fit()."),
            evidence={"compiled": False},
            fix=f"{target}.compile(optimizer=keras.optimizers.Adam(1e-3), loss='mse')",
        )
    ]


# -- AE110 / AE111 ---------------------------------------------------------------


def _init_std(init: Any) -> float | None:
    name = type(init).__name__
    cfg = init.get_config() if hasattr(init, "get_config") else {}
    if name in ("RandomNormal", "TruncatedNormal"):
        return float(cfg.get("stddev", 0.05)) * (0.88 if name == "TruncatedNormal" else 1.0)
    if name == "RandomUniform":
        return (float(cfg.get("maxval", 0.05)) - float(cfg.get("minval", -0.05))) / math.sqrt(12)
    return None


def check_initializer(ctx: Context) -> list[Finding]:
    """AE110: constant kernels, or init scales that shrink/blow up signals through the stack."""
    g = _graph(ctx)
    if g is None:
        return []
    constant: list[GNode] = []
    scaled: list[tuple[GNode, float, float]] = []
    for n in g.chain():
        layer = n.layer
        kernel = getattr(layer, "kernel", None)
        init = getattr(layer, "kernel_initializer", None)
        if kernel is None or init is None:
            continue
        iname = type(init).__name__
        if iname in ("Zeros", "Ones", "Constant"):
            constant.append(n)
            continue
        std = _init_std(init)
        if std is None:
            continue
        shape = tuple(kernel.shape)
        receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
        fan_in, fan_out = shape[-2] * receptive, shape[-1] * receptive
        act = n.activation or "linear"
        relu_like = act in ("relu", "relu6", "leaky_relu", "elu", "selu", "gelu", "silu")
        rec = math.sqrt(2.0 / fan_in) if relu_like else math.sqrt(2.0 / (fan_in + fan_out))
        scaled.append((n, std, rec))
    findings: list[Finding] = []
    if constant:
        n = constant[0]
        line, src = _loc(ctx, n)
        findings.append(
            Finding(
                code="AE110",
                severity="warning",
                title="Kernels initialised to a constant",
                message=(f"{len(constant)} layer(s) start with constant kernels ({', '.join(_label(ctx, c) for c in constant[:4])}). "
                         "Every unit of such a layer computes the same thing and gets the same gradient, so they never become different."),
                line=line, layer=n.name, source_line=src,
                evidence={"layers": [c.name for c in constant],
                          "initializers": [type(c.layer.kernel_initializer).__name__ for c in constant]},
                fix="Remove kernel_initializer (the default glorot_uniform is fine) or use kernel_initializer='he_normal' with ReLU.",
            )
        )
    if len(scaled) >= 2:
        product = float(np.prod([s / r for _, s, r in scaled]))
        if product < INIT_SCALE_LOW or product > INIT_SCALE_HIGH:
            n = scaled[0][0]
            line, src = _loc(ctx, n)
            measured = _forward_gain(ctx)
            way = "shrink" if product < 1 else "grow"
            findings.append(
                Finding(
                    code="AE110",
                    severity="warning",
                    title=f"Initial weight scale makes signals {way} through the stack",
                    message=(
                        f"{len(scaled)} layers use a hand-set initializer scale; compared with the scale that keeps "
                        f"signals steady (He for ReLU, Glorot otherwise) each is off by "
                        + ", ".join(f"{s / r:.2f}x" for _, s, r in scaled[:6])
                        + f", so at initialisation signals {way} about {1 / product if product < 1 else product:.0f}x "
                        "from the first layer to the last"
                        + (f" (measured on a forward pass: output/input RMS = {measured:.3g})" if measured is not None else "")
                        + ". The gradient does the same on the way back."
                    ),
                    line=line, layer=n.name, source_line=src,
                    evidence={"layers": [x.name for x, _, _ in scaled], "init_std": [s for _, s, _ in scaled],
                              "recommended_std": [r for _, _, r in scaled], "scale_product": product,
                              "forward_rms_ratio": measured},
                    fix="Use kernel_initializer='he_normal' for ReLU layers and the default 'glorot_uniform' elsewhere.",
                )
            )
    return findings


def _probe_inputs(ctx: Context, n: int) -> np.ndarray | None:
    m = ctx.model
    shape = kc.safe_input_shape(m)
    if shape is None:
        return None
    dims = [d if d is not None else 8 for d in shape[1:]]
    if ctx.data is not None and list(ctx.data.shape[1:]) == list(shape[1:]) and len(ctx.data) >= n and ctx.data.dtype.kind in "fiub":
        idx = np.linspace(0, len(ctx.data) - 1, n).astype(int)
        x = np.asarray(ctx.data[idx], dtype="float32")
        if np.isfinite(x).all() and float(np.ptp(x)) > 0:
            return x
    rng = np.random.default_rng(ctx.options.seed)
    return rng.standard_normal((n, *dims)).astype("float32")


def _forward_gain(ctx: Context) -> float | None:
    x = _probe_inputs(ctx, 32)
    if x is None:
        return None
    try:
        y = kc.keras.ops.convert_to_numpy(ctx.model(x, training=False))
    except Exception:
        return None
    rx = float(np.sqrt(np.mean(np.square(x - x.mean(0)))))
    ry = float(np.sqrt(np.mean(np.square(y - y.mean(0)))))
    return ry / rx if rx > 0 else None


def check_output_ignores_input(ctx: Context) -> list[Finding]:
    """AE111: the reconstruction is identical for different inputs before training."""
    g = _graph(ctx)
    m = ctx.model
    if m is None or (g is None and kc.model_kind(m) != "subclassed") or (not kc.is_built(m) and kc.model_kind(m) != "subclassed"):
        return []
    x = _probe_inputs(ctx, 8)
    if x is None:
        return []
    try:
        y = np.asarray(kc.keras.ops.convert_to_numpy(m(x, training=False)), dtype="float64")
    except Exception:
        return []
    if y.ndim == 0 or y.shape[0] != x.shape[0]:
        return []
    spread = float(np.max(np.abs(y - y[0:1])))
    scale = float(np.max(np.abs(y))) + 1e-12
    if spread > IDENTICAL_RTOL * max(scale, 1.0):
        return _gradient_cut(ctx, g, x)
    cause = None
    if g is not None:
        for n in g.chain():
            if n.cls == "Lambda" or n.cls not in dir(kc.keras.layers):
                cause = n
                break
    node = cause or (g.nodes[g.outputs[0]] if g is not None and g.outputs else None)
    line, src = _loc(ctx, node)
    return [
        Finding(
            code="AE111",
            severity="error",
            title="The output does not depend on the input",
            message=(
                f"`{ctx.model_name}` gives the same output for {len(x)} different inputs (largest difference "
                f"{spread:.2g}) before any training"
                + (f"; {_label(ctx, cause)} is a custom layer on the only path and may replace its input" if cause else "")
                + ". Nothing the encoder sees reaches the reconstruction, so it cannot learn."
            ),
            line=line,
            layer=node.name if node else None,
            source_line=src,
            evidence={"inputs_compared": len(x), "max_output_difference": spread},
            fix="Make every layer's output depend on its input (no constants replacing it, no stop_gradient on the "
            "only path, no all-zero kernels).",
        )
    ]


# Layers that take integer ids: no gradient reaches their input by design.
_DISCRETE_INPUT_LAYERS = {"Embedding", "IntegerLookup", "StringLookup", "CategoryEncoding", "Hashing", "Discretization",
                          "TextVectorization"}


def _gradient_cut(ctx: Context, g: GraphInfo | None, x: np.ndarray) -> list[Finding]:
    """AE111, second form: the output changes with the input but its Jacobian is zero.

    A ``stop_gradient`` (or a non-differentiable op such as rounding) on the
    only path leaves the forward pass intact, so the encoder never learns.
    """
    m = ctx.model
    if g is None or any(n.cls in _DISCRETE_INPUT_LAYERS for n in g.nodes):
        return []
    # Built-in layers are differentiable: only a Lambda, a custom layer or a
    # raw op (keras.ops.stop_gradient on a KerasTensor) can cut the gradient,
    # so ordinary models skip the backward pass.
    if all(n.is_input or (n.cls != "Lambda" and n.cls in dir(kc.keras.layers)) for n in g.nodes):
        return []
    try:
        if any(not str(t.dtype).startswith("float") for t in kc.graph_inputs(m)):
            return []
        gmax = kc.input_gradient_max(m, x)
    except Exception:  # a model we cannot differentiate is not a finding
        return []
    if gmax is not None and gmax > 0.0:
        return []
    cause = next((n for n in g.chain() if n.cls == "Lambda" or n.cls not in dir(kc.keras.layers)), None)
    node = cause or (g.nodes[g.outputs[0]] if g.outputs else None)
    line, src = _loc(ctx, node)
    return [
        Finding(
            code="AE111",
            severity="error",
            title="No gradient flows from the output back to the input",
            message=(
                f"`{ctx.model_name}`'s output changes with its input, but its gradient with respect to the input is "
                + ("absent" if gmax is None else "exactly zero")
                + (f"; {_label(ctx, cause)} cuts it (a stop_gradient or a non-differentiable op)" if cause else "")
                + ". The loss cannot reach the layers before the cut, so the encoder never learns."
            ),
            line=line,
            layer=node.name if node else None,
            source_line=src,
            evidence={"inputs_compared": len(x), "input_gradient_max": gmax},
            fix="Remove the stop_gradient (or the rounding/casting op) from the path between the input and the output.",
        )
    ]


# -- AE112 / AE113 ---------------------------------------------------------------


def check_unbuilt(ctx: Context) -> list[Finding]:
    """AE112: the chosen model has no input shape (and the cell did not raise about it)."""
    m = ctx.model
    if m is None:
        return []
    if ctx.cell_error is not None and kc.is_unbuilt_error(ctx.cell_error.exception):
        return []  # explained from the exception
    original = getattr(ctx, "unbuilt_original", None)
    if original is None and kc.is_built(m):
        return []
    if original is None and kc.model_kind(m) != "sequential":
        return []
    name = ctx.model_name or "model"
    line = ctx.cell_line(ctx.assign_lines.get(name))
    built = ctx.built_from_data
    shape = tuple(ctx.data.shape[1:]) if ctx.data is not None else None
    return [
        Finding(
            code="AE112",
            severity="warning" if built else "error",
            title="Model has no input shape",
            message=(
                f"`{name}` is a Sequential without `keras.Input(...)`, so it has no input shape, no weights and no "
                "graph until it first sees data; `.input`, `.summary()` and graph checks fail on it."
                + (f" ae_magic built a copy from the data's shape {shape} and diagnosed that." if built
                   else " Pass --data so ae_magic can build a copy from the data's shape.")
            ),
            line=line,
            source_line=ctx.line_text(ctx.assign_lines.get(name)),
            evidence={"built_from_data": built, "data_shape": list(shape) if shape else None},
            fix=f"{name} = keras.Sequential([keras.Input(shape={shape or '(n_features,)'}), ...])",
        )
    ]


def check_subclassed(ctx: Context) -> list[Finding]:
    """AE113 (info): subclassed models have no graph to analyse."""
    m = ctx.model
    if m is None or kc.model_kind(m) != "subclassed":
        return []
    return [
        Finding(
            code="AE113",
            severity="info",
            title="Subclassed model: no graph to analyse",
            message=(f"`{ctx.model_name}` is a subclassed keras.Model; its call() is Python code, not a layer graph, "
                     "so the structural checks (bottleneck, bypass, dangling layers, shapes) are skipped. "
                     "Data checks and probes still run."),
            evidence={"class": type(m).__name__},
            fix="Write the model with the Functional API (keras.Input + layer calls) to get the structural checks.",
        )
    ]


CHECKS = [
    check_dangling,
    check_bypass,
    check_no_compression,
    check_shape,
    check_saturating_code,
    check_saturating_stack,
    check_output_loss,
    check_not_compiled,
    check_initializer,
    check_output_ignores_input,
    check_unbuilt,
    check_subclassed,
]
