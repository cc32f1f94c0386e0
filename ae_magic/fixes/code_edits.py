"""The edits, code by code: from a finding's code, line, layer and evidence, the edit of the cell that fixes it."""

from __future__ import annotations

import ast
import re

from ..context import Context
from ..numeric import unit_divisor
from ..report import Finding
from .cell import Cell
from .edits import Edit
from .syntax import char_col

OPTIMIZER_CLASSES = ("Adam", "AdamW", "SGD", "RMSprop", "Adagrad", "Adadelta", "Adamax", "Nadam", "Lion", "Ftrl")


def edit_for(f: Finding, cell: Cell, findings: list[Finding]) -> Edit | None:
    """The edit that fixes ``f`` in this cell, or None when the fix is advice, not an edit."""
    code = f.code
    raw_data = any(g.code == "AE201" for g in findings)
    if code == "AE203" and f.evidence.get("tanh_range") and not raw_data:
        # Data scaled into [-1, 1] on purpose under a sigmoid output: the output's activation is the fix.
        return _activation_on_line(f, cell, to="tanh", only=("sigmoid", "hard_sigmoid"))
    if code in ("AE201", "AE203"):
        return _scale_data(f, cell, findings)
    if code in ("AE302", "AE303", "AE305") and raw_data:
        # Their first advice is to scale the data: the same edit as AE201's.
        return _scale_data(next(g for g in findings if g.code == "AE201"), cell, findings)
    if f.evidence.get("before_any_step") or f.evidence.get("sampling"):
        # (A sampling layer that gives NaN, checks/sampling.py: the layer's code is the fix, not a rate.)
        return None  # NaN/Inf at the initial weights on scaled data: no optimizer setting fixes it (advice only)
    clip = (f.evidence.get("clipping") or {}).get("clip")
    if isinstance(clip, dict) and len(clip) == 1:
        # A clip that throttles every step (checks/clipping.py): drop it, the rate stays.
        return _optimizer_edit(cell, lr=None, clipnorm=None, drop=tuple(clip))
    if code == "AE303":
        return _optimizer_edit(cell, lr=None, clipnorm=1.0)
    if code == "AE108":
        return _output_loss(f, cell)
    if code == "AE106":
        return _activation_on_line(f, cell, to="relu", only=("sigmoid", "tanh", "hard_sigmoid", "softsign"))
    if code in ("AE401", "AE402", "AE403", "AE406"):
        lr = _suggested_lr(f)
        return _optimizer_edit(cell, lr=lr, clipnorm=None) if lr else None
    if code == "AE103":
        return _decoder_call(f, cell)
    if code == "AE109":
        return _compile_model(cell)
    if code == "AE202":
        return _nan_to_num(cell)
    return None


def _scale_data(f: Finding, cell: Cell, findings: list[Finding]) -> Edit | None:
    """AE201/AE203: scale the data once, right after the cell defines it (or at the top of the cell)."""
    ctx = cell.ctx
    var = ctx.data_name
    if not var or not var.isidentifier() or var not in cell.ns:
        return None
    ev = next((g.evidence for g in findings if g.code == "AE201"), f.evidence)
    if ev.get("outliers"):
        return None  # a few outliers set the scale: rescaling the whole array keeps them; the advice says what to do
    lo, hi = ev.get("min"), ev.get("max")
    if lo is None or hi is None:
        d = ctx.data
        if d is None:
            return None
        lo, hi = float(d.min()), float(d.max())
    if lo >= 0 and 1 < hi <= 255:
        stmt = f'{var} = {var}.astype("float32") / {unit_divisor(hi)}'
    elif any(g.code == "AE203" for g in findings):
        # Into [0, 1], which every output activation reaches; one edit for AE201 and AE203.
        stmt = f'{var} = ({var} - {var}.min()) / ({var}.max() - {var}.min())'
    else:
        # One scale and one shift for the whole array: the error in the data's
        # own units is then the scaled error times std**2 (ae_magic.trial).
        stmt = f'{var} = ({var} - {var}.mean()) / {var}.std()'
    targets = [var]
    tname = ctx.target_name
    if tname and tname != var and tname.isidentifier() and tname in cell.ns:
        stmt += "\n" + stmt.replace(var, tname)
        targets.append(tname)
    where = max((s.end_lineno or s.lineno) for s in (cell.last_top_statement_binding(t) for t in targets) if s) \
        if any(cell.last_top_statement_binding(t) for t in targets) else 0
    return cell.insert_after(where, stmt)


def _nan_to_num(cell: Cell) -> Edit | None:
    """AE202: replace NaN/Inf by 0 right after the data is defined."""
    var, np_ = cell.ctx.data_name, cell.aliases.get("np")
    if not var or not var.isidentifier() or var not in cell.ns or not np_:
        return None
    stmt = cell.last_top_statement_binding(var)
    return cell.insert_after(stmt.end_lineno or stmt.lineno if stmt else 0,
                             f"{var} = {np_}.nan_to_num({var}, nan=0.0, posinf=0.0, neginf=0.0)")


def _compile_model(cell: Cell) -> Edit | None:
    """AE109: compile the model right after it is built."""
    name = cell.ctx.model_name
    if not name or not name.isidentifier() or name not in cell.ns:
        return None
    stmt = cell.last_top_statement_binding(name)
    if stmt is None:
        return None
    return cell.insert_after(stmt.end_lineno or stmt.lineno, f'{name}.compile(optimizer="adam", loss="mse")')


def _activation_on_line(f: Finding, cell: Cell, *, to: str, only: tuple[str, ...]) -> Edit | None:
    """Set ``activation=`` of the layer built on the finding's line to ``to``."""
    stmt = cell.statement_at(f.line)
    if stmt is None:
        return None
    for call in (n for n in ast.walk(stmt) if isinstance(n, ast.Call)):
        for kw in call.keywords:
            if kw.arg == "activation" and isinstance(kw.value, ast.Constant) and kw.value.value in only:
                return cell.replace_span(kw.value, repr(to).replace("'", '"'))
    return None


def _layer_constructor(stmt: ast.stmt) -> ast.Call | None:
    """The layer constructor of ``y = Dense(...)(x)`` (or the first call of the line)."""
    calls = [n for n in ast.walk(stmt) if isinstance(n, ast.Call)]
    for call in calls:
        if isinstance(call.func, ast.Call):
            return call.func
    return calls[0] if calls else None


# Calls that hold layers rather than being one.
_CONTAINERS = frozenset({"Sequential", "Model", "list", "tuple"})


def _callee(call: ast.Call) -> str:
    """The called name: ``Dense`` for ``layers.Dense(...)``, ``Sequential`` for ``keras.Sequential(...)``."""
    f = call.func
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""


def _output_loss(f: Finding, cell: Cell) -> Edit | None:
    """AE108: make the output activation fit the loss (or the loss fit the reconstruction)."""
    ev = f.evidence
    if ev.get("noise_after_output"):
        return None  # removing the layer may unbind the cell's output variable: advice only
    if ev.get("first_argument"):
        return _swap_loss_arguments(f, cell)
    if ev.get("near_zero_share") is not None:
        return _set_loss(cell, '"mse"')  # a percentage loss on targets near zero: a loss defined for any value
    act, from_logits = ev.get("output_activation"), bool(ev.get("from_logits"))
    loss = str(ev.get("loss") or "").lower()
    if "categorical" in loss:
        return _set_loss(cell, '"mse"')
    if from_logits:
        for node in ast.walk(cell.tree):
            if isinstance(node, ast.keyword) and node.arg == "from_logits" and isinstance(node.value, ast.Constant) \
                    and node.value.value is True:
                return cell.replace_span(node.value, "False")
        return None
    want = "sigmoid"
    if act == "softmax" and "binary" not in loss and not _data_in_unit_range(cell.ctx):
        want = "linear"
    stmt = cell.statement_at(f.line)
    if stmt is None:
        return None
    # A statement over several lines (``self.decoder = keras.Sequential([Dense(..., activation=...), Reshape(...)])``,
    # round 54's bq09): the layer is the call written on the finding's line, not the statement's outer call.
    # On the statement's first line the outer call shares the line (``keras.Sequential([layers.Dense(...,
    # activation="softmax"),``): the call with an activation keyword is the layer, else one that is not a container.
    on_line = [c for c in ast.walk(stmt) if isinstance(c, ast.Call) and cell.cell_line(c.lineno) == f.line]
    ranked = ([c for c in on_line if any(kw.arg == "activation" for kw in c.keywords)]
              or [c for c in on_line if _callee(c) not in _CONTAINERS] or on_line)
    layer = (ranked[0] if ranked and (stmt.end_lineno or stmt.lineno) > stmt.lineno else _layer_constructor(stmt))
    if layer is None:
        return None
    for kw in layer.keywords:
        if kw.arg == "activation":
            return cell.replace_span(kw.value, f'"{want}"')
    if want == "linear":  # no activation keyword: already linear
        return None
    # No activation keyword (a linear output): add one.
    line = cell.lines[(layer.end_lineno or layer.lineno) - 1]
    end = char_col(line, layer.end_col_offset or 0) - 1
    if line[end:end + 1] != ")":
        return None
    sep = ", " if layer.args or layer.keywords else ""
    new = line[:end] + f'{sep}activation="sigmoid"' + line[end:]
    n = cell.cell_line(layer.end_lineno or layer.lineno)
    return Edit(n, n, new)


def _swap_loss_arguments(f: Finding, cell: Cell) -> Edit | None:
    """AE108 (loss arguments in the wrong order): put the target first, as Keras' losses take it."""
    line = None if f.line is None else f.line - cell.offset
    for node in ast.walk(cell.tree):
        if (isinstance(node, ast.Call) and node.lineno == line and len(node.args) >= 2
                and isinstance(node.args[0], ast.Name) and node.args[0].id == f.evidence["first_argument"]):
            first, second = node.args[0], node.args[1]
            if first.lineno != second.end_lineno:
                return None
            text = cell.lines[first.lineno - 1]
            a, b = char_col(text, first.col_offset), char_col(text, first.end_col_offset or 0)
            c, d = char_col(text, second.col_offset), char_col(text, second.end_col_offset or 0)
            new = text[:a] + text[c:d] + text[b:c] + text[a:b] + text[d:]
            n = cell.cell_line(first.lineno)
            return Edit(n, n, new)
    return None


def _data_in_unit_range(ctx: Context) -> bool:
    d = ctx.target if ctx.target is not None else ctx.data
    try:
        return d is not None and float(d.min()) >= 0.0 and float(d.max()) <= 1.0
    except Exception:
        return False


def _compile_call(cell: Cell) -> ast.Call | None:
    """The last ``<model>.compile(...)`` call of the cell (the diagnosed model's when it is named)."""
    name = cell.ctx.model_name
    calls = [c for c in cell.calls() if isinstance(c.func, ast.Attribute) and c.func.attr == "compile"]
    mine = [c for c in calls if isinstance(c.func.value, ast.Name) and c.func.value.id == name]
    return (mine or calls or [None])[-1]


def _set_loss(cell: Cell, new: str) -> Edit | None:
    call = _compile_call(cell)
    if call is None:
        return None
    for kw in call.keywords:
        if kw.arg == "loss":
            return cell.replace_span(kw.value, new)
    if len(call.args) >= 2:
        return cell.replace_span(call.args[1], new)
    return None


def _suggested_lr(f: Finding) -> float | None:
    """The learning rate the finding proposes (its fix's, else its evidence's)."""
    m = re.search(r"learning_rate=([0-9.]+(?:e-?\d+)?)", f.fix or "")
    if m:
        return float(m.group(1))
    sugg = f.evidence.get("suggested_lr")
    return float(f"{float(sugg):.1g}") if isinstance(sugg, (int, float)) and sugg > 0 else None


def _optimizer_edit(cell: Cell, *, lr: float | None, clipnorm: float | None, drop: tuple[str, ...] = ()) -> Edit | None:
    """Set the learning rate (and/or clipnorm) where the cell makes its optimizer; leave out the keywords ``drop``."""
    opt = None
    for call in cell.calls():
        fn = call.func
        cls = fn.attr if isinstance(fn, ast.Attribute) else fn.id if isinstance(fn, ast.Name) else None
        if cls in OPTIMIZER_CLASSES:
            opt = call
    args: dict[str, str] = {}
    if lr is not None:
        args["learning_rate"] = repr(lr)
    if clipnorm is not None:
        args["clipnorm"] = repr(clipnorm)
    if opt is not None:
        kws = {kw.arg: kw for kw in opt.keywords}
        parts = [ast.get_source_segment(cell.source, a) or "" for a in opt.args]
        if lr is not None and parts and "learning_rate" not in kws and "lr" not in kws:
            parts = parts[1:]  # the positional learning rate
        for kw in opt.keywords:
            if kw.arg in ("learning_rate", "lr") and lr is not None:
                continue
            if (kw.arg == "clipnorm" and clipnorm is not None) or kw.arg in drop:
                continue
            seg = ast.get_source_segment(cell.source, kw.value) or ""
            parts.append(f"{kw.arg}={seg}" if kw.arg else f"**{seg}")
        parts += [f"{k}={v}" for k, v in args.items()]
        fn = ast.get_source_segment(cell.source, opt.func) or ""
        return cell.replace_span(opt, f"{fn}({', '.join(parts)})")
    if drop:
        return None  # the keyword to drop is on an optimizer the cell does not make with a call
    # compile(optimizer="adam"): spell the optimizer out.
    call, keras = _compile_call(cell), cell.keras()
    if call is None or keras is None:
        return None
    for kw in call.keywords:
        if kw.arg == "optimizer" and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str):
            name = {"adam": "Adam", "sgd": "SGD", "rmsprop": "RMSprop", "adamw": "AdamW", "nadam": "Nadam",
                    "adagrad": "Adagrad", "adamax": "Adamax"}.get(kw.value.value.lower())
            if name is None:
                return None
            body = ", ".join(f"{k}={v}" for k, v in args.items())
            return cell.replace_span(kw.value, f"{keras}.optimizers.{name}({body})")
    return None


def _decoder_call(f: Finding, cell: Cell) -> Edit | None:
    """AE103: call the decoder's first layer on the code instead of the input."""
    code_var = f.evidence.get("code_variable")
    stmt = cell.statement_at(f.line)
    if not code_var or not str(code_var).isidentifier() or stmt is None or code_var not in cell.ns:
        return None
    outer = [n for n in ast.walk(stmt) if isinstance(n, ast.Call) and isinstance(n.func, ast.Call)]
    if len(outer) != 1 or len(outer[0].args) != 1 or not isinstance(outer[0].args[0], ast.Name):
        return None
    return cell.replace_span(outer[0].args[0], str(code_var))
