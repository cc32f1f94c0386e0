"""Do the activations fit where they sit?

AE106 (saturating-bottleneck): a sigmoid/tanh code layer. AE107
(saturating-stack): three or more saturating hidden layers in a row.
AE108 (output-loss-mismatch): the output activation and the loss disagree.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import keras_compat as kc
from ..context import Context
from ..graph import GNode, code_activation
from ..report import Finding
from .categorical import categorical_reconstruction
from .locate import (
    TRANSPARENT,
    graph_of,
    label,
    layer_line,
    loc,
    loss_line,
    output_activation,
    subclassed_output,
    trained_output_node,
)

NORMALIZATION_LAYERS = {"BatchNormalization", "LayerNormalization", "GroupNormalization", "UnitNormalization"}
# Activations whose gradient vanishes away from zero (docs/faults.md AE106/AE107).
SATURATING = {"sigmoid", "tanh", "hard_sigmoid", "softsign"}
# AE107: this many consecutive saturating hidden layers (the catalogue's rule).
SATURATING_RUN = 3


def check_saturating_code(ctx: Context) -> list[Finding]:
    """AE106: the code layer uses a saturating activation."""
    g = graph_of(ctx)
    if g is None or g.code is None or g.code in g.outputs:
        return []
    act, node = code_activation(g)
    if act == "softmax" and node is not None:
        return [_softmax_code(ctx, g, node)]
    if act not in SATURATING or node is None:
        return []
    line, src = loc(ctx, node)
    fix_src = src.replace(f"activation='{act}'", "activation='relu'").replace(f'activation="{act}"', 'activation="relu"') if src else None
    return [
        Finding(
            code="AE106",
            severity="warning",
            title=f"Saturating activation ({act}) in the bottleneck",
            message=(
                f"The code layer {label(ctx, node)} uses {act}. Its {g.code_width} units squash to "
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


def _softmax_code(ctx: Context, g: object, node: GNode) -> Finding:
    """AE106 for a softmax code: its units are positive and sum to one, so k units carry k - 1 values.

    Round 35: a beginner's 2-unit code for plotting, ``Dense(2, activation="softmax")``, carries one number
    per sample (0.28-0.36x the mean's error after 30 epochs, 0.005x with a linear code).
    """
    width = getattr(g, "code_width", None)
    line, src = loc(ctx, node)
    fix_src = (src.replace("activation='softmax'", "activation=None").replace('activation="softmax"', "activation=None")
               if src else None)
    free = f"{width - 1}" if isinstance(width, int) else "one fewer"
    return Finding(
        code="AE106", severity="warning", title="Softmax in the bottleneck",
        message=(f"The code layer {label(ctx, node)} uses softmax: its {width} units are positive and sum to 1, so "
                 f"the code carries {free} free value{'s' if free != '1' else ''} instead of {width}, squashed into "
                 "a simplex, and it saturates as one unit takes over (its gradient then vanishes). A code for "
                 "reconstruction or for plotting is linear or relu; softmax is for class probabilities."),
        line=line, layer=node.name, source_line=src,
        evidence={"activation": "softmax", "code_width": width},
        fix=(fix_src if fix_src and fix_src != src else "Use a linear code (activation=None) in the bottleneck layer."),
    )


def check_saturating_stack(ctx: Context) -> list[Finding]:
    """AE107: three or more consecutive hidden sigmoid/tanh layers without normalisation."""
    g = graph_of(ctx)
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
    line, src = loc(ctx, full[0])
    return [
        Finding(
            code="AE107",
            severity="warning",
            title=f"{len(full)} saturating layers in a row",
            message=(
                f"{len(full)} consecutive hidden layers use sigmoid/tanh with no normalisation between them: "
                + ", ".join(label(ctx, n) for n in full[:6])
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


def check_output_loss(ctx: Context) -> list[Finding]:
    """AE108: the output activation and the loss disagree."""
    g = graph_of(ctx)
    m = ctx.model
    if m is None or not kc.is_compiled(m) or (g is not None and not g.outputs):
        return []
    loss = kc.canonical_loss(m)
    if loss is None:
        return []
    if g is not None:
        act, node = output_activation(g)
        units = trained_output_node(g).width or 0
        where = node and (label(ctx, node), node.name, *loc(ctx, node))
    else:
        # A subclassed model: its output layer, found with a forward pass of a copy.
        act, layer, shape = subclassed_output(ctx)
        units = int(np.prod(shape[1:])) if shape else 0
        where = layer and (f"{type(layer).__name__} '{layer.name}'", layer.name, *layer_line(ctx, layer))
    if act is None or not where:
        return []
    out_label, out_name, line, src = where
    from_logits = bool(kc.loss_config(m).get("from_logits", False))
    problem = fix = None
    if loss in ("cce", "scce") and act == "softmax" and from_logits and categorical_reconstruction(ctx):
        # Round 85's jb07: a token autoencoder's softmax output scored by a loss told from_logits=True applies
        # softmax twice: the loss sees probabilities squashed again, nearly uniform, and barely falls. The loss's
        # from_logits is what contradicts the output, at the line that sets it.
        problem = ("The output already applies softmax, and the loss is told from_logits=True, so softmax is applied "
                   "twice: the loss sees the probabilities squashed again, nearly uniform, and its gradient is weak.")
        fix = f"loss=keras.losses.{kc.loss_name(m) or 'SparseCategoricalCrossentropy'}(from_logits=False)  # or drop the output's softmax"
        at, text = loss_line(ctx)
        if at is not None:
            line, src = at, text
    elif loss in ("cce", "scce") and (act == "softmax" or (from_logits and act == "linear")) and categorical_reconstruction(ctx):
        return []  # token ids or one-hot rows, reconstructed as class probabilities: the classification loss fits
    elif loss in ("cce", "scce"):
        problem = (f"The loss is {kc.loss_name(m)}, a classification loss: it compares class probabilities, "
                   "not a reconstruction with its input.")
        fix = (f"{ctx.model_name or 'model'}.compile(optimizer='adam', loss='mse')  "
               "# or 'binary_crossentropy' with a sigmoid output on [0, 1] data")
        # Under a reconstruction's own output (sigmoid, linear, tanh) the loss alone is wrong: name the line that
        # sets it (round 69's cz07). A softmax output is wrong too, and stays the place named.
        at, text = loss_line(ctx) if act != "softmax" else (None, None)
        if at is not None:
            line, src = at, text
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
        low = _target_min(ctx)
        if low is not None and low < 0:
            # Targets scaled below 0 on purpose (standardised): a sigmoid can't reach them either, and no output
            # does under this loss; the loss is what to change (round 78's dv06), at the line that sets it.
            problem += (f" And the targets reach {low:.3g}, below 0: no output fits them under binary cross-entropy, "
                        "so the loss, not the output layer, is what to change.")
            fix = "loss='mse'  # a reconstruction loss for targets of any sign (keep the linear output)"
            at, text = loss_line(ctx)
            if at is not None:
                line, src = at, text
    elif loss in ("mse", "mae", "huber") and act == "softmax" and units > 1:
        problem = (f"The output layer uses softmax over {units} units: the reconstruction is forced to sum to 1, "
                   "which an input reconstruction almost never does.")
        fix = "Use activation='sigmoid' for data in [0, 1], or a linear output for standardised data."
    if problem is None:
        return []
    return [
        Finding(
            code="AE108",
            severity="warning",
            title="Output activation and loss disagree",
            message=f"{problem} Output layer: {out_label}.",
            line=line,
            layer=out_name,
            source_line=src,
            evidence={"loss": kc.loss_name(m), "from_logits": from_logits, "output_activation": act, "output_units": units},
            fix=fix,
        )
    ]


def _target_min(ctx: Context) -> float | None:
    """The smallest finite value of the target the model reconstructs (a sample of it), None when not numeric."""
    t = ctx.target
    try:
        flat = np.asarray(t).reshape(-1)
        if flat.size == 0 or not np.issubdtype(flat.dtype, np.number):
            return None
        sample = flat[:: max(1, flat.size // 200_000)].astype(np.float64)
        finite = sample[np.isfinite(sample)]
        return float(finite.min()) if finite.size else None
    except Exception:  # a target that is not an array: not judged here
        return None


def check_noise_after_output(ctx: Context) -> list[Finding]:
    """AE108: a Dropout or noise layer after the output layer, so the loss sees a noised reconstruction."""
    from . import gradients as G
    from .locate import NOISE_FIX, noise_hint, trailing_noise

    if ctx.model is None or not kc.is_compiled(ctx.model):
        return []
    noise = trailing_noise(ctx.model)
    if not noise:
        return []
    line, src = G.locate(ctx, noise[0].name)
    return [
        Finding(
            code="AE108",
            severity="warning",
            title="Noise after the output layer",
            message=(f"Layer {noise_hint(noise)}. The output the loss judges is not the "
                     "model's reconstruction: the model learns to hedge against the noise instead of reconstructing "
                     "(at inference the layer is off, and the reconstruction comes out blurred or dimmed)."),
            line=line,
            layer=noise[0].name,
            source_line=src,
            evidence={"noise_after_output": [{"layer": ly.name, "class": type(ly).__name__} for ly in noise],
                      "loss": kc.loss_name(ctx.model)},
            fix=NOISE_FIX,
        )
    ]


def check_saturating_stack_without_graph(ctx: Context) -> list[Finding]:
    """AE107 for a model with no layer graph (subclassed), after a probe run that did not learn: three or more
    sigmoid layers in a row among its layers, in the order they were made, with no normalisation between.

    Round 37: a lab sheet's subclassed autoencoder with six sigmoid Dense layers and its own GradientTape
    step under SGD(0.05): every input decodes to the same image (AE404), with the stack it comes from
    unnamed, because the graph reading that finds AE107 needs a functional model. Only sigmoid (a gradient
    factor of at most 0.25 a layer) and only when the run did not learn: a tanh stack, or one that trains,
    stays silent, as the graph's reading softens it when measured harmless.
    """
    from ..probes.traces import leaf_layers
    from .gradients import locate as locate_layer
    from .gradients import probe_learned

    g = ctx.graph
    if ctx.model is None or (g is not None and g.has_graph) or "training" not in ctx.traces:
        return []
    if probe_learned(ctx)[0]:
        return []
    run: list[Any] = []
    best: list[Any] = []
    # Layers that apply an activation (Dense, Conv, Activation) and normalisations; the user's model may be unbuilt.
    layers = [ly for ly in leaf_layers(ctx.model) if hasattr(ly, "activation") or type(ly).__name__ in NORMALIZATION_LAYERS]
    for ly in layers[:-1]:  # the output layer's own sigmoid is the reconstruction's range, not the stack
        act = getattr(getattr(ly, "activation", None), "__name__", None)
        if type(ly).__name__ in NORMALIZATION_LAYERS or act != "sigmoid":
            run = []
            continue
        run.append(ly)
        if len(run) > len(best):
            best = list(run)
    if len(best) < SATURATING_RUN:
        return []
    line, src = locate_layer(ctx, best[0].name)
    return [Finding(
        code="AE107",
        severity="warning",
        title=f"{len(best)} sigmoid layers in a row",
        message=(f"{len(best)} consecutive hidden layers of `{ctx.model_name}` use sigmoid with no normalisation "
                 "between them: " + ", ".join(f"'{ly.name}'" for ly in best[:6]) + ". Each multiplies the gradient by "
                 "at most 0.25, so the first layers barely learn (vanishing gradients), and the probe run did not "
                 "learn: the model outputs nearly the same for every input."),
        line=line,
        layer=best[0].name,
        source_line=src,
        evidence={"layers": [ly.name for ly in best], "activations": ["sigmoid"] * len(best), "measured": True},
        fix="Use activation='relu' with kernel_initializer='he_normal' in the hidden layers (keep sigmoid only on the "
            "output), or add layers.BatchNormalization() between them.",
    )]


check_saturating_stack_without_graph.family = "training"  # type: ignore[attr-defined]  # after the run

CHECKS = [check_saturating_code, check_saturating_stack, check_output_loss, check_noise_after_output]
