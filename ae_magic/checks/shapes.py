"""Does the reconstruction have the input's shape?

AE105 (shape-mismatch): naming the layer where the decoder departs from the
mirrored encoder (``GraphInfo.divergence``).
"""

from __future__ import annotations

import ast
import itertools
from typing import Any

import numpy as np

from .. import keras_compat as kc
from ..context import Context
from ..report import Finding
from .categorical import class_index_targets
from .locate import graph_of, label, loc
from .split_outputs import split_outputs


def check_shape(ctx: Context) -> list[Finding]:
    """AE105: the reconstruction's shape differs from the input's."""
    g = graph_of(ctx)
    if g is None:
        g = _parts_graph(ctx)
    if g is None or g.divergence is None:
        return []
    if class_index_targets(ctx):
        return []  # sparse categorical: the output has one axis more than its class-index target, by design
    d = g.divergence
    if len(g.outputs) > 1 and any(g.nodes[o].shape[1:] == d["input_shape"] for o in g.outputs):
        return []
    if split_outputs(g):
        return []  # one head per group of columns (numbers, a one-hot category): together they make the input
    t = ctx.target
    if t is not None and t is not ctx.data and list(np.shape(t)[1:]) == list(d["output_shape"]):
        return []  # the output has the target's shape (gray -> colour, low -> high resolution): by design
    node = next((n for n in g.nodes if n.name == d["node"]), None)
    ins, outs = tuple(d["input_shape"]), tuple(d["output_shape"])
    if _distribution_head(ctx, ins, outs):
        return []
    reason = d.get("reason")
    flat = _lost_time_axis(g, ins, outs)
    repeat = None if flat is not None else _wrong_repeat(g, ins, outs)
    node = flat or repeat or node
    line, src = loc(ctx, node)
    where = label(ctx, node) if node else f"'{d['node']}'"
    if flat is not None:
        detail = (
            f"The decoder loses the time axis at {where}: after the RepeatVector it returns only its last state "
            f"(return_sequences=False), so everything after it makes {_fmt(outs)} per sequence instead of "
            f"{_fmt(ins)}. fit does not stop on this: the loss broadcasts the one value over the {ins[0]} steps, "
            "so the reconstruction is a flat line."
        )
        fix = (f"`layers.{flat.cls}({_units(flat)}, return_sequences=True)` on that line, so the decoder outputs "
               f"one vector per step and the last layer maps each to {ins[-1]} feature(s).")
    elif repeat is not None:
        detail = (f"The RepeatVector at {where} repeats the code {outs[0]} times, so the decoder makes {outs[0]} time "
                  f"steps where the input has {ins[0]}.")
        fix = f"`layers.RepeatVector({ins[0]})` on that line: one copy of the code per time step of the input."
    elif reason == "resize" and d.get("expected") is None and list(d.get("previous") or []) == list(ins[:-1]):
        # The decoder was already at the input's size and resized once more (round 66's ct09: strides=2 on the
        # last Conv2DTranspose, 28x28 -> 56x56).
        detail = (f"The decoder already makes the input's {_fmt(ins[:-1])} before {where}, which resizes it once "
                  f"more to {_fmt(d['actual'])}: one upsampling step too many.")
        fix = ("`strides=1` on that line (or drop one UpSampling step), so the decoder ends at "
               f"{_fmt(ins[:-1])} like the input.")
    elif reason == "resize" and (lossy := _valid_padding_loss(g, d)) is not None:
        # The decoder mirrors the encoder's strides, but one strided encoder layer without padding dropped its
        # kernel's edges (round 74's dk04: 1000 -> 500 -> 246 -> 123 -> 246 -> 492 -> 984): the fix is there.
        enc_node, before, after, clean = lossy
        node = enc_node
        line, src = loc(ctx, node)
        where = label(ctx, node)
        detail = (
            f"The encoder's {where} makes {_fmt(after)} from {_fmt(before)}: with padding='valid' a strided layer "
            f"drops its kernel's edges ({_fmt(clean)} with padding='same'), so the decoder, undoing each stride, "
            f"ends at {_fmt(outs[:-1])} instead of {_fmt(ins[:-1])}."
        )
        fix = "`padding=\"same\"` on that line, so each strided layer divides the size exactly and the decoder can undo it."
    elif reason in ("resize", "start") and (one := _one_padding_edit(g, ins, outs)) is not None:
        # One decoder convolution with padding="same" where the tutorial's has "valid" (round 84's ib01, the Keras
        # blog's conv autoencoder: 16x16 -> 14x14 before the last UpSampling2D makes 28x28): the only one-word fix.
        node, size, smaller = one
        line, src = loc(ctx, node)
        where = label(ctx, node)
        detail = (f"With padding='valid' at {where} its {_fmt(size)} would become {_fmt(smaller)}, and the "
                  f"upsampling after it would end at the input's {_fmt(ins[:-1])}; with padding='same' it ends at "
                  f"{_fmt(outs[:-1])}. No other single convolution's padding gives the input's size.")
        fix = "`padding=\"valid\"` on that line, so the decoder ends at the input's size."
    elif reason == "resize":
        detail = (
            f"The decoder's sizes first depart from the mirrored encoder at {where}: it makes "
            f"{_fmt(d['actual'])} from {_fmt(d['previous'])} where the encoder had {_fmt(d['expected'])}."
        )
        fix = _resize_fix(d, ins, outs)
        const = _length_constant(ctx, ins[0]) if len(ins) == 2 and isinstance(ins[0], int) else None
        if const is not None:
            # Round 87's lb05: keras.io's timeseries Conv1D autoencoder with TIME_STEPS = 30 (the example's 288 is
            # divisible by 4): the window length the cell chose is the one number to change.
            raw, name = const
            line, src = ctx.cell_line(raw), ctx.line_text(raw)
            detail += (f" The window length is the cell's `{name}` = {ins[0]} (line {line}), which the encoder's "
                       "strides do not divide.")
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
            layer=node.name if node is not None else d["node"],
            source_line=src,
            evidence={k: v for k, v in d.items() if k != "line"},
            fix=fix,
        )
    ]


_CONVS = {"Conv1D", "Conv2D", "Conv3D", "SeparableConv1D", "SeparableConv2D", "DepthwiseConv1D", "DepthwiseConv2D"}


def _one_padding_edit(g: Any, ins: tuple[Any, ...], outs: tuple[Any, ...]) -> tuple[Any, list[int], list[int]] | None:
    """``(node, its size, its size with padding='valid')`` for the one stride-1 convolution with ``padding="same"``
    on the main path whose switch to ``"valid"`` makes the output the input's size, where everything after it only
    multiplies the size (upsampling); None when no such layer or more than one."""
    if len(ins) != len(outs) or len(ins) < 2 or not all(isinstance(v, int) and v > 0 for v in (*ins[:-1], *outs[:-1])):
        return None
    want, final = list(ins[:-1]), list(outs[:-1])
    if not all(f > w for f, w in zip(final, want, strict=True)):
        return None  # only a decoder that ends too large loses size by dropping its padding
    hits = []
    chain = g.chain()
    for i, node in enumerate(chain):
        layer = node.layer
        if node.cls not in _CONVS or getattr(layer, "padding", None) != "same":
            continue
        size = list(node.shape[1:-1])
        kernel = list(getattr(layer, "kernel_size", ()) or ())
        strides = list(getattr(layer, "strides", ()) or ())
        dil = list(getattr(layer, "dilation_rate", ()) or ()) or [1] * len(kernel)
        if (len(size) != len(final) or len(kernel) != len(size) or any(st != 1 for st in strides)
                or not all(isinstance(v, int) and v > 0 for v in size)):
            continue
        if any(f % v for f, v in zip(final, size, strict=True)) or not _only_multiplies(chain[i:], len(size)):
            continue
        factor = [f // v for f, v in zip(final, size, strict=True)]
        smaller = [v - (k - 1) * r for v, k, r in zip(size, kernel, dil, strict=True)]
        if all(sm > 0 and sm * u == w for sm, u, w in zip(smaller, factor, want, strict=True)):
            hits.append((node, size, smaller))
    return hits[0] if len(hits) == 1 else None


def _only_multiplies(nodes: list[Any], axes: int) -> bool:
    """Each node's spatial size is its predecessor's times a whole factor (upsampling, or the same size)."""
    sizes = [list(n.shape[1:-1]) for n in nodes]
    if any(len(sz) != axes or not all(isinstance(v, int) and v > 0 for v in sz) for sz in sizes):
        return False
    return all(b >= a and b % a == 0 for prev, cur in itertools.pairwise(sizes) for a, b in zip(prev, cur, strict=True))


def _valid_padding_loss(g: Any, d: dict[str, Any]) -> tuple[Any, list[int], list[int], list[int]] | None:
    """``(node, size before, size after, size with padding='same')`` for the first strided encoder layer with
    ``padding="valid"`` whose output is not its input's size divided by its stride, when every other encoder step
    divides exactly (the decoder can undo those); else None."""
    sizes = [tuple(e) for e in d.get("encoder_sizes") or []]
    lossy = []
    for k in range(len(sizes) - 1):
        a, b = sizes[k], sizes[k + 1]
        if not all(isinstance(v, int) and v > 0 for v in (*a, *b)) or len(a) != len(b):
            return None
        ratio = [max(1, round(x / y)) for x, y in zip(a, b, strict=True)]
        clean = [-(-x // r) for x, r in zip(a, ratio, strict=True)]
        if list(b) != clean:
            if any(x % r for x, r in zip(a, ratio, strict=True)):
                return None  # an odd size (7 -> 3 by a 2x2 pooling): padding="same" gives 4, which 2x upsampling can't undo either
            lossy.append((k, clean))
    if len(lossy) != 1:
        return None
    k, clean = lossy[0]
    for node in g.chain():
        layer = node.layer
        strides = getattr(layer, "strides", None)
        if (getattr(layer, "padding", None) == "valid" and strides is not None
                and any(int(v) > 1 for v in np.atleast_1d(strides))
                and tuple(node.shape[1:1 + len(sizes[k + 1])]) == sizes[k + 1]):
            return node, list(sizes[k]), list(sizes[k + 1]), clean
    return None


def _parts_graph(ctx: Context) -> Any:
    """The graph of ``decoder(encoder(x))`` for a subclassed model with functional ``encoder`` and ``decoder``
    attributes (keras.io's VAE and its own ``train_step``), where the decoder's output is not the input's shape.

    Round 66's ct09: the last ``Conv2DTranspose`` of such a VAE had ``strides=2``, so the decoder made 56x56 for
    28x28 digits; the model has no graph of its own, and fit fails inside the ``train_step`` at the loss line.
    The two parts are called on a new symbolic input (no value runs through them), and the nodes those calls
    add to the parts' history are taken off again, so the user's sub-models are left as they were.
    """
    from ..graph import analyze

    model, data = ctx.model, ctx.data
    if model is None or kc.model_kind(model) != "subclassed" or data is None or np.ndim(data) < 2:
        return None
    enc, dec = getattr(model, "encoder", None), getattr(model, "decoder", None)
    if not all(kc.is_model(m) and kc.model_kind(m) != "subclassed" and kc.is_built(m) for m in (enc, dec)):
        return None
    try:
        want = tuple(np.shape(data)[1:])
        if len(enc.inputs) != 1 or len(dec.inputs) != 1 or tuple(enc.inputs[0].shape[1:]) != want:
            return None
        if tuple(dec.outputs[0].shape[1:]) == want:
            return None
        code_shape = tuple(dec.inputs[0].shape[1:])
        codes = [t for t in kc.keras.tree.flatten(enc.outputs) if tuple(t.shape[1:]) == code_shape]
        if not codes:
            return None
    except Exception:
        return None
    kept = {id(m): (m, list(m._inbound_nodes), list(m._outbound_nodes)) for m in (enc, dec)}
    try:
        inp = kc.keras.Input(shape=want)
        outs = kc.keras.tree.flatten(enc(inp))
        # keras.io's encoder returns [z_mean, z_log_var, z]: the sample z, its last code-shaped output, is what
        # its train_step hands the decoder.
        code = [t for t in outs if tuple(t.shape[1:]) == code_shape][-1]
        twin = kc.keras.Model(inp, dec(code))
        g = analyze(Context(source=ctx.source, namespace={}, calls=ctx.calls, model=twin,
                            creation_lines=ctx.creation_lines))
    except Exception:
        return None
    finally:
        for m, inbound, outbound in kept.values():
            m._inbound_nodes[:] = inbound
            m._outbound_nodes[:] = outbound
    return g if g.has_graph else None


def _distribution_head(ctx: Context, ins: tuple, outs: tuple) -> bool:
    """The output holds k >= 2 values per input feature (a mean and a variance side by side) and the cell's own
    loss function reads them: a Gaussian-output AE (round 58's ce10, ``Concatenate()([x_mean, x_var])`` with a
    hand-written NLL that slices ``y_pred[:, :d]``). A built-in loss would fail on it in fit; a user's loss takes
    the output apart by design, so AE105 would call a working model broken."""
    model = ctx.model
    if model is None or not kc.is_compiled(model) or len(ins) != len(outs) or not ins or ins[:-1] != outs[:-1]:
        return False
    if not (isinstance(ins[-1], int) and isinstance(outs[-1], int) and ins[-1] > 0):
        return False
    if outs[-1] % ins[-1] or outs[-1] // ins[-1] < 2:
        return False
    loss = kc.compiled_loss(model)
    if loss is None or isinstance(loss, (str, list, tuple, dict)):
        return False
    module = getattr(loss, "__module__", None) or type(loss).__module__
    if str(module).startswith("keras"):
        return False
    ctx.cache["distribution_head"] = outs[-1] // ins[-1]
    return True


def _lost_time_axis(g: Any, ins: tuple, outs: tuple) -> Any:
    """The decoder's recurrent layer that drops the time axis (return_sequences=False after a RepeatVector), if any.

    Only for a sequence input ``(steps, features)`` reconstructed as one
    vector per sample: the classic missing ``return_sequences=True`` on the
    last LSTM of a RepeatVector decoder.
    """
    if len(ins) != 2 or len(outs) != 1:
        return None
    path = [g.nodes[i] for i in g.main_path]
    repeat = max((i for i, n in enumerate(path) if n.cls == "RepeatVector"), default=None)
    if repeat is None:
        return None
    return next((n for n in reversed(path[repeat + 1:]) if n.cls in kc.RECURRENT and len(n.shape or []) == 2), None)


def _wrong_repeat(g: Any, ins: tuple, outs: tuple) -> Any:
    """The RepeatVector that sets a time length other than the input's (``RepeatVector(n_features)``), if any."""
    if len(ins) != 2 or len(outs) != 2 or ins[0] == outs[0] or not isinstance(outs[0], int):
        return None
    path = [g.nodes[i] for i in g.main_path]
    return next((n for n in path if n.cls == "RepeatVector" and len(n.shape or []) == 3 and n.shape[1] == outs[0]),
                None)


def _units(node: Any) -> str:
    units = getattr(getattr(node, "layer", None), "units", None)
    return str(units) if units is not None else "..."


def _fmt(shape: Any) -> str:
    if shape is None:
        return "?"
    return "x".join(str(s) for s in shape)


def _length_constant(ctx: Context, length: int) -> tuple[int, str] | None:
    """``(source line, name)`` of a top-level ``NAME = <length>`` the cell binds and reads again (``TIME_STEPS = 30``
    used to cut the windows): the sequence length a user chose; else None."""
    try:
        tree = ast.parse(ctx.source or "")
    except SyntaxError:
        return None
    read = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                and isinstance(node.value, ast.Constant) and type(node.value.value) is int and node.value.value == length
                and node.targets[0].id in read):
            return node.lineno, node.targets[0].id
    return None


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
        if len(crop) == 1:
            # A Conv1D sequence model (round 45: 30 time steps -> 15 -> 8, then 16 -> 32).
            return (
                f"A strided step rounded an odd length up ({odd[0] if odd else 'an odd length'} -> "
                f"{(odd[0] + 1) // 2 if odd else '?'} with padding='same'), so doubling overshoots. "
                "Either choose a window length divisible by the total stride, or crop at "
                f"the end: `layers.Cropping1D(({crop[0] // 2}, {crop[0] - crop[0] // 2}))`."
            )
    return "Mirror the encoder: each upsampling step should undo one downsampling step (same strides/padding)."


CHECKS = [check_shape]
