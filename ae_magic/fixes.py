"""Fixes as edits of the cell, written in the cell's own names.

A check writes its fix as text. :func:`attach` (called by the engine after
the checks) turns every fix that can be one into an :class:`Edit` of the
cell (the lines it replaces and their replacement, in cell line numbers as
findings use them), stored as ``finding.edit``, and rewrites the code in
every fix text so it reads only names that exist once the cell has run:
generic names (``model``, ``x``, ``h``, ``inputs``, ``layers``, ``np``...)
become the cell's own where the mapping is clear; a name that still has no
meaning becomes ``...`` and the snippet is marked as a template.

The edits are derived here, from the finding's code, line, layer, evidence
and the cell's syntax tree; the check modules' fix texts stay theirs.
:mod:`ae_magic.trial` applies an edit to a copy of the cell and checks it.
"""

from __future__ import annotations

import ast
import builtins
import re
import types
from dataclasses import dataclass
from typing import Any

from .context import Context
from .report import Finding, Report

# The marker of a snippet whose ``...`` the user has to fill in.
TEMPLATE_NOTE = "# template: replace each ... with your own value"
# Names the checks' fix texts use for the cell's objects.
GENERIC_MODEL = ("model", "autoencoder", "ae")
GENERIC_DATA = ("x", "x_train", "data")
GENERIC_INPUT = ("inputs", "inp", "input_img")
OPTIMIZER_CLASSES = ("Adam", "AdamW", "SGD", "RMSprop", "Adagrad", "Adadelta", "Adamax", "Nadam", "Lion", "Ftrl")
_BUILTINS = set(dir(builtins))


@dataclass(frozen=True)
class Edit:
    """Replace cell lines ``start_line``..``end_line`` (1-based, inclusive, as findings number them) by ``replacement``."""

    start_line: int
    end_line: int
    replacement: str

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``finding["edit"]``)."""
        return {"start_line": self.start_line, "end_line": self.end_line, "replacement": self.replacement}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Edit:
        """The Edit of a ``to_dict()``."""
        return cls(int(d["start_line"]), int(d["end_line"]), str(d["replacement"]))

    def overlaps(self, other: Edit) -> bool:
        """Whether the two edits touch a common line."""
        return not (self.end_line < other.start_line or other.end_line < self.start_line)


@dataclass
class Names:
    """What a fix snippet may read: generic name -> the cell's expression, the namespace's names, its classes."""

    renames: dict[str, str]
    known: set[str]
    classes: set[str]


def apply_edits(source: str, edits: list[Edit], *, line_offset: int = 0) -> tuple[str, list[Edit]]:
    """``source`` with the edits applied (bottom first), and the edits applied.

    ``line_offset`` is the options' offset between cell lines and the source's
    lines (1 for a ``%%ae_check`` body). Identical edits count once; an edit
    overlapping one already taken is left out (it is not in the returned list).
    """
    lines = source.splitlines()
    taken: list[Edit] = []
    for e in edits:
        if e in taken or any(e.overlaps(t) for t in taken):
            continue
        if not 1 <= e.start_line - line_offset <= e.end_line - line_offset <= len(lines):
            continue
        taken.append(e)
    for e in sorted(taken, key=lambda e: -e.start_line):
        a, b = e.start_line - line_offset - 1, e.end_line - line_offset
        lines[a:b] = e.replacement.splitlines()
    return "\n".join(lines) + ("\n" if source.endswith("\n") else ""), taken


def finding_edit(finding: Finding) -> Edit | None:
    """The Edit a finding carries, or None."""
    return Edit.from_dict(finding.edit) if getattr(finding, "edit", None) else None


# -- attaching -------------------------------------------------------------
def attach(target: Report | list[Finding], ctx: Context) -> None:
    """Give every finding its edit (when it can be one) and its fix text in the cell's names.

    Never raises: a fix we can't derive stays the check's text.
    """
    findings = target.findings if isinstance(target, Report) else target
    if not ctx.source or not ctx.namespace:
        # No cell, or a rebuilt copy (another latent size) that has no names
        # of its own: the fixes stay as the checks wrote them.
        return
    try:
        cell = _Cell(ctx)
    except Exception:  # a cell we can't parse keeps its text fixes as they are
        return
    for f in findings:
        try:
            if f.fix:
                f.fix = localize(f.fix, cell.names_for(f))
            edit = edit_for(f, cell, findings)
            if edit is not None and edit.replacement != cell.text(edit.start_line, edit.end_line):
                f.edit = edit.to_dict()
        except Exception:  # a fix is a courtesy; the finding stands without it
            continue


class _Cell:
    """The cell's text and syntax tree, its names, and where things are defined."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.source = ctx.source or ""
        self.lines = self.source.splitlines()
        self.offset = ctx.options.line_offset
        self.tree = ast.parse(self.source)
        self.ns = ctx.namespace
        self.aliases = _aliases(self.ns)

    # line helpers (cell lines, as findings number them)
    def text(self, start: int, end: int) -> str:
        return "\n".join(self.lines[start - self.offset - 1 : end - self.offset])

    def cell_line(self, source_line: int) -> int:
        return source_line + self.offset

    def insert_after(self, source_line: int, text: str) -> Edit:
        """Insert top-level ``text`` after source line ``source_line`` (0: at the top of the cell)."""
        if source_line <= 0:
            first = self.lines[0] if self.lines else ""
            return Edit(self.cell_line(1), self.cell_line(1), f"{text}\n{first}")
        return Edit(self.cell_line(source_line), self.cell_line(source_line), f"{self.lines[source_line - 1]}\n{text}")

    def replace_span(self, node: ast.AST, new: str) -> Edit:
        """Replace the source text of ``node`` by ``new`` (an edit of the lines it spans)."""
        a, b = node.lineno, node.end_lineno or node.lineno
        chunk = self.lines[a - 1 : b]
        head = chunk[0][: _col(chunk[0], node.col_offset)]
        tail = chunk[-1][_col(chunk[-1], node.end_col_offset or 0) :]
        return Edit(self.cell_line(a), self.cell_line(b), head + new + tail)

    def last_top_statement_binding(self, name: str) -> ast.stmt | None:
        """The last top-level statement that binds ``name`` (outside function and class bodies)."""
        found = None
        for stmt in self.tree.body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            if name in _stored(stmt):
                found = stmt
        return found

    def statement_at(self, cell_line: int | None) -> ast.stmt | None:
        """The innermost simple statement that covers cell line ``cell_line``."""
        if cell_line is None:
            return None
        line = cell_line - self.offset
        best = None
        for node in ast.walk(self.tree):
            if isinstance(node, ast.stmt) and not hasattr(node, "body") and node.lineno <= line <= (node.end_lineno or node.lineno):
                best = node
        return best

    def calls(self) -> list[ast.Call]:
        return [n for n in ast.walk(self.tree) if isinstance(n, ast.Call)]

    def keras(self) -> str | None:
        """An expression for the keras module in the cell's names."""
        if self.aliases.get("keras"):
            return self.aliases["keras"]
        return f"{self.aliases['tf']}.keras" if self.aliases.get("tf") else None

    def names_for(self, f: Finding) -> Names:
        """The cell's names for the generic names of the fix of ``f``."""
        out: dict[str, str] = {}
        ctx = self.ctx
        if ctx.model_name and ctx.model_name.isidentifier() and ctx.model_name in self.ns:
            out.update(dict.fromkeys(GENERIC_MODEL, ctx.model_name))
        if ctx.data_name and ctx.data_name.isidentifier() and ctx.data_name in self.ns:
            out.update(dict.fromkeys(GENERIC_DATA, ctx.data_name))
        inp = self._input_name()
        if inp:
            out.update(dict.fromkeys(GENERIC_INPUT, inp))
        arg = self._layer_argument(f)
        if arg:
            out["h"] = arg
        keras = self.keras()
        if keras:
            out["keras"] = keras
        for mod in ("layers", "ops"):
            if self.aliases.get(mod):
                out[mod] = self.aliases[mod]
            elif keras:
                out[mod] = f"{keras}.{mod}"
        for mod in ("np", "tf"):
            if self.aliases.get(mod):
                out[mod] = self.aliases[mod]
        known = {k for k in self.ns if isinstance(k, str) and k.isidentifier()}
        classes = {k for k in known if isinstance(self.ns[k], type) and k[:1].isupper()}
        return Names(out, known, classes)

    def _input_name(self) -> str | None:
        m = self.ctx.model
        try:
            tensors = list(getattr(m, "inputs", None) or [])
        except Exception:
            return None
        for t in tensors[:1]:
            name = self.ctx.var_of(t)
            if name:
                return name
        return None

    def _layer_argument(self, f: Finding) -> str | None:
        """The tensor the finding's layer line is called on: ``code = Dense(8)(h)`` -> ``h``."""
        stmt = self.statement_at(f.line)
        if not isinstance(stmt, ast.Assign) or not isinstance(stmt.value, ast.Call):
            return None
        call = stmt.value
        if isinstance(call.func, ast.Call) and len(call.args) == 1 and isinstance(call.args[0], ast.Name):
            return call.args[0].id
        return None


def _aliases(ns: dict[str, Any]) -> dict[str, str]:
    """The cell's names for keras, keras.layers, keras.ops, numpy and tensorflow."""
    out: dict[str, str] = {}

    def pick(key: str, ok: Any, prefer: str) -> None:
        names = [k for k, v in ns.items() if isinstance(v, types.ModuleType) and not k.startswith("_") and ok(v)]
        if names:
            out[key] = prefer if prefer in names else sorted(names)[0]

    pick("keras", lambda m: all(hasattr(m, a) for a in ("Model", "layers", "optimizers")), "keras")
    pick("layers", lambda m: all(hasattr(m, a) for a in ("Dense", "Conv2D")) and not hasattr(m, "Model"), "layers")
    pick("ops", lambda m: all(hasattr(m, a) for a in ("mean", "square", "stop_gradient")) and "ops" in m.__name__, "ops")
    pick("np", lambda m: m.__name__ == "numpy", "np")
    pick("tf", lambda m: m.__name__ == "tensorflow", "tf")
    return out


def _stored(node: ast.AST) -> set[str]:
    """Names a statement binds (assignments, loops, imports, with-targets)."""
    out: set[str] = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del)):
            out.add(n.id)
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            out.update((a.asname or a.name).split(".")[0] for a in n.names)
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(n.name)
    return out


# -- the edits, code by code -------------------------------------------------
def edit_for(f: Finding, cell: _Cell, findings: list[Finding]) -> Edit | None:
    """The edit that fixes ``f`` in this cell, or None when the fix is advice, not an edit."""
    code = f.code
    raw_data = any(g.code == "AE201" for g in findings)
    if code in ("AE201", "AE203"):
        return _scale_data(f, cell, findings)
    if code in ("AE302", "AE303", "AE305") and raw_data:
        # Their first advice is to scale the data: the same edit as AE201's.
        return _scale_data(next(g for g in findings if g.code == "AE201"), cell, findings)
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


def _scale_data(f: Finding, cell: _Cell, findings: list[Finding]) -> Edit | None:
    """AE201/AE203: scale the data once, right after the cell defines it (or at the top of the cell)."""
    ctx = cell.ctx
    var = ctx.data_name
    if not var or not var.isidentifier() or var not in cell.ns:
        return None
    ev = next((g.evidence for g in findings if g.code == "AE201"), f.evidence)
    lo, hi = ev.get("min"), ev.get("max")
    if lo is None or hi is None:
        d = ctx.data
        if d is None:
            return None
        lo, hi = float(d.min()), float(d.max())
    if lo >= 0 and 1 < hi <= 255:
        stmt = f'{var} = {var}.astype("float32") / 255.0'
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


def _nan_to_num(cell: _Cell) -> Edit | None:
    """AE202: replace NaN/Inf by 0 right after the data is defined."""
    var, np_ = cell.ctx.data_name, cell.aliases.get("np")
    if not var or not var.isidentifier() or var not in cell.ns or not np_:
        return None
    stmt = cell.last_top_statement_binding(var)
    return cell.insert_after(stmt.end_lineno or stmt.lineno if stmt else 0,
                             f"{var} = {np_}.nan_to_num({var}, nan=0.0, posinf=0.0, neginf=0.0)")


def _compile_model(cell: _Cell) -> Edit | None:
    """AE109: compile the model right after it is built."""
    name = cell.ctx.model_name
    if not name or not name.isidentifier() or name not in cell.ns:
        return None
    stmt = cell.last_top_statement_binding(name)
    if stmt is None:
        return None
    return cell.insert_after(stmt.end_lineno or stmt.lineno, f'{name}.compile(optimizer="adam", loss="mse")')


def _activation_on_line(f: Finding, cell: _Cell, *, to: str, only: tuple[str, ...]) -> Edit | None:
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


def _output_loss(f: Finding, cell: _Cell) -> Edit | None:
    """AE108: make the output activation fit the loss (or the loss fit the reconstruction)."""
    ev = f.evidence
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
    layer = _layer_constructor(stmt)
    if layer is None:
        return None
    for kw in layer.keywords:
        if kw.arg == "activation":
            return cell.replace_span(kw.value, f'"{want}"')
    if want == "linear":  # no activation keyword: already linear
        return None
    # No activation keyword (a linear output): add one.
    line = cell.lines[(layer.end_lineno or layer.lineno) - 1]
    end = _col(line, layer.end_col_offset or 0) - 1
    if line[end:end + 1] != ")":
        return None
    sep = ", " if layer.args or layer.keywords else ""
    new = line[:end] + f'{sep}activation="sigmoid"' + line[end:]
    n = cell.cell_line(layer.end_lineno or layer.lineno)
    return Edit(n, n, new)


def _data_in_unit_range(ctx: Context) -> bool:
    d = ctx.target if ctx.target is not None else ctx.data
    try:
        return d is not None and float(d.min()) >= 0.0 and float(d.max()) <= 1.0
    except Exception:
        return False


def _compile_call(cell: _Cell) -> ast.Call | None:
    """The last ``<model>.compile(...)`` call of the cell (the diagnosed model's when it is named)."""
    name = cell.ctx.model_name
    calls = [c for c in cell.calls() if isinstance(c.func, ast.Attribute) and c.func.attr == "compile"]
    mine = [c for c in calls if isinstance(c.func.value, ast.Name) and c.func.value.id == name]
    return (mine or calls or [None])[-1]


def _set_loss(cell: _Cell, new: str) -> Edit | None:
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


def _optimizer_edit(cell: _Cell, *, lr: float | None, clipnorm: float | None) -> Edit | None:
    """Set the learning rate (and/or clipnorm) where the cell makes its optimizer."""
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
            if kw.arg == "clipnorm" and clipnorm is not None:
                continue
            seg = ast.get_source_segment(cell.source, kw.value) or ""
            parts.append(f"{kw.arg}={seg}" if kw.arg else f"**{seg}")
        parts += [f"{k}={v}" for k, v in args.items()]
        fn = ast.get_source_segment(cell.source, opt.func) or ""
        return cell.replace_span(opt, f"{fn}({', '.join(parts)})")
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


def _decoder_call(f: Finding, cell: _Cell) -> Edit | None:
    """AE103: call the decoder's first layer on the code instead of the input."""
    code_var = f.evidence.get("code_variable")
    stmt = cell.statement_at(f.line)
    if not code_var or not str(code_var).isidentifier() or stmt is None or code_var not in cell.ns:
        return None
    outer = [n for n in ast.walk(stmt) if isinstance(n, ast.Call) and isinstance(n.func, ast.Call)]
    if len(outer) != 1 or len(outer[0].args) != 1 or not isinstance(outer[0].args[0], ast.Name):
        return None
    return cell.replace_span(outer[0].args[0], str(code_var))


# -- fix texts in the cell's names ---------------------------------------------
def localize(text: str, names: Names) -> str:
    """``text`` with its code in the cell's names; unknown names become ``...`` (a template).

    Code is the whole text when it parses as Python, else each line that
    does, else each `backticked` span that does. Prose stays as it is.
    """
    if _is_code(text):
        return _localize_code(text, names)
    out = []
    for line in text.split("\n"):
        if _is_code(line):
            out.append(_localize_code(line, names))
        else:
            out.append(re.sub(r"`([^`\n]+)`", lambda m: f"`{_localize_code(m.group(1), names, note=False)}`"
                              if _is_code(m.group(1)) else m.group(0), line))
    return "\n".join(out)


def _is_code(text: str) -> bool:
    stripped = text.strip()
    if not stripped or stripped.startswith("#"):
        return False
    try:
        tree = ast.parse(stripped)
    except SyntaxError:
        return False
    # A lone word parses too; code has a call, an attribute or an assignment.
    return any(isinstance(n, (ast.Call, ast.Attribute, ast.Assign, ast.Import, ast.ImportFrom)) for n in ast.walk(tree))


def reads(snippet: str) -> set[str]:
    """Names a snippet reads that it did not bind itself first (what must exist in the namespace)."""
    tree = ast.parse(snippet)
    return {n.id for n, _ in _unbound_loads(tree, set())}


def _unbound_loads(tree: ast.Module, known: set[str]) -> list[tuple[ast.Name, ast.AST]]:
    """Name loads not bound earlier in the snippet nor in ``known`` nor builtins, with their parent."""
    bound = set(known) | _BUILTINS
    out: list[tuple[ast.Name, ast.AST]] = []
    for stmt in tree.body:
        if isinstance(stmt, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            value_nodes = [stmt.value] if stmt.value is not None else []
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            scan = value_nodes + [t for t in targets if not isinstance(t, ast.Name)]
            local: set[str] = set()
        else:
            scan, local = [stmt], _stored(stmt)
        for root in scan:
            for parent in ast.walk(root):
                for child in ast.iter_child_nodes(parent):
                    if isinstance(child, ast.Name) and isinstance(child.ctx, ast.Load) and child.id not in bound | local:
                        out.append((child, parent))
        bound |= _stored(stmt)
    return out


def _localize_code(text: str, names: Names, *, note: bool = True) -> str:
    """Rename generic names to the cell's; replace names with no meaning by ``...``."""
    indent = len(text) - len(text.lstrip())
    body = text.strip()
    try:
        tree = ast.parse(body)
    except SyntaxError:
        return text
    # Generic names the snippet reads before binding them stand for the
    # cell's objects: renamed everywhere, stores included (``x = x / 255``).
    outside = {n.id for n, _ in _unbound_loads(tree, set())}
    renames = {k: v for k, v in names.renames.items() if k in outside and k != v}
    repl: list[tuple[int, int, int, str]] = []  # (line, col, end_col, text)
    template = False
    parents = {c: p for p in ast.walk(tree) for c in ast.iter_child_nodes(p)}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Name) or node.id not in outside:
            continue
        new = renames.get(node.id)
        parent = parents.get(node)
        # ``layers.Dense`` where the cell imported ``Dense`` itself (and has no ``layers`` module).
        if node.id in ("layers", "keras") and (new is None or "." in new) and isinstance(parent, ast.Attribute) \
                and parent.attr in names.classes and node.id not in names.known:
            repl.append((parent.lineno, parent.col_offset, parent.end_col_offset, parent.attr))
            continue
        if new is not None:
            repl.append((node.lineno, node.col_offset, node.end_col_offset, new))
    renamed = _replace(body, repl)
    try:
        tree2 = ast.parse(renamed)
    except SyntaxError:
        return text
    holes = [(n.lineno, n.col_offset, n.end_col_offset, "...") for n, _ in _unbound_loads(tree2, names.known)]
    if holes:
        template = True
        renamed = _replace(renamed, holes)
    if template and note and TEMPLATE_NOTE not in renamed:
        renamed = f"{TEMPLATE_NOTE}\n{renamed}"
    return " " * indent + renamed if indent and "\n" not in renamed else renamed


def _replace(text: str, repl: list[tuple[int, int, int, str]]) -> str:
    lines = text.split("\n")
    for line, col, end, new in sorted(repl, key=lambda r: (r[0], -r[1])):
        s = lines[line - 1]
        lines[line - 1] = s[: _col(s, col)] + new + s[_col(s, end) :]
    return "\n".join(lines)


def _col(line: str, byte_col: int) -> int:
    """The character column of ``ast``'s UTF-8 byte column."""
    return len(line.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))
