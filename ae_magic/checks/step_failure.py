"""AE301 from a training step that fails because no weight gets a gradient.

A custom ``train_step`` (the keras.io VAE pattern) that computes its loss
after the ``with tf.GradientTape() as tape:`` block has closed gives the
tape nothing to differentiate: ``tape.gradient`` returns ``None`` for every
weight and the optimizer raises "No gradients provided for any variable".
``fit`` stops at its first step with that message, and so does the probe
run, which trains through the model's own step. That is not a probe that
could not run but the model's fault, so it is reported as AE301 at the line
that computes the loss out of the tape's sight (read from the cell's
source), not only as "probes skipped".
"""

from __future__ import annotations

import ast
import re

from ..context import Context
from ..errors import ModelError, describe, safe_str
from ..report import Finding

# What Keras' optimizers raise when every gradient is None (TensorFlow, JAX and torch alike).
NO_GRADIENT_ERRORS = ("No gradients provided for any variable",)


def failed_step(ctx: Context, exc: BaseException) -> list[Finding]:
    """AE301 when ``exc`` is the model's training step failing for want of any gradient; AE100 when the
    model's own code in the cell raised (named at its line); else nothing."""
    text = safe_str(exc)
    if not isinstance(exc, ModelError):
        return []
    if not any(s in text for s in NO_GRADIENT_ERRORS):
        from .sampling import nan_sampling

        return _raised_in_cell(ctx, exc) or nan_sampling(ctx)
    original = describe(exc.__cause__).rstrip(".") if exc.__cause__ is not None else text.split("; model.fit")[0]
    where = _loss_outside_tape(ctx.source or "")
    if where is not None:
        name, raw, with_line, first, grad_line = where
        if raw < with_line:
            cause = (f"The forward pass `{name}` (line {ctx.cell_line(raw)}) runs before the `with` block of the "
                     f"GradientTape (line {ctx.cell_line(with_line)}) opens, so the tape records only the loss's arithmetic "
                     "on a finished tensor and never sees the weights.")
            fix = (f"# move line {ctx.cell_line(raw)} (the forward pass) into the `with ... GradientTape() as tape:` "
                   f"block of line {ctx.cell_line(with_line)}, above the loss,\n"
                   "# so that the tape records the computation from the weights to the loss")
        else:
            cause = (f"`{name}` (line {ctx.cell_line(raw)}) is computed after the `with` block of the GradientTape (line "
                     f"{ctx.cell_line(with_line)}) has closed, so the tape never saw the loss being computed from the weights.")
            fix = (f"# indent lines {ctx.cell_line(first)}-{ctx.cell_line(grad_line - 1)} (the loss terms) into the "
                   f"`with ... GradientTape() as tape:` block of line {ctx.cell_line(with_line)}, so that the tape records them;\n"
                   f"# keep the tape.gradient(...) call of line {ctx.cell_line(grad_line)} after the block")
    else:
        raw = _first_line(ctx.source or "", (".gradient(", "def train_step", "def compute_loss"))
        cause = ("The loss is not computed from the weights where the gradient is taken: most often it is computed after "
                 "the `with tf.GradientTape() as tape:` block has closed, or from values that left the graph "
                 "(numpy, float()).")
        fix = ("# compute every loss term inside the `with tf.GradientTape() as tape:` block, from the model's outputs,\n"
               "# and call tape.gradient(loss, self.trainable_weights) after the block")
    return [
        Finding(
            code="AE301",
            severity="error",
            title="No weight gets a gradient from the loss",
            message=f"`{ctx.model_name}`'s own train_step raises {original}. {cause} "
            "model.fit stops at its first step the same way.",
            line=ctx.cell_line(raw),
            source_line=ctx.line_text(raw),
            evidence={"error": text, "loss_outside_tape": where is not None},
            fix=fix,
        )
    ]


def cell_step_failure(ctx: Context) -> list[Finding]:
    """AE301 for a cell whose own ``fit`` raised "No gradients provided" from the model's ``train_step`` (round 46's
    ap01): the same diagnosis as a probe that fails that way, in place of a bare AE100."""
    err = ctx.cell_error
    if err is None or ctx.model is None or not any(s in (err.message or "") for s in NO_GRADIENT_ERRORS):
        return []
    if "def train_step" not in (ctx.source or ""):
        return []
    first = (err.message.splitlines()[0] if err.message else "").rstrip(".")
    found = failed_step(ctx, ModelError(f"{err.type}: {first}"))
    for f in found:
        f.message = f.message.replace(" raises ", " raised (in the cell's fit) ", 1)
        f.evidence["cell_error"] = True
    if found:
        # The probes train through the same step, which fails the same way (and a failed first fit can leave a
        # TensorFlow model's variables unreadable): say so rather than run them.
        why = "the model's own train_step gets no gradient (AE301): fit failed at its first step, and so would the probes"
        for family in ("gradients", "training"):
            ctx.skipped.setdefault(family, why)
    return found


def _first_line(source: str, needles: tuple[str, ...]) -> int | None:
    lines = source.splitlines()
    for needle in needles:
        for i, text in enumerate(lines, start=1):
            if needle in text.split("#", 1)[0]:
                return i
    return None


def _loss_outside_tape(source: str) -> tuple[str, int, int, int, int] | None:
    """``(name, line, with_line, first_after, gradient_line)``: the variable passed to ``tape.gradient`` whose last assignment before that
    call lies outside the tape's ``with`` block, in a ``train_step`` of the cell; None when none is."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    for fn in ast.walk(tree):
        if not isinstance(fn, ast.FunctionDef) or fn.name != "train_step":
            continue
        tapes: dict[str, ast.With] = {}
        for node in ast.walk(fn):
            if isinstance(node, ast.With):
                for item in node.items:
                    call = item.context_expr
                    if (isinstance(call, ast.Call) and "GradientTape" in ast.unparse(call.func)
                            and isinstance(item.optional_vars, ast.Name)):
                        tapes[item.optional_vars.id] = node
        for node in ast.walk(fn):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "gradient"
                    and isinstance(node.func.value, ast.Name) and node.func.value.id in tapes and node.args
                    and isinstance(node.args[0], ast.Name)):
                continue
            block = tapes[node.func.value.id]
            name = node.args[0].id
            assigned = [a.lineno for a in ast.walk(fn) if isinstance(a, (ast.Assign, ast.AugAssign, ast.AnnAssign))
                        and a.lineno < node.lineno and name in _targets(a)]
            if not assigned:
                continue
            last = max(assigned)
            end = block.end_lineno or block.lineno
            if not block.lineno <= last <= end:
                return name, last, block.lineno, end + 1 if last > end else last, node.lineno
            # The loss is computed inside the block, but from a forward pass made before it (round 46's ap01:
            # ``reconstruction = self(x, training=True)`` above ``with tf.GradientTape() as tape:``).
            early = _forward_before(fn, block, name, last)
            if early is not None:
                return early[0], early[1], block.lineno, early[1], node.lineno
    return None


def _forward_before(fn: ast.FunctionDef, block: ast.With, loss: str, at: int) -> tuple[str, int] | None:
    """``(name, line)`` of a value the loss's assignment (line ``at``) reads that was last assigned before the
    tape's block from a call of the model or one of its parts (``self(...)``, ``self.decoder(...)``)."""
    stmt = next((a for a in ast.walk(fn) if isinstance(a, (ast.Assign, ast.AugAssign, ast.AnnAssign))
                 and a.lineno == at and loss in _targets(a)), None)
    if stmt is None or stmt.value is None:
        return None
    for used in sorted({n.id for n in ast.walk(stmt.value) if isinstance(n, ast.Name)}):
        before = [a for a in ast.walk(fn) if isinstance(a, (ast.Assign, ast.AnnAssign)) and a.lineno < at
                  and used in _targets(a) and a.value is not None]
        if not before:
            continue
        a = max(before, key=lambda a: a.lineno)
        if a.lineno >= block.lineno:
            continue
        calls = [c for c in ast.walk(a.value) if isinstance(c, ast.Call)]
        if any(_is_self_call(c.func) for c in calls):
            return used, a.lineno
    return None


def _is_self_call(func: ast.AST) -> bool:
    """``self(...)`` or ``self.<part>(...)`` (not ``self.compute_loss``-style helpers that take outputs)."""
    if isinstance(func, ast.Name):
        return func.id == "self"
    return (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "self"
            and not func.attr.startswith(("compute_", "loss", "_loss")) and "metric" not in func.attr
            and "tracker" not in func.attr)


def _targets(a: ast.AST) -> set[str]:
    targets = a.targets if isinstance(a, ast.Assign) else [a.target]  # type: ignore[attr-defined]
    return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}


def _raised_in_cell(ctx: Context, exc: ModelError) -> list[Finding]:
    """AE100 for a model whose own code, written in the cell, raised while a probe ran it.

    ``fit`` would raise the same: the report names the cell's line (the
    innermost frame of the cell's code in the traceback) instead of only
    listing the probes as skipped.
    """
    cause = exc.__cause__
    line = None
    tb = cause.__traceback__ if cause is not None else None
    while tb is not None:
        if tb.tb_frame.f_globals is ctx.namespace:
            line = tb.tb_lineno
        tb = tb.tb_next
    if cause is None or line is None or ctx.cell_line(line) is None:
        return []
    first = _gist(safe_str(cause)) or type(cause).__name__
    src = ctx.line_text(line)
    fixed_batch = "Incompatible shapes" in safe_str(cause) or "incompatible shapes" in safe_str(cause).lower()
    hint = (" A tensor made with a fixed batch size (such as `shape=(batch_size, latent_dim)`) meets a batch of "
            "another size: fit's last, partial batch and predict's batches have other sizes."
            if fixed_batch else "")
    return [
        Finding(
            code="AE100",
            severity="error",
            title="The model raises when it runs",
            message=(f"`{ctx.model_name}` raises {type(cause).__name__} on line {ctx.cell_line(line)}"
                     + (f": `{src}`" if src else "") + f" when it runs on the data ({first[:300]}). "
                     "model.fit fails the same way, so the gradient and training probes could not run." + hint),
            line=ctx.cell_line(line),
            source_line=src,
            # "during" tells this AE100 apart from the cell's own exception: the cell ran cleanly
            # (report.cell_error stays None) and fit would raise.
            evidence={"exception": type(cause).__name__, "message": safe_str(cause)[:2000], "during": "probe"},
            fix=("# take the batch size from the tensor itself, e.g.\n"
                 "epsilon = keras.random.normal(shape=keras.ops.shape(z_mean))" if fixed_batch
                 else "Fix the error on that line; the probes run the model on small batches of the data, as fit does."),
        )
    ]


def _gist(text: str) -> str:
    """The line of a Keras/TensorFlow error that says what went wrong, without the wrappers around it."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    text = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", text)
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith(("Exception encountered when calling", "Arguments received by", "•")):
            return re.sub(r"\s*\[Op:\w+\].*$", "", line)[:300]
    return ""
