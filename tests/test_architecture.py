"""Imports run downward only, with no circles, and renderers read Reports only.

Every import of the package is read from the source (module level and inside
functions alike), so a lazy import can't hide a circle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "ae_magic"

# Layers, bottom (0) to top. A module may import its own layer or lower.
LAYERS: list[tuple[str, ...]] = [
    ("errors", "numeric", "catalogue", "options", "datasets", "version", "fit_calls"),
    ("backends",),
    ("keras_compat", "report"),
    ("context",),
    ("graph",),
    ("checks", "probes", "capture", "rebuild", "fixes", "size_errors"),
    ("engine",),
    ("session",),
    ("api", "trial"),
    ("render",),
    ("magics", "cli", "demo", "__init__", "__main__"),
]
RANK = {name: i for i, names in enumerate(LAYERS) for name in names}
# The one documented exception: Report.text() and Report._repr_html_ render lazily.
ALLOWED_UPWARD = {("report", "render")}
# What a renderer may read: the report and the small bottom modules, never the engine.
RENDER_MAY_IMPORT = {"render", "report", "catalogue", "numeric", "errors", "options", "datasets"}


def _modules() -> dict[str, Path]:
    out = {}
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG).with_suffix("")
        out[".".join(rel.parts)] = path
    return out


def _top(module: str) -> str:
    """The layer unit of a module: ``checks.data`` -> ``checks``, ``report`` -> ``report``."""
    return module.split(".")[0]


def _imports(module: str, path: Path) -> set[str]:
    """Package-internal modules imported by ``module`` (dotted, relative to ae_magic)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_pkg = path.name == "__init__.py"
    base = module.split(".") if is_pkg else module.split(".")[:-1]
    if module == "__init__":
        base = []
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                parts = base[: len(base) - (node.level - 1)] if node.level > 1 else list(base)
                target = [*parts, *(node.module.split(".") if node.module else [])]
            elif node.module and node.module.split(".")[0] == "ae_magic":
                target = node.module.split(".")[1:]
            else:
                continue
            for alias in node.names:
                candidate = ".".join([*target, alias.name])
                found.add(candidate if candidate in _ALL else ".".join(target))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "ae_magic":
                    found.add(".".join(alias.name.split(".")[1:]))
    return {f for f in found if f}


_ALL = _modules()
GRAPH = {m: _imports(m, p) for m, p in _ALL.items()}


def test_every_module_has_a_layer() -> None:
    missing = sorted({_top(m) for m in _ALL} - set(RANK))
    assert not missing, f"modules without a layer in this test: {missing}"


@pytest.mark.parametrize("module", sorted(_ALL))
def test_imports_run_downward(module: str) -> None:
    me = _top(module)
    bad = []
    for dep in sorted(GRAPH[module]):
        other = _top(dep)
        if other not in RANK or (me, other) in ALLOWED_UPWARD:
            continue
        if RANK[other] > RANK[me]:
            bad.append(dep)
        if me == "render" and other not in RENDER_MAY_IMPORT:
            bad.append(f"{dep} (renderers read Reports only)")
    assert not bad, f"{module} imports upward: {bad}"


def test_no_import_circles() -> None:
    # Between layer units (``checks`` is one unit), ignoring the documented exception.
    units: dict[str, set[str]] = {}
    for module, deps in GRAPH.items():
        me = _top(module)
        units.setdefault(me, set()).update(
            _top(d) for d in deps if _top(d) != me and (me, _top(d)) not in ALLOWED_UPWARD
        )
    seen: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        seen[node] = 1
        stack.append(node)
        for nxt in sorted(units.get(node, ())):
            if seen.get(nxt) == 1:
                raise AssertionError("import circle: " + " -> ".join([*stack[stack.index(nxt):], nxt]))
            if nxt not in seen:
                visit(nxt)
        stack.pop()
        seen[node] = 2

    for unit in sorted(units):
        if unit not in seen:
            visit(unit)
