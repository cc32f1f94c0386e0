"""Can a VAE's log-variance head go below zero?

AE407 (posterior-collapse), read from the cell's source. ``z_log_var`` is a
logarithm: it must be free to go negative, because a posterior narrower than
the N(0, 1) prior has ``log_var < 0``. Written with
``activation="softplus"`` (as if it were a variance that must be
positive), ``relu``, ``sigmoid`` or ``exponential``, the head can never go
below 0: every posterior is at least as wide as the prior, the sample ``z``
is swamped by noise of standard deviation 1 or more, and the decoder can
read little from it (round 20: 0.45x the mean's error against 0.30x with a
linear head).

A head whose name says it is a standard deviation or variance *itself*
(``z_sigma``, ``z_var``) is right to be positive and is not reported: only
names with ``log`` in them (``z_log_var``, ``logvar``, ``log_sigma``).
"""

from __future__ import annotations

import ast
import re

from ..context import Context
from ..report import Finding

# Activations whose output is never negative.
NON_NEGATIVE = {"softplus", "relu", "sigmoid", "exponential", "hard_sigmoid", "relu6", "softmax"}
_LOG_SCALE = re.compile(r"log_?(var|variance|sigma|std|scale|sd)", re.IGNORECASE)


def _target_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _activation(call: ast.Call) -> str | None:
    """The constant ``activation=`` of a layer constructor found in ``call`` (or the call it wraps)."""
    for node in ast.walk(call):
        if isinstance(node, ast.Call):
            for kw in node.keywords:
                if kw.arg == "activation" and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str):
                    return kw.value.value
    return None


def bounded_log_variance(source: str | None) -> tuple[int, str, str] | None:
    """``(line, name, activation)`` for the first log-scale head built with a non-negative activation."""
    try:
        tree = ast.parse(source or "")
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if not isinstance(node, ast.Assign) or not isinstance(node.value, ast.Call) or len(node.targets) != 1:
            continue
        name = _target_name(node.targets[0])
        if not name or not _LOG_SCALE.search(name):
            continue
        act = _activation(node.value)
        if act and act.lower() in NON_NEGATIVE:
            return node.lineno, name, act
    return None


def check_log_variance_head(ctx: Context) -> list[Finding]:
    """AE407: a VAE's log-variance head whose activation keeps it at or above 0 (posteriors at least as wide as the prior)."""
    hit = bounded_log_variance(ctx.source)
    if hit is None:
        return []
    raw, name, act = hit
    line = ctx.cell_line(raw)
    return [
        Finding(
            code="AE407",
            severity="warning",
            title="The log-variance can't go below zero",
            message=(f"`{name}` is a log-variance, but its layer uses activation='{act}', which never goes below 0. "
                     "A posterior narrower than the N(0, 1) prior needs a negative log-variance, so every posterior "
                     "stays at least as wide as the prior: z is swamped by sampling noise of standard deviation 1 or "
                     "more, and the decoder can read little of the input from it."),
            line=line,
            source_line=ctx.line_text(raw) if line is not None else None,
            evidence={"head": name, "activation": act},
            # A comment: the line's names are the cell's own.
            fix=f"# a linear head: a log-variance may be any real number\n#   {name} = layers.Dense(latent_dim)(...)  # no activation",
        )
    ]


CHECKS = [check_log_variance_head]
