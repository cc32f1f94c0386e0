"""Fix texts in the cell's names: generic names become the cell's, names with no meaning become ``...``."""

from __future__ import annotations

import ast
import builtins
import re
from dataclasses import dataclass

from .syntax import char_col, stored

# The marker of a snippet whose ``...`` the user has to fill in.
TEMPLATE_NOTE = "# template: replace each ... with your own value"
_BUILTINS = set(dir(builtins))


@dataclass
class Names:
    """What a fix snippet may read: generic name -> the cell's expression, the namespace's names, its classes."""

    renames: dict[str, str]
    known: set[str]
    classes: set[str]


def localize(text: str, names: Names) -> str:
    """``text`` with its code in the cell's names; unknown names become ``...`` (a template).

    Code is the whole text when it parses as Python, else each line that
    does, else each `backticked` span that does. Prose stays as it is.
    """
    if is_code(text):
        return _localize_code(text, names)
    out = []
    for line in text.split("\n"):
        if is_code(line):
            out.append(_localize_code(line, names))
        else:
            out.append(re.sub(r"`([^`\n]+)`", lambda m: f"`{_localize_code(m.group(1), names, note=False)}`"
                              if is_code(m.group(1)) else m.group(0), line))
    return "\n".join(out)


def is_code(text: str) -> bool:
    """Whether ``text`` is code (it parses and has a call, an attribute, an assignment or an import), not prose."""
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
            scan, local = [stmt], stored(stmt)
            # A function's parameters (``def masked_mse(y_true, y_pred)``) are bound inside it.
            for fn in ast.walk(stmt):
                if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                    a = fn.args
                    local |= {p.arg for p in [*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg] if p is not None}
        for root in scan:
            for parent in ast.walk(root):
                for child in ast.iter_child_nodes(parent):
                    if isinstance(child, ast.Name) and isinstance(child.ctx, ast.Load) and child.id not in bound | local:
                        out.append((child, parent))
        bound |= stored(stmt)
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
    """``text`` with each (line, byte col, byte end col) span replaced by its new text."""
    lines = text.split("\n")
    for line, col, end, new in sorted(repl, key=lambda r: (r[0], -r[1])):
        s = lines[line - 1]
        lines[line - 1] = s[: char_col(s, col)] + new + s[char_col(s, end) :]
    return "\n".join(lines)
