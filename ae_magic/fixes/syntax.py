"""Small syntax-tree helpers shared by the cell model and the name rewriting."""

from __future__ import annotations

import ast


def stored(node: ast.AST) -> set[str]:
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


def char_col(line: str, byte_col: int) -> int:
    """The character column of ``ast``'s UTF-8 byte column."""
    return len(line.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))
