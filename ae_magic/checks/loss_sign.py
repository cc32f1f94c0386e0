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


# -- a Gaussian KL written as minus the KL -----------------------------------
# The KL of N(mu, exp(lv)) from N(0, 1) is -0.5 * sum(1 + lv - mu^2 - exp(lv)), never negative. Written without
# its leading minus (round 69's da05: `kl = 0.5 * ops.sum(1 + log_var - ops.square(mu) - ops.exp(log_var))`),
# the term is minus the KL: the loss falls without bound as log_var grows, and training ends in NaN whatever the
# rate. The formula is recognised by its `lv - exp(lv)` pair (opposite signs, the same argument).
_REDUCERS = {"sum", "mean", "reduce_sum", "reduce_mean"}
_LOSS_FUNCS = ("loss", "train_step")


def _additive(node: ast.AST, sign: int = 1) -> list[tuple[ast.AST, int]]:
    """``node``'s additive terms with their signs (``a - (b + c)`` -> a +, b -, c -)."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
        right = sign if isinstance(node.op, ast.Add) else -sign
        return _additive(node.left, sign) + _additive(node.right, right)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return _additive(node.operand, -sign)
    return [(node, sign)]


def _call_name(node: ast.AST) -> str:
    func = node.func if isinstance(node, ast.Call) else None
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def _kernel_sign(node: ast.AST) -> int | None:
    """+1 for ``exp(lv) - lv ...`` (the KL's own sign), -1 for ``lv - exp(lv) ...``; None if not such a sum."""
    terms = _additive(node)
    if len(terms) < 3:
        return None
    plain = {ast.dump(t): s for t, s in terms}
    for term, s in terms:
        if (isinstance(term, ast.Call) and _call_name(term) == "exp" and len(term.args) == 1
                and plain.get(ast.dump(term.args[0])) == -s):
            return s
    return None


def _constant_sign(node: ast.AST) -> int | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return (node.value > 0) - (node.value < 0)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _constant_sign(node.operand)
        return -inner if inner is not None else None
    return None


def _signed(node: ast.AST, known: dict[str, int]) -> int | None:
    """The sign (+1: the KL, -1: minus the KL) of the one KL-like quantity in ``node``, else None.

    Through sums, means, scaling by constants (or by names, taken as positive sizes) and division; a KL read
    through anything else (a square, an abs) is left alone.
    """
    if isinstance(node, ast.Name) and node.id in known:
        return known[node.id]
    k = _kernel_sign(node)
    if k is not None:
        return k
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
        found = [(s, _signed(t, known)) for t, s in _additive(node)]
        found = [(s, v) for s, v in found if v is not None]
        return found[0][0] * found[0][1] if len(found) == 1 else None
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _signed(node.operand, known)
        return -inner if inner is not None else None
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mult, ast.Div)):
        left, right = _signed(node.left, known), _signed(node.right, known)
        if left is not None and right is None:
            c = _constant_sign(node.right)
            return left * c if c is not None else left if isinstance(node.right, (ast.Name, ast.Attribute, ast.Call)) else None
        if right is not None and left is None and isinstance(node.op, ast.Mult):
            c = _constant_sign(node.left)
            return right * c if c is not None else right if isinstance(node.left, (ast.Name, ast.Attribute, ast.Call)) else None
        return None
    if isinstance(node, ast.Call) and _call_name(node) in _REDUCERS and node.args:
        return _signed(node.args[0], known)
    return None


def _body_scopes(tree: ast.Module) -> list[tuple[str, list[ast.stmt]]]:
    """The cell's top level and each function body, with the function's name."""
    scopes = [("", tree.body)]
    scopes += [(n.name, n.body) for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    return scopes


def _statements(body: list[ast.stmt]) -> list[ast.stmt]:
    """The statements of one scope in order, into with/if/for blocks, not into nested functions or classes."""
    out: list[ast.stmt] = []
    for stmt in body:
        out.append(stmt)
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for field in ("body", "orelse", "finalbody"):
            inner = getattr(stmt, field, None)
            if isinstance(inner, list) and inner and isinstance(inner[0], ast.stmt):
                out.extend(_statements(inner))
    return out


def reversed_kl(source: str | None) -> tuple[int, str] | None:
    """``(line, name)``: a Gaussian KL written as minus the KL that reaches the loss, else None.

    ``line`` is where the formula (or the last scaling that flipped it) is; ``name`` what it is assigned to.
    Followed through assignments in one scope to a sink: ``add_loss(...)``, a name with "loss" in it that
    combines it with other terms or rescales it, or what a ``*loss*`` function or ``train_step`` returns.
    """
    try:
        tree = ast.parse(source or "")
    except SyntaxError:
        return None
    for func, body in _body_scopes(tree):
        returns_loss = any(k in func.lower() for k in _LOSS_FUNCS)
        known: dict[str, int] = {}
        origin: dict[str, tuple[int, str]] = {}
        for stmt in _statements(body):
            sinks: list[ast.AST] = [n.args[0] for n in ast.walk(stmt)
                                    if isinstance(n, ast.Call) and _call_name(n) == "add_loss" and n.args]
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
                name = stmt.targets[0].id
                value = _signed(stmt.value, known)
                kernel = _kernel_sign(stmt.value) is not None or any(
                    _kernel_sign(n) is not None for n in ast.walk(stmt.value))
                if value is not None:
                    reads = [n.id for n in ast.walk(stmt.value) if isinstance(n, ast.Name) and n.id in origin]
                    origin[name] = (stmt.lineno, name) if kernel or not reads else origin[reads[0]]
                    known[name] = value
                    if "loss" in name.lower() and reads and value < 0 and not _is_kl(name):
                        return origin[name]
                else:
                    known.pop(name, None)
            elif isinstance(stmt, ast.AugAssign) and isinstance(stmt.target, ast.Name) and stmt.target.id in known:
                c = _constant_sign(stmt.value) if isinstance(stmt.op, (ast.Mult, ast.Div)) else None
                if c is None:
                    known.pop(stmt.target.id)
                else:
                    known[stmt.target.id] *= c
                    if c < 0:
                        origin[stmt.target.id] = (stmt.lineno, stmt.target.id)
            elif isinstance(stmt, ast.Return) and stmt.value is not None and returns_loss:
                sinks.append(stmt.value.elts[0] if isinstance(stmt.value, ast.Tuple) and stmt.value.elts else stmt.value)
            for sink in sinks:
                sign = _signed(sink, known)
                if sign is not None and sign < 0:
                    reads = [n.id for n in ast.walk(sink) if isinstance(n, ast.Name) and n.id in origin]
                    if reads:
                        return origin[reads[0]]
                    return (getattr(sink, "lineno", stmt.lineno), "")
    return None


def _is_kl(name: str) -> bool:
    return any(k in name.lower() for k in ("kl", "divergence"))
