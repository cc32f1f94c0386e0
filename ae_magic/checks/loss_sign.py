"""A loss term subtracted where it should be added: the usual cause of a VAE loss that diverges.

The ELBO is ``reconstruction + KL`` as a loss; written ``reconstruction -
kl_loss`` (sign confusion between maximising the ELBO and minimising the
loss), every step pushes the KL up: ``z_mean`` and ``z_log_var`` grow
without bound and the loss diverges whatever the learning rate. AE401 asks
this module for such a line before it blames the rate. Read from the cell's
source only, and only to explain a loss that did diverge: the correct
``elbo = log_lik - kl; loss = -elbo`` trains fine and never gets here.
"""

from __future__ import annotations

import ast

# Names of terms that a loss adds (never subtracts): KL divergences and penalties.
ADDED_TERMS = ("kl", "divergence", "penalty", "regulari")


def _names(node: ast.AST) -> list[str]:
    out = []
    for n in ast.walk(node):
        if isinstance(n, ast.Name):
            out.append(n.id)
        elif isinstance(n, ast.Attribute):
            out.append(n.attr)
    return out


def subtracted_term(source: str | None) -> tuple[int, str] | None:
    """``(line, term)``: the first ``loss = ... - kl_loss`` (or ``add_loss(-kl)``) in ``source``, else None."""
    try:
        tree = ast.parse(source or "")
    except SyntaxError:
        return None
    hits: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if not any("loss" in name.lower() for t in targets for name in _names(t)) or node.value is None:
                continue
            if isinstance(node, ast.AugAssign) and isinstance(node.op, ast.Sub):
                term = _added_term(node.value)
                if term:
                    hits.append((node.lineno, term))
                continue
            for sub in ast.walk(node.value):
                if isinstance(sub, ast.BinOp) and isinstance(sub.op, ast.Sub):
                    term = _added_term(sub.right)
                    if term:
                        hits.append((node.lineno, term))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and "loss" in node.name.lower():
            # compute_loss(...) / compute_loss_and_updates(...): the loss is what it returns (first, with aux data).
            for ret in ast.walk(node):
                if isinstance(ret, ast.Return) and ret.value is not None:
                    value = ret.value.elts[0] if isinstance(ret.value, ast.Tuple) and ret.value.elts else ret.value
                    if isinstance(value, ast.BinOp) and isinstance(value.op, ast.Sub):
                        term = _added_term(value.right)
                        if term:
                            hits.append((ret.lineno, term))
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add_loss" and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.UnaryOp) and isinstance(arg.op, ast.USub):
                term = _added_term(arg.operand)
                if term:
                    hits.append((node.lineno, term))
    return min(hits) if hits else None


def _added_term(node: ast.AST) -> str | None:
    """The name in ``node`` that reads as a term to add (``kl_loss``), when ``node`` is just that term (scaled)."""
    if isinstance(node, ast.Call):
        return None  # a whole formula (ops.mean(1 + z_log_var - ...)) is not a named term
    for name in _names(node):
        if any(k in name.lower() for k in ADDED_TERMS):
            return name
    return None
