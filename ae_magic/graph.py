"""Graph analysis of a Functional/Sequential (possibly nested) Keras model.

The model's graph is flattened into ``GNode``s (nested encoder/decoder models
are inlined, their layers named ``encoder/dense``), then read for: the
input-to-output paths, the bottleneck (narrowest representation) on each,
paths that bypass it, and where the decoder's shape departs from the
mirrored encoder's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from . import keras_compat as kc
from .context import Context

MAX_PATHS = 512  # autoencoder graphs are small; this caps pathological DAGs


@dataclass
class GNode:
    """One layer call in the flattened graph."""

    id: int
    name: str
    cls: str
    parents: list[int]
    shape: list[Any]
    width: int | None
    activation: str | None
    is_input: bool
    line: int | None
    variable: str | None
    layer: Any = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "class": self.cls,
            "parents": self.parents,
            "shape": self.shape,
            "width": self.width,
            "activation": self.activation,
            "is_input": self.is_input,
            "line": self.line,
            "variable": self.variable,
        }


@dataclass
class GraphInfo:
    """What graph analysis found; ``has_graph`` is False for subclassed models."""

    kind: str
    has_graph: bool
    nodes: list[GNode] = field(default_factory=list)
    inputs: list[int] = field(default_factory=list)
    outputs: list[int] = field(default_factory=list)
    paths: list[list[int]] = field(default_factory=list)
    path_minima: list[tuple[int | None, int | None]] = field(default_factory=list)
    code: int | None = None
    code_width: int | None = None
    input_width: int | None = None
    main_path: list[int] = field(default_factory=list)
    bypass_paths: list[list[int]] = field(default_factory=list)
    divergence: dict[str, Any] | None = None
    # The reconstruction among several outputs: the one the loss trains (kc.loss_output), else the one
    # shaped like the input, else 0 (graph._recon_output). Paths and the bottleneck are read up to it.
    trained_output: int = 0
    # Every layer reading the input is an Embedding: the input is token ids (input_width is the Embedding's).
    token_input: bool = False
    # ids of every KerasTensor in the model's graph (nested models included)
    tensor_ids: set[int] = field(default_factory=set, repr=False)
    layer_ids: set[int] = field(default_factory=set, repr=False)

    def node(self, nid: int) -> GNode:
        return self.nodes[nid]

    @property
    def code_node(self) -> GNode | None:
        return self.nodes[self.code] if self.code is not None else None

    def chain(self) -> list[GNode]:
        """The main input-to-output path through the code, as nodes."""
        return [self.nodes[i] for i in self.main_path]

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "has_graph": self.has_graph,
            "nodes": [n.to_dict() for n in self.nodes],
            "inputs": self.inputs,
            "outputs": self.outputs,
            "main_path": self.main_path,
            "code": self.code,
            "code_width": self.code_width,
            "input_width": self.input_width,
            "bypass_paths": self.bypass_paths,
            "n_paths": len(self.paths),
            "divergence": self.divergence,
        }


class _Builder:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.nodes: list[GNode] = []
        self.memo: dict[tuple[int, int], int] = {}
        self.tensor_ids: set[int] = set()
        self.layer_ids: set[int] = set()
        self.input_nodes: list[int] = []

    def walk(self, tensor: Any, scope: str, input_map: dict[int, int]) -> int:
        if id(tensor) in input_map:
            return input_map[id(tensor)]
        key = (id(tensor), id(input_map))
        if key in self.memo:
            return self.memo[key]
        self.tensor_ids.add(id(tensor))
        h = kc.history(tensor)
        if h is None:
            nid = self._add(tensor, None, scope, [], is_input=True)
        else:
            op, node_index, tensor_index = h
            self.layer_ids.add(id(op))
            if isinstance(op, kc.keras.layers.InputLayer):
                nid = self._add(tensor, op, scope, [], is_input=True)
            elif kc.is_model(op) and kc.model_kind(op) != "subclassed" and kc.is_built(op):
                inner = kc.inner_functional(op)
                pids = [self.walk(t, scope, input_map) for t in kc.node_input_tensors(op, node_index)]
                inner_map = {id(t): p for t, p in zip(kc.graph_inputs(inner), pids, strict=False)}
                out = kc.graph_outputs(inner)[tensor_index]
                nid = self.walk(out, f"{scope}{op.name}/", inner_map)
            else:
                parents = [self.walk(t, scope, input_map) for t in kc.node_input_tensors(op, node_index)]
                if adds_loss(op):
                    # A loss layer (a VAE's reconstruction term) reads the model's
                    # input as its target, not as data: that edge is no path.
                    data = [p for p in parents if not self.nodes[p].is_input]
                    parents = data or parents
                nid = self._add(tensor, op, scope, list(dict.fromkeys(parents)), is_input=False)
        self.memo[key] = nid
        return nid

    def _add(self, tensor: Any, op: Any, scope: str, parents: list[int], *, is_input: bool) -> int:
        ctx = self.ctx
        call = ctx.call_for_output(tensor)
        # A call made by Keras itself (Sequential building its graph) points
        # at the Sequential line; the layer's own constructor line is sharper.
        line = call.line if call is not None and call.direct else None
        if line is None and op is not None:
            line = ctx.creation_lines.get(id(op)) or None
        if line is None and call is not None:
            line = call.line
        if line is not None:
            line = ctx.wrapped_line(op, line)  # a TimeDistributed(...) written over lines: its Dense's line
        variable = (call.variable if call else None) or ctx.var_of(tensor)
        name = f"{scope}{getattr(op, 'name', None) or getattr(tensor, 'name', 'input')}"
        shape = list(tensor.shape)
        node = GNode(
            id=len(self.nodes),
            name=name,
            cls=type(op).__name__ if op is not None else "Input",
            parents=parents,
            shape=shape,
            width=_width(shape),
            activation=kc.activation_name(op) if op is not None and not is_input else None,
            is_input=is_input,
            line=line,
            variable=variable,
            layer=op,
        )
        self.nodes.append(node)
        if is_input:
            self.input_nodes.append(node.id)
        return node.id


def adds_loss(op: Any) -> bool:
    """A user-written layer whose ``call`` adds a loss (``self.add_loss(...)``): a loss layer.

    Read from the compiled code's names, so it works for classes defined in
    a notebook cell (no source file for ``inspect``).
    """
    if type(op).__module__.startswith("keras"):
        return False
    code = getattr(getattr(type(op), "call", None), "__code__", None)
    return code is not None and "add_loss" in code.co_names


def _width(shape: list[Any]) -> int | None:
    dims = shape[1:]
    if not dims or any(d is None for d in dims):
        return None
    n = 1
    for d in dims:
        n *= int(d)
    return n


def analyze(ctx: Context) -> GraphInfo:
    """Flatten ``ctx.model``'s graph and find paths, bottleneck, bypasses, divergence."""
    model = ctx.model
    kind = kc.model_kind(model)
    if kind == "subclassed" or not kc.is_built(model):
        return GraphInfo(kind=kind, has_graph=False)
    b = _Builder(ctx)
    outputs = [b.walk(t, "", {}) for t in kc.graph_outputs(model)]
    g = GraphInfo(
        kind=kind,
        has_graph=True,
        nodes=b.nodes,
        inputs=list(dict.fromkeys(b.input_nodes)),
        outputs=outputs,
        tensor_ids=b.tensor_ids,
        layer_ids=b.layer_ids,
        trained_output=_recon_output(model, outputs, b.nodes),
    )
    g.paths = _paths(g)
    in_widths = [g.nodes[i].width for i in g.inputs if g.nodes[i].width is not None]
    g.input_width = in_widths[0] if in_widths else None
    readers = _first_weighted_readers(g)
    g.token_input = bool(readers) and all(n.cls == "Embedding" for n in readers)
    if g.token_input and all(n.width for n in readers):
        # Token ids: one number per token stands for a whole embedding
        # vector, so the input's width is what the Embedding makes of it.
        g.input_width = min(int(n.width or 0) for n in readers)
    _bottleneck(g)
    g.divergence = _divergence(g, model)
    return g


def _first_weighted_readers(g: GraphInfo) -> list[GNode]:
    """The first layers with weights on each path from the inputs (weightless layers in between are passed
    through: round 84's ic06, an id-offset layer before the Embedding), or an Embedding reached first."""
    children: dict[int, list[int]] = {}
    for n in g.nodes:
        for p in n.parents:
            children.setdefault(p, []).append(n.id)
    found: dict[int, GNode] = {}
    seen: set[int] = set()
    todo = [c for i in g.inputs for c in children.get(i, [])]
    while todo:
        nid = todo.pop()
        if nid in seen:
            continue
        seen.add(nid)
        node = g.nodes[nid]
        if node.cls == "Embedding" or getattr(node.layer, "weights", None) or not children.get(nid):
            found[nid] = node
        else:
            todo.extend(children[nid])
    return [found[k] for k in sorted(found)]


def _recon_output(model: Any, outputs: list[int], nodes: list[GNode]) -> int:
    """The index of the output that is the reconstruction.

    The one the loss trains (:func:`kc.loss_output`); with no such loss (a
    VAE returning ``[reconstruction, z_mean, z_log_var]`` on ``add_loss``)
    the one output shaped like the input; else the first.
    """
    k = kc.loss_output(model)
    if k is not None:
        return k
    if len(outputs) > 1:
        try:
            want = list(model.inputs[0].shape[1:]) if len(model.inputs) == 1 else None
        except Exception:
            want = None
        shaped = [i for i, o in enumerate(outputs) if want is not None and list(nodes[o].shape[1:]) == want]
        if len(shaped) == 1:
            return shaped[0]
    return 0


def _paths(g: GraphInfo) -> list[list[int]]:
    """All input-to-reconstruction paths (as node id lists, input first), capped.

    With several outputs only the paths to the reconstruction count: a
    classifier head or the code returned beside it is narrower than the
    code by design, and is no bottleneck of the autoencoder.
    """
    paths: list[list[int]] = []

    def back(nid: int, suffix: list[int]) -> None:
        if len(paths) >= MAX_PATHS:
            return
        node = g.nodes[nid]
        path = [nid, *suffix]
        if node.is_input or not node.parents:
            paths.append(path)
            return
        for p in node.parents:
            back(p, path)

    for o in [g.outputs[g.trained_output]] if len(g.outputs) > 1 and g.trained_output < len(g.outputs) else g.outputs:
        back(o, [])
    return paths


def _output_heads(g: GraphInfo) -> set[int]:
    """Nodes of the branches that a Concatenate output joins after the trunk every path shares.

    Round 29: a mixed-type table autoencoder ends in one Dense head per column group (numeric, then a
    softmax per one-hot group) concatenated into the reconstruction. Each head is part of the output,
    narrower than the code by design; taken as the code, the numeric head read as a bypass of it.
    """
    outs = [g.outputs[g.trained_output]] if len(g.outputs) > 1 and g.trained_output < len(g.outputs) else g.outputs
    if len(outs) != 1 or g.nodes[outs[0]].cls != "Concatenate" or len(g.paths) < 2:
        return set()
    common = set.intersection(*(set(p) for p in g.paths))
    heads: set[int] = set()
    for parent in g.nodes[outs[0]].parents:
        nid = parent
        while nid not in common and not g.nodes[nid].is_input and len(g.nodes[nid].parents) == 1:
            heads.add(nid)
            nid = g.nodes[nid].parents[0]
    return heads


def _bottleneck(g: GraphInfo) -> None:
    minima: list[tuple[int | None, int | None]] = []
    heads = _output_heads(g)
    for path in g.paths:
        inner = [g.nodes[i] for i in path
                 if not g.nodes[i].is_input and g.nodes[i].width is not None and i not in heads]
        if not inner:
            minima.append((None, None))
            continue
        best = min(inner, key=lambda n: n.width)  # first narrowest
        minima.append((best.width, best.id))
    g.path_minima = minima
    data_paths = _reconstructed_paths(g)
    widths = [w for k, (w, _) in enumerate(minima) if w is not None and k in data_paths]
    if not widths:
        g.main_path = g.paths[0] if g.paths else []
        return
    w_min = min(widths)
    g.code_width = w_min
    main_idx = next(i for i, (w, _) in enumerate(minima) if w == w_min and i in data_paths)
    g.main_path = g.paths[main_idx]
    # The code is the end of the run of narrowest nodes (Dense(32) then its
    # BatchNorm/Activation are one code), so its activation is the last one.
    first = next(k for k, i in enumerate(g.main_path)
                 if g.nodes[i].width == w_min and not g.nodes[i].is_input and i not in heads)
    last = first
    for k in range(first + 1, len(g.main_path)):
        if g.nodes[g.main_path[k]].width == w_min:
            last = k
        else:
            break
    g.code = g.main_path[last]
    g.bypass_paths = [p for k, (p, (w, _)) in enumerate(zip(g.paths, minima, strict=True))
                      if w is not None and w > w_min and k in data_paths]


def _reconstructed_paths(g: GraphInfo) -> set[int]:
    """Indices of the paths that start at an input shaped like the output (the data being reconstructed).

    A conditional VAE's label or a side input joins the decoder by design:
    its path carries the condition, not the data, so it is neither the code
    nor a bypass of it. Without such a split (one input, or no input as wide
    as the output) every path counts.
    """
    out = g.outputs[g.trained_output] if len(g.outputs) > 1 and g.trained_output < len(g.outputs) else (g.outputs or [None])[0]
    out_w = g.nodes[out].width if out is not None else None
    starts = {k: g.nodes[p[0]] for k, p in enumerate(g.paths) if p}
    inputs = {n.id for n in starts.values() if n.is_input}
    data = {n.id for n in starts.values() if n.is_input and out_w is not None and n.width == out_w}
    if not data or data == inputs:
        return set(range(len(g.paths)))
    return {k for k, n in starts.items() if n.id in data or not n.is_input}


def code_activation(g: GraphInfo) -> tuple[str | None, GNode | None]:
    """The activation that shapes the code (last non-trivial one in the code run)."""
    if g.code is None:
        return None, None
    k = g.main_path.index(g.code)
    run: list[GNode] = []
    while k >= 0 and g.nodes[g.main_path[k]].width == g.code_width and not g.nodes[g.main_path[k]].is_input:
        run.append(g.nodes[g.main_path[k]])
        k -= 1
    for node in run:  # from the code outward (last applied first)
        if node.activation is not None:
            return node.activation, node
    return None, run[-1] if run else None


# Layers that resize a sequence's time axis: with one of them on the path, (B, T, C) is read like an image.
_RESIZES_1D = frozenset({"Conv1D", "Conv1DTranspose", "SeparableConv1D", "MaxPooling1D", "AveragePooling1D",
                         "UpSampling1D", "Cropping1D", "ZeroPadding1D"})


def _spatial(shape: list[Any], sequence: bool = False) -> tuple[Any, ...] | None:
    # images (B, H, W, C) and volumes: everything between batch and channels; (B, T, C) in a conv sequence model
    if len(shape) >= 4:
        return tuple(shape[1:-1])
    if sequence and len(shape) == 3:
        return (shape[1],)
    return None


def _divergence(g: GraphInfo, model: Any) -> dict[str, Any] | None:
    """Where the reconstruction's shape first departs from the input's."""
    if not g.inputs or not g.outputs:
        return None
    inp = g.nodes[g.inputs[0]]
    out = g.nodes[g.outputs[g.trained_output if g.trained_output < len(g.outputs) else 0]]
    if inp.shape[1:] == out.shape[1:]:
        return None
    chain = g.chain() or [inp, out]
    code_k = g.main_path.index(g.code) if g.code in g.main_path else len(chain) // 2
    seq = any(n.cls in _RESIZES_1D for n in chain)
    in_sp, out_sp = _spatial(inp.shape, seq), _spatial(out.shape, seq)
    sizes = [_spatial(n.shape, seq) for n in chain]
    if (seq and code_k >= len(chain) - 1 and all(sp is not None and all(isinstance(d, int) for d in sp)
                                                 for sp in sizes)):
        # Round 45: a Conv1D model 30 -> 15 -> 8 -> 16 -> 32 whose narrowest node by width is its 32x1 output:
        # the code for mirroring is the shortest time axis (the last such node), not the output.
        short = min(math.prod(sp) for sp in sizes)
        code_k = max(i for i, sp in enumerate(sizes) if math.prod(sp) == short)
    result: dict[str, Any] = {
        "input_shape": inp.shape[1:],
        "output_shape": out.shape[1:],
        "node": out.name,
        "line": out.line,
        "class": out.cls,
        "expected": inp.shape[1:],
        "actual": out.shape[1:],
        "reason": "output",
    }
    if in_sp is not None and out_sp is not None:
        enc_sizes: list[tuple[Any, ...]] = []
        for n in chain[: code_k + 1]:
            sp = _spatial(n.shape, seq)
            if sp is not None and (not enc_sizes or enc_sizes[-1] != sp):
                enc_sizes.append(sp)
        mirror = list(reversed(enc_sizes))
        result["encoder_sizes"] = [list(e) for e in enc_sizes]
        prev: tuple[Any, ...] | None = _spatial(chain[code_k].shape, seq) if code_k < len(chain) else None
        pos = mirror.index(prev) if prev in mirror else -1
        if pos < 0:
            prev = None
        for n in chain[code_k + 1 :]:
            sp = _spatial(n.shape, seq)
            if sp is None or sp == prev:
                continue
            if prev is None:
                # first spatial size of the decoder (after Reshape or the code)
                pos = mirror.index(sp) if sp in mirror else -1
                if pos < 0:
                    result.update(node=n.name, line=n.line, expected=None, actual=list(sp), reason="start")
                    result["class"] = n.cls
                    return result
            else:
                pos += 1
                expected = mirror[pos] if pos < len(mirror) else None
                if expected != sp:
                    result.update(
                        node=n.name, line=n.line, expected=list(expected) if expected else None, actual=list(sp),
                        reason="resize", previous=list(prev),
                    )
                    result["class"] = n.cls
                    return result
            prev = sp
        if out_sp != in_sp:
            result["reason"] = "too-few-resizes" if prev is not None else "output"
            return result
        result["reason"] = "channels"
        return result
    if inp.width is not None and inp.width == out.width:
        result["reason"] = "reshape"
    return result
