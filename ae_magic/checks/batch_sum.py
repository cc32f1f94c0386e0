"""A loss term of a model's own ``train_step`` summed over the batch while another is averaged over it.

Round 54's bs08: ``kl_loss = reduce_mean(reduce_sum(kl_loss, axis=0))`` beside
``reconstruction_loss = reduce_mean(reduce_sum(square(...), axis=1))``. The KL
is summed over the batch (axis 0), the reconstruction averaged over it, so the
KL's weight against the reconstruction is the batch size: 128 in the cell's fit.
Two of its four latent dimensions went to the prior and the reconstruction
stayed far behind a linear code of the same width; nothing in the loss curve
says why.

The probe measures it (``probes/batch_scaling.py``): the same samples given
4 times in one batch leave a per-sample mean as it was and multiply a sum over
the batch by 4. When one reported term scales so and another does not, their
balance depends on the batch size, which no one means. A KL (or other penalty)
summed over the batch is named AE407 at the line that reduces it, a warning
when the run shows its harm (latent dimensions at the prior, a reconstruction
far behind PCA, or a collapse the other checks measured), else info. A
reconstruction summed over the batch beside a mean KL makes the KL batch-size
times lighter: info (the reconstruction does not suffer).
"""

from __future__ import annotations

import ast
import math
import re
from typing import Any

from ..context import Context
from ..fit_calls import fit_batch_size
from ..probes.batch_scaling import scaling_kind
from ..report import Finding
from .per_sample_loss import HARM
from .step_dataflow import STEP_FUNCS, assigned_names

_RECON = re.compile(r"recon|rec_|mse|mae|likelihood|nll|bce|reconstruction|rec$", re.IGNORECASE)
_KL = re.compile(r"kl|kld|divergence|prior", re.IGNORECASE)
_SUMS = {"reduce_sum", "sum"}
# A latent dimension whose KL (nats) is under this sits at the prior.
_AT_PRIOR = 0.05
# A reconstruction this many times the error of a PCA code of the same width is far behind it. Either sign
# is harm only beside the measured batch sum: a VAE with spare latent dimensions keeps some at the prior.
_FAR_FROM_PCA = 1.3
# fit's batch size when the cell passes none.
_FIT_DEFAULT_BATCH = 32


def _kind(pair: list[float], repeat: int) -> str | None:
    """``"sum"`` (scales with the batch), ``"mean"`` (does not) or None (neither, or unreadable)."""
    return scaling_kind(pair[0], pair[1], repeat)


def _fit_batch(ctx: Context) -> tuple[int, bool]:
    """The batch size of the cell's fit (``batch_size=`` as a number or a bound name) and whether it was given."""
    given = fit_batch_size(ctx.source, ctx.model_name, ctx.namespace)
    return (given, True) if given is not None else (_FIT_DEFAULT_BATCH, False)


def _variable(fn: ast.FunctionDef, term: str) -> str | None:
    """The variable of ``fn`` whose value is reported as ``term``: the same name, a ``{"term": var}`` entry, or
    the ``update_state(var)`` of a tracker named after the term (``self.kl_loss_tracker``)."""
    if any(term in assigned_names(n) for n in ast.walk(fn) if isinstance(n, ast.Assign)):
        return term
    for node in ast.walk(fn):
        if isinstance(node, ast.Dict):
            for k, v in zip(node.keys, node.values, strict=True):
                if isinstance(k, ast.Constant) and k.value == term and isinstance(v, ast.Name):
                    return v.id
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "update_state"
                and node.args and isinstance(node.args[0], ast.Name)
                and term.lower() in ast.unparse(node.func.value).lower()):
            return node.args[0].id
    return None


def _sums_batch(call: ast.Call) -> bool:
    """A sum call that reduces the batch axis: ``axis=0`` (or a tuple with 0), or no axis at all."""
    name = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")
    if name not in _SUMS:
        return False
    axis = call.args[1] if len(call.args) > 1 else next((k.value for k in call.keywords if k.arg == "axis"), None)
    if axis is None:
        return True
    values = axis.elts if isinstance(axis, (ast.Tuple, ast.List)) else [axis]
    return any(isinstance(v, ast.Constant) and v.value == 0 for v in values)


def _summing(node: ast.Assign) -> bool:
    return any(isinstance(c, ast.Call) and _sums_batch(c) for c in ast.walk(node.value))


def reduction_line(ctx: Context, term: str) -> tuple[int | None, str | None]:
    """The cell line where the reported ``term`` is summed over the batch.

    First the assignments to the term's own variable in the step's functions; then, for a term computed in a
    helper (``rec, kl = vae_losses(...)``), an assignment anywhere in the cell's functions to a variable of
    the same kind (a KL-named one for a KL term) that sums over axis 0. Else the step's last assignment to the
    term, else (None, None).
    """
    try:
        tree = ast.parse(ctx.source or "")
    except SyntaxError:
        return None, None
    fns = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]
    last: ast.Assign | None = None
    for fn in (f for f in fns if f.name in STEP_FUNCS):
        var = _variable(fn, term)
        rows = sorted((n for n in ast.walk(fn) if isinstance(n, ast.Assign) and var in assigned_names(n)),
                      key=lambda n: n.lineno) if var else []
        hit = next((n for n in reversed(rows) if _summing(n)), None)
        if hit is not None:
            return ctx.cell_line(hit.lineno), ctx.line_text(hit.lineno)
        last = last or (rows[-1] if rows else None)
    kind = _KL if _KL.search(term) else re.compile(re.escape(term.split("_")[0]), re.IGNORECASE)
    for fn in fns:
        for n in sorted((n for n in ast.walk(fn) if isinstance(n, ast.Assign)), key=lambda n: n.lineno):
            if any(kind.search(t) for t in assigned_names(n)) and _summing(n):
                return ctx.cell_line(n.lineno), ctx.line_text(n.lineno)
    return (ctx.cell_line(last.lineno), ctx.line_text(last.lineno)) if last is not None else (None, None)


def _harm(tr: dict[str, Any], found: list[Finding]) -> str | None:
    """What the run showed of the heavy term's harm, in words; None when it showed none."""
    if any(f.code in HARM and f.severity in ("warning", "error") for f in found):
        return "the probe run shows the collapse the other findings describe"
    kl = [float(v) for v in ((tr.get("latent") or {}).get("kl_per_dim") or []) if isinstance(v, (int, float))]
    at_prior = sum(v < _AT_PRIOR for v in kl)
    b = tr.get("baselines") or {}
    final, pca, width = b.get("final"), b.get("pca"), b.get("pca_width")
    far = (isinstance(final, float) and isinstance(pca, float) and pca > 0 and math.isfinite(final)
           and final >= _FAR_FROM_PCA * pca)
    said = []
    if at_prior:
        said.append(f"{at_prior} of {len(kl)} latent dimensions sit at the prior (KL per dimension "
                    f"{', '.join(f'{v:.2g}' for v in kl)})")
    if far:
        said.append(f"the held-out reconstruction error is {final:.3g}, {final / pca:.1f}x that of a PCA code of width {width}")
    if said:
        return "after the probe run " + " and ".join(said)
    return None


def name_batch_sum(ctx: Context, tr: dict[str, Any], found: list[Finding]) -> list[Finding]:
    """AE407 at the line that sums a KL or penalty term over the batch beside a batch-averaged term."""
    sc = tr.get("batch_scaling") or {}
    repeat = int(sc.get("repeat") or 0)
    kinds = {k: _kind(v, repeat) for k, v in (sc.get("terms") or {}).items()} if repeat > 1 else {}
    summed = [k for k, v in kinds.items() if v == "sum"]
    averaged = [k for k, v in kinds.items() if v == "mean"]
    if not summed or not averaged:
        return found
    heavy = [k for k in summed if not _RECON.search(k)]
    batch, given = _fit_batch(ctx)
    at_fit = f"fit's batch_size={batch}" if given else f"fit's default batch size ({batch})"
    evidence = {"summed_over_batch": summed, "averaged_over_batch": averaged, "batch_scaling": sc, "fit_batch_size": batch}
    if heavy:
        term = next((k for k in heavy if _KL.search(k)), heavy[0])
        other = next((k for k in averaged if _RECON.search(k)), averaged[0])
        line, text = reduction_line(ctx, term)
        why = (f"The step sums `{term}` over the batch (axis 0) but averages `{other}` over it: with the same samples "
               f"given {repeat} times in one batch, `{term}` grew {repeat}x and `{other}` stayed as it was. "
               f"`{term}` then weighs batch-size times its per-sample weight against `{other}`: {batch}x at {at_fit}, "
               "and it changes whenever the batch size does. ")
        fix = (f"Sum `{term}` over its own axes (the latent axis, axis=1 or -1) and average it over the batch, as "
               f"`{other}` is: e.g. `{term} = ops.mean(ops.sum(..., axis=1))`.")
        harm = _harm(tr, found)
        hit = next((f for f in found if f.code == "AE407" and f.severity in ("warning", "error")), None)
        if harm is None:
            return [*found, Finding(
                code="AE407", severity="info", title=f"`{term}` is summed over the batch",
                message=why + "The probe run showed no collapse, so its weight may have been tuned this way.",
                line=line, source_line=text, evidence=evidence, fix=fix)]
        if hit is None:
            hit = Finding(code="AE407", severity="warning",
                          title=f"Posterior collapse: `{term}` is summed over the batch",
                          message=why + f"It outweighs `{other}`, and {harm}.", evidence=evidence)
            found = [hit, *found]
        else:
            hit.message = why + hit.message
            hit.evidence.update(evidence)
        hit.fix = fix
        if line is not None:
            hit.line, hit.source_line, hit.layer = line, text, None
        return found
    # Only the reconstruction scales with the batch: the averaged KL is batch-size times too light.
    term = summed[0]
    other = next((k for k in averaged if _KL.search(k)), averaged[0])
    line, text = reduction_line(ctx, term)
    return [*found, Finding(
        code="AE407", severity="info", title=f"`{term}` is summed over the batch, `{other}` averaged",
        message=(f"With the same samples given {repeat} times in one batch, `{term}` grew {repeat}x and `{other}` "
                 f"stayed as it was: `{other}` weighs 1/{batch} of its per-sample weight at {at_fit}, so the code is "
                 "hardly pulled toward the prior (a VAE that samples poorly), and the balance changes with the batch size."),
        line=line, source_line=text, evidence=evidence,
        fix=f"Average `{term}` over the batch (sum it over its own axes only), as `{other}` is.")]
