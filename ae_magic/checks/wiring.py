"""Is every layer wired into the model, through the code?

AE102 (dangling-layer): a layer call whose output never reaches a model, or a
layer created and never called. AE103 (bottleneck-bypass): a path from the
input to the reconstruction that avoids the narrowest layer.
"""

from __future__ import annotations

import ast
import re
from typing import Any

import numpy as np

from .. import keras_compat as kc
from ..context import Context
from ..fit_calls import fit_calls
from ..graph import GNode, GraphInfo, _Builder
from ..report import Finding
from .locate import assigned_at, graph_of, label, loc
from .teacher_forcing import decoder_feed


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
    if ctx.model is None or graph_of(ctx) is None:
        return []
    tensors, layers = _model_tensor_ids(ctx)
    model_layers = {id(layer) for m in [ctx.model, *ctx.other_models.values()] for layer in _all_layers(m)}
    findings: list[Finding] = []
    g = graph_of(ctx)
    shortcut = copying_shortcut(ctx, g)
    meant = _meant_for_shortcut(ctx, g, shortcut[0]) if shortcut else None
    skipped = skipped_code(ctx, g)
    skipped_chain = {id(c) for c in skipped[3]} if skipped else set()
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
        # (A skipped code of a model as wide as its input: AE103 names the reader, AE102 stays at the code.)
        sibling = None if id(call) in skipped_chain else _sibling_reader(ctx, g, call, tensors)
        also, fix, at, at_src = "", None, line, src
        if sibling is not None:
            reader, rewritten, read = sibling
            # The code the cell computed and the model never reads, while the model's next call reads what the
            # code was computed from (round 75's dl01: `encoded = Dense(32)(h)`, then `d = Dense(64)(h)`).
            also = (f" It is narrower than anything on the model's path ({g.code_width} features), and line "
                    f"{ctx.cell_line(reader.line)} reads `{read}` beside it: the decoder skips the code."
                    if len(call.inputs) == 1 else
                    f" Line {ctx.cell_line(reader.line)} reads `{read}`, one of its inputs, where `{name}` belongs: "
                    f"the model goes around {call.layer_class} '{call.layer_name}'.")
            at, at_src, fix = ctx.cell_line(reader.line), ctx.line_text(reader.line), rewritten
        findings.append(
            Finding(
                code="AE102",
                severity="warning",
                title="Layer output never reaches the model's output",
                message=(
                    f"{what} on line {line} is computed from {', '.join(f'`{f}`' for f in fed) or 'a tensor'} "
                    f"but is not used by `{ctx.model_name}` (nor by any other model in the cell): "
                    f"its layer {call.layer_class} '{call.layer_name}' is not part of the model and is never trained."
                    + also
                ),
                line=at,
                layer=call.layer_name,
                source_line=at_src,
                evidence={"variable": name, "layer": call.layer_name, "inputs": fed,
                          "output_shape": [list(o.shape) for o in call.outputs],
                          # the part a shortcut around the code was meant to read (AE103 explains it)
                          **({"meant_for_shortcut": True} if meant is call else {}),
                          **({"skipped_code": True} if id(call) in skipped_chain else {})},
                fix=fix or (
                    f"Feed {what} into the next layer, e.g. `decoded = Dense(...)({name})`, "
                    "or delete the line if it is not needed."
                    if name
                    else "Use this layer's output in the model, or delete the call."
                ),
            )
        )
    called_in_source = _called_names(ctx.source)
    for name in ctx.bound:
        obj = ctx.namespace.get(name)
        if not kc.is_layer(obj) or kc.is_model(obj) or id(obj) in model_layers or id(obj) in layers:
            continue
        if any(c.layer is obj for c in ctx.calls) or getattr(obj, "_inbound_nodes", None):
            continue
        if name in called_in_source:
            # Called on data outside the model (round 40: a TextVectorization adapted on sentences and called on
            # them to make the integer ids the model trains on): preprocessing, not a layer left out.
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


def _called_names(source: str | None) -> set[str]:
    """The bare names the cell calls anywhere (``vectorizer(texts)``); empty when the source does not parse."""
    try:
        tree = ast.parse(source or "")
    except SyntaxError:
        return set()
    return {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}


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


def _sibling_reader(ctx: Context, g: GraphInfo, call: Any, tensors: set[int]) -> tuple[Any, str, str] | None:
    """``(reader, its line rewritten, the input it reads)`` when a later call of the model reads an input of the
    dangling ``call`` (a name bound to its output) where ``call``'s output belongs. None otherwise.

    Two forms: ``call`` has one input and is narrower than the model's code (round 75's dl01: ``encoded =
    Dense(32)(h)``, then ``d = Dense(64)(h)``); or it joins several tensors of its output's shape into one (a VAE's
    ``z = Sampling()([z_mean, z_log_var])``, then ``decoder(z_mean)``: round 81's fb10).
    """
    name = call.variable
    if not name or not call.inputs or call.line is None:
        return None
    out_shape = tuple(call.outputs[0].shape)
    if len(call.inputs) == 1:
        w = kc.width_of(out_shape)
        if g.code_width is None or w is None or w >= g.code_width:
            return None
    elif any(tuple(getattr(t, "shape", ())) != out_shape for t in call.inputs):
        return None
    readers = [(c, t) for c in ctx.calls if c.direct and c.outputs and c is not call and (c.line or 0) > call.line
               and any(id(o) in tensors for o in c.outputs) for t in call.inputs if any(t is i for i in c.inputs)]
    for reader, t in sorted(readers, key=lambda ct: ct[0].line or 0):
        src_var = ctx.var_of(t)
        text = ctx.line_text(reader.line) or ""
        hits = list(re.finditer(rf"\(\s*{re.escape(src_var)}\s*\)", text)) if src_var else []
        if hits:
            last = hits[-1]
            return reader, text[:last.start()] + f"({name})" + text[last.end():], src_var
    return None


def narrow_dangling(ctx: Context, g: GraphInfo) -> list[Any]:
    """Dangling cell calls fed from the model's graph and narrower than the input (AE103 explains AE104 then)."""
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


def skipped_code(ctx: Context, g: GraphInfo) -> tuple[Any, Any, Any, list[Any]] | None:
    """When the model's path never reaches a code the cell computed: ``(first, end, reader, chain)``.

    ``first``: the narrow dangling call (:func:`narrow_dangling`); ``chain``: it and every dangling call fed
    by it, in cell order; ``end``: the chain's last call (round 63's co04: ``state = LSTM(96)(embedded)``,
    ``z = Dense(24)(state)``, ``repeated = RepeatVector(12)(z)``); ``reader``: the model's call that reads the
    tensor the chain starts from, the one that should read ``end`` (``LSTM(96, ...)(embedded)``), or None.
    Only for a model as wide as its input (AE104's form) and the input as its target.
    """
    if g.input_width is None or g.code_width is None or g.code_width < g.input_width or _other_target(ctx):
        return None
    narrow = narrow_dangling(ctx, g)
    if not narrow:
        return None
    first = narrow[0]
    chain, frontier = [first], {id(o) for o in first.outputs}
    for c in ctx.calls:
        if c is first or not c.direct or not c.outputs or any(id(o) in g.tensor_ids for o in c.outputs):
            continue
        if any(id(t) in frontier for t in c.inputs):
            chain.append(c)
            frontier |= {id(o) for o in c.outputs}
    end = chain[-1]
    start = {id(t) for t in first.inputs}
    readers = [c for c in ctx.calls if c.direct and c.outputs and any(id(o) in g.tensor_ids for o in c.outputs)
               and any(id(t) in start for t in c.inputs)]
    later = [c for c in readers if (c.line or 0) > (end.line or 0)]
    return first, end, (later or readers or [None])[0], chain


def _condition_width(ctx: Context) -> int | None:
    """When the target is a block of a wider input's last axis (a conditional model's image with its label
    appended): how many of the input's features are not the target. Else None."""
    t, d = ctx.target, ctx.data
    if t is None or d is None or t is d:
        return None
    try:
        a, b = np.asarray(d[:64]), np.asarray(t[:64])
        if a.ndim == b.ndim and a.shape[:-1] == b.shape[:-1] and b.shape[-1] < a.shape[-1] and not _other_target(ctx):
            return int(np.prod(a.shape[1:]) - np.prod(b.shape[1:]))
    except Exception:
        return None
    return None


def _other_target(ctx: Context) -> bool:
    """Whether the check was given a target that differs from the input (a few rows compared).

    A target that is a block of the input's last axis is not another target: a conditional autoencoder's
    input is the image with its label appended and its target the image (round 62's cm06), so a path that
    copies the input around the code gives the target as surely as in a plain autoencoder.
    """
    t, d = ctx.target, ctx.data
    if t is None or d is None or t is d:
        return False
    try:
        a, b = np.asarray(d[:64]), np.asarray(t[:64])
        if a.shape == b.shape:
            return not np.array_equal(a, b)
        if a.ndim == b.ndim and a.shape[:-1] == b.shape[:-1] and b.shape[-1] < a.shape[-1]:
            width = b.shape[-1]
            return not any(np.array_equal(a[..., o:o + width], b) for o in range(a.shape[-1] - width + 1))
        return True
    except Exception:  # an odd target: judge the model as an autoencoder of its input
        return False


def _shortcut(g: GraphInfo) -> tuple[GNode, GNode, list[GNode], list[int]]:
    """The first bypass path's ``(leave, join, between, path)``: where it leaves the main path, where it joins it
    again, the nodes on the way that the main path does not take."""
    path = g.bypass_paths[0]
    main_edges = set(zip(g.main_path, g.main_path[1:], strict=False))
    # The first edge of the bypass that the main path does not take: where
    # the shortcut leaves; the next node back on the main path: where it joins.
    k = next((i for i in range(len(path) - 1) if (path[i], path[i + 1]) not in main_edges), 0)
    main = set(g.main_path)
    join = next((g.nodes[i] for i in path[k + 1 :] if i in main), g.nodes[path[-1]])
    between = [g.nodes[i] for i in path[k + 1 :] if i not in main]
    return g.nodes[path[k]], join, between, path


def copying_shortcut(ctx: Context, g: GraphInfo) -> tuple[GNode, GNode, list[GNode], list[int]] | None:
    """The bypass AE103 reports (:func:`_shortcut`), or None: no bypass, a target the input's copy would not give
    (denoising, colourising), or a shortcut no wider than the condition appended to the target's block (a
    conditional VAE's label sliced off its input and concatenated to ``z``)."""
    if not g.bypass_paths or g.code is None or _other_target(ctx):
        return None
    found = _shortcut(g)
    start = g.nodes[found[3][0]]
    if start.is_input and _decoder_feed(ctx, start.name) == "shifted":
        # Teacher forcing: the decoder's input is the target one step behind, the past only (keras.io's seq2seq).
        return None
    condition = _condition_width(ctx)
    if condition is not None:
        leave, _, between, _ = found
        widths = [n.width for n in between if n.width is not None] or [leave.width]
        if widths[0] is not None and min(widths) <= condition:
            return None
    return found


def _meant_for_shortcut(ctx: Context, g: GraphInfo, leave: GNode) -> Any:
    """A dangling call on the shortcut's source that is narrower than it: the part the user meant to feed.

    A conditional VAE slices the label off its image-and-label input and then concatenates the whole input to
    ``z`` (round 62's cm06): the unused ``label`` is what the concatenation should read.
    """
    if not leave.variable:
        return None
    tensors, _ = _model_tensor_ids(ctx)
    for call in ctx.calls:
        if not call.direct or not call.outputs or not call.variable or any(id(o) in tensors for o in call.outputs):
            continue
        if [ctx.var_of(t) for t in call.inputs] != [leave.variable]:
            continue
        w = kc.width_of(call.outputs[0].shape)
        if w is not None and leave.width is not None and w < leave.width:
            return call
    return None


def _decoder_feed(ctx: Context, input_name: str) -> str | None:
    found = decoder_feed(ctx, input_name)
    return found[0] if found is not None else None


def _feed_line(ctx: Context, name: str, array: Any) -> tuple[int | None, str | None]:
    """Where the cell made the array it feeds the decoder: its own assignment, or the fit call when it is the
    data itself (``fit([x, x], x)``)."""
    if array is not ctx.data and name != ctx.data_name and name.isidentifier():
        line, text = assigned_at(ctx, name)
        if line is not None:
            return line, text
    calls = fit_calls(ctx.source, ctx.model_name)
    if calls:
        return ctx.cell_line(calls[0].lineno), ctx.line_text(calls[0].lineno)
    return None, None


def check_bypass(ctx: Context) -> list[Finding]:
    """AE103: a path from input to reconstruction avoids the narrowest layer."""
    g = graph_of(ctx)
    if g is None or g.code is None:
        return []
    findings: list[Finding] = []
    code = g.nodes[g.code]
    shortcut = copying_shortcut(ctx, g)
    if g.bypass_paths and shortcut is None:
        # Image-to-image (inpainting, denoising, colourising: the target is not the input): copying the input
        # around the code does not give the target, and U-Net skips are how such models keep detail (round 25).
        # Nor does a conditional model's label, sliced off its input and concatenated to the code.
        pass
    elif shortcut is not None:
        leave, join, between, path = shortcut
        line, src = loc(ctx, join)
        via = (" through " + " -> ".join(label(ctx, n) for n in between[:4])) if between else " directly"
        bypass_w = max(w for w, _ in g.path_minima if w is not None)
        fix = ("Remove the skip/concatenate connection around the code, or narrow it, so every path passes "
               "through the bottleneck (skip connections belong in U-Nets, not in compressing autoencoders).")
        meant = _meant_for_shortcut(ctx, g, leave)
        also, evidence_meant = "", {}
        start = g.nodes[path[0]]
        fed = decoder_feed(ctx, start.name) if start.is_input else None
        if fed is not None and fed[0] == "target":
            # The decoder is fed the very values it must predict (round 74's dk02): the line that made that array.
            at, text = _feed_line(ctx, fed[1], fed[2])
            if at is not None:
                line, src = at, text
            also = (f" The cell's fit feeds {label(ctx, start)} `{fed[1]}`, which holds the target itself, not the "
                    "target shifted one step behind a start token: each step of the decoder reads the value it "
                    "must predict, so it copies it and the encoder's state is never needed.")
            evidence_meant = {"decoder_input": fed[1], "decoder_input_is_target": True}
            t = ctx.target_name or ctx.data_name or "target"
            fix = ("# teacher forcing: the decoder reads the target one step behind, a start token first\n"
                   f"{fed[1]} = np.concatenate([np.zeros_like({t}[:, :1]), {t}[:, :-1]], axis=1)")
        if meant is not None:
            also = (f" `{meant.variable}` (line {ctx.cell_line(meant.line)}), the part of `{leave.variable}` "
                    f"that {label(ctx, join)} seems meant to read, is computed but never used.")
            evidence_meant = {"meant": meant.variable}
            own = src.split("#")[0].rstrip() if src else ""
            swapped = re.sub(rf"(?<![\w.]){re.escape(leave.variable)}(?!\w)", meant.variable, own)
            if own and swapped != own and not join.is_input:
                fix = f"Feed `{meant.variable}` where the whole `{leave.variable}` goes around the code:\n{swapped.strip()}"
        findings.append(
            Finding(
                code="AE103",
                severity="warning",
                title="A path to the output bypasses the bottleneck",
                message=(
                    f"The narrowest layer is {label(ctx, code)} with {g.code_width} features, but "
                    f"{label(ctx, leave)} also feeds {label(ctx, join)}{via}, skipping the code: a path "
                    f"with at least {bypass_w} features reaches the output. The model can copy the input "
                    "around the code instead of compressing it." + also
                ),
                line=line,
                layer=join.name,
                source_line=src,
                evidence={"code_layer": code.name, "code_width": g.code_width,
                          "bypass": [g.nodes[i].name for i in path], "bypass_min_width": bypass_w,
                          "shortcut_from": leave.name, "shortcut_to": join.name, **evidence_meant},
                fix=fix,
            )
        )
    else:
        # Not for a denoising set-up, where a code as wide as the input is legitimate (AE104 is not said either):
        # a narrower call beside it is then a side head, not a skipped code (round 37: DeepLearning.AI's
        # denoising CNN with an `encoder_visualization` conv on its bottleneck, for a second model).
        skipped = skipped_code(ctx, g)
        if skipped is not None:
            first, end, reader_call, chain = skipped
            name = first.variable or first.layer_name
            widths = [(kc.width_of(c.outputs[0].shape), k) for k, c in enumerate(chain)]
            width, k = min(((w, k) for w, k in widths if w is not None), default=(None, 0))
            code_name = chain[k].variable or chain[k].layer_name
            fed = ctx.var_of(first.inputs[0]) if first.inputs else None
            reader = next((n for n in g.nodes if reader_call is not None and n.layer is reader_call.layer), None)
            if reader is None:  # the layer that reads the input directly: first non-input node on the main path
                reader = next((g.nodes[i] for i in g.main_path if not g.nodes[i].is_input), g.nodes[g.outputs[0]])
            meant = end.variable or name
            line, src = loc(ctx, reader)
            via = (f", the end of the code path that starts at `{name}` (line {ctx.cell_line(first.line)})"
                   if end is not first else f" (line {ctx.cell_line(first.line)}, {width} features)")
            fix_line = src.split("#")[0].rstrip() if src else ""
            swapped = fix_line.replace(f"({fed})", f"({meant})") if fed else fix_line
            findings.append(
                Finding(
                    code="AE103",
                    severity="warning",
                    title="The decoder reads the input directly, bypassing the code",
                    message=(
                        f"{label(ctx, reader)} is called on `{fed or 'the input'}` instead of on "
                        f"`{meant}`{via}. So `{ctx.model_name}` never passes through the {width}-wide code "
                        f"`{code_name}`: it maps {g.input_width} features to {g.input_width} directly and can "
                        "learn to copy."
                    ),
                    line=line,
                    layer=reader.name,
                    source_line=src,
                    evidence={"code_variable": code_name, "code_width": width, "input_width": g.input_width,
                              "reader": reader.name, "meant": meant},
                    fix=(f"Call the decoder on the code:\n{swapped}" if fix_line and swapped != fix_line else
                         f"Call the decoder layer on `{meant}` instead of `{fed}`."),
                )
            )
    return findings


# Names of a model that stands for the autoencoder's code (its variable or its Keras name).
_CODE_MODELS = ("encod", "extract", "embed", "latent", "bottleneck", "compress")
# Names of a tensor that is the code.
_CODE_NAMES = ("code", "encod", "latent", "bottleneck", "embed", "compress")
# Names of a head that renders the code for viewing rather than being it.
_VIEW_HEADS = ("vis", "plot", "display", "show", "image", "preview")


# How many of the encoder's own layers the off-path check walks back through to reach the autoencoder's path.
_ENCODER_DEPTH = 12


def check_encoder_off_path(ctx: Context) -> list[Finding]:
    """AE103: the cell's standalone encoder outputs a code the autoencoder never passes through.

    Round 47 (au07): ``encoder = Model(inp, code)`` and ``autoencoder = Model(inp, out)`` where the decoder's
    first layer reads ``h1`` instead of ``code``. The autoencoder is narrower than its input, so AE104 is
    silent, and ``code`` feeds a model, so AE102 is too; but ``fit`` never trains the code layer, and the
    encoder used for features afterwards is a random projection of ``h1``.
    """
    g = graph_of(ctx)
    if g is None or ctx.model is None or g.code_width is None or _other_target(ctx):
        # (A denoiser's narrower model beside its bottleneck is a side head, as for AE103's other forms: round 37's
        # DeepLearning.AI denoising CNN with an `encoder_visualization` conv for a second model.)
        return []
    findings: list[Finding] = []
    for name, other in ctx.other_models.items():
        if not any(w in f"{name} {getattr(other, 'name', '')}".lower() for w in _CODE_MODELS):
            continue  # a classifier or other head built beside the autoencoder is not its code
        if kc.model_kind(other) == "subclassed" or not kc.is_built(other):
            continue
        try:
            outs = list(kc.graph_outputs(other))
        except Exception:  # a model whose graph can't be read: nothing to compare
            continue
        for t in outs:
            width = kc.width_of(t.shape)
            call = ctx.call_for_output(t)
            if id(t) in g.tensor_ids or width is None or width >= g.code_width or call is None:
                continue
            # The code branches off the autoencoder's path: its input is on it, and another layer reads that input.
            # Walked back through the encoder's own layers when they are off the path too (round 59's cg06: the
            # decoder's first Dense reads `inputs`, so the whole encoder, not just its code layer, is left out).
            chain, cur, branch = [call], call, None
            for _ in range(_ENCODER_DEPTH):
                branch = next((x for x in cur.inputs if id(x) in g.tensor_ids), None)
                prev = None if branch is not None else next(
                    (p for p in (ctx.call_for_output(x) for x in cur.inputs) if p is not None), None)
                if prev is None:
                    break
                chain.append(prev)
                cur = prev
            if branch is None:
                continue
            own = {id(c.layer) for c in chain}
            reader = next((c for c in ctx.calls if id(c.layer) not in own and any(x is branch for x in c.inputs)
                           and any(id(o) in g.tensor_ids for o in c.outputs)), None)
            if reader is None:
                continue
            code_var = call.variable or call.layer_name
            names = f"{code_var} {call.layer_name}".lower()
            if any(w in names for w in _VIEW_HEADS) or not any(w in names for w in _CODE_NAMES):
                # A head that shows the code (round 37's `encoder_visualization`) or projects it further (a 2-D
                # plot head), not the code itself: the graph alone can't tell them apart, the names can.
                continue
            fed = ctx.var_of(branch) or getattr(branch, "name", "the tensor")
            line, src = ctx.cell_line(reader.line), ctx.line_text(reader.line)
            same = next((f for f in ctx.found if f.code == "AE103" and f.layer == reader.layer_name), None)
            if same is not None:
                # The bypass check named this very call already (round 78's du05 got both): one finding, with
                # what the encoder model adds to it.
                same.message += (f" `{name}` outputs that code, so fit never trains its layer '{call.layer_name}' and "
                                 f"`{name}`'s output stays a random projection of `{fed}`.")
                same.evidence["encoder"] = name
                return findings
            findings.append(
                Finding(
                    code="AE103",
                    severity="warning",
                    title="The autoencoder bypasses its encoder's code",
                    message=(
                        f"`{name}` outputs the code `{code_var}` ({width} features, line {ctx.cell_line(call.line)}), but "
                        f"`{ctx.model_name}` never passes through it: {reader.layer_class} '{reader.layer_name}' on line "
                        f"{line} reads `{fed}`, "
                        + ("the code's own input" if len(chain) == 1 else
                           f"the input the encoder starts from ({len(chain)} layers before the code)")
                        + ", so the decoder goes around the code. fit never trains "
                        + (f"the code layer '{call.layer_name}'" if len(chain) == 1 else
                           f"the encoder's {len(chain)} layers")
                        + f", and `{name}`'s output stays a random projection "
                        f"of `{fed}` (the autoencoder's narrowest layer is {g.code_width} wide instead of {width})."
                    ),
                    line=line,
                    layer=reader.layer_name,
                    source_line=src,
                    evidence={"code_variable": code_var, "code_width": width, "encoder": name,
                              "reader": reader.layer_name, "reads": fed},
                    fix=(f"Call the decoder on the code:\n{src.split('#')[0].rstrip().replace(f'({fed})', f'({code_var})')}"
                         if src and f"({fed})" in src else f"Call the decoder's first layer on `{code_var}` instead of `{fed}`."),
                )
            )
            return findings
    return findings


CHECKS = [check_dangling, check_bypass, check_encoder_off_path]
