"""Does the output depend on the input?

AE111 (output-ignores-input): the reconstruction is identical for different
inputs before training, or it changes but no gradient flows back to the
input. Both forward passes run on a copy of the model (``forward_copy``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import keras_compat as kc
from ..context import Context
from ..graph import GraphInfo
from ..report import Finding
from .gradient_cut import cut_in_call
from .initialisation import zero_kernel_layers
from .locate import forward_copy, graph_of, label, loc, probe_inputs

# AE111: outputs for different inputs closer than this (relative) are identical.
IDENTICAL_RTOL = 1e-6


def check_output_ignores_input(ctx: Context) -> list[Finding]:
    """AE111: the reconstruction is identical for different inputs before training."""
    g = graph_of(ctx)
    m = ctx.model
    if m is None or (g is None and kc.model_kind(m) != "subclassed") or (not kc.is_built(m) and kc.model_kind(m) != "subclassed"):
        return []
    if g is not None and _plainly_connected(ctx, g):
        return []
    x = probe_inputs(ctx, 8)
    if x is None:
        return []
    copy = forward_copy(ctx, "AE111 (output ignores input) not checked")
    if copy is None:
        return []
    try:
        y = np.asarray(kc.keras.ops.convert_to_numpy(copy(x, training=False)), dtype="float64")
    except Exception:
        return []
    if y.ndim == 0 or y.shape[0] != x.shape[0]:
        return []
    finite = np.all(np.isfinite(y.reshape(len(y), -1)), axis=1)
    if finite.sum() < 2:
        # NaN/Inf outputs at the initial weights (a VAE's exp(log_var) on 0-255 pixels)
        # compare as "no difference", which is not "ignores the input": the data and
        # gradient checks name the cause (AE201, AE303), AE111 would only mislead.
        return []
    y, x = y[finite], x[finite]
    spread = float(np.max(np.abs(y - y[0:1])))
    scale = float(np.max(np.abs(y))) + 1e-12
    if spread > IDENTICAL_RTOL * max(scale, 1.0):
        again = _rerun(copy, x)  # (read twice: noise at inference, then batch mixing)
        if _noise_only(again, y, spread):
            # The outputs differ by as much when the same inputs go in again: a sampling layer that draws at
            # inference too (round 64's cp10). That difference says nothing of the input, nor does a zero
            # Jacobian of the whole model under it (dead units before the code give one, and AE304 names them).
            # Only the noise layer's own Jacobian tells: zero when it draws noise in place of its input.
            return _noise_in_place_of_input(ctx, g, copy, x)
        return (_returns_input(ctx, g, copy, x, y) or _gradient_cut(ctx, g, copy, x) or _batch_mixing(ctx, g, copy, x, y, again)
                or _ignored_positions(ctx, g, copy, x))
    if _responds_at_unit_scale(ctx, copy, x):
        # The same output for the data's samples, but not for unit-scale inputs: the layers work and the
        # data's own values saturate them (round 24: min-max scaling that left windows near -905, whose
        # samples differ by 0.2). AE201 says so with this measurement; AE111 would blame the layers.
        ctx.cache["identical_at_data_scale"] = {"inputs_compared": len(x), "max_output_difference": spread}
        return []
    zero = _zero_rescaling(g)
    if zero is not None:
        line, src = loc(ctx, zero)
        return [_identical(
            ctx, len(x), spread,
            f": {label(ctx, zero)} multiplies its input by {zero.layer.scale!r}, so every input becomes zeros and "
            "nothing the encoder sees reaches the reconstruction"
            + (" (`1 // 255` is integer division: 0)" if "//" in (src or "") else "") + ".",
            line=line, layer=zero.name, src=src, evidence={"zero_scale": True},
            fix=((src or "").replace("//", "/") if "//" in (src or "")
                 else "layers.Rescaling(1.0 / 255)  # a scale that keeps the input"),
        )]
    cause, node, line, src = _custom_layer(ctx, g)
    if cause is not None and _passes_dead_input(copy, cause, x):
        # The custom layer hands on what it gets, and what it gets is already 0 for every sample and unit: the
        # ReLUs before it are dead (round 67's cw09, an L1 add_loss layer at 0.1 whose fit in the cell killed the
        # code units). AE304 names them; "the custom layer may replace its input" would blame the wrong layer.
        return []
    shut = _shut_below_threshold(copy, cause, x) if cause is not None else None
    if shut is not None:
        # The custom layer outputs 0 for every sample at the data's scale but passes larger inputs: it thresholds
        # them, and every unit is below the threshold (round 65's cs09, a soft-threshold code at 0.5 on inputs
        # under 0.17). Dead units, not a layer that replaces its input.
        top, factor = shut
        return [
            Finding(
                code="AE304",
                severity="error",
                title="Dead units: the code outputs zero for every sample",
                message=(
                    f"`{ctx.model_name}` gives the same output for {len(x)} different inputs before any training: "
                    f"{label(ctx, cause)} outputs exactly 0 for every sample and unit. Its inputs reach at most "
                    f"{top:.3g} in size, and it passes values only for inputs about {factor:g}x larger: every unit "
                    "sits below its threshold, so no signal and no gradient get through, and the decoder can only "
                    "output an average."
                ),
                line=line,
                layer=node.name if node else None,
                source_line=src,
                evidence={"dead_share": {cause.name: 1.0}, "when": "at the initial weights", "custom_layer": cause.cls,
                          "input_max_abs": top, "passes_at_scale": factor},
                fix=("# set the layer's threshold below the size of what reaches it (here under "
                     f"{top:.2g}), or scale its input up, e.g. a smaller threshold / a trainable one"),
            )
        ]
    zeroed = zero_kernel_layers(g)
    return [_identical(
        ctx, len(x), spread,
        (f"; {label(ctx, cause)} is a custom layer on the only path and may replace its input" if cause else "")
        + ". Nothing the encoder sees reaches the reconstruction, so it cannot learn.",
        line=line, layer=node.name if node else None, src=src,
        evidence={"zero_kernels": zeroed} if zeroed else {},
        fix="Make every layer's output depend on its input (no constants replacing it, no stop_gradient on the "
        "only path, no all-zero kernels).",
    )]


def _identical(ctx: Context, n: int, spread: float, why: str, *, line: int | None, layer: str | None,
               src: str | None, evidence: dict[str, Any], fix: str) -> Finding:
    """The AE111 error for outputs identical across ``n`` inputs; ``why`` ends the message (the cause, if known)."""
    return Finding(
        code="AE111",
        severity="error",
        title="The output does not depend on the input",
        message=(f"`{ctx.model_name}` gives the same output for {n} different inputs (largest difference "
                 f"{spread:.2g}) before any training{why}"),
        line=line,
        layer=layer,
        source_line=src,
        evidence={"inputs_compared": n, "max_output_difference": spread, **evidence},
        fix=fix,
    )


def _returns_input(ctx: Context, g: GraphInfo | None, copy: Any, x: np.ndarray, y: np.ndarray) -> list[Finding]:
    """AE103: the model's output is its input, unchanged, whatever its weights (a loss layer that returns ``x``).

    Round 52's bl09: a Keras 2-style VAE loss layer, ``add_loss(elbo)`` then ``return x``, as the model's output.
    fit trains the add_loss terms, so nothing fails, but ``predict`` gives back the input: every reconstruction is
    perfect and every anomaly score 0. A residual model whose last layer starts at zero (``x + f(x)``) also gives
    its input back at first, so the copy's weights are perturbed (and put back): only an output that stays the
    input is this.
    """
    if y.shape != x.shape or not np.array_equal(y, np.asarray(x, dtype=y.dtype)):
        return []
    try:
        kept = copy.get_weights()
        rng = np.random.default_rng(0)  # (not the global state: the user's random state stays as it was)
        copy.set_weights([w + rng.normal(0.0, 0.1, size=np.shape(w)).astype(np.asarray(w).dtype)
                          if np.issubdtype(np.asarray(w).dtype, np.floating) else w for w in kept])
        try:
            moved = np.asarray(kc.keras.ops.convert_to_numpy(copy(x, training=False)), dtype="float64")
        finally:
            copy.set_weights(kept)
    except Exception:
        return []
    if not np.array_equal(moved, np.asarray(x, dtype=moved.dtype)):
        return []
    node = g.nodes[g.outputs[0]] if g is not None and g.outputs else None
    line, src = loc(ctx, node)
    return [Finding(
        code="AE103", severity="error", title="The model returns its input unchanged",
        message=(f"`{ctx.model_name}`'s output is exactly its input, for {len(x)} samples and with its weights "
                 "perturbed: " + (f"{label(ctx, node)}, the output layer, passes the input through" if node else
                                  "the input reaches the output untouched")
                 + ". Training may still run (an add_loss term), but every reconstruction the model gives is the input "
                 "itself, so reconstruction errors and anomaly scores are all 0."),
        line=line, layer=node.name if node else None, source_line=src,
        evidence={"inputs_compared": len(x), "max_difference": 0.0},
        fix="# return the reconstruction from the output layer (e.g. `return x_decoded` in the loss layer's call)",
    )]


def _noise_in_place_of_input(ctx: Context, g: GraphInfo | None, copy: Any, x: np.ndarray) -> list[Finding]:
    """AE111, third form: a Lambda or custom layer on the only path returns noise instead of its input plus noise.

    Round 71's dd05: ``Lambda(lambda z: keras.random.normal(ops.shape(z), stddev=0.1))`` meant as jitter on the
    code. The outputs differ from run to run (so they are not "identical"), but nothing of the input reaches them.
    Told from a sampling layer that adds noise (healthy) by the layer's own gradient with respect to its input,
    at the inputs it really gets: exactly zero (or absent) for every one of them, while those inputs vary.
    """
    cause, node, line, src = _custom_layer(ctx, g)
    if cause is None or node is not cause:
        return []
    read = _custom_call(copy, cause, x)
    if read is None:
        return []
    layer, inp, _ = read
    if inp.ndim < 2 or float(np.std(inp)) == 0.0:
        return []  # an input that does not vary: dead units before the layer (AE304), not this
    try:
        gmax = kc.input_gradient_max(layer, inp.astype("float32"))
    except Exception:  # a layer we can't differentiate on its own is not a finding
        return []
    if gmax is not None and (gmax > 0.0 or not np.isfinite(gmax)):
        return []
    return [
        Finding(
            code="AE111",
            severity="error",
            title="The output does not depend on the input",
            message=(
                f"{label(ctx, cause)} returns something that does not depend on what it gets: its outputs change "
                f"from run to run (it draws noise) but its gradient with respect to its input is "
                + ("absent" if gmax is None else "exactly zero")
                + f" for all {len(inp)} samples, whose inputs to it differ. Everything before it is cut off: "
                "the reconstruction is noise pushed through the decoder, the same for every input on average."
            ),
            line=line,
            layer=node.name if node else None,
            source_line=src,
            evidence={"inputs_compared": len(x), "layer_input_gradient_max": gmax, "draws_noise": True},
            fix="# add the noise to the layer's input instead of replacing it, e.g.\n"
            "# layers.Lambda(lambda z: z + keras.random.normal(ops.shape(z), stddev=0.1))",
        )
    ]


def _zero_rescaling(g: GraphInfo | None) -> Any:
    """The first Rescaling node on the path whose scale is 0 everywhere (``layers.Rescaling(1 // 255)``: integer
    division, round 75's dl07): it turns every input into zeros. None when there is none."""
    for n in g.chain() if g is not None else []:
        if n.cls == "Rescaling":
            try:
                if not np.any(np.asarray(n.layer.scale, dtype="float64")):
                    return n
            except Exception:  # a scale this reading does not know (a tensor): not judged
                continue
    return None


def _custom_layer(ctx: Context, g: GraphInfo | None) -> tuple[Any, Any, int | None, str | None]:
    """The first Lambda or custom layer on the path (the usual suspect), the node to name (it, else the output),
    and that node's cell line and text."""
    cause = next((n for n in g.chain() if n.cls == "Lambda" or n.cls not in dir(kc.keras.layers)), None) if g else None
    node = cause or (g.nodes[g.outputs[0]] if g is not None and g.outputs else None)
    line, src = loc(ctx, node)
    return cause, node, line, src


def _responds_at_unit_scale(ctx: Context, copy: Any, x: np.ndarray) -> bool:
    """Whether the copy's output differs for unit-scale noise of ``x``'s shape, when ``x`` is far from unit scale."""
    if x.size == 0 or (float(np.max(np.abs(x))) <= 20.0 and float(np.std(x)) >= 1e-3):
        return False  # at about unit scale already: identical outputs are the model's own doing
    noise = np.random.default_rng(ctx.options.seed).standard_normal(x.shape).astype("float32")
    try:
        y = np.asarray(kc.keras.ops.convert_to_numpy(copy(noise, training=False)), dtype="float64")
    except Exception:
        return False
    if y.shape[:1] != x.shape[:1] or not np.all(np.isfinite(y)):
        return False
    return float(np.max(np.abs(y - y[0:1]))) > IDENTICAL_RTOL * max(float(np.max(np.abs(y))), 1.0)


# Layers that take integer ids: no gradient reaches their input by design.
_DISCRETE_INPUT_LAYERS = {"Embedding", "IntegerLookup", "StringLookup", "CategoryEncoding", "Hashing", "Discretization",
                          "TextVectorization"}


def _rerun(copy: Any, x: np.ndarray) -> np.ndarray | None:
    """The copy's output for ``x`` a second time (inference); None when that pass fails."""
    try:
        return np.asarray(kc.keras.ops.convert_to_numpy(copy(x, training=False)), dtype="float64")
    except Exception:  # it ran once on these inputs; a failure now is not a finding either
        return None


def _noise_only(again: np.ndarray | None, y: np.ndarray, spread: float) -> bool:
    """The same inputs, run again (``again``), give outputs at least half as far apart as ``spread`` (across the
    inputs): the model draws noise at inference, so the spread is no evidence that the output follows the input."""
    if again is None or again.shape != y.shape:
        return False
    jitter = float(np.nanmax(np.abs(again - y))) if again.size else 0.0
    return jitter >= 0.5 * spread


def _custom_call(copy: Any, cause: Any, x: np.ndarray) -> tuple[Any, np.ndarray, np.ndarray] | None:
    """``(the copy's layer, its input, its output)`` for the custom layer ``cause`` called once with one input in a
    forward pass of the copy on ``x``; None when it can't be read that way."""
    from ..probes import layers_by_name

    layer = layers_by_name(copy).get(cause.name)
    if layer is None:
        return None
    try:
        with kc.intercept_layer(layer) as calls:
            copy(x, training=False)
        if len(calls) != 1 or len(calls[0][0]) != 1:
            return None
        (arg,), out = calls[0]
        inp = np.asarray(kc.keras.ops.convert_to_numpy(arg), dtype="float64")
        return layer, inp, np.asarray(kc.keras.ops.convert_to_numpy(out), dtype="float64")
    except Exception:  # a layer that can't be read this way: AE111 as before
        return None


def _passes_dead_input(copy: Any, cause: Any, x: np.ndarray) -> bool:
    """True when the custom layer ``cause`` returns its one input unchanged and that input is exactly 0 for every
    sample and unit (dead ReLUs before it)."""
    read = _custom_call(copy, cause, x)
    if read is None:
        return False
    _, inp, out = read
    return out.shape == inp.shape and bool(np.all(inp == 0.0)) and bool(np.array_equal(out, inp))


def _shut_below_threshold(copy: Any, cause: Any, x: np.ndarray) -> tuple[float, float] | None:
    """``(largest input size, scale that opens it)`` when the custom layer ``cause`` outputs exactly 0 for every
    sample and unit while its inputs vary, and passes varying values once those inputs are scaled up (10x, 100x):
    a threshold none of the units reaches. None otherwise (a layer that replaces its input with a constant)."""
    read = _custom_call(copy, cause, x)
    if read is None:
        return None
    layer, inp, out = read
    if out.shape != inp.shape or np.any(out != 0) or float(np.std(inp)) == 0.0:
        return None
    try:
        for factor in (10.0, 100.0):
            wide = np.asarray(kc.keras.ops.convert_to_numpy(layer((inp * factor).astype("float32"))), dtype="float64")
            if np.all(np.isfinite(wide)) and float(np.max(np.abs(wide - wide[0:1]))) > 0.0:
                return float(np.max(np.abs(inp))), factor
    except Exception:  # a layer that can't be called on its own: no reading, AE111 as before
        return None
    return None


def _plainly_connected(ctx: Context, g: Any) -> bool:
    """True when the output can't help depending on the input, so no forward pass is needed.

    Built-in Keras layers (no Lambda, custom layer or raw op) pass a change of
    their input on unless a weight matrix is all zeros; copying the model for
    a forward pass costs more than the static checks together, so ordinary
    models skip it.
    """
    builtin = dir(kc.keras.layers)
    if any(not n.is_input and (n.cls == "Lambda" or n.cls not in builtin) for n in g.nodes):
        return False
    if _zero_rescaling(g) is not None:
        return False
    try:
        kernels = [v for v in ctx.model.weights if len(v.shape) >= 2]
        return all(np.any(kc.keras.ops.convert_to_numpy(v.value)) for v in kernels)
    except Exception:  # can't read the weights: measure instead
        return False


def _gradient_cut(ctx: Context, g: GraphInfo | None, copy: Any, x: np.ndarray) -> list[Finding]:
    """AE111, second form: the output changes with the input but its Jacobian is zero.

    A ``stop_gradient`` (or a non-differentiable op such as rounding) on the
    only path leaves the forward pass intact, so the encoder never learns.
    ``copy`` is ``ctx.forward_model()``: the backward pass runs on it too.
    """
    if g is None or any(n.cls in _DISCRETE_INPUT_LAYERS for n in g.nodes):
        return []
    # Built-in layers are differentiable: only a Lambda, a custom layer or a
    # raw op (keras.ops.stop_gradient on a KerasTensor) can cut the gradient,
    # so ordinary models skip the backward pass.
    if all(n.is_input or (n.cls != "Lambda" and n.cls in dir(kc.keras.layers)) for n in g.nodes):
        return []
    try:
        if any(not str(t.dtype).startswith("float") for t in kc.graph_inputs(copy)):
            return []
        gmax = kc.input_gradient_max(copy, x)
        if gmax == 0.0:
            # Exact zeros also come from saturation (a sigmoid at exactly 0/1 on 0-255
            # data or huge weights), which small inputs leave; a cut (round, cast,
            # argmax, stop_gradient) gives zero for every input.
            small = x * (0.1 / max(float(np.max(np.abs(x))), 1e-12))
            again = kc.input_gradient_max(copy, small.astype(x.dtype))
            if again is not None and (again > 0.0 or not np.isfinite(again)):
                return []
    except Exception:  # a model we cannot differentiate is not a finding
        return []
    if gmax is not None and (gmax > 0.0 or not np.isfinite(gmax)):
        return []  # a NaN/Inf gradient is an overflow (AE303's business), not a cut
    cause = next((n for n in g.chain() if n.cls == "Lambda" or n.cls not in dir(kc.keras.layers)), None)
    node = cause or (g.nodes[g.outputs[0]] if g.outputs else None)
    line, src = loc(ctx, node)
    raw = cut_in_call(ctx.source, cause.cls) if cause is not None and cause.cls != "Lambda" else None
    if raw is not None:
        # A layer class of the cell's own cuts it: the op in its call() is what to change (round 77's dq02).
        line, src = ctx.cell_line(raw), ctx.line_text(raw)
    return [
        Finding(
            code="AE111",
            severity="error",
            title="No gradient flows from the output back to the input",
            message=(
                f"`{ctx.model_name}`'s output changes with its input, but its gradient with respect to the input is "
                + ("absent" if gmax is None else "exactly zero")
                + (f"; {label(ctx, cause)} cuts it (a stop_gradient or a non-differentiable op"
                   + (f": line {line} of {cause.cls}.call)" if raw is not None else ")") if cause else "")
                + ". The loss cannot reach the layers before the cut, so the encoder never learns."
            ),
            line=line,
            layer=node.name if node else None,
            source_line=src,
            evidence={"inputs_compared": len(x), "input_gradient_max": gmax},
            fix="Remove the stop_gradient (or the rounding/casting op) from the path between the input and the output.",
        )
    ]


# -- AE111, fourth form: a sample's output depends on the rest of its batch -------------------------
# At inference no layer should mix samples (BatchNormalization uses its moving statistics): the output for
# a sample run alone and the same sample's output in a batch differ by more than this share of the
# output's scale only when a layer computes across the batch axis.
BATCH_RTOL = 1e-3


def _batch_mixing(ctx: Context, g: GraphInfo | None, copy: Any, x: np.ndarray, y: np.ndarray,
                  again: np.ndarray | None) -> list[Finding]:
    """AE111: the output for one sample changes with the other samples of its batch (a layer that reduces over axis 0).

    Round 31 (j02): a k-sparse layer ported as ``ops.top_k(ops.reshape(h, (-1,)), k)`` keeps the k largest
    activations of the whole batch, not of each sample: nearly every sample's code is zero, and what
    survives depends on its neighbours. The probes then read "the output ignores most of the input".
    """
    if len(x) < 4 or again is None:
        return []
    try:
        alone = np.asarray(kc.keras.ops.convert_to_numpy(copy(x[:1], training=False)), dtype="float64")
    except Exception:  # a model that only runs on full batches is not a finding here
        return []
    scale = max(float(np.max(np.abs(y))), 1e-6)
    if again.shape != y.shape or float(np.max(np.abs(again - y))) > BATCH_RTOL * scale:
        return []  # random at inference (noise that ignores training=False): not a batch effect
    if alone.shape[1:] != y.shape[1:] or not np.all(np.isfinite(alone)):
        return []
    diff = float(np.max(np.abs(alone[0] - y[0])))
    if diff <= BATCH_RTOL * scale:
        return []
    cause, node, line, src = _custom_layer(ctx, g)
    return [
        Finding(
            code="AE111",
            severity="error",
            title="A sample's output depends on the other samples in its batch",
            message=(
                f"Run alone, a sample gets a different output from `{ctx.model_name}` than in a batch of {len(x)} "
                f"(largest difference {diff:.3g}, {diff / scale:.1%} of the output's scale), before any training and "
                "in inference mode"
                + (f"; {label(ctx, cause)} is the custom layer on the path" if cause else "")
                + ". A layer computes across the batch axis (a reshape to (-1,), or a top_k, mean or max over axis 0), "
                "so each sample is encoded by what its neighbours hold, not by its own input, and the reconstruction "
                "can't follow the input."
            ),
            line=line,
            layer=node.name if node else None,
            source_line=src,
            evidence={"batch": len(x), "max_difference_alone": diff, "output_scale": scale},
            fix=("# reduce over each sample's own features, never over the batch axis: for a top-k,\n"
                 "# ops.top_k on the (batch, units) tensor itself (it works per row) and the row's threshold\n"
                 "# values[:, -1:], not ops.top_k(ops.reshape(h, (-1,)), k)"),
        )
    ]


# -- AE111, third form: most of the input never reaches the output ----------------------------------
# Each of up to PARTIAL_GROUPS groups of positions along the input's axis 1 (time steps, features,
# image rows) is replaced by another sample's values plus noise, for PARTIAL_SAMPLES samples at once;
# a group whose change moves no output at all (within IDENTICAL_RTOL) is ignored by the model. Round 21:
# a GRU code read from the first step (`seq[:, 0, :]`) leaves steps 2-60 with no say in the output.
PARTIAL_GROUPS = 128
PARTIAL_SAMPLES = 4
# At least this share of the positions ignored is reported (an error from half up).
PARTIAL_SHARE = 0.25
_AXIS_NAMES = {2: "features", 3: "time steps", 4: "image rows"}


def _ignored_positions(ctx: Context, g: GraphInfo | None, copy: Any, x: np.ndarray) -> list[Finding]:
    """AE111 when a large share of the input's positions along axis 1 can change without moving the output."""
    if x.ndim < 2 or x.shape[1] < 4 or len(x) < 2:
        return []
    n_pos = x.shape[1]
    groups = np.array_split(np.arange(n_pos), min(n_pos, PARTIAL_GROUPS))
    k = min(PARTIAL_SAMPLES, len(x) - 1)
    base = x[:k]
    donors = x[1 : k + 1]
    rng = np.random.default_rng(0)
    scale = float(np.std(x)) or 1.0
    batch = [base]
    for grp in groups:
        xb = base.copy()
        xb[:, grp] = donors[:, grp] + rng.normal(0.0, scale, size=xb[:, grp].shape)
        batch.append(xb)
    try:
        y = np.asarray(kc.keras.ops.convert_to_numpy(copy(np.concatenate(batch).astype(x.dtype), training=False)),
                       dtype="float64")
    except Exception:  # a model that takes other inputs is not judged here
        return []
    if y.ndim == 0 or y.shape[0] != k * (len(groups) + 1) or not np.all(np.isfinite(y)):
        return []
    y = y.reshape(len(groups) + 1, k, -1)
    change = np.max(np.abs(y[1:] - y[:1]), axis=(1, 2))
    ignored = change <= IDENTICAL_RTOL * max(float(np.max(np.abs(y[0]))), 1.0)
    if ignored.any() and _moved_when_pushed_harder(copy, x, base, groups, ignored, y[0], scale):
        # A quantised code (a rounding with a straight-through gradient: round 77's binary hashing AE) is flat
        # between its steps: small changes move no bit, larger ones do. A slice ignores a position at any size.
        return []
    lost = [int(i) for grp, off in zip(groups, ignored, strict=True) if off for i in grp]
    share = len(lost) / n_pos
    if share < PARTIAL_SHARE or share >= 1.0 or not _sharp_edge(change, ignored):
        return []
    cause = None
    if g is not None:
        cause = next((n for n in g.chain() if n.cls == "Lambda" or n.cls not in dir(kc.keras.layers)), None)
    line, src = loc(ctx, cause)
    what = _AXIS_NAMES.get(x.ndim, "positions along axis 1")
    return [
        Finding(
            code="AE111",
            severity="error" if share >= 0.5 else "warning",
            title="The output ignores most of the input" if share >= 0.5 else "The output ignores part of the input",
            message=(
                f"Changing {what} {_ranges(lost)} (of {n_pos}) of the input does not change `{ctx.model_name}`'s "
                "output at all, before any training"
                + (f"; {label(ctx, cause)} is where the path narrows (a slice or custom layer that keeps only part "
                   "of its input, such as one time step of a recurrent layer's sequence)" if cause else "")
                + ". The model can't reconstruct what it never sees: those positions can only be predicted from "
                "the others, or as their average."
            ),
            line=line,
            layer=cause.name if cause else None,
            source_line=src,
            evidence={"axis": 1, "positions": n_pos, "ignored": lost, "ignored_share": share,
                      "samples_changed": k},
            fix=("# let the code see the whole input, e.g. the last step of a recurrent layer's sequence\n"
                 "#   (seq[:, -1, :]), or its return_sequences=False output, instead of an early step or a slice"),
        )
    ]


# _moved_when_pushed_harder: the ignored positions are changed again by this many times the data's spread.
PUSH_HARDER = 20.0


def _moved_when_pushed_harder(copy: Any, x: np.ndarray, base: np.ndarray, groups: list[np.ndarray],
                              ignored: np.ndarray, y0: np.ndarray, scale: float) -> bool:
    """Whether the output moves once the positions that seemed ignored change by ``PUSH_HARDER`` times the data's
    spread: True for most of them means a flat-between-steps (quantised, thresholded) path, not an ignored input."""
    rng = np.random.default_rng(1)
    batch = []
    for grp in (g for g, off in zip(groups, ignored, strict=True) if off):
        xb = base.copy()
        xb[:, grp] = xb[:, grp] + rng.normal(0.0, PUSH_HARDER * scale, size=xb[:, grp].shape)
        batch.append(xb)
    try:
        y = np.asarray(kc.keras.ops.convert_to_numpy(copy(np.concatenate(batch).astype(x.dtype), training=False)),
                       dtype="float64").reshape(len(batch), len(base), -1)
    except Exception:  # no second reading: judged on the first, as before
        return False
    moved = np.max(np.abs(y - y0.reshape(1, len(base), -1)), axis=(1, 2)) > IDENTICAL_RTOL * max(float(np.max(np.abs(y0))), 1.0)
    return float(np.mean(moved)) > 0.5


def _sharp_edge(change: np.ndarray, ignored: np.ndarray) -> bool:
    """The positions next to the ignored ones still move the output about as much as any: a cut, not a fade.

    A recurrent state at its initial weights forgets geometrically (a GRU's update gate near 0.5 halves
    it each step), so the earliest steps of a long sequence move the last state by less than float32
    can hold; the steps next to them move it by little more. A slice leaves its neighbour at full weight.
    """
    kept = ~ignored
    near = kept & (np.roll(ignored, 1) | np.roll(ignored, -1))
    near[0] = kept[0] and bool(ignored[1]) if len(near) > 1 else False
    near[-1] = kept[-1] and bool(ignored[-2]) if len(near) > 1 else False
    if not near.any():
        return False
    return float(np.min(change[near])) >= EDGE_SHARP * float(np.max(change[kept]))


# A kept neighbour of the ignored positions moves the output by at least this share of the most any moves it.
EDGE_SHARP = 1e-3


def _ranges(idx: list[int]) -> str:
    """1-based runs: ``2-60``, ``1, 5-9``."""
    runs: list[list[int]] = []
    for i in idx:
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    text = [f"{a + 1}-{b + 1}" if b > a else f"{a + 1}" for a, b in runs]
    return ", ".join(text[:6]) + (", ..." if len(text) > 6 else "")


CHECKS = [check_output_ignores_input]
