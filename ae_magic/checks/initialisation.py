"""Do the initial weights let signals through?

AE110 (bad-initializer): constant kernels, or hand-set initializer scales
that shrink or blow up signals through the stack; the forward pass that
measures it runs on a copy of the model (``forward_copy``).
"""

from __future__ import annotations

import ast
import itertools
import math
from typing import Any

import numpy as np

from .. import keras_compat as kc
from ..context import Context
from ..graph import GNode
from ..report import Finding
from .locate import forward_copy, graph_of, initializer_line, label, loc, probe_inputs, spread_keyword

# AE110: combined init scale (product of per-layer std / recommended std)
# beyond which signals shrink or grow >10x through the stack at initialisation.
INIT_SCALE_LOW, INIT_SCALE_HIGH = 0.1, 10.0


def _init_std(init: Any) -> float | None:
    name = type(init).__name__
    cfg = init.get_config() if hasattr(init, "get_config") else {}
    if name in ("RandomNormal", "TruncatedNormal"):
        return float(cfg.get("stddev", 0.05)) * (0.88 if name == "TruncatedNormal" else 1.0)
    if name == "RandomUniform":
        return (float(cfg.get("maxval", 0.05)) - float(cfg.get("minval", -0.05))) / math.sqrt(12)
    return None


def _constant_inits(layer: Any) -> list[str]:
    """The constant initializers (Zeros, Ones, Constant) of ``layer``'s kernels, looking inside wrappers and cells.

    ``TimeDistributed(Dense(...))`` keeps its kernel on the wrapped layer, a
    recurrent layer on its cell, and
    ``Bidirectional`` on its two directions.
    """
    parts = [layer] + [getattr(layer, k) for k in ("layer", "forward_layer", "backward_layer") if hasattr(layer, k)]
    found: list[str] = []
    for part in parts:
        part = getattr(part, "cell", None) or part
        if getattr(part, "kernel", None) is None:
            continue
        # Not the recurrent kernel: with a random input kernel the units already differ, so a zero
        # recurrent kernel gets different gradients per unit and trains (some code starts it at zero).
        name = type(getattr(part, "kernel_initializer", None)).__name__
        if name in ("Zeros", "Ones", "Constant"):
            found.append(name)
    return found


def zero_kernel_layers(g: Any) -> list[str]:
    """Names of the layers on ``g``'s main chain whose kernels start at zero: their output is their bias alone,
    the same for every input, so nothing before them reaches the reconstruction (round 66's ct08)."""
    return [n.name for n in g.chain() if "Zeros" in _constant_inits(n.layer)] if g is not None else []


def check_initializer(ctx: Context) -> list[Finding]:
    """AE110: constant kernels, or init scales that shrink/blow up signals through the stack."""
    g = graph_of(ctx)
    if g is None:
        return []
    constant: list[GNode] = []
    scaled: list[tuple[GNode, float, float]] = []
    for n in g.chain():
        layer = n.layer
        if _constant_inits(layer):
            constant.append(n)
            continue
        kernel = getattr(layer, "kernel", None)
        init = getattr(layer, "kernel_initializer", None)
        if kernel is None or init is None:
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
        line, src = loc(ctx, n)
        spread = spread_keyword(ctx, n.line, ("kernel_initializer", "bias_initializer"))
        spread = spread if spread is not None else initializer_line(ctx, n.line)
        if spread is not None:
            line, src = ctx.cell_line(spread), ctx.line_text(spread)
        findings.append(
            Finding(
                code="AE110",
                severity="warning",
                title="Kernels initialised to a constant",
                message=(f"{len(constant)} layer(s) start with constant kernels ({', '.join(label(ctx, c) for c in constant[:4])}). "
                         "Every unit of such a layer computes the same thing and gets the same gradient, so they never become different."),
                line=line, layer=n.name, source_line=src,
                evidence={"layers": [c.name for c in constant],
                          "initializers": [_constant_inits(c.layer)[0] for c in constant]},
                fix="Remove kernel_initializer (the default glorot_uniform is fine) or use kernel_initializer='he_normal' with ReLU.",
            )
        )
    if len(scaled) >= 2:
        product = float(np.prod([s / r for _, s, r in scaled]))
        if product < INIT_SCALE_LOW or product > INIT_SCALE_HIGH:
            n = scaled[0][0]
            line, src = loc(ctx, n)
            spread = spread_keyword(ctx, n.line, ("kernel_initializer",))
            if spread is not None:
                line, src = ctx.cell_line(spread), ctx.line_text(spread)
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


def _forward_gain(ctx: Context) -> float | None:
    """Output/input RMS of a forward pass on a copy of the model (None when it can't run)."""
    x = probe_inputs(ctx, 32)
    if x is None:
        return None
    model = forward_copy(ctx, "AE110 (initial weight scale) not measured on a forward pass")
    if model is None:
        return None
    try:
        y = kc.keras.ops.convert_to_numpy(model(x, training=False))
    except Exception:
        return None
    rx = float(np.sqrt(np.mean(np.square(x - x.mean(0)))))
    ry = float(np.sqrt(np.mean(np.square(y - y.mean(0)))))
    return ry / rx if rx > 0 else None


def _kernel(layer: Any) -> np.ndarray | None:
    """``layer``'s kernel as (inputs, units) rows and columns (a conv's spatial taps folded into the rows)."""
    kernel = getattr(layer, "kernel", None)
    if kernel is None or type(layer).__name__ not in _SYMMETRY_LAYERS:
        return None
    try:
        k = np.asarray(kc.keras.ops.convert_to_numpy(kernel), dtype=np.float64)
    except Exception:
        return None
    return k.reshape(-1, k.shape[-1]) if k.ndim >= 2 else None


# Layers whose units are the kernel's last axis and whose inputs its second last (Dense, the convolutions).
_SYMMETRY_LAYERS = {"Dense", "Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose"}


def _same(columns: np.ndarray) -> bool:
    """Every column equal to the first (a copy of one vector), to float rounding."""
    if columns.ndim != 2 or columns.shape[0] == 0 or columns.shape[1] < 2:
        return False  # (a layer with no inputs or one unit: nothing to compare; the fuzz's zero-feature model)
    scale = float(np.max(np.abs(columns)))
    return float(np.max(np.abs(columns - columns[:, :1]))) <= 1e-6 * max(scale, 1e-12)


def _initializer_return(ctx: Context, name: str) -> tuple[int | None, str | None]:
    """The ``return`` of ``__call__`` of the initializer class ``name`` when the cell defines it, else (None, None)."""
    try:
        tree = ast.parse(ctx.source or "")
    except SyntaxError:
        return None, None
    for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == name):
        call = next((f for f in cls.body if isinstance(f, ast.FunctionDef) and f.name == "__call__"), None)
        rets = [n.lineno for n in ast.walk(call) if isinstance(n, ast.Return)] if call is not None else []
        if rets:
            return ctx.cell_line(rets[-1]), ctx.line_text(rets[-1])
    return None, None


def check_symmetric_units(ctx: Context) -> list[Finding]:
    """AE110: a layer whose units are all copies of one another, feeding a layer that treats them all alike.

    Read from the weights themselves, so a hand-written initializer (``ops.ones(shape) / sqrt(fan_in)``, round
    50's bf08) is found as well as Keras' Zeros/Ones/Constant. Identical units that the next layer weighs
    identically get identical gradients, under any optimizer, so they stay copies: the layer has one unit's worth
    of capacity, after the cell's own training as before it (a zero-initialised last layer is not such a pair).
    """
    g = graph_of(ctx)
    if g is None:
        return []
    kernels = [(n, k) for n in g.chain() if not _constant_inits(n.layer) and (k := _kernel(n.layer)) is not None]
    for (node, k), (_, nxt) in itertools.pairwise(kernels):
        units = k.shape[1]
        if units < 2 or nxt.shape[0] % units or not _same(k):
            continue
        rows = nxt.reshape(-1, units, nxt.shape[1])  # (taps, units of this layer, next layer's units)
        if not _same(np.transpose(rows, (0, 2, 1)).reshape(-1, units)):
            continue
        init = type(getattr(node.layer, "kernel_initializer", None)).__name__
        line, src = _initializer_return(ctx, init)
        if line is None:
            line, src = loc(ctx, node)
        return [Finding(
            code="AE110", severity="warning", title="Every unit of a layer is a copy of the others",
            message=(f"All {units} units of {label(ctx, node)} have the same incoming weights, and the next layer weighs "
                     "them all alike, so they compute the same value and get the same gradient: training can't make "
                     f"them differ, and the layer works like a single unit. Its kernel initializer ({init}) gives every "
                     "unit the same values; read from the weights as they are now."),
            line=line, layer=node.name, source_line=src,
            evidence={"layer": node.name, "units": units, "initializer": init},
            fix=("Draw initial kernels at random: kernel_initializer='glorot_uniform' (the default) or 'he_normal' with "
                 "ReLU; a hand-written initializer should return keras.random.normal(shape) * scale, not a constant."),
        )]
    return []


CHECKS = [check_initializer, check_symmetric_units]
