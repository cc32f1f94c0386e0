"""AE301-AE305: gradients and activations, measured on a copy of the model.

The probe (``ProbeSession.gradient_probe``) runs a few compiled steps at the
user's initial weights with the learning rate at 0, records per-variable
gradient norms, and one eager forward pass records every layer's output.
The judges below read ``ctx.traces["gradients"]`` only.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from .. import keras_compat as kc
from .. import probes as probe
from ..context import Context
from ..errors import ModelError, safe_str
from ..fit_calls import argument, fit_calls
from ..graph import adds_loss
from ..probes.session import probe_batch_size
from ..report import Finding
from .gradient_cut import batch_of_one_norm, cut_after, cut_in_call
from .locate import activity_penalties, activity_regularizers
from .optimizer_source import opt_class
from .step_failure import failed_step

# ``||g_first|| / max ||g_later||`` below this: the gradient reaching the
# first layer is three orders of magnitude weaker than at the output
# (AUTOTRAINER's vanishing rule uses first/last < 1e-3). Healthy zoo models
# measure >= 7e-3 (conv), a 7-layer sigmoid stack 2e-4.
VANISH_RATIO = 1e-3
# A non-zero layer gradient below this is too small to move any weight even
# through Adam's epsilon (1e-7): the "floor" of the catalogue's AE302 (docs/faults.md).
VANISH_FLOOR = 1e-10
# ``||g|| / max(||W||, 1)`` above this: one plain SGD step at lr 0.01 would
# move the weights by more than 10% of their norm, the top of TheDeepChecker's
# healthy update band [1e-4, 1e-1]. Healthy zoo models measure <= 0.3.
EXPLODE_GRAD_WEIGHT = 10.0
# ``||g_first|| / ||g_last||`` above this: gradients grow toward the input
# (AUTOTRAINER's exploding rule, r > 70).
EXPLODE_GROWTH = 70.0
# Share of a layer's ReLU units dead for the whole probe batch: 70% is
# AUTOTRAINER's and DeepDiagnosis' threshold (they count activations; we
# count units, which is stricter). Healthy zoo layers measure <= 0.375.
DEAD_SHARE = 0.7
# Share of a layer's sigmoid/tanh units saturated for most samples
# (DeepDiagnosis: more than 50% of pre-activations beyond +-5).
SATURATED_SHARE = 0.5
# Layers narrower than this are too small for a share to mean much.
MIN_UNITS_FOR_SHARE = 4
# AE302 after the training probe: tiny gradients only matter when the loss
# does not move under the configured optimizer (Adam rescales small
# gradients). The run "learned" when the held-out MSE ended at least this
# share below both its start and the per-feature mean's error: the output
# follows the input, so the gradient got through. Without a training trace
# AE302 stays, marked unconfirmed.
VANISH_LEARNED = 0.1


def check_gradients(ctx: Context) -> list[Finding]:
    """Run the gradient probe on the copy and judge AE301-AE305."""
    if "gradients" in ctx.skipped:  # ruled out before (the cell's own fit got no gradient: step_failure says so)
        return []
    frozen = _no_trainable_weights(ctx)
    if frozen:
        return frozen
    try:
        sess = probe.prepared_session(ctx)
        trace = sess.gradient_probe(progress=ctx.options.progress)
    except probe.ProbeError as exc:
        skip(ctx, "gradients", exc)
        if isinstance(exc, ModelError) and "has no trainable weights" in str(exc):
            return _none_once_built(ctx)
        return failed_step(ctx, exc)
    trace["code_layer"] = code_layer_name(ctx, sess)
    ctx.traces["gradients"] = trace
    return judge(ctx, trace)


def skip(ctx: Context, family: str, exc: BaseException) -> None:
    """Record that a probe could not run, and why (the report's coverage and notes say so)."""
    reason = safe_str(exc)
    ctx.skipped.setdefault(family, reason)
    if isinstance(exc, ModelError):
        # The model itself can't train (fit fails the same way): no later probe can either.
        for other in ("gradients", "training", "range_test"):
            ctx.skipped.setdefault(other, reason)
    _note(ctx, f"Probes skipped: {reason}")


def _no_trainable_weights(ctx: Context) -> list[Finding]:
    """AE301 for a built model without a single trainable weight: training can't change anything."""
    m = ctx.model
    # A model whose weights are made on its first call has none yet: fit (and the probes' copy) make them.
    if not getattr(m, "built", False) or kc.builds_on_first_call(m):
        return []
    try:
        n = len(m.trainable_variables)
    except Exception:
        return []
    if n:
        return []
    reason = f"`{ctx.model_name}` has no trainable weights, so there is nothing to train"
    ctx.skipped.setdefault("gradients", reason)
    ctx.skipped.setdefault("training", reason)
    frozen = bool(getattr(m, "weights", None))
    line, text = _frozen_at(ctx) if frozen else (None, None)
    return [
        Finding(
            code="AE301",
            severity="error",
            title="Nothing in the model can learn",
            line=line,
            source_line=text,
            message=(
                f"`{ctx.model_name}` has no trainable weights"
                + (" (they are all frozen: trainable=False)" if frozen else " (no layer has weights)")
                + ": the loss can't change anything, so the reconstruction stays as it is."
                + (" Keras 3 reads `trainable` when fit runs, so setting it after compile (Keras 2's GAN idiom) "
                   "freezes this model's own training too." if line is not None and _after_compile(ctx, line) else "")
            ),
            evidence={"trainable_weights": 0, "weights": len(getattr(m, "weights", []) or [])},
            fix=(f"{ctx.model_name}.trainable = True  # then compile again" if frozen
                 else "Add layers with weights (Dense, Conv2D, ...) between the input and the output."),
        )
    ]


_FROZEN = re.compile(r"\.trainable\s*=\s*False\b")


def _frozen_at(ctx: Context) -> tuple[int | None, str | None]:
    """The cell line that sets ``trainable = False``: on the model's own name first (round 44's ah08:
    ``autoencoder.trainable = False`` after compile), else the last such line (the one that froze the rest)."""
    hits = [(i, t) for i, t in enumerate((ctx.source or "").splitlines(), start=1) if _FROZEN.search(t.split("#", 1)[0])]
    own = [(i, t) for i, t in hits if ctx.model_name and re.match(rf"\s*{re.escape(ctx.model_name)}\.trainable\b", t)]
    pick = (own or hits)[-1:] 
    return (ctx.cell_line(pick[0][0]), pick[0][1].strip()) if pick else (None, None)


def _after_compile(ctx: Context, line: int) -> bool:
    """A ``<model>.compile(`` line comes before cell line ``line``."""
    lines = (ctx.source or "").splitlines()
    name = re.escape(ctx.model_name or "")
    return any(re.search(rf"\b{name}\.compile\(", t.split("#", 1)[0]) and ctx.cell_line(i) < line
               for i, t in enumerate(lines, start=1)) if name else False


# A weight made as a raw backend variable in a layer: Keras 3 does not track it (no trainable weight).
_RAW_VARIABLE = re.compile(r"\btf\.Variable\(|\btorch\.nn\.Parameter\(")


def _none_once_built(ctx: Context) -> list[Finding]:
    """AE301 for a model that has no trainable weights once built (found when the probes' copy was built).

    Round 21: a subclassed autoencoder of the TF2 guide's ``Linear`` layer, whose weights are raw
    ``tf.Variable`` objects made in ``__init__``: Keras 3 tracks only weights made with ``add_weight``,
    so the model has none and ``fit`` changes nothing.
    """
    line = text = None
    for i, src in enumerate((ctx.source or "").splitlines(), start=1):
        if _RAW_VARIABLE.search(src.split("#", 1)[0]):
            line, text = ctx.cell_line(i), src.strip()
            break
    raw = line is not None
    return [
        Finding(
            code="AE301",
            severity="error",
            title="Nothing in the model can learn",
            message=(f"`{ctx.model_name}` has no trainable weights once built: the loss can't change anything, so the "
                     "reconstruction stays as it is."
                     + (" Its weights are raw tf.Variable objects: Keras 3 tracks only the weights a layer makes with "
                        "self.add_weight(...), so these are invisible to the optimizer." if raw else "")),
            line=line,
            source_line=text,
            evidence={"trainable_weights": 0, "raw_variables": raw},
            # A comment: the names are the user's layer's.
            fix=("# in the layer's build() (or __init__), make each weight with add_weight:\n"
                 "#     self.w = self.add_weight(shape=(input_dim, units), initializer='glorot_uniform', trainable=True)"),
        )
    ]


CHECKS: list = [check_gradients]


def judge(ctx: Context, trace: dict[str, Any]) -> list[Finding]:
    """AE301-AE305 from a gradient trace."""
    out: list[Finding] = []
    layers = [layer for layer in trace["layers"] if layer["n_vars"] > 0]
    out += _no_gradient(ctx, trace, layers)
    cut = {layer["layer"] for layer in layers if layer["none_vars"] or layer["zero_vars"] == layer["n_vars"]}
    live = [layer for layer in layers if layer["layer"] not in cut and layer["finite"]]
    exploding = _exploding(ctx, layers, live)
    out += exploding
    if not exploding:
        out += _vanishing(ctx, live)
    out += _dead(ctx, trace["layers"], "at the initial weights")
    out += _saturated(ctx, trace["layers"], "at the initial weights")
    return out


# -- AE301 -----------------------------------------------------------------
# Ops whose gradient is None or zero, as written on a Lambda's line (an exact-zero AE301 names such a cut only).
# A name on the line, not a part of a longer word ("forecast", "assign", "unless"); underscores separate
# ("greater_equal", "tf.math.round").
_NON_DIFFERENTIABLE = re.compile(r"(?<![A-Za-z0-9])(?:round|cast|argmax|argmin|floor|ceil|sign|stop_gradient|astype|"
                                 r"greater|less|equal|where|top_k|int32|int64|bool)(?![A-Za-z0-9])")


def _no_gradient(ctx: Context, trace: dict[str, Any], layers: list[dict[str, Any]]) -> list[Finding]:
    none = [layer for layer in layers if layer["none_vars"]]
    zero = [layer for layer in layers if not layer["none_vars"] and layer["zero_vars"] == layer["n_vars"]]
    cut = none + zero
    if not cut:
        return []
    names = [layer["layer"] for layer in cut]
    order = [layer["layer"] for layer in layers]
    code = trace.get("code_layer")
    k = order.index(code) if code in order else None
    encoder = order[: k + 1] if k is not None else order[:1]
    decoder = order[k + 1 :] if k is not None else []
    encoder_cut = bool(encoder) and all(n in names for n in encoder)
    decoder_cut = bool(decoder) and all(n in names for n in decoder)
    first_cut = order[0] in names
    severe = encoder_cut or decoder_cut or first_cut
    parts = []
    if none:
        parts.append(f"{_list(ly['layer'] for ly in none)} get no gradient at all (None)")
    if zero:
        parts.append(f"{_list(ly['layer'] for ly in zero)} get an exactly zero gradient")
    where = "the encoder is cut off from the loss" if (encoder_cut or first_cut) else (
        "the decoder is cut off from the loss" if decoder_cut else "these weights never learn"
    )
    if none:
        fix = (
            "# Every layer between the input and the reconstruction must be differentiable:\n"
            "# remove keras.ops.stop_gradient / non-differentiable ops (argmax, round, casts to int)\n"
            "# on the path, or set trainable=False on purpose if these layers should stay frozen."
        )
    else:
        dead = [ly["layer"] for ly in trace["layers"] if (ly.get("dead_share") or 0) >= 0.99]
        fix = (
            "# Exactly zero gradients come from units that never activate or from zero weights:\n"
            "layers.Dense(units, activation='relu', kernel_initializer='he_normal')  # not 'zeros'/constants"
        )
        if dead:
            fix += f"\n# Fully dead ReLU layers on the path: {', '.join(dead)}"
    first = cut[0]
    line, text = locate(ctx, first["layer"])
    # Each cut-off layer's cell line, so a cut after AE111 names every layer it starves.
    lines = {n: locate(ctx, n)[0] for n in names}
    known = [f"{n} (line {ln})" for n, ln in lines.items() if ln is not None]
    # Where the gradient stops (a rounding Lambda after the code): the fix goes there, so the finding does.
    # (On torch a rounding op's gradient is an exact zero, not None: both count.)
    stop = cut_after(ctx.model, names) if encoder_cut or first_cut else None
    stop_line, stop_text = locate(ctx, stop.name) if stop is not None else (None, None)
    # A layer class of the cell's own: the op that cuts is in its call() (round 77's dq02: ``ops.round``).
    op = cut_in_call(ctx.source, type(stop).__name__) if stop_line is not None else None
    if stop_line is not None and not none and not _NON_DIFFERENTIABLE.search(stop_text or "") and op is None:
        stop_line = None  # exact zeros alone may be dead units: blame a layer only for an op that cuts
    in_call = None
    if stop_line is None and (encoder_cut or first_cut) and not (ctx.graph is not None and ctx.graph.has_graph):
        # A subclassed model: no layer graph to walk, so the cut is read from its call() (round 69's cz05; on torch
        # the rounding's gradient is an exact zero, so zeros count when the call holds an op that cuts).
        raw = cut_in_call(ctx.source, type(ctx.model).__name__) if ctx.model is not None else None
        in_call = ctx.cell_line(raw) if raw is not None else None
    if in_call is not None:
        line, text = in_call, ctx.line_text(raw)
        where += f" at line {in_call} of {type(ctx.model).__name__}.call, right after them"
        fix = (f"# line {in_call}: the gradient can't pass this op (round, cast, argmax or stop_gradient).\n"
               "# Make it differentiable, e.g. a straight-through rounding: t + ops.stop_gradient(ops.round(t) - t),\n"
               "# or drop it during training.")
    if stop_line is not None:
        where += f" at {stop.name} ({type(stop).__name__}, line {stop_line}), right after them"
        line, text = stop_line, stop_text
        if op is not None:
            # The fix goes on that op's line (round 77's dq02: ``return ops.round(probs)`` in a BinaryCode layer
            # of a hashing autoencoder; on torch its gradient is an exact zero, not None).
            stop_line, line, text = ctx.cell_line(op), ctx.cell_line(op), ctx.line_text(op)
            where += f"; line {line} of {type(stop).__name__}.call is the op that cuts it"
        fix = (f"# line {stop_line}: the gradient can't pass {stop.name} (round, cast, argmax or stop_gradient).\n"
               "# Make it differentiable, e.g. a straight-through rounding: t + ops.stop_gradient(ops.round(t) - t),\n"
               "# or drop it during training.")
    norm = batch_of_one_norm(ctx.model, names, probe_batch_size(ctx)) if not none else None
    if norm is not None:
        # A BatchNormalization over (batch, features) fed one sample a step: each sample minus itself is zero.
        n_line, n_text = locate(ctx, norm.name)
        fit_line = _fit_batch_line(ctx)
        where += (f" by {norm.name} (BatchNormalization{f', line {n_line}' if n_line else ''}): the probes train at "
                  f"the cell's batch_size=1{f' (line {fit_line})' if fit_line else ''}, and over a batch of one sample "
                  "it normalises each feature against itself, so its output is the same (its beta) for every input "
                  "and passes no gradient back")
        if n_line is not None:
            line, text = n_line, n_text
        fix = ("# BatchNormalization needs several samples per batch to have statistics to normalise with:\n"
               f"{ctx.model_name}.fit(..., batch_size=32)  # or layers.LayerNormalization() in its place")
    return [
        Finding(
            code="AE301",
            severity="error" if severe else "warning",
            title="Weights cut off from the loss",
            message=(
                f"{'; '.join(parts)} over {trace['batches']} probe batches: {where}. "
                "Those weights can't change however long you train."
                + (f" Cut off: {_list(known)}." if known else "")
            ),
            line=line,
            source_line=text,
            layer=norm.name if norm is not None else stop.name if stop_line is not None else first["layer"],
            evidence={
                "layers": names,
                "lines": lines,
                "none": [ly["layer"] for ly in none],
                "zero": [ly["layer"] for ly in zero],
                "encoder_cut": encoder_cut,
                "decoder_cut": decoder_cut,
                **({"cut_at": stop.name} if stop_line is not None else {}),
                **({"cut_in_call": in_call} if in_call is not None else {}),
                **({"batch_of_one_norm": norm.name} if norm is not None else {}),
                "batches": trace["batches"],
            },
            fix=fix,
        )
    ]


def _fit_batch_line(ctx: Context) -> int | None:
    """The cell line of the ``batch_size=`` the cell's fit passes, else of the fit call; None without one."""
    for call in fit_calls(ctx.source, ctx.model_name):
        given = argument(call, 2, "batch_size")
        return ctx.cell_line(given.lineno if given is not None else call.lineno)
    return None


# -- AE302 / AE303 ----------------------------------------------------------
def _exploding(ctx: Context, layers: list[dict[str, Any]], live: list[dict[str, Any]]) -> list[Finding]:
    nonfinite = [layer for layer in layers if not layer["finite"]]
    big = [
        layer
        for layer in live
        if layer["grad_norm"] / max(layer.get("weight_norm") or 0.0, 1.0) > EXPLODE_GRAD_WEIGHT
    ]
    growth = None
    if len(live) >= 2 and live[-1]["grad_norm"] > 0:
        growth = live[0]["grad_norm"] / live[-1]["grad_norm"]
    grows = growth is not None and growth > EXPLODE_GROWTH
    if not (nonfinite or big or grows):
        return []
    norms = {layer["layer"]: layer["grad_norm"] for layer in layers}
    if nonfinite:
        what = f"gradients are NaN/Inf in {_list(ly['layer'] for ly in nonfinite)}"
        focus = nonfinite[0]
    elif big:
        worst = max(big, key=lambda ly: ly["grad_norm"] / max(ly.get("weight_norm") or 0.0, 1.0))
        ratio = worst["grad_norm"] / max(worst.get("weight_norm") or 0.0, 1.0)
        what = (
            f"the gradient of {worst['layer']} has norm {worst['grad_norm']:.3g}, "
            f"{ratio:.3g}x the norm of its weights ({worst.get('weight_norm', 0.0):.3g})"
        )
        focus = worst
    else:
        what = f"gradient norms grow {growth:.3g}x from the output layer ({live[-1]['layer']}) to the first ({live[0]['layer']})"
        focus = live[0]
    line, text = locate(ctx, focus["layer"])
    fix = (
        "# Scale the data to about unit range first (x = x / 255.0, or standardise),\n"
        "# then, if it persists, clip the gradient norm:\n"
        "optimizer = keras.optimizers.Adam(learning_rate=1e-3, clipnorm=1.0)"
    )
    consequence = "training steps will overshoot or blow up."
    if nonfinite:
        # Measured at learning rate 0: no step has been taken, so no step size explains it.
        reg = _activity_regularizer(ctx, focus["layer"])
        consequence = (
            "no step has been taken yet, so this is not a step size: a computation in the forward pass or the loss is "
            "not finite at these weights (an overflow from unscaled inputs, or a log, division or square root of 0"
            + (f"; {focus['layer']} has an activity_regularizer, {reg}, whose terms are part of the loss" if reg else "")
            + ")."
        )
        if reg:
            fix = (f"# keep {reg}'s terms finite where an activation is 0 (a dead ReLU unit, an all-zero batch):\n"
                   "# clip what goes into each log or division, e.g. the mean activation into [1e-7, 1 - 1e-7]")
        bare = _unguarded_op(ctx, [ly["layer"] for ly in nonfinite])
        if bare is not None:
            # The cell's own penalty or loss takes a square root or log of something that can be exactly 0:
            # sqrt's gradient there is inf (times 0: NaN), log's value is -inf. That line is the fix.
            at, op, owner = bare
            line, text = ctx.cell_line(at), ctx.line_text(at)
            consequence += (f" Line {line}, in `{owner}`, takes `{op}` of a value that is exactly 0 for some rows (an "
                            f"all-zero ReLU code, a zero difference) with no epsilon: {op}'s gradient there is not finite.")
            fix = f"# add a small epsilon inside the {op}, e.g.\n{(text or '').strip().replace(f'{op}(', f'{op}(1e-8 + ', 1)}"
    return [
        Finding(
            code="AE303",
            severity="warning",
            title="Exploding gradients",
            message=f"At the initial weights {what}: {consequence}",
            line=line,
            source_line=text,
            layer=focus["layer"],
            evidence={
                "grad_norms": norms,
                "weight_norms": {ly["layer"]: ly.get("weight_norm") for ly in layers},
                "growth_first_to_last": growth,
                "threshold_grad_to_weight": EXPLODE_GRAD_WEIGHT,
                "before_any_step": bool(nonfinite),
            },
            fix=fix,
        )
    ]


_UNSAFE_AT_ZERO = {"sqrt", "log", "rsqrt", "log2", "log10"}
_GUARDS = {"maximum", "clip", "clip_by_value", "softplus", "abs", "exp", "where"}


def _unguarded_op(ctx: Context, layer_names: list[str]) -> tuple[int, str, str] | None:
    """``(source line, op, function)``: a square root or log with no epsilon in a function of the cell that the
    named layers' loss terms run (an activity regularizer) or that is the compiled loss, else None.

    Round 65's cr08: an L2,1 code penalty ``ops.sqrt(ops.sum(ops.square(code), axis=1))``; rows whose ReLU code is
    all zero give NaN gradients before any step, and the fit filled the encoder with NaN.
    """
    import ast

    try:
        tree = ast.parse(ctx.source or "")
    except SyntaxError:
        return None
    owners: list[Any] = []
    by_name = probe.layers_by_name(ctx.model) if ctx.model is not None else {}
    for name in layer_names:
        reg = getattr(by_name.get(name), "activity_regularizer", None)
        if reg is not None:
            owners.append(reg)
    owners.append(getattr(ctx.model, "loss", None))
    funcs = {n.name: n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    classes = {n.name: n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)}
    for owner in owners:
        if owner is None or isinstance(owner, str):
            continue
        fname = getattr(owner, "__name__", None)
        nodes = [funcs[fname]] if fname in funcs else []
        cls = classes.get(type(owner).__name__)
        nodes += [f for f in (cls.body if cls else []) if isinstance(f, ast.FunctionDef) and f.name in ("__call__", "call")]
        for fn in nodes:
            for call in (n for n in ast.walk(fn) if isinstance(n, ast.Call) and n.args):
                op = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", None)
                if op not in _UNSAFE_AT_ZERO:
                    continue
                arg = call.args[0]
                if any(isinstance(b, ast.BinOp) and isinstance(b.op, ast.Div) for b in ast.walk(arg)):
                    continue  # a ratio's trouble is its denominator (a KL sparsity's rho / rho_hat): not this fix
                guarded = any(isinstance(b, ast.BinOp) and isinstance(b.op, (ast.Add, ast.Sub)) for b in ast.walk(arg)) or any(
                    isinstance(c, ast.Call) and (getattr(c.func, "attr", None) or getattr(c.func, "id", None)) in _GUARDS
                    for c in ast.walk(arg))
                if not guarded:
                    return call.lineno, op, fn.name if fn.name not in ("__call__", "call") else f"{cls.name}.{fn.name}"
    return None


def _activity_regularizer(ctx: Context, layer_name: str) -> str | None:
    """The class name of the named layer's activity_regularizer, if it has one."""
    return activity_regularizers(ctx.model).get(layer_name)


def _vanishing(ctx: Context, live: list[dict[str, Any]]) -> list[Finding]:
    if len(live) < 2:
        return []
    first = live[0]
    top = max(live[1:], key=lambda ly: ly["grad_norm"])
    ratio = first["grad_norm"] / top["grad_norm"] if top["grad_norm"] > 0 else None
    tiny = [ly for ly in live if 0 < ly["grad_norm"] < VANISH_FLOOR]
    if not ((ratio is not None and ratio < VANISH_RATIO) or tiny):
        return []
    # The output's own sigmoid is no layer the gradient vanishes *through* on its way to the input.
    acts = sorted({str(ly["activation"]) for ly in live[:-1] if ly["activation"] in probe.SIGMOID_LIKE | probe.TANH_LIKE})
    why = f" through the {'/'.join(acts)} layers" if acts else ""
    line, text = locate(ctx, first["layer"])
    msg = (
        f"The gradient reaching {first['layer']} (norm {first['grad_norm']:.2g}) is "
        f"{(1 / ratio) if ratio else float('inf'):.3g}x weaker than at {top['layer']} ({top['grad_norm']:.2g}): "
        f"it vanishes{why} on its way to the input, so the encoder learns far slower than the decoder."
    )
    if acts:
        fix = (
            "# Use ReLU-family activations in hidden layers (keep sigmoid only on the output):\n"
            "layers.Dense(units, activation='relu', kernel_initializer='he_normal')"
        )
    else:
        fix = (
            "# Initialise with a scale that keeps activations alive (not a tiny RandomNormal):\n"
            "layers.Dense(units, activation='relu', kernel_initializer='he_normal')\n"
            "# or add layers.BatchNormalization() between layers."
        )
    return [
        Finding(
            code="AE302",
            severity="warning",
            title="Vanishing gradients",
            message=msg,
            line=line,
            source_line=text,
            layer=first["layer"],
            evidence={
                "grad_norms": {ly["layer"]: ly["grad_norm"] for ly in live},
                "ratio_first_to_max": ratio,
                "threshold": VANISH_RATIO,
            },
            fix=fix,
        )
    ]


# -- AE304 / AE305 ----------------------------------------------------------
def _dead(
    ctx: Context, layers: list[dict[str, Any]], when: str, *, threshold: float = DEAD_SHARE, killed_at: float | None = None,
    sugg: float | None = None,
) -> list[Finding]:
    """AE304 for the layers whose ReLU share is dead; ``killed_at``: the learning rate of a run that killed live units."""
    bad = [
        ly
        for ly in layers
        if ly.get("dead_share") is not None
        and ly["dead_share"] >= threshold
        and not ly.get("is_output")
        and (ly.get("units") or MIN_UNITS_FOR_SHARE) >= MIN_UNITS_FOR_SHARE
    ]
    if not bad:
        return []
    shares = {ly["layer"]: round(float(ly["dead_share"]), 3) for ly in bad}
    line, text = locate(ctx, bad[0]["layer"])
    # Units the probe run killed, or that the cell's own fit left dead, under an activity regularizer on that layer:
    # the penalty is the suspect (round 81's fa06: L1(0.1) on the code, dead after the cell's 3 epochs).
    died_in_fit = when == "at the initial weights" and cell_steps(ctx) > 0
    penalty = activity_penalties(ctx, shares) if killed_at is not None or died_in_fit else {}
    if penalty:
        return [_killed_by_penalty(ctx, shares, when, threshold, penalty, line, text, bad[0]["layer"])]
    return [
        Finding(
            code="AE304",
            severity="warning",
            title="Dead ReLU units",
            message=(
                _dead_units(when, shares, cell_steps(ctx))
                + ("" if killed_at is None else
                   f" They were alive at the initial weights: the training steps at learning rate {killed_at:.3g} killed "
                   "them, which a rate too high for the optimizer does most often"
                   + (f" (try {sugg:.1g}, from the learning-rate range test and the usual range of {opt_class(ctx)})."
                      if sugg is not None and sugg < killed_at else "."))
            ),
            line=line,
            source_line=text,
            layer=bad[0]["layer"],
            evidence={"dead_share": shares, "threshold": threshold, "when": when,
                      **({} if killed_at is None else {"lr": killed_at, "suggested_lr": sugg}),
                      # Dead in the weights the cell's own fit left: what that fit did may explain them (report.causes_of).
                      **({"cell_fit_steps": cell_steps(ctx)} if when == "at the initial weights" and cell_steps(ctx) else {})},
            fix=(
                (f"optimizer = keras.optimizers.{opt_class(ctx)}(learning_rate={sugg:.1g})\n"
                 if killed_at is not None and sugg is not None and sugg < killed_at else "")
                + "# Keep units alive: He initialisation, no large negative bias, a lower learning rate,\n"
                "# or a leaky activation:\n"
                "layers.Dense(units, activation='leaky_relu', kernel_initializer='he_normal')"
            ),
        )
    ]


def _dead_units(when: str, shares: dict[str, float], trained: int = 0) -> str:
    """AE304's first sentence: which layers, what share of their units, and what that means; ``trained``: the steps
    the cell's own fit took before the check (the probes' initial weights are the ones it left)."""
    return (f"{when.capitalize()}, " + ", ".join(f"{100 * v:.0f}% of the ReLU units of {k}" for k, v in shares.items())
            + " output zero for every probe sample: they pass no signal and get no gradient."
            + (f" These initial weights are the ones the cell's own training left ({trained} steps): the units may have "
               "died there." if trained and when == "at the initial weights" else ""))


def died_in_cell_fit(ctx: Context) -> bool:
    """Every AE304 warning was measured at the weights the cell's own fit left (the probes' initial weights, after
    its steps), none killed by the probe run: the dead units may be a phase of a slow start, which a longer run
    from there tells apart from a model that stays dead."""
    if cell_steps(ctx) <= 0:
        return False
    dead = [f for f in ctx.found if f.code == "AE304" and f.severity in ("warning", "error")]
    return bool(dead) and all(f.evidence.get("when") == "at the initial weights" and "lr" not in f.evidence
                              for f in dead)


def cell_steps(ctx: Context) -> int:
    """The training steps the user's optimizer has taken (the cell's own fit), 0 when none or unreadable."""
    opt = getattr(ctx.model, "optimizer", None)
    try:
        return int(kc.keras.ops.convert_to_numpy(opt.iterations)) if opt is not None else 0
    except Exception:
        return 0


def _killed_by_penalty(
    ctx: Context, shares: dict[str, float], when: str, threshold: float, penalty: dict[str, str],
    line: int | None, text: str | None, layer: str,
) -> Finding:
    """AE304 for units an activity regularizer drove to zero during the run (round 14: l1(10e-1) on a sparse code).

    The penalty charges every nonzero output; at a strength that outweighs
    the reconstruction, the cheapest code is all zeros, which ReLU units
    then keep. No learning rate is blamed.
    """
    from .locate import keyword_line

    which = ", ".join(f"{name}'s {reg}" for name, reg in penalty.items())
    if layer in penalty:
        # The fix changes the regularizer: its own line when the call is written over several (round 80's eb04).
        line, text = keyword_line(ctx, line, "activity_regularizer")
    return Finding(
        code="AE304",
        severity="warning",
        title="Dead ReLU units",
        message=(
            _dead_units(when, shares)
            + (f" These initial weights are the ones the cell's own training left ({cell_steps(ctx)} steps), under the "
               f"activity regularizer ({which}), which charges every nonzero output. A penalty that outweighs the "
               "reconstruction makes an all-zero code the cheapest, and the decoder can then only output an average."
               if when == "at the initial weights" else
               " They were alive at the "
               f"initial weights; the run drove them to zero under the activity regularizer ({which}), which charges "
               "every nonzero output. At this strength the penalty outweighs the reconstruction, so an all-zero code is "
               "the cheapest, and the decoder can only output an average.")
        ),
        line=line,
        source_line=text,
        layer=layer,
        evidence={"dead_share": shares, "threshold": threshold, "when": when, "activity_regularizer": penalty},
        fix=("# a sparsity penalty far below the reconstruction loss (about 1e-5 per unit for L1):\n"
             "activity_regularizer=keras.regularizers.l1(1e-5)"),
    )


def _saturated(ctx: Context, layers: list[dict[str, Any]], when: str) -> list[Finding]:
    bad = [
        ly
        for ly in layers
        if ly.get("saturated_share") is not None and ly["saturated_share"] >= SATURATED_SHARE and not ly.get("is_output")
    ]
    if not bad:
        return []
    shares = {ly["layer"]: round(float(ly["saturated_share"]), 3) for ly in bad}
    line, text = locate(ctx, bad[0]["layer"])
    return [
        Finding(
            code="AE305",
            severity="warning",
            title="Saturated sigmoid/tanh units",
            message=(
                f"{when.capitalize()}, "
                + ", ".join(f"{100 * v:.0f}% of the units of {k}" for k, v in shares.items())
                + " sit in the flat part of their activation for most samples, where the gradient is"
                " under 4% of its peak: they barely learn."
            ),
            line=line,
            source_line=text,
            layer=bad[0]["layer"],
            evidence={"saturated_share": shares, "threshold": SATURATED_SHARE, "when": when},
            fix=(
                "# Scale the inputs to about unit range (x / 255.0 or standardise), and prefer\n"
                "layers.Dense(units, activation='relu')  # or add layers.BatchNormalization() before the activation"
            ),
        )
    ]


# -- refine: measurements confirm structural findings ------------------------
def refine(ctx: Context, findings: list[Finding]) -> list[Finding]:
    """Upgrade AE106 to an error when most code units are measured saturated;
    add the measurements to AE110 as evidence and upgrade it when the probe
    found no gradient or vanishing gradients."""
    trace = ctx.traces.get("gradients")
    if not trace:
        return findings
    findings = _confirm_vanishing(ctx, findings)
    findings = _confirm_exploding(ctx, findings)
    after = {a["layer"]: a for a in ctx.traces.get("training", {}).get("activations_after", [])}
    by_name = {ly["layer"]: ly for ly in trace["layers"]}
    codes = {f.code for f in findings}
    # What says the run did not learn: a note (an AE403 whose smaller rate only did somewhat better) does not.
    loud = {f.code for f in findings if f.severity in ("warning", "error")}
    for f in findings:
        if f.code == "AE106":
            name = _in_trace(f.layer, by_name) or _in_trace(trace.get("code_layer"), by_name)
            init = (by_name.get(name) or {}).get("saturated_share")
            later = (after.get(name) or {}).get("saturated_share")
            measured = max([v for v in (init, later) if v is not None], default=None)
            if measured is not None:
                f.evidence["measured_saturated_share"] = {"initial": init, "after_probe": later}
                trained = _learned_from_cell_fit(ctx, loud) if measured >= SATURATED_SHARE else None
                if trained is not None:
                    # Saturated in the weights the cell's own fit left, and the probe run from there learned (round
                    # 78's AutoRec): a trained near-binary code, not a stall. A wide code (the design) is info; a
                    # narrow sigmoid code keeps the structure's warning, not upgraded.
                    f.severity = "info" if _wide_code(ctx) or f.evidence.get("activation") in ZERO_CENTRED else "warning"
                    f.evidence["saturated_in_cell_fit"] = True
                    f.evidence["learned"] = trained[1]
                    f.message += (f" Measured: {100 * measured:.0f}% of the code units of {name} are saturated at the "
                                  f"weights the cell's own fit left, and {trained[0]}: the units saturated in "
                                  "training and code the input as near-binary values.")
                elif measured >= SATURATED_SHARE:
                    f.severity = "error"
                    f.message += (
                        f" Measured: {100 * measured:.0f}% of the code units of {name} are saturated"
                        f"{' after the probe run' if later == measured and later != init else ''}, so the code"
                        " carries almost no gradient."
                    )
                elif ((f.evidence.get("activation") in ZERO_CENTRED or _sparsity_code(ctx, f.layer) or _wide_code(ctx))
                      and init is not None and later is not None and measured < SATURATED_SHARE / 2):
                    # Round 29: a wide sigmoid hidden layer too (U-AutoRec's, by the paper's design), judged in
                    # the loss's own units when its MSE means nothing (a masked loss on ratings). A narrow sigmoid
                    # code keeps its warning: few units, each of which stops carrying signal once it saturates.
                    learned, start, final, mean = probe_learned(ctx)
                    unit, run = "MSE", "the probe run"
                    if not learned and (_sparsity_code(ctx, f.layer) or f.evidence.get("activation") in ZERO_CENTRED):
                        # A sparse AE's sigmoid code, a slow starter (round 34's UFLDL sparse AE), or a tanh code
                        # (round 37's BatchNorm + SGD-momentum expression AE): the longer run the training check
                        # made. A narrow sigmoid code (the seeds' fault) is judged on the probe run, as before.
                        learned, start, final, mean = _learned_longer(ctx)
                        run = "a longer run the training check made (a slow start)"
                    if not learned:
                        learned, start, final, mean = _learned_in_loss_units(ctx)
                        unit, run = "loss", "the probe run"
                    if not learned and cell_steps(ctx) > 0:
                        # The cell's own fit had trained it already (round 84's ic04, a 128-unit sigmoid AutoRec
                        # layer under a masked loss): the probe run starts near its end and cannot fall much more.
                        learned, start, final, mean = _beats_mean_in_loss_units(ctx)
                        unit, run = "loss", "the probe run, from the weights the cell's own fit left,"
                    held = next((x for x in findings if x.code == "AE405" and x.evidence.get("held_by_penalty")), None)
                    if held is not None and _sparsity_code(ctx, f.layer) and not learned:
                        # Round 63's co10: the code's penalty, not saturation, holds the run (AE405 names it at
                        # its weight); the sigmoid is what the sparsity target is defined on.
                        f.severity = "info"
                        f.evidence["held_by_penalty"] = True
                        f.fix, f.edit = ("# Keep the sigmoid while the code's sparsity penalty needs activations in "
                                         "(0, 1); weigh the penalty down (see AE405)."), None
                        f.message += (f" Measured, saturation is not what holds this run: {100 * measured:.0f}% of "
                                      f"the code units of {name} are saturated at the initial weights and after the "
                                      f"probe run, while the penalty on the code (AE405, line {held.line}) keeps "
                                      "the reconstruction at the mean's error.")
                    elif learned and not loud & _STALLED:
                        # The risk the structure shows did not happen: the code's units stayed in their
                        # working range and the run learned. A warning here would be a false alarm.
                        f.severity = "info"
                        f.evidence["learned"] = ({"mse_start": start, "mse_end": final, "mean_baseline": mean} if unit == "MSE"
                                                 else {"loss_start": start, "loss_end": final, "mean_baseline_loss": mean})
                        if f.evidence.get("activation") not in ZERO_CENTRED and _sparsity_code(ctx, f.layer):
                            f.evidence["activity_regularizer"] = True
                            f.fix = ("# Keep the sigmoid while the code's activity regularizer (a sparsity target) "
                                     "needs activations in (0, 1);\n# watch the code's saturation if longer training stalls.")
                            f.edit = None
                        f.message += (
                            f" Measured, it does no harm here: {100 * measured:.0f}% of the code units of {name} are "
                            f"saturated at the initial weights and after the probe run, and {run} lowered the held-out {unit} "
                            f"from {start:.3g} to {final:.3g} (the per-feature mean reaches {mean:.3g}). Worth "
                            "changing only if longer training stalls."
                        )
        elif (f.code == "AE305" and f.severity == "warning" and f.evidence.get("when") == "at the initial weights"
              and cell_steps(ctx) > 0):
            _saturated_by_cell_fit(ctx, f, loud)
        elif f.code == "AE304" and f.evidence.get("when") == "at the initial weights":
            _revived(f, after, by_name)
            if f.severity == "warning" and died_in_cell_fit(ctx):
                _learns_anyway(ctx, f, findings)
        elif f.code == "AE107" and set(f.evidence.get("activations") or ["?"]) <= ZERO_CENTRED:
            _soften_zero_centred_stack(ctx, f, by_name, after, loud)
        elif f.code == "AE110":
            f.evidence["measured_grad_norms"] = {ly["layer"]: ly["grad_norm"] for ly in trace["layers"] if ly["n_vars"]}
            if "AE301" in codes or "AE302" in codes:
                f.severity = "error"
                f.message += " The gradient probe confirms it: " + (
                    "some weights get no gradient at all." if "AE301" in codes else "the gradients vanish toward the input."
                )
    return findings


def _learned_from_cell_fit(ctx: Context, codes: set[str]) -> tuple[str, dict[str, Any]] | None:
    """``(what the probe run did, evidence)`` when the cell's own fit trained the weights the probes started from
    and the probe run from there learned (in MSE, else in the loss's own units) with no stall finding; else None."""
    if cell_steps(ctx) <= 0 or codes & _STALLED:
        return None
    learned, start, final, mean = probe_learned(ctx)
    unit = "MSE"
    if not learned:
        learned, start, final, mean = _learned_in_loss_units(ctx)
        unit = "loss"
    if not learned:
        return None
    said = (f"the probe run from them lowered the held-out {unit} from {start:.3g} to {final:.3g} (the per-feature "
            f"mean reaches {mean:.3g})")
    return said, ({"mse_start": start, "mse_end": final, "mean_baseline": mean} if unit == "MSE"
                  else {"loss_start": start, "loss_end": final, "mean_baseline_loss": mean})


def _saturated_by_cell_fit(ctx: Context, f: Finding, codes: set[str]) -> None:
    """AE305 at the weights the cell's own fit left becomes info when the probe run from there learned.

    Those units saturated in the user's training, and the model goes on learning with them: a near-binary
    code, as after a probe run (training's ``_harmless_if_learned``, round 37). Round 78's du08: an I-AutoRec
    whose 3-epoch fit at Adam(1e-2) drove every sigmoid hidden unit into its flat part, while its masked loss fell
    on from 0.71 to 0.26. Judged in MSE, else (a masked loss, whose MSE counts the missing entries) in the loss's
    own units; any stall finding keeps the warning.
    """
    trained = _learned_from_cell_fit(ctx, codes)
    if trained is None:
        return
    f.severity = "info"
    f.evidence["saturated_in_cell_fit"] = True
    f.evidence["learned"] = trained[1]
    f.message += (f" These are the weights the cell's own fit left, and {trained[0]}: the units saturated in "
                  "training and code the input as near-binary values. Worth changing only if longer training stalls.")


# A code at least this share of the input's width is a wide hidden layer, not a bottleneck of a few units.
WIDE_CODE = 0.5
# A code this many units wide counts as wide whatever the input's width (round 84's ic04: 128 of 300 ratings).
WIDE_UNITS = 64


def _wide_code(ctx: Context) -> bool:
    """The model's code is at least WIDE_CODE of its input's width, or it is a shallow autoencoder's one hidden layer
    of WIDE_UNITS units or more (U-AutoRec's 500 sigmoid units for thousands of items are the paper's design; a
    deep encoder's 64-unit sigmoid code keeps AE106's warning: tests/test_sparse_code.py)."""
    g = ctx.graph
    code, width = getattr(g, "code_width", None), getattr(g, "input_width", None)
    return (isinstance(code, int) and isinstance(width, int) and width > 0
            and (code >= WIDE_CODE * width or (code >= WIDE_UNITS and _reads_the_input(g))))


def _reads_the_input(g: Any) -> bool:
    """The code layer reads the model's input, through weightless layers at most (a one-hidden-layer model)."""
    try:
        todo, seen = list(g.nodes[g.code].parents), set()
        while todo:
            node = g.nodes[todo.pop()]
            if node.id in seen:
                continue
            seen.add(node.id)
            if node.is_input:
                continue
            if getattr(node.layer, "weights", None):
                return False
            todo.extend(node.parents)
        return bool(seen)
    except (AttributeError, IndexError, TypeError):
        return False


def _sparsity_code(ctx: Context, layer_name: str | None) -> bool:
    """The code layer carries an activity regularizer: a sparse autoencoder (Ng's KL sparsity target,
    Geron's ``KLDivergenceRegularizer``) whose penalty is defined on activations in (0, 1), so its
    sigmoid is the design, not a slip."""
    from .locate import activity_regularizers

    regs = activity_regularizers(ctx.model)
    leaf = (layer_name or "").rsplit("/", 1)[-1]
    return bool(layer_name) and (layer_name in regs or leaf in regs or _penalised_by_loss_layer(ctx.model, leaf))


def _penalised_by_loss_layer(model: Any, leaf: str) -> bool:
    """Layer ``leaf``'s output feeds a user-written layer that adds a loss, or the layer adds one itself: the UFLDL
    sparse autoencoder's ``KLSparsity`` layer, which calls ``self.add_loss`` on the code's mean activation (round
    34), is an activity regularizer written by hand; a contractive encoder's own ``add_loss`` of its Jacobian,
    written with the sigmoid's derivative ``h * (1 - h)`` (round 84's ia06), needs the sigmoid too."""
    try:
        layers = list(model._flatten_layers(include_self=False)) if model is not None else []
    except Exception:  # not a Keras 3 model: no graph to read
        return False
    for layer in layers:
        if not adds_loss(layer):
            continue
        if layer.name == leaf:  # the code layer adds its own penalty (a contractive Jacobian term on h * (1 - h))
            return True
        for node in getattr(layer, "_inbound_nodes", []) or []:
            for t in getattr(node, "input_tensors", []) or []:
                op = getattr(getattr(t, "_keras_history", None), "operation", None)
                if getattr(op, "name", None) == leaf:
                    return True
    return False


def _revived(f: Finding, after: dict[str, Any], by_name: dict[str, Any]) -> None:
    """AE304 measured at the initial weights becomes info when the probe run brought the units back: after it,
    every such layer is under the threshold (round 21: an ECG model's 8-unit code, 75% dead
    at init behind BatchNorm, 38% after the run; fit trains it to 0.55x the mean's error)."""
    names = [_in_trace(n, by_name) or n for n in f.evidence.get("dead_share") or {}]
    later = [(after.get(n) or {}).get("dead_share") for n in names]
    threshold = float(f.evidence.get("threshold") or DEAD_SHARE)
    if not names or any(v is None for v in later) or max(later) >= threshold:
        return
    f.severity = "info"
    f.evidence["dead_share_after_probe"] = dict(zip(names, later, strict=True))
    f.message += (f" Measured again after the probe run, they came back to life: at most {100 * max(later):.0f}% are "
                  "dead then, so training revives them here. Worth changing only if longer training stalls.")


# _learns_anyway: the longer run ends at or below this share of the mean's error (AE405's own margin).
LEARNS_ANYWAY = 0.98


def _learns_anyway(ctx: Context, f: Finding, findings: list[Finding]) -> None:
    """AE304 on the weights the cell's own fit left becomes info when the probe run from them (or, for a slow start,
    the longer run the training check made) ended below the mean's error and no training symptom stands: the model
    learns with the units it has (round 47's au05, a healthy slow starter whose 3-epoch fit left 6 of its 8 code
    units dead; 4x the probe run took it below the mean). Units that leave the model on the mean keep the warning."""
    longer, tr = ctx.cache.get("longer_training"), ctx.traces.get("training")
    if any(g.code in _STALLED and g.severity in ("warning", "error") for g in findings) or not _probe_measured(tr):
        return
    # The probe run itself, or (a slow start) the longer run the training check made from the same weights.
    run = longer if _probe_measured(longer) and not longer.get("diverged") else tr
    final, mean = run["baselines"]["final"], tr["baselines"]["mean"]
    if run.get("diverged") or not final <= LEARNS_ANYWAY * mean:
        return
    f.severity = "info"
    f.evidence["learned_after"] = {"steps": len(run["loss"]), "mse_end": final, "mean_baseline": mean}
    f.message += (f" They do not stop it learning: a run of {len(run['loss'])} steps from these weights took the "
                  f"held-out MSE to {final:.3g} (the per-feature mean reaches {mean:.3g}). Worth changing only if "
                  "longer training stalls.")


def _in_trace(name: str | None, by_name: dict[str, Any]) -> str | None:
    """``name`` as the probe traces key it: a nested model's layer (``decoder/dense_2``) by its own name."""
    if not name:
        return None
    if name in by_name:
        return name
    leaf = name.rsplit("/", 1)[-1]
    return leaf if leaf in by_name else None


# AE106 softens to info only for a zero-centred code (tanh, softsign: slope 1 at 0, like a linear code while
# unsaturated), or a code with an activity regularizer (a sparse autoencoder's sigmoid, which its KL sparsity
# target needs), measured unsaturated in a run that learned. A sigmoid code keeps its warning: its slope is at
# most 0.25 and its code is not centred; on round 4's tabular cell it ended 2.8x the error of a linear code
# after 20 epochs of fit although the probe run learned, where round 11's GRU with a tanh code did as well
# as with relu or linear.
ZERO_CENTRED = {"tanh", "softsign"}
# Findings that say the run did not learn: with one of them, no structural warning is softened.
_STALLED = {"AE401", "AE402", "AE403", "AE404", "AE405", "AE407"}


def _soften_zero_centred_stack(ctx: Context, f: Finding, by_name: dict[str, Any], after: dict[str, Any], codes: set[str]) -> None:
    """AE107 on a tanh/softsign stack becomes info when the measurements show the risk did not happen.

    Every layer of the stack measured unsaturated at the initial weights and
    after the probe run, no vanishing gradient (AE302) or saturated units
    (AE305), and a run that learned: a shallow tanh encoder of an anomaly
    detector (round 13: 10-4-10 tanh units, 0.23x the mean's error after
    30 epochs of fit) is a sound design. A sigmoid stack keeps its warning
    (a gradient factor of at most 0.25 per layer).
    """
    names = [_in_trace(n, by_name) or n for n in f.evidence.get("layers") or []]
    shares = [(by_name.get(n) or {}).get("saturated_share") for n in names] + [
        (after.get(n) or {}).get("saturated_share") for n in names]
    if not names or any(v is None for v in shares) or max(shares) >= SATURATED_SHARE / 2:
        return
    learned, start, final, mean = probe_learned(ctx)
    if not learned or codes & (_STALLED | {"AE302", "AE305"}):
        return
    f.severity = "info"
    f.evidence["measured_saturated_share"] = {"max": max(shares)}
    f.evidence["learned"] = {"mse_start": start, "mse_end": final, "mean_baseline": mean}
    f.message += (
        f" Measured, it does no harm here: at most {100 * max(shares):.0f}% of these layers' units are saturated, "
        f"at the initial weights and after the probe run, and the run lowered the held-out MSE from {start:.3g} "
        f"to {final:.3g} (the per-feature mean reaches {mean:.3g}). Worth changing only if a deeper stack stalls."
    )


def _probe_measured(tr: dict[str, Any] | None) -> bool:
    """Whether the training trace holds finite start, final and mean-baseline MSEs."""
    b = (tr or {}).get("baselines") or {}
    return tr is not None and all(isinstance(b.get(k), (int, float)) and b[k] == b[k] for k in ("start", "final", "mean"))


def _loss_units_curve(ctx: Context) -> tuple[float, float, float] | None:
    """``(start, final, mean)``: the probe's held-out curve of the model's own loss, first and last, and the mean's
    loss in those units; None when any is missing or not finite."""
    tr = ctx.traces.get("training") or {}
    curve = [v for v in ((tr.get("val_curve") or {}).get("loss") or []) if isinstance(v, (int, float))]
    mean = ((tr.get("baselines") or {}).get("loss_units") or {}).get("mean")
    if len(curve) < 2 or not isinstance(mean, (int, float)) or not all(np.isfinite([curve[0], curve[-1], mean])):
        return None
    return curve[0], curve[-1], mean


def _learned_in_loss_units(ctx: Context) -> tuple[bool, Any, Any, Any]:
    """As :func:`probe_learned`, on the held-out curve of the model's own loss against the mean's loss in
    those units (a masked loss whose MSE counts the missing entries too)."""
    got = _loss_units_curve(ctx)
    if got is None:
        return False, None, None, None
    start, final, mean = got
    return bool(final <= (1 - VANISH_LEARNED) * min(start, mean)), start, final, mean


def _beats_mean_in_loss_units(ctx: Context) -> tuple[bool, Any, Any, Any]:
    """``(True, start, final, mean)`` when the probe's held-out loss ends at most half the mean's loss in the loss's
    own units and no higher than it started (a model the cell's fit trained, still learning or settled)."""
    got = _loss_units_curve(ctx)
    if got is None:
        return False, None, None, None
    start, final, mean = got
    return bool(final <= 0.5 * mean and final <= start * (1 + VANISH_LEARNED / 2)), start, final, mean


def _learned_longer(ctx: Context) -> tuple[bool, Any, Any, Any]:
    """As :func:`probe_learned`, on the longer run the training check made to tell a slow start from a stall
    (``ctx.cache["longer_training"]``); (False, None, None, None) when it made none."""
    longer = ctx.cache.get("longer_training")
    tr = ctx.traces.get("training")
    if not (_probe_measured(tr) and _probe_measured(longer)):
        return False, None, None, None
    b, lb = tr["baselines"], longer["baselines"]
    start, final, mean = b["start"], lb["final"], b["mean"]
    return bool(final <= (1 - VANISH_LEARNED) * min(start, mean)), start, final, mean


def probe_learned(ctx: Context) -> tuple[bool, Any, Any, Any]:
    """``(learned, start, final, mean)``: the probe run lowered the held-out MSE at least VANISH_LEARNED below
    both its start and the per-feature mean's error (the output follows the input)."""
    tr = ctx.traces.get("training")
    b = (tr or {}).get("baselines") or {}
    start, final, mean = b.get("start"), b.get("final"), b.get("mean")
    learned = _probe_measured(tr) and final <= (1 - VANISH_LEARNED) * min(start, mean)
    return bool(learned), start, final, mean


def _confirm_vanishing(ctx: Context, findings: list[Finding]) -> list[Finding]:
    """AE302 against the training trace: dropped when the run learned, else marked confirmed or not."""
    if not any(f.code == "AE302" for f in findings):
        return findings
    tr = ctx.traces.get("training")
    measured = _probe_measured(tr)
    learned, start, final, mean = probe_learned(ctx)
    longer = ctx.cache.get("longer_training") if measured and not learned else None
    if longer is not None:
        # Round 29: a slow starter (an inpainting conv AE of separable convs) still on its way down when the
        # probe run ended; the longer run the training check made to judge AE405 shows whether it learns.
        lb = longer.get("baselines") or {}
        if _probe_measured(longer) and lb["final"] <= (1 - VANISH_LEARNED) * min(start, mean):
            _note(ctx, f"Small initial gradients (AE302) were not reported: the probe run lowered the held-out MSE "
                       f"from {start:.3g} to {final:.3g}, and a run {len(longer['loss'])} steps long took it to "
                       f"{lb['final']:.3g} (the per-feature mean reaches {mean:.3g}): a slow start, not a stall.")
            return [f for f in findings if f.code != "AE302"]
    if learned:
        _note(ctx, f"Small initial gradients (AE302) were not reported: under {tr.get('loss_name') or 'the'} loss and the "
                   f"configured optimizer the probe run lowered the held-out MSE from {start:.3g} to {final:.3g} "
                   f"(the per-feature mean reaches {mean:.3g}).")
        return [f for f in findings if f.code != "AE302"]
    for f in findings:
        if f.code != "AE302":
            continue
        f.evidence["confirmed"] = bool(measured)
        if measured:
            f.evidence["mse_start"], f.evidence["mse_end"], f.evidence["mean_baseline"] = start, final, mean
            f.message += (f" The probe run confirms it: the held-out MSE went from {start:.3g} to {final:.3g} "
                          f"(the per-feature mean reaches {mean:.3g}).")
        else:
            f.message += (" Unconfirmed: the training probe did not run, so whether the loss moves under the "
                          "configured optimizer (Adam rescales small gradients) was not measured.")
    return findings


def _confirm_exploding(ctx: Context, findings: list[Finding]) -> list[Finding]:
    """AE303 from finite but large gradients, against the training trace.

    Large initial gradients are a fault when the steps they make overshoot.
    A loss in raw units (a model that maps 0-255 pixels back to 0-255, or
    de-normalises its output) has large gradients by its scale alone. So
    AE303 is dropped, with a note, when the probe run learned (the held-out
    MSE fell as :func:`_confirm_vanishing` asks) or, under an adaptive
    optimizer (Adam rescales every step to about its learning rate), when
    the run shows no sign of overshooting: no AE401, AE403 or AE404, no
    divergence. NaN/Inf gradients always stay, as does AE303 without a
    training trace.
    """
    from .optimizer_source import ADAPTIVE

    codes = {f.code for f in findings}
    tr = ctx.traces.get("training")
    if "AE303" not in codes or codes & {"AE401", "AE403", "AE404"} or tr is None or tr.get("diverged"):
        return findings
    learned, start, final, mean = probe_learned(ctx)
    if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in (start, final, mean)):
        return findings
    opt = getattr(ctx.model, "optimizer", None)
    inner = getattr(opt, "inner_optimizer", None) or opt  # a LossScaleOptimizer's own; none: the probes' Adam
    adaptive = inner is None or type(inner).__name__ in ADAPTIVE
    if not (learned or adaptive):
        return findings
    why = (f"the probe run lowered the held-out MSE from {start:.3g} to {final:.3g} (the per-feature mean reaches "
           f"{mean:.3g})" if learned else
           f"under {type(inner).__name__ if inner is not None else 'Adam'}, which scales each step to about its learning "
           "rate whatever the gradient's size, the probe run did not diverge, oscillate or collapse")
    kept = []
    for f in findings:
        finite = all(math.isfinite(v) for v in (f.evidence.get("grad_norms") or {}).values() if isinstance(v, (int, float)))
        if f.code == "AE303" and finite:
            _note(ctx, f"Large initial gradients (AE303) were not reported: {why}. Their size comes from the loss's "
                       "scale, not from steps that overshoot.")
            continue
        kept.append(f)
    return kept


# -- helpers -------------------------------------------------------------------
def code_layer_name(ctx: Context, sess: Any) -> str | None:
    """Name of the code (bottleneck) layer: the graph's, else the narrowest output."""
    g = ctx.graph
    node = getattr(g, "code_node", None) if g is not None else None
    if node is not None and getattr(node, "name", None):
        return str(node.name)
    width = sess.code_width()
    for name, w in sess.widths.items():
        if w == width and name not in sess.output_layers:
            return name
    return None


def locate(ctx: Context, layer_name: str | None) -> tuple[int | None, str | None]:
    """Cell line and its text where ``layer_name`` was called, when captured."""
    if layer_name is None or ctx.model is None:
        return None, None
    layer = probe.layers_by_name(ctx.model).get(layer_name)
    if layer is None:
        # A graph node's scoped name ("decoder/dense_6", a layer of a nested model): the node knows its line
        # (round 83's ha06: AE203 on a nested Sequential's sigmoid had fallen back to the data's line).
        node = next((n for n in (ctx.graph.nodes if ctx.graph is not None else []) if n.name == layer_name), None)
        if node is None or node.line is None:
            return None, None
        return ctx.cell_line(node.line), ctx.line_text(node.line)
    call = ctx.call_for_layer(layer)
    if call is None or call.line is None:
        # A nested Sequential built on first call (no Input): its layers' calls run inside Keras, but
        # the cell line that created each is known.
        from .locate import layer_line

        return layer_line(ctx, layer)
    from .locate import created_within

    line = created_within(ctx, layer, call.line)
    return ctx.cell_line(line), ctx.line_text(line)


def _list(names: Any) -> str:
    names = list(names)
    return ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else (names[0] if names else "")


def _note(ctx: Context, text: str) -> None:
    if text not in ctx.notes:
        ctx.notes.append(text)
