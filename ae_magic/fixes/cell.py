"""The checked cell as fixes see it: its text and syntax tree, the names it defines and the edits made in it."""

from __future__ import annotations

import ast
import types
from typing import Any

from ..context import Context
from ..report import Finding
from .edits import Edit
from .localize import Names
from .syntax import char_col, stored

# Names the checks' fix texts use for the cell's objects.
GENERIC_MODEL = ("model", "autoencoder", "ae")
GENERIC_DATA = ("x", "x_train", "data")
GENERIC_INPUT = ("inputs", "inp", "input_img")


class Cell:
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
        head = chunk[0][: char_col(chunk[0], node.col_offset)]
        tail = chunk[-1][char_col(chunk[-1], node.end_col_offset or 0) :]
        return Edit(self.cell_line(a), self.cell_line(b), head + new + tail)

    def last_top_statement_binding(self, name: str) -> ast.stmt | None:
        """The last top-level statement that binds ``name`` (outside function and class bodies)."""
        found = None
        for stmt in self.tree.body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            if name in stored(stmt):
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
            # A generic name that is the cell's own target (`--target x_train`) is meant as written.
            out.update(dict.fromkeys((g for g in GENERIC_DATA if g != getattr(ctx, "target_name", None)), ctx.data_name))
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
        return Names(out, known | self._locals_at(f.line), classes)

    def _locals_at(self, cell_line: int | None) -> set[str]:
        """The names bound in the functions around cell line ``cell_line`` (``self``, arguments, locals).

        A fix that rewrites a line of a layer's ``call`` reads those names; they are the user's own,
        not placeholders to fill in.
        """
        if cell_line is None:
            return set()
        line = cell_line - self.offset
        out: set[str] = set()
        for node in ast.walk(self.tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) \
                    and node.lineno <= line <= (node.end_lineno or node.lineno):
                a = node.args
                out |= {x.arg for x in [*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg] if x is not None}
                body = node.body if isinstance(node.body, list) else [node.body]
                for stmt in body:
                    for sub in ast.walk(stmt):
                        if isinstance(sub, ast.stmt):
                            out |= stored(sub)
        return out

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
