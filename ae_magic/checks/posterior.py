"""AE407: posterior collapse, a VAE's decoder ignoring its code (``traces["training"]["latent"]``)."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import keras_compat as kc
from ..context import Context
from ..numeric import all_finite
from ..probes.traces import leaf_layers
from ..report import Finding
from . import gradients as G
from .longer_run import BASELINE_CONFIRM_FACTOR, describe
from .longer_run import sentence_start as _sentence

# A VAE's code has collapsed when at most this share of its dimensions is
# active (z_mean varies across inputs, probes/latent.py)...
POSTERIOR_ACTIVE_SHARE = 0.2
# ...and either no dimension carries more than POSTERIOR_KL_MAX nats (the
# code transmits nothing about the input), or moving z by one prior standard
# deviation moves the output by less than POSTERIOR_SENSITIVITY of the
# targets' spread, or the output is already judged collapsed / no better
# than the mean (AE404/AE405). A VAE with a few active dimensions that
# reconstructs well (more latent room than the data needs) stays silent.
POSTERIOR_KL_MAX = 0.05
POSTERIOR_SENSITIVITY = 0.1

# What every AE407 message says about the cause.
WHY = ("The KL term pulls every code to the prior, so the decoder learns to output an average instead of decoding z. "
       "This usually means the KL term outweighs the reconstruction term: a KL summed over the batch against a "
       "reconstruction averaged over it, a mean-reduced reconstruction against a summed KL, or a large beta.")


def posterior_collapse(ctx: Context, tr: dict[str, Any], found: list[Finding], *, averaged: bool = False) -> list[Finding]:
    """AE407: a VAE's code carries almost nothing about the input after the probe run.

    ``averaged``: the caller measured reconstructions no better than the mean's (a longer run still above it)."""
    lat = tr.get("latent")
    if not lat or not lat.get("dims"):
        return []
    dims, active = lat["dims"], lat["active_dims"]
    sens = lat.get("z_sensitivity")
    ignored = sens is not None and sens < POSTERIOR_SENSITIVITY
    averaged = averaged or any(f.code in ("AE404", "AE405") for f in found)
    # Driven to the prior: the code carries (almost) nothing now, and less
    # than half of what it carried at the initial weights. A slow starter
    # whose code starts near the prior and grows is not this.
    before = lat.get("kl_total_before")
    driven = _driven(lat)
    collapsed = active <= POSTERIOR_ACTIVE_SHARE * dims and (ignored or averaged)
    if not (driven or collapsed):
        return []
    name = lat["layer"]
    user_layers = leaf_layers(ctx.model) if ctx.model is not None else []
    idx = lat.get("layer_index")
    if idx is not None and idx < len(user_layers):
        name = user_layers[idx].name
    line, src = G.locate(ctx, name)
    kl = lat["kl_per_dim"]
    return [_blame_mean_reconstruction(ctx, Finding(
            code="AE407",
            severity="warning",
            title="Posterior collapse: the decoder ignores the code",
            message=(
                f"After the probe run the code of the sampling layer '{name}' carries almost nothing about the input: "
                f"its KL divergence from the prior is {lat['kl_total']:.3g} nats over {dims} dimensions (at most "
                f"{max(kl):.3g} in one"
                + (f"; {before:.3g} at the start of the run" if before is not None else "")
                + f"), {active} of {dims} dimensions vary across inputs (variance of z_mean above 0.01), and "
                "moving z by one standard deviation moves the reconstruction by "
                + (f"{sens:.2g}" if sens is not None else "an unknown share")
                + " of the data's spread. " + WHY
            ),
            line=line,
            layer=name,
            source_line=src,
            evidence={
                "kl_per_dim": kl,
                "kl_total_before": before,
                "active_dims": active,
                "dims": dims,
                "z_sensitivity": sens,
                "mean_variance_per_dim": lat.get("mean_variance"),
            },
            fix=(
                "# weigh the reconstruction as a sum over features (per sample), as the KL is:\n"
                "recon = ops.mean(ops.sum(ops.square(target - recon_out), axis=-1))\n"
                "# or scale the KL term down (beta < 1) or warm it up from 0 over the first epochs"
            ),
        ))
    ]



def _cell_tree(ctx: Context) -> ast.Module | None:
    """The cell's source parsed, or None (no source, or not Python)."""
    if not ctx.source:
        return None
    try:
        return ast.parse(ctx.source)
    except SyntaxError:
        return None


def _calls(node: ast.AST) -> set[str]:
    """The names of the functions called anywhere in ``node`` (``ops.mean`` -> ``mean``)."""
    out = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Call):
            f = n.func
            out.add(f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else "")
    return out


_MEANS, _SUMS = {"mean", "reduce_mean"}, {"sum", "reduce_sum"}
# Keras losses that average over the last axis (the functions) or over everything (the classes): a
# reconstruction term made of one of them alone is a per-feature mean (round 60's ci08:
# ``reconstruction_loss = keras.losses.binary_crossentropy(x, x_decoded)`` on flat rows beside a summed KL).
_MEAN_LOSSES = {"binary_crossentropy", "mean_squared_error", "mse", "mean_absolute_error", "mae",
                "binary_focal_crossentropy", "BinaryCrossentropy", "MeanSquaredError", "MeanAbsoluteError",
                "BinaryFocalCrossentropy"}


def mean_reduced_reconstruction(ctx: Context) -> tuple[int | None, str | None] | None:
    """The line of a reconstruction term averaged over every feature, in a function whose KL term is summed.

    ``recon = ops.mean(binary_crossentropy(x, out))`` (or the loss function alone, a mean over the row's
    features) beside ``kl = ops.mean(ops.sum(kl, axis=1))`` (a keras.io VAE with its
    ``ops.sum(..., axis=(1, 2))`` left out): the KL then weighs as much as
    the reconstruction of every feature together. A term scaled by a
    product (``784 * bce``) is left alone.
    """
    tree = _cell_tree(ctx)
    if tree is None:
        return None
    for fn in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)):
        recon, kl_summed = None, False
        for node in ast.walk(fn):
            if not isinstance(node, ast.Assign) or len(node.targets) != 1 or not isinstance(node.targets[0], ast.Name):
                continue
            name, calls = node.targets[0].id.lower(), _calls(node.value)
            if "kl" in name and calls & _SUMS:
                kl_summed = True
            elif "recon" in name and calls & (_MEANS | _MEAN_LOSSES) and not calls & _SUMS and not any(
                isinstance(b, ast.BinOp) and isinstance(b.op, ast.Mult) for b in ast.walk(node.value)
            ):
                recon = node.lineno
        if recon is not None and kl_summed:
            return ctx.cell_line(recon), ctx.line_text(recon)
    return None


def _blame_kl_weight(ctx: Context, finding: Finding) -> Finding:
    """Point an AE407 at the line that sets a KL weight above 1 (``beta``, ``kl_weight``), if the cell has one."""
    from .kl_weight import large_kl_weight

    hit = large_kl_weight(ctx)
    if hit is None:
        return finding
    if hit["line"] is not None:
        finding.line, finding.source_line, finding.layer = hit["line"], hit["source_line"], None
    finding.message += (
        f" Here the KL term is weighted by `{hit['name']}` = {hit['value']:.4g}"
        + (f" (line {hit['line']})" if hit["line"] is not None else "")
        + f": it counts {hit['value']:.4g}x as much as in the VAE's own objective, where a reconstruction summed "
        "over each sample's features meets the KL at weight 1."
    )
    finding.evidence["kl_weight"] = {"name": hit["name"], "value": hit["value"], "line": hit["line"]}
    finding.fix = (f"# weigh the KL term at 1 (or warm it up from 0), with the reconstruction summed per sample:\n"
                   f"# {hit['name']} = 1.0")
    finding.edit = None
    return finding


# Keras' built-in losses that average over every value of a sample (names without "_", lower case).
_PER_VALUE_LOSSES = {"binarycrossentropy", "bce", "mse", "meansquarederror", "mae", "meanabsoluteerror"}
# Fewer values per sample than this: a per-value mean is close enough to a per-sample sum not to be blamed.
_MIN_VALUES = 16


def mean_compiled_loss(ctx: Context) -> dict[str, Any] | None:
    """A built-in per-value loss given to ``compile`` while the cell adds a term with ``add_loss`` that it does not
    scale down: ``{"loss", "values", "line", "source_line"}``, else None.

    Round 55's bu07: ``compile(loss="binary_crossentropy")`` on 784-pixel rows with a Sampling layer that adds
    ``ops.mean(kl)``, the KL summed over 8 latent dimensions. Keras averages the compiled loss over every pixel,
    so the KL meets the reconstruction of one pixel, not of the image: 784x its weight in the VAE's objective.
    An added term divided by something (``kl / 784``, bu04's healthy balance) is left alone.
    """
    # getattr: posterior's callers may hand a lighter context (source and line helpers only).
    model, target, data = (getattr(ctx, k, None) for k in ("model", "target", "data"))
    name = str(kc.loss_name(model) or "").replace("_", "").lower() if model is not None else ""
    data = target if target is not None else data
    tree = _cell_tree(ctx)
    own = _own_mean_loss(tree, getattr(model, "loss", None)) if name not in _PER_VALUE_LOSSES else None
    if (name not in _PER_VALUE_LOSSES and own is None) or data is None or np.ndim(data) < 2:
        return None
    values = int(np.prod(np.shape(data)[1:]))
    if values < _MIN_VALUES or tree is None:
        return None
    from .per_sample_loss import add_loss_calls

    calls = add_loss_calls(tree)
    if not calls or any(_divided(call, fn) for call, _, fn in calls):
        return None
    if own is not None:
        # The cell's own loss function averages every value (round 64's cp10: ops.mean(bce, axis=(1, 2))): the fix
        # goes in that function, on the line that averages.
        return {"loss": own[0], "values": values, "line": ctx.cell_line(own[1]), "source_line": ctx.line_text(own[1]),
                "own_function": True}
    from .locate import loss_line

    line, text = loss_line(ctx)
    return {"loss": kc.loss_name(model), "values": values, "line": line, "source_line": text}


def _own_mean_loss(tree: ast.AST | None, loss: Any) -> tuple[str, int] | None:
    """``(function name, line)`` when the compiled loss is a function of the cell that returns a mean over the
    values of each sample (``ops.mean`` of a per-value loss, or ``keras.losses.mean_squared_error(y_true, y_pred)``
    alone as in round 65's cs06; no sum, no product); else None."""
    fname = getattr(loss, "__name__", None)
    if tree is None or not callable(loss) or not fname:
        return None
    fn = next((n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == fname), None)
    ret = next((n for n in ast.walk(fn) if isinstance(n, ast.Return) and n.value is not None), None) if fn else None
    if ret is None:
        return None
    body = [ret.value, *(n.value for n in ast.walk(fn) if isinstance(n, ast.Assign))]
    calls = set().union(*(_calls(b) for b in body))
    product = any(isinstance(b, ast.BinOp) and isinstance(b.op, ast.Mult) for node in body for b in ast.walk(node))
    # A mean, or a Keras loss function that averages the last axis alone (Keras then averages what is left).
    if not _calls(ret.value) & (_MEANS | _MEAN_LOSSES) or calls & _SUMS or product:
        return None
    return fname, ret.lineno


def _divided(call: ast.Call, fn: ast.FunctionDef | None) -> bool:
    """The added term (or a name it is computed from in the same function) is divided by something."""
    names = {n.id for n in ast.walk(call.args[0]) if isinstance(n, ast.Name)}
    nodes: list[ast.AST] = [call.args[0]]
    if fn is not None:
        nodes += [n.value for n in ast.walk(fn) if isinstance(n, ast.Assign)
                  and any(isinstance(t, ast.Name) and t.id in names for t in n.targets)]
    return any(isinstance(b, ast.BinOp) and isinstance(b.op, ast.Div) for node in nodes for b in ast.walk(node))


# The keras.losses function that sums into the fix, by the compiled loss's normalised name.
_LOSS_FUNCTION = {"binarycrossentropy": "binary_crossentropy", "bce": "binary_crossentropy",
                  "mse": "mean_squared_error", "meansquarederror": "mean_squared_error",
                  "mae": "mean_absolute_error", "meanabsoluteerror": "mean_absolute_error"}


def _blame_mean_compiled_loss(ctx: Context, finding: Finding) -> Finding | None:
    """Point an AE407 at a per-value compiled loss beside an added KL (:func:`mean_compiled_loss`); None if none."""
    hit = mean_compiled_loss(ctx)
    if hit is None or hit["line"] is None:
        return None
    n, loss = hit["values"], hit["loss"]
    finding.line, finding.source_line, finding.layer = hit["line"], hit["source_line"], None
    finding.message += (
        f" Here the compiled loss ({loss}) averages the reconstruction over the {n} values of each sample, while the "
        f"term added with add_loss is not averaged so: the KL meets the reconstruction of one value, about {n}x its "
        "weight in the VAE's objective."
    )
    finding.evidence["mean_compiled_loss"] = {"loss": loss, "values": n, "line": hit["line"]}
    finding.edit = None
    if hit.get("own_function"):
        text = (hit["source_line"] or "").strip()
        summed = (text.replace("mean(", "sum(", 1) if "mean(" in text
                  else text.replace("return ", f"return {n} * ", 1))  # a Keras loss averaging the last axis
        finding.fix = f"# in {loss}: sum over each sample's {n} values instead of averaging them, e.g.\n# {summed}"
        return finding
    finding.fix = (f"# sum the reconstruction over each sample's {n} values (or divide the KL by {n}), e.g.\n"
                   f"# loss=lambda y, p: {n} * keras.losses.{_LOSS_FUNCTION[str(loss).replace('_', '').lower()]}(y, p)")
    finding.edit = None
    return finding


def _blame_mean_reconstruction(ctx: Context, finding: Finding) -> Finding:
    """Point an AE407 at a reconstruction term averaged over every feature beside a summed KL, if the cell has one;
    else at a per-value compiled loss beside an added KL; else at a KL weight above 1."""
    hit = mean_reduced_reconstruction(ctx)
    if hit is None or hit[0] is None:
        return _blame_mean_compiled_loss(ctx, finding) or _blame_kl_weight(ctx, finding)
    finding.line, finding.source_line, finding.layer = hit[0], hit[1], None
    finding.message += (
        f" Here line {hit[0]} averages the reconstruction term over every feature of a sample while the KL term is "
        "summed over the latent dimensions, so the KL outweighs it by about the number of features per sample."
    )
    finding.evidence["mean_reduced_reconstruction_line"] = hit[0]
    # As comments: the snippet reads the train_step's own locals, which no namespace holds.
    finding.fix = (
        f"# line {hit[0]}: sum the reconstruction over each sample's features, then average over the batch, e.g.\n"
        "#   reconstruction_loss = ops.mean(ops.sum(keras.losses.binary_crossentropy(data, reconstruction), axis=(1, 2)))\n"
        "# (axis=(1, 2): the image axes left after the crossentropy's own mean over channels; for flat rows\n"
        "#  multiply the per-sample mean by the number of features instead)"
    )
    finding.edit = None
    return finding


def is_collapse(f: Finding) -> bool:
    """An AE407 that the run's code measured (not a sampling layer's contract, checks/sampling.py, which needs no confirmation)."""
    return f.code == "AE407" and "sampling" not in f.evidence


def _driven(lat: dict[str, Any]) -> bool:
    """The code carries (almost) nothing now and less than half of what it carried at the initial weights, or it
    sat at the prior from the run's start to its end (below KL_AT_PRIOR nats in all: the cell's own fit had
    already driven it there; a fresh encoder starts near 0.01 nats)."""
    before = lat.get("kl_total_before")
    if before is None or max(lat["kl_per_dim"]) >= POSTERIOR_KL_MAX:
        return False
    # Round 74's dk01: a conditional VAE whose summed KL outweighed a per-pixel BCE; after the cell's 5 epochs
    # the code held 4e-6 nats before and after the probe run, while the label input let the decoder beat the
    # mean's error with each class's average image, so neither "ignored" nor "averaged" held.
    return lat["kl_total"] < 0.5 * before or (before < KL_AT_PRIOR and lat["kl_total"] < KL_AT_PRIOR)


def confirm_posterior(
    ctx: Context, trace: dict[str, Any], found: list[Finding], longer_run: Callable[[], dict[str, Any]]
) -> list[Finding]:
    """Keep AE407 when the KL drove the code to the prior, or when a longer run (``longer_run()``) still finds it collapsed.

    A code that started at the prior and has not left it within the short
    probe run may be a slow start: a healthy VAE (keras.io's, on 28x28
    blobs) can sit there with outputs near the mean image for the probe's
    ~150 steps and leave it later, depending on its unseeded initialisation.
    A code the KL term pulled down from where it started needs no second run.
    """
    from .baseline import baseline
    from .output_collapse import output_collapse

    lat = trace.get("latent")
    if not lat or not lat.get("dims") or _driven(lat):
        return found
    longer = longer_run()
    if longer["diverged"] or not (longer.get("latent") or {}).get("dims"):
        return found
    collapse = output_collapse(ctx, longer, None)
    lb = longer.get("baselines") or {}
    # Still no better than the mean at the end of the longer run counts as averaged, settled or not (round 38).
    above = all_finite([lb.get("final"), lb.get("mean")]) and lb["final"] > lb["mean"]
    still = posterior_collapse(ctx, longer, collapse + baseline(ctx, longer), averaged=above)
    n, m = len(trace["loss"]), len(longer["loss"])
    ll = longer["latent"]
    if still:
        for f in found:
            if is_collapse(f):
                f.message += (
                    f" {_sentence(describe(longer, BASELINE_CONFIRM_FACTOR))} confirms it: the KL ends at {ll['kl_total']:.3g} nats, "
                    f"{ll['active_dims']} of {ll['dims']} dimensions active."
                )
                f.evidence["confirm"] = {
                    "steps": m,
                    "kl_total": ll["kl_total"],
                    "active_dims": ll["active_dims"],
                    "z_sensitivity": ll.get("z_sensitivity"),
                }
        return found
    dropped = {"AE407"} | (set() if collapse else {"AE404"})
    ctx.notes.append(
        f"The code of the sampling layer carried almost nothing about the input after the {n}-step probe run "
        f"(KL {lat['kl_total']:.3g} nats, {lat['active_dims']} of {lat['dims']} dimensions active), but it started "
        f"there and {describe(longer, BASELINE_CONFIRM_FACTOR)} left the prior (KL {ll['kl_total']:.3g} nats, "
        f"{ll['active_dims']} of {ll['dims']} active): a slow start, so "
        + " and ".join(sorted(c for c in dropped if any(f.code == c for f in found)))
        + " not reported."
    )
    return [f for f in found if f.code not in dropped or (f.code == "AE407" and not is_collapse(f))]


# -- AE407 from the loss terms a model's own train_step reports ----------------------------------------
# Where no sampling layer can be measured (the sample is drawn inline in train_step, and call() decodes
# z_mean), the step's own KL term is the evidence: the run drove it to at most KL_TERM_DROP of where it
# started (averaged over KL_TERM_WINDOW steps at each end) while the reconstructions became the same for
# every input (AE404) or no better than the mean (AE405). A healthy VAE's KL grows from near 0 as its code
# starts to carry the input (round 13's keras.io VAE: 0.01 -> 3 nats), so it never meets the first condition.
KL_TERM_DROP = 0.1
KL_TERM_WINDOW = 10
# ...or the KL term sat at the prior for the whole run (every value below this, in nats): the cell's own fit
# had already collapsed the posterior before the probes started (round 57's ca08: 4e-7 -> 1e-6). A fresh
# encoder's z_mean and log-variance are small but not zero, so its KL starts near 0.01, not here.
KL_AT_PRIOR = 1e-4


# A logged "kl" value that is a weight on the term (an annealing schedule starting at 0), not the term itself.
_KL_FACTOR = re.compile(r"weight|beta|anneal|coef|factor|scale|warm", re.IGNORECASE)


def kl_term_collapse(ctx: Context, tr: dict[str, Any], found: list[Finding]) -> list[Finding]:
    """AE407 from a KL term the model's own train_step reports, when no sampling layer was measured."""
    if (tr.get("latent") or {}).get("dims") or not any(f.code in ("AE404", "AE405") for f in found):
        return []
    terms = tr.get("loss_terms") or {}
    kl = [(k, np.asarray(v, dtype=np.float64)) for k, v in terms.items() if "kl" in str(k).lower()]
    kl = [(k, v) for k, v in kl if len(v) >= 2 * KL_TERM_WINDOW and np.all(np.isfinite(v))]
    if not kl:
        return []
    name, v = kl[0]
    start, end = float(np.mean(v[:KL_TERM_WINDOW])), float(np.mean(v[-KL_TERM_WINDOW:]))
    at_prior = bool(np.all(np.abs(v) < KL_AT_PRIOR)) and not _KL_FACTOR.search(str(name))
    if not ((start > 0 and end <= KL_TERM_DROP * start) or at_prior):
        return []
    line, src = kl_term_line(ctx, name)
    spread = tr.get("output_spread")
    target = tr.get("input_spread")
    return [_blame_mean_reconstruction(ctx, Finding(
            code="AE407",
            severity="warning",
            title="Posterior collapse: the decoder ignores the code",
            message=(
                (f"Over the probe run the KL term that the train_step reports as '{name}' stayed at the prior "
                 f"({start:.2g} to {end:.2g} nats, the mean of the first and of the last {KL_TERM_WINDOW} steps): the "
                 "weights the cell's own training left had already brought every latent dimension there. The "
                 "reconstructions are " if at_prior else
                 f"Over the probe run the KL term that the train_step reports as '{name}' fell from {start:.3g} to "
                 f"{end:.3g} (the mean of the first and of the last {KL_TERM_WINDOW} steps), while the reconstructions "
                 "became ")
                + (f"nearly the same for every input (they vary {spread:.2g} against {target:.2g} for the targets)"
                   if isinstance(spread, float) and isinstance(target, float) else "no better than the per-feature mean")
                + ". " + WHY
            ),
            line=line,
            source_line=src,
            evidence={"kl_term": name, "kl_start": start, "kl_end": end, "at_prior_throughout": at_prior,
                      "kl_curve": [float(x) for x in v[:: max(1, len(v) // 40)]],
                      "output_spread": spread, "target_spread": target},
            fix=(
                "# the KL per sample (a sum over the latent dimensions), averaged over the batch like the reconstruction:\n"
                "kl_loss = ops.mean(ops.sum(-0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var)), axis=1))\n"
                "# with the reconstruction also summed over features per sample; or scale the KL down (beta < 1)"
            ),
        ))
    ]


def kl_term_line(ctx: Context, term: str) -> tuple[int | None, str | None]:
    """The cell line that last computes the KL term ``term`` in a ``train_step``, and its text.

    The variable returned under that key (``return {"kl_loss": kl_loss}``),
    else the last variable whose name has "kl" in it, assigned inside the
    ``train_step``.
    """
    tree = _cell_tree(ctx)
    if tree is None:
        return None, None
    for fn in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "train_step"):
        returned = None
        for ret in (n for n in ast.walk(fn) if isinstance(n, ast.Return) and isinstance(n.value, ast.Dict)):
            for k, val in zip(ret.value.keys, ret.value.values, strict=False):
                if isinstance(k, ast.Constant) and k.value == term and isinstance(val, ast.Name):
                    returned = val.id
        lines = [
            t.lineno
            for node in ast.walk(fn) if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign))
            for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
            if isinstance(t, ast.Name) and (t.id == returned if returned else "kl" in t.id.lower())
        ]
        if lines:
            last = max(lines)
            return ctx.cell_line(last), ctx.line_text(last)
    return None, None


def term_line(ctx: Context, term: str) -> tuple[int | None, str | None]:
    """The first cell line inside a ``train_step`` that assigns the variable named ``term`` (a reported loss
    term, ``kl_loss``), else :func:`kl_term_line` for a KL term; the line where its value is computed."""
    tree = _cell_tree(ctx)
    if tree is not None:
        for fn in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "train_step"):
            lines = [node.lineno for node in ast.walk(fn) if isinstance(node, ast.Assign)
                     for t in node.targets if isinstance(t, ast.Name) and t.id == term]
            if lines:
                return ctx.cell_line(min(lines)), ctx.line_text(min(lines))
    return kl_term_line(ctx, term) if "kl" in term.lower() else (None, None)


# -- a KL term below zero ---------------------------------------------------------------------------
# A KL divergence is never negative; a reported KL term below this (nats) has its sign flipped (round 14:
# `kl = 1 + z_log_var - z_mean**2 - exp(z_log_var)` without the leading minus), and the run then maximises
# it until the loss overflows. Float noise around 0 stays far above it.
NEGATIVE_KL = -1e-3


def negative_kl(tr: dict[str, Any]) -> tuple[str, int, float] | None:
    """``(term, step, value)``: the first step at which a KL term the train_step reports went below zero, if any."""
    for name, vals in (tr.get("loss_terms") or {}).items():
        if "kl" not in str(name).lower():
            continue
        v = np.asarray(vals, dtype=np.float64)
        below = np.flatnonzero(np.isfinite(v) & (v < NEGATIVE_KL))
        if len(below):
            return name, int(below[0]), float(v[below[0]])
    return None


def _num(v: Any) -> str:
    """``v`` to 4 significant digits when it is a number."""
    return f"{v:.4g}" if isinstance(v, (int, float)) else str(v)


def negative_added_kl(tr: dict[str, Any], kl_classes: set[str] | None = None) -> tuple[str, float | None, float, str | None] | None:
    """``(layer, before, after, class)``: an add_loss KL term below zero after the run and falling.

    The sampling layer's own term (class None: the sampling layer's), else a term another layer adds
    whose class is in ``kl_classes`` (a ``KLDivergenceLayer`` beside the sampling layer, Géron's style).
    """
    lat = tr.get("latent") or {}
    cands: list[tuple[str, Any, Any, str | None]] = [(str(lat.get("layer")), lat.get("added_loss"), lat.get("added_loss_before"), None)]
    before_by = lat.get("added_by_layer_before") or {}
    for name, row in (lat.get("added_by_layer") or {}).items():
        if kl_classes is not None and row.get("class") in kl_classes:
            cands.append((name, row.get("value"), (before_by.get(name) or {}).get("value"), row.get("class")))
    # A model without a sampling layer: a divergence penalty some layer adds (round 27: a sparsity KL).
    terms = tr.get("added_terms") or {}
    before_t = terms.get("before") or {}
    for name, row in (terms.get("after") or {}).items():
        if kl_classes is not None and row.get("class") in kl_classes:
            cands.append((name, row.get("value"), (before_t.get(name) or {}).get("value"), row.get("class")))
    for name, after, before, cls in cands:
        started_negative = isinstance(before, float) and np.isfinite(before) and before < NEGATIVE_KL
        if isinstance(after, float) and not np.isfinite(after) and started_negative:
            # Round 26: the run blew up to NaN, so nothing finite is left after it; but the term
            # was already below zero at the initial weights, which no KL divergence can be.
            return name, before, after, cls
        if not isinstance(after, float) or not np.isfinite(after) or after >= NEGATIVE_KL:
            continue
        # A flipped KL starts a little below zero and is driven far below it; one that stays put is not the run's cause.
        if isinstance(before, float) and np.isfinite(before) and not after < before:
            continue
        return name, before if isinstance(before, float) else None, after, cls
    return None


def kl_classes(ctx: Context) -> set[str]:
    """The cell's layer classes that compute a KL term: a ``kl``/``divergence``/``latent_loss`` name in the
    class or its assignments, or the Gaussian KL's ``exp(...)`` beside a square, with an ``add_loss`` call."""
    tree = _cell_tree(ctx)
    if tree is None:
        return set()
    out = set()
    for node in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
        if not any(isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "add_loss"
                   for n in ast.walk(node)):
            continue
        names = [node.name.lower()] + [t.id.lower() for n in ast.walk(node) if isinstance(n, ast.Assign)
                                       for t in n.targets if isinstance(t, ast.Name)]
        calls = {n.func.attr if isinstance(n.func, ast.Attribute) else getattr(n.func, "id", "")
                 for n in ast.walk(node) if isinstance(n, ast.Call)}
        squared = "square" in calls or any(isinstance(n, ast.BinOp) and isinstance(n.op, ast.Pow) for n in ast.walk(node))
        # A Gaussian likelihood with a learned variance (`0.5 * log_var + 0.5 * (x - mu)^2 * exp(-log_var)`) has
        # the KL's exp beside a square, but it is the reconstruction term, and may rightly go below zero as the
        # variance shrinks (round 86): a layer named for a likelihood is not a KL layer by its formula.
        likelihood = any(k in nm for nm in names for k in ("nll", "likelihood", "log_prob", "logprob", "recon"))
        if (any(k in nm for nm in names for k in ("kl", "divergence", "latent_loss"))
                or ("exp" in calls and squared and not likelihood)):
            out.add(node.name)
    return out


def _added_class(ctx: Context, tr: dict[str, Any], layer_name: str) -> str | None:
    """The class of the layer named ``layer_name`` that adds the KL term: a KL layer's own, else the sampling layer's."""
    row = (((tr.get("latent") or {}).get("added_by_layer") or {}).get(layer_name)
           or ((tr.get("added_terms") or {}).get("after") or {}).get(layer_name))
    if row is not None:
        return row.get("class")
    idx = (tr.get("latent") or {}).get("layer_index")
    leaves = leaf_layers(ctx.model) if ctx.model is not None else []
    user = leaves[idx] if isinstance(idx, int) and 0 <= idx < len(leaves) else None
    return type(user).__name__ if user is not None else None


def added_kl_line(ctx: Context, tr: dict[str, Any], layer_name: str) -> tuple[int | None, str | None]:
    """The cell line inside the sampling layer's class that computes its KL (a name with "kl"), else its ``add_loss`` call."""
    tree = _cell_tree(ctx)
    if tree is None:
        return None, None
    cls = _added_class(ctx, tr, layer_name)
    for node in ast.walk(tree):
        if not (isinstance(node, ast.ClassDef) and node.name == cls):
            continue
        assigned = [
            t.lineno
            for n in ast.walk(node) if isinstance(n, (ast.Assign, ast.AugAssign, ast.AnnAssign))
            for t in (n.targets if isinstance(n, ast.Assign) else [n.target])
            if isinstance(t, ast.Name) and any(k in t.id.lower() for k in ("kl", "latent_loss", "divergence"))
        ]
        calls = [n.lineno for n in ast.walk(node)
                 if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "add_loss"]
        found = assigned or calls
        if found:
            first = min(found)
            return ctx.cell_line(first), ctx.line_text(first)
    return None, None


def _ratios_flipped(ctx: Context, tr: dict[str, Any], layer_name: str) -> str | None:
    """The cell's KL assignment in the layer that adds it, with every ``log(a / b)`` turned to ``log(b / a)``,
    or None when it has no log of a ratio (then the sign is elsewhere)."""
    tree = _cell_tree(ctx)
    cls = _added_class(ctx, tr, layer_name)
    if tree is None or cls is None:
        return None
    for node in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == cls):
        for stmt in (n for n in ast.walk(node) if isinstance(n, ast.Assign)):
            if not any(isinstance(t, ast.Name) and "kl" in t.id.lower() for t in stmt.targets):
                continue
            flipped = 0
            for call in (n for n in ast.walk(stmt) if isinstance(n, ast.Call) and n.args):
                name = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")
                arg = call.args[0]
                if name == "log" and isinstance(arg, ast.BinOp) and isinstance(arg.op, ast.Div):
                    arg.left, arg.right = arg.right, arg.left
                    flipped += 1
            if flipped:
                return "# each log ratio the other way up: KL(p || q) = p * log(p / q) >= 0\n" + ast.unparse(stmt)
    return None


def name_negative_kl(ctx: Context, tr: dict[str, Any], found: list[Finding]) -> list[Finding]:
    """The first training symptom (AE401-AE405) of a run whose KL term went negative names the flipped sign and its line."""
    neg = negative_kl(tr)
    added = negative_added_kl(tr, kl_classes(ctx)) if neg is None else None
    if neg is None and added is None:
        return found
    hit = next((f for f in found if f.code == "AE401"), None)
    if hit is None:
        # The loss falls without bound, through zero: fit keeps going to -inf or NaN, a divergence (AE401) whatever
        # the short run's symptom so far (round 53's bp05: the outputs collapsed, AE404, before the NaN that fit
        # reached by epoch 6). The symptom stays and points here.
        symptom = next((f for code in ("AE403", "AE404", "AE405", "AE402") for f in found if f.code == code), None)
        losses = [float(v) for v in tr.get("loss") or [] if np.isfinite(v)]
        below = bool(losses) and losses[-1] < 0 and losses[-1] < losses[0]
        hit = Finding(code="AE401", severity="error", title="The KL term's sign is flipped",
                      message=("In the probe run the loss fell below zero and kept falling, which a reconstruction "
                               "loss plus a KL divergence can't do." if below else
                               "In the probe run the loss's KL part went below zero, which a KL divergence can't do; "
                               "nothing bounds the loss from below, so fit drives it toward -inf or NaN."),
                      evidence={"flipped_kl_without_symptom": True})
        if symptom is not None:
            symptom.message += " The KL term's sign is flipped: see AE401."
        found.append(hit)
    if neg is not None:
        name, step, value = neg
        v = [float(x) for x in (tr.get("loss_terms") or {}).get(name, [])]
        low = min((x for x in v if np.isfinite(x)), default=value)
        line, src = kl_term_line(ctx, name)
        what = (f"the KL term the train_step reports as '{name}' went below zero at step {step + 1} ({value:.3g}) "
                f"and kept falling (to {low:.3g})")
        hit.evidence["negative_kl"] = {"term": name, "step": step + 1, "value": value, "lowest": low}
    else:
        layer, before, after, cls = added
        line, src = added_kl_line(ctx, tr, layer)
        who = f"the KL layer '{layer}' ({cls})" if cls else f"the sampling layer '{layer}'"
        if np.isfinite(after):
            what = (f"what {who} adds with add_loss (its KL term) is {after:.3g} after the run"
                    + (f", from {before:.3g} at the start" if before is not None else ""))
        else:
            what = f"what {who} adds with add_loss (its KL term) was already {before:.3g} at the initial weights"
        hit.evidence["negative_kl"] = {"term": f"add_loss of {layer}", "before": before, "value": after, "lowest": after}
    if hit.code == "AE401" and not hit.evidence.get("flipped_kl_without_symptom"):
        # Its own text blames the learning rate; here the rate is not the fault.
        hit.message = ("In the probe run the loss diverged"
                       + (" to NaN/Inf." if hit.evidence.get("nonfinite") else f" (it ended at {_num(hit.evidence.get('loss_end'))})."))
    hit.message += (
        f" The cause is the loss's sign, not the learning rate: {what}. A KL divergence is never "
        "negative, so the term's sign is flipped: minimising the loss then pushes the KL up without bound."
    )
    # A divergence other than the Gaussian KL (a sparsity KL(rho || rho_hat) in a model with no sampling
    # layer): the user's own line with each log ratio turned the right way up.
    flipped = _ratios_flipped(ctx, tr, added[0]) if added is not None and not tr.get("latent") else None
    if hit.evidence.get("reversed_kl") and hit.line is not None:
        return found  # AE401 already names the formula written without its minus, with that line negated as the fix
    hit.fix = flipped or ("# the KL of N(mu, sigma) from N(0, 1), with its leading minus:\n"
                          "kl = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))")
    hit.edit = None
    if line is not None:
        hit.line, hit.source_line, hit.layer = line, src, None
    return found
