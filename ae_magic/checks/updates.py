"""AE301 from update-to-weight ratios, when per-layer gradients can't be read.

A model trained by its own ``train_step`` gives the probes no per-layer
gradients (``traces["gradients"]["unavailable"]`` says why); the training
probe measured instead what each step did to each layer's weights
(``probes/updates.py``, stored as ``traces["updates"]``). A layer whose
weights never moved (ratio exactly 0 at every step) is cut off from the loss
or frozen: AE301, at the cell line where the layer was called.

The check is part of the training family (its measurement comes from the
training run): ``check_updates.family = "training"`` tells the engine, which
otherwise names a check's family after its module.
"""

from __future__ import annotations

import ast
from typing import Any

from .. import keras_compat as kc
from .. import probes as probe
from ..context import Context
from ..probes.updates import own_step_name
from ..report import Finding
from . import gradients as G


def check_updates(ctx: Context) -> list[Finding]:
    """Record why the gradient family did not measure, store the update trace and judge it."""
    grads = ctx.traces.get("gradients")
    unavailable = grads.get("unavailable") if isinstance(grads, dict) else None
    if unavailable:
        ctx.skipped.setdefault("gradients", str(unavailable))
    if "training" in ctx.skipped or "training" not in ctx.traces:
        return []
    updates = getattr(ctx.probe_session, "updates", None)
    if not isinstance(updates, dict) or ctx.traces["training"].get("train_step") != "own":
        return []
    # The model's reconstruction could not be read: the probes that need a forward pass are named as skipped.
    if ctx.traces["training"].get("no_forward"):
        ctx.skipped.setdefault("reconstruction", str(ctx.traces["training"]["no_forward"]))
    ctx.traces["updates"] = updates
    if grads is not None and not unavailable:
        return []  # the per-layer gradients were judged (AE301 from gradients.py)
    return judge(ctx, updates)


# It judges the training probe's trace: part of the training family in the coverage.
check_updates.family = "training"  # type: ignore[attr-defined]

CHECKS: list = [check_updates]


def judge(ctx: Context, updates: dict[str, Any]) -> list[Finding]:
    """AE301 for the layers whose weights never moved over the probe run."""
    layers = updates.get("layers") or []
    # Layers frozen at their random initial weights are reported by frozen.py already (AE301, warning).
    told = set(ctx.traces.get("frozen_untrained") or ())
    stuck = [ly for ly in layers if ly.get("never_moved") and ly["layer"] not in told]
    if not stuck or not updates.get("steps"):
        return []
    names = [ly["layer"] for ly in stuck]
    frozen = [ly["layer"] for ly in stuck if ly.get("frozen")]
    whole = [part for part, members in (updates.get("sub_models") or {}).items() if members and all(m in names for m in members)]
    severe = bool(whole) or (bool(layers) and layers[0]["layer"] in names)
    where = f"the whole {' and '.join(whole)}" if whole else G._list(names)
    why = []
    if frozen:
        why.append(f"{G._list(frozen)} {'is' if len(frozen) == 1 else 'are'} frozen (trainable=False)")
    moving = [n for n in names if n not in frozen]
    if moving:
        why.append(f"{G._list(moving)} get{'s' if len(moving) == 1 else ''} no update from the train_step")
    if frozen and not moving:
        owner = whole[0] if whole else None
        fix = (f"{owner}.trainable = True  # then compile again" if owner
               else "layer.trainable = True  # for each frozen layer, then compile again")
    else:
        fix = (
            "# train_step must update every weight the loss depends on:\n"
            "grads = tape.gradient(total_loss, self.trainable_weights)\n"
            "self.optimizer.apply_gradients(zip(grads, self.trainable_weights))\n"
            "# and no stop_gradient / non-differentiable op between these layers and the loss."
        )
    line, text = locate(ctx, stuck[0]["layer"])
    dropped = _compute_loss_without_super(ctx) if moving else None
    step = "the model's own train_step"
    if dropped is not None:
        # Keras' own train_step trains on what compute_loss returns: an override that never calls
        # super().compute_loss drops the compiled loss (the reconstruction), and every layer only it reaches.
        step = "Keras' train_step (through the model's own compute_loss)"
        why = [w.replace("from the train_step", "from the loss") for w in why]
        why.append(f"the compute_loss override (line {ctx.cell_line(dropped[0])}) returns {dropped[2]} and never calls "
                   "super().compute_loss(...), so the compiled loss (the reconstruction) is not part of what fit trains on")
        line, text = ctx.cell_line(dropped[1]), ctx.line_text(dropped[1])
        fix = ("# compute_loss must add its terms to the compiled loss, not replace it:\n"
               "loss = super().compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training)\n"
               "return loss + penalty  # penalty: the value this line returned")
    partial = _gradient_of_one_term(ctx) if moving and dropped is None else None
    edit = None
    outside = _called_outside_tape(ctx) if moving and dropped is None and partial is None else None
    if outside is not None:
        # Only the sub-model whose weights are the ones stuck: a weightless preprocessing call above the tape is fine.
        attr = outside[0].value.func.attr  # type: ignore[attr-defined]
        members = (updates.get("sub_models") or {}).get(attr) or ([attr] if attr in names else [])
        outside = outside if set(members) & set(moving) else None
    if outside is not None:
        # The step runs a sub-model before its GradientTape opens: the tape never records it, so no gradient
        # reaches its weights (round 64's cp03, `z_mean, z_log_var, z = self.encoder(data)` above the `with`).
        call, tape_line = outside
        line, text = ctx.cell_line(call.lineno), ctx.line_text(call.lineno)
        why.append(f"`{ast.unparse(call.value)}` (line {line}) runs before the GradientTape opens (line "
                   f"{ctx.cell_line(tape_line)}), so the tape never records it and nothing it computes gets a gradient")
        fix = ("# call it inside the tape, so the gradient reaches its weights:\n"
               "with tf.GradientTape() as tape:\n    " + ast.unparse(call))
    listed = (_gradient_of_parts(ctx, set(whole)) if whole and moving and dropped is None and partial is None
              and outside is None else None)
    if listed is not None:
        # The step's gradient covers named sub-models' weights only (round 84's ia04:
        # `tape.gradient(loss, self.encoder.trainable_weights)`): the parts it leaves out never get one.
        call, parts = listed
        line, text = ctx.cell_line(call.lineno), ctx.line_text(call.lineno)
        why.append(f"the step takes its gradient for {_list_code(parts)} only (line {line}), so "
                   f"{' and '.join(whole)} never get{'s' if len(whole) == 1 else ''} one")
        fix = ("# differentiate, and apply, every trainable weight of the model:\n"
               "grads = tape.gradient(loss, self.trainable_weights)\n"
               "self.optimizer.apply_gradients(zip(grads, self.trainable_weights))")
    if partial is not None:
        # The step differentiates one term of the loss it logs: the layers only the other terms reach get nothing.
        call, term, total, sum_line = partial
        line, text = ctx.cell_line(call.lineno), ctx.line_text(call.lineno)
        why.append(f"the step takes the gradient of `{term}` alone (`{ast.unparse(call)}`), one term of `{total}` "
                   f"(line {ctx.cell_line(sum_line)}), so the weights only the other terms reach get none")
        fix = f"grads = tape.gradient({total}, self.trainable_weights)  # the whole loss, not one of its terms"
        raw = ctx.source.splitlines()[call.lineno - 1] if ctx.source else ""
        if line is not None and call.lineno == call.end_lineno and f"({term}," in raw:
            edit = {"start_line": line, "end_line": line, "replacement": raw.replace(f"({term},", f"({total},", 1).rstrip()}
    return [
        Finding(
            code="AE301",
            # Layers frozen with trainable=False on purpose (a pretrained
            # encoder) are reported, but as info: the plain-model path is
            # silent about partial freezing too, and a deliberate choice is
            # not a fault. Weights the train_step forgets are.
            severity="info" if frozen and not moving else "error" if severe else "warning",
            title="Weights that never move",
            message=(
                f"Over {updates['steps']} steps of {step}, the weights of {where} never moved "
                f"(update-to-weight ratio exactly 0 at every step): {'; '.join(why)}. "
                "Those weights can't change however long you train."
            ),
            line=line,
            source_line=text,
            layer=stuck[0]["layer"],
            evidence={
                "layers": names,
                "frozen": frozen,
                "whole": whole,
                "steps": updates["steps"],
                "measured": "update-to-weight ratio per layer and step (per-layer gradients unavailable)",
                **({"compute_loss_without_super": True} if dropped is not None else {}),
                **({"gradient_of": partial[1], "total_loss": partial[2]} if partial is not None else {}),
                **({"outside_tape": line} if outside is not None else {}),
                **({"gradient_for": sorted(listed[1])} if listed is not None else {}),
            },
            fix=fix,
            edit=edit,
        )
    ]


def _sum_names(node: ast.AST) -> list[str] | None:
    """The names added up in ``node`` (``a + b``, ``a + beta * b`` gives a and b), or None when it is no sum."""
    if not (isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub))):
        return None
    return [n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)]


def _train_steps(ctx: Context) -> list[ast.FunctionDef]:
    """The ``train_step`` functions the cell defines, when the model trains through its own one; else none."""
    if not ctx.source or own_step_name(ctx.model) != "train_step":
        return []
    try:
        tree = ast.parse(ctx.source)
    except SyntaxError:  # the cell ran, so this is IPython syntax: nothing to read
        return []
    return [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "train_step"]


def _gradient_of_one_term(ctx: Context) -> tuple[ast.Call, str, str, int] | None:
    """``(gradient call, its term, the sum it is part of, the sum's line)`` when the model's train_step takes
    its one gradient of a term that the step adds into another loss (round 61's ck06:
    ``tape.gradient(kl_loss, self.trainable_weights)`` beside ``total_loss = recon_loss + kl_loss``); else None."""
    for fn in _train_steps(ctx):
        calls = [n for n in ast.walk(fn) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                 and n.func.attr == "gradient" and n.args]
        if len(calls) != 1 or not isinstance(calls[0].args[0], ast.Name):
            continue
        term = calls[0].args[0].id
        for node in ast.walk(fn):
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                total, names = node.targets[0].id, _sum_names(node.value)
                if names and total != term and term in names and len(set(names) - {term}) >= 1:
                    return calls[0], term, total, node.lineno
    return None


_WEIGHTS = ("trainable_weights", "trainable_variables")


def _parts_listed(node: ast.AST, fn: ast.FunctionDef) -> set[str] | None:
    """The sub-model attributes whose weights ``node`` lists (``self.encoder.trainable_weights``, or a sum or list
    of such; a name is read through its assignment in ``fn``); None when it lists anything else (all weights)."""
    if isinstance(node, ast.Name):
        bound = [st.value for st in ast.walk(fn) if isinstance(st, ast.Assign) and len(st.targets) == 1
                 and isinstance(st.targets[0], ast.Name) and st.targets[0].id == node.id]
        node = bound[-1] if bound else node
    parts: set[str] = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Attribute) and n.attr in _WEIGHTS:
            owner = n.value
            if not (isinstance(owner, ast.Attribute) and isinstance(owner.value, ast.Name) and owner.value.id == "self"):
                return None
            parts.add(owner.attr)
    return parts or None


def _gradient_of_parts(ctx: Context, stuck: set[str]) -> tuple[ast.Call, set[str]] | None:
    """``(gradient call, the sub-models it lists)`` when every ``tape.gradient`` of the model's train_step lists
    named sub-models' weights and none of them is a ``stuck`` one (by attribute or Keras name); else None."""
    for fn in _train_steps(ctx):
        calls = [n for n in ast.walk(fn) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                 and n.func.attr == "gradient" and len(n.args) >= 2]
        listed: set[str] = set()
        for call in calls:
            parts = _parts_listed(call.args[1], fn)
            if parts is None:
                return None
            listed |= parts
        if not calls:
            continue
        names = listed | {str(getattr(getattr(ctx.model, a, None), "name", a)) for a in listed}
        if not stuck & names:
            return min(calls, key=lambda c: c.lineno), listed
    return None


def _list_code(parts: set[str]) -> str:
    return " and ".join(f"`self.{p}.trainable_weights`" for p in sorted(parts))


def _called_outside_tape(ctx: Context) -> tuple[ast.Assign, int] | None:
    """``(assignment, tape line)`` when the model's train_step binds the result of one of its own sub-models
    (``... = self.encoder(data)``) before its ``with tf.GradientTape()`` block and the block reads it; else None."""
    for fn in _train_steps(ctx):
        tape = next((st for st in fn.body if isinstance(st, ast.With)
                     and any("GradientTape" in ast.unparse(item.context_expr) for item in st.items)), None)
        if tape is None:
            continue
        read = {n.id for st in tape.body for n in ast.walk(st) if isinstance(n, ast.Name)}
        for st in fn.body:
            if st.lineno >= tape.lineno:
                break
            call = st.value if isinstance(st, ast.Assign) else None
            if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                    and isinstance(call.func.value, ast.Name) and call.func.value.id == "self"):
                continue
            bound = {n.id for t in st.targets for n in ast.walk(t) if isinstance(n, ast.Name)}
            if bound & read:
                return st, tape.lineno
    return None


def locate(ctx: Context, layer_name: str) -> tuple[int | None, str | None]:
    """Where the layer was called in the cell, else where it was created (a subclassed model's layers are called in its class)."""
    line, text = G.locate(ctx, layer_name)
    if line is not None or ctx.model is None:
        return line, text
    layer = probe.layers_by_name(ctx.model).get(layer_name)
    raw = ctx.creation_lines.get(id(layer)) if layer is not None else None
    if not raw:
        return None, None
    return ctx.cell_line(raw), ctx.line_text(raw)


def _compute_loss_without_super(ctx: Context) -> tuple[int, int, str] | None:
    """``(def line, return line, returned text)`` of the model class's ``compute_loss`` in the cell when it
    overrides Keras' (no own train_step) and never calls ``super().compute_loss``; else None."""
    model = ctx.model
    if model is None or own_step_name(model) != "compute_loss" or not ctx.source:
        return None
    if kc.compiled_loss(model) is None:
        # Compiled with an optimizer only: there is no compiled loss to drop, the override is the whole loss.
        return None
    try:
        tree = ast.parse(ctx.source)
    except SyntaxError:  # the cell ran, so this is IPython syntax: no location, the generic fix stands
        return None
    classes = {c.name: c for c in ast.walk(tree) if isinstance(c, ast.ClassDef)}
    for cls in type(model).__mro__:
        node = classes.get(cls.__name__)
        fn = next((f for f in (node.body if node else []) if isinstance(f, ast.FunctionDef) and f.name == "compute_loss"), None)
        if fn is None:
            continue
        calls_super = any(isinstance(n, ast.Attribute) and n.attr == "compute_loss" and isinstance(n.value, ast.Call)
                          and ast.unparse(n.value.func) == "super" for n in ast.walk(fn))
        returns = [n for n in ast.walk(fn) if isinstance(n, ast.Return) and n.value is not None]
        if calls_super or not returns:
            return None
        ret = returns[-1]
        return fn.lineno, ret.lineno, f"`{ast.unparse(ret.value)}`"
    return None
