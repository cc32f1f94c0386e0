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

The package: :mod:`.edits` (the Edit and applying edits), :mod:`.cell` (the
cell's text, tree and names), :mod:`.code_edits` (the edit for each code),
:mod:`.localize` (fix texts in the cell's names), :mod:`.syntax` (helpers).
"""

from __future__ import annotations

import ast
from typing import Any

from ..context import Context
from ..report import Finding, Report
from .cell import GENERIC_DATA, GENERIC_INPUT, GENERIC_MODEL, Cell
from .code_edits import OPTIMIZER_CLASSES, edit_for
from .edits import Edit, apply_edits, finding_edit
from .localize import TEMPLATE_NOTE, Names, is_code, localize, reads

__all__ = [
    "GENERIC_DATA",
    "GENERIC_INPUT",
    "GENERIC_MODEL",
    "OPTIMIZER_CLASSES",
    "TEMPLATE_NOTE",
    "Cell",
    "Edit",
    "Names",
    "apply_edits",
    "attach",
    "edit_for",
    "finding_edit",
    "is_code",
    "localize",
    "reads",
]


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
        cell = Cell(ctx)
    except Exception:  # a cell we can't parse keeps its text fixes as they are
        return
    for f in findings:
        try:
            if f.fix:
                f.fix = localize(f.fix, _evidence_names_kept(_own_names_kept(cell.names_for(f), f.source_line), f))
            edit = edit_for(f, cell, findings)
            if edit is not None and edit.replacement != cell.text(edit.start_line, edit.end_line):
                f.edit = edit.to_dict()
        except Exception:  # a fix is a courtesy; the finding stands without it
            continue


def _evidence_names_kept(names: Names, f: Finding) -> Names:
    """``names`` without the renames of the cell's names that ``f``'s evidence gives as strings: a check that names
    a variable means that one (round 69's da03: the clean ``x_train`` as the target of a denoiser given
    ``--data x_train_noisy``, which the generic ``x_train`` would otherwise become)."""
    said: set[str] = set()
    stack: list[Any] = [f.evidence]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, str) and item.isidentifier() and item in names.known:
            said.add(item)
    if not said & set(names.renames):
        return names
    return Names({k: v for k, v in names.renames.items() if k not in said}, names.known, names.classes)


def _own_names_kept(names: Names, source_line: str | None) -> Names:
    """``names`` without the renames of the names the finding's own line uses: a fix written from that line
    (``x = layers.Dense(16, activation="relu")(x)``) means the cell's ``x``, not the generic data ``x``
    (round 60's ci10, whose AE106 fix read ``images = ...(images)``)."""
    if not source_line:
        return names
    try:
        own = {n.id for n in ast.walk(ast.parse(source_line.strip())) if isinstance(n, ast.Name)}
    except SyntaxError:
        return names
    if not own & set(names.renames):
        return names
    return Names({k: v for k, v in names.renames.items() if k not in own}, names.known, names.classes)
