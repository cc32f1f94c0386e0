"""Does a VAE's sampling layer draw ``z`` the way the reparameterisation trick says?

``traces["training"]["sampling"]`` (probes/latent.py ``sampling_contract``)
holds what the probe copy's sampling layer returned for set inputs: the
mean and standard deviation of its sample at ``z_mean = 0`` and log-variances
-2, 0 and 2, and at ``z_mean = 3``. ``z = z_mean + exp(0.5 * z_log_var) * eps``
gives a sample centred on ``z_mean`` whose spread grows with the
log-variance. What goes wrong in notebooks, and what it measures as:

* ``ops.sqrt(z_log_var)`` (a log-variance read as a variance): NaN for every
  negative log-variance, so the loss is NaN from the first steps (AE401);
* ``z_mean + exp(0.5 * z_log_var) + eps`` (added instead of multiplied):
  the spread stays 1 whatever the log-variance, and the sample sits off
  ``z_mean``; the encoder can't make its code any more precise, and the
  decoder reads a code swamped by noise (AE407, round 21: 0.37x the mean's
  error against 0.24x fixed);
* a sample that ignores ``z_mean``, or noise that is not centred (uniform).

A layer whose contract holds with its two inputs swapped takes
``[z_log_var, z_mean]``; it is not reported.
"""

from __future__ import annotations

import ast
import math
from typing import Any

from .. import keras_compat as kc
from ..context import Context
from ..probes.latent import find_sampling_layer, sampling_contract
from ..probes.traces import leaf_layers
from ..report import Finding
from . import gradients as G
from .locate import layer_line

# The standard deviation must grow at least e^(4 * SLOPE_MIN) times from log-variance -2 to 2
# (a correct layer: e^2 = 7.4; one whose head is a log standard deviation: e^4).
SLOPE_MIN = 0.1
# ...or, for a layer taking a standard deviation or variance, grow at least this much from 0.25 to 4.
SCALE_MIN = 2.0
# |mean of z - z_mean| above this (in z's units, prior scale) is a sample off its centre.
OFFSET_MAX = 0.25
# Moving z_mean by 3 must move the sample's mean by between these.
FOLLOW = (1.5, 6.0)

FIX = ("# the reparameterisation trick: scale the noise by the standard deviation, then shift it\n"
       "#   z = z_mean + ops.exp(0.5 * z_log_var) * epsilon    # epsilon ~ N(0, 1)")


def _rows(c: dict[str, Any], swapped: bool = False) -> dict[tuple[float, float], dict[str, Any]]:
    return {(r["z_mean"], r["log_var"]): r for r in c.get("swapped" if swapped else "rows") or []}


def faults(c: dict[str, Any], swapped: bool = False) -> list[str]:
    """What the measured sample gets wrong: ``"nan"``, ``"spread"``, ``"offset"``, ``"mean"`` (empty: the contract holds)."""
    rows = _rows(c, swapped)
    if not rows:
        return []
    if any(not r["finite"] for r in rows.values()):
        return ["nan"]
    out = []
    lo, hi = rows.get((0.0, -2.0)), rows.get((0.0, 2.0))
    small, big = rows.get((0.0, 0.25)), rows.get((0.0, 4.0))
    # A second input that is a standard deviation or variance itself: the spread grows with it on positive values.
    scaled = bool(small and big and big["std"] > SCALE_MIN * max(small["std"], 1e-12))
    if lo and hi and lo["std"] > 0 and hi["std"] > 0 and math.log(hi["std"] / lo["std"]) / 4.0 < SLOPE_MIN \
            and not scaled:
        out.append("spread")
    mid, shifted = rows.get((0.0, 0.0)), rows.get((3.0, 0.0))
    if mid and abs(mid["mean"]) > OFFSET_MAX:
        out.append("offset")
    if mid and shifted and not FOLLOW[0] <= shifted["mean"] - mid["mean"] <= FOLLOW[1]:
        out.append("mean")
    return out


def sample_line(ctx: Context, layer: Any) -> int | None:
    """Capture line of the sampling expression in the cell: the last return of the layer's ``call`` (or Lambda function).

    A returned name is followed back to its last assignment in the same function.
    """
    try:
        tree = ast.parse(ctx.source or "")
    except SyntaxError:
        return None
    fn_name = getattr(getattr(layer, "function", None), "__name__", None)
    cls_name = type(layer).__name__
    func = None
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == cls_name:
            func = next((b for b in node.body if isinstance(b, ast.FunctionDef) and b.name == "call"), None)
        elif isinstance(node, ast.FunctionDef) and fn_name and node.name == fn_name:
            func = node
        if func is not None:
            break
    if func is None:
        return None
    returns = [n for n in ast.walk(func) if isinstance(n, ast.Return) and n.value is not None]
    if not returns:
        return None
    ret = max(returns, key=lambda n: n.lineno)
    if isinstance(ret.value, ast.Name):
        assigns = [n for n in ast.walk(func) if isinstance(n, ast.Assign) and n.lineno < ret.lineno
                   and any(isinstance(t, ast.Name) and t.id == ret.value.id for t in n.targets)]
        if assigns:
            return max(assigns, key=lambda n: n.lineno).lineno
    return ret.lineno


def _user_layer(ctx: Context, tr: dict[str, Any]) -> tuple[Any, str]:
    """The user's sampling layer (by its place among the leaf layers) and its name."""
    c = tr["sampling"]
    idx = (tr.get("latent") or {}).get("layer_index")
    users = leaf_layers(ctx.model) if ctx.model is not None else []
    if idx is not None and idx < len(users):
        return users[idx], users[idx].name
    by_name = {ly.name: ly for ly in users}
    return by_name.get(c["layer"]), c["layer"]


def _measured(c: dict[str, Any]) -> str:
    rows = _rows(c)
    parts = []
    for lv in (-2.0, 0.0, 2.0):
        r = rows.get((0.0, lv))
        if r and r["finite"]:
            parts.append(f"{r['std']:.2g} at a log-variance of {lv:g}")
    return ", ".join(parts)


def check_sampling(ctx: Context, tr: dict[str, Any], found: list[Finding]) -> list[Finding]:
    """AE401 (NaN) or AE407 (a sample that ignores the log-variance or z_mean) from the sampling layer's contract."""
    c = tr.get("sampling")
    if not c:
        return found
    bad = faults(c)
    if not bad or (not faults(c, swapped=True) and c.get("swapped")):
        return found
    layer, name = _user_layer(ctx, tr)
    raw = sample_line(ctx, layer) if layer is not None else None
    if raw is not None:
        line, src = ctx.cell_line(raw), ctx.line_text(raw)
    else:
        line, src = G.locate(ctx, name)
    evidence = {"sampling": c, "faults": bad}
    if bad == ["nan"]:
        nan_at = [r["log_var"] for r in c["rows"] if not r["finite"]]
        why = (f"The sampling layer '{name}' returns NaN for a log-variance of {', '.join(f'{v:g}' for v in nan_at)}: "
               "it takes a square root or logarithm of z_log_var, which is a logarithm already and is negative "
               "whenever the posterior is narrower than the prior. Every step that meets a negative log-variance "
               "makes the loss NaN.")
        old = [f for f in found if f.code == "AE401"]
        for f in old:
            f.message = why + " " + f.message
            f.line, f.source_line, f.layer = line, src, name
            f.evidence["sampling"] = c
            f.fix, f.edit = FIX, None
        if old or not tr.get("probes_failed"):
            # Without a NaN the run met, a layer taking a variance (sqrt) on a positive head is fine.
            return found
        return [*found, Finding(code="AE401", severity="error", title="The sampling layer gives NaN",
                                message=why, line=line, layer=name, source_line=src, evidence=evidence, fix=FIX)]
    rows = _rows(c)
    what = []
    if "spread" in bad:
        what.append(f"its standard deviation hardly changes with the log-variance ({_measured(c)}; "
                    "exp(0.5 * log_var) gives 0.37, 1 and 2.7)")
    if "offset" in bad:
        what.append(f"at z_mean = 0 and a log-variance of 0 its mean is {rows[(0.0, 0.0)]['mean']:.2g}, not 0")
    if "mean" in bad:
        moved = rows[(3.0, 0.0)]["mean"] - rows[(0.0, 0.0)]["mean"]
        what.append(f"moving z_mean by 3 moves the sample by {moved:.2g}")
    return [*found, *_mean_head_cut(ctx, c, layer), Finding(
        code="AE407",
        severity="warning",
        title="The sample does not follow z_mean and z_log_var",
        message=(f"Called on set inputs, the sampling layer '{name}' draws a z that does not follow its inputs: "
                 + "; ".join(what) + ". The encoder can't control how noisy its code is, so the decoder reads a code "
                 "swamped by noise it can't remove, and the KL term no longer describes the sample the decoder gets."),
        line=line,
        layer=name,
        source_line=src,
        evidence=evidence,
        fix=FIX,
    )]


# Moving z_mean by 3 moves a sample that ignores it by less than this: the reconstruction's gradient on the
# z_mean head is then (up to the noise of the measurement) zero.
IGNORED = 0.3


def _mean_head(layer: Any) -> Any:
    """The layer with weights whose output the sampling layer takes as z_mean (its first input), in a layer
    graph, else None. Layers without weights on the way are looked through, position for position (round
    55's ``KLLoss`` layer adds the KL and returns ``z_mean, z_log_var`` as they came)."""
    nodes = getattr(layer, "_inbound_nodes", None) or []
    tensors = list(getattr(nodes[0], "input_tensors", None) or []) if nodes else []
    if len(tensors) < 2:
        return None
    tensor = tensors[0]
    for _ in range(8):
        hist = getattr(tensor, "_keras_history", None)
        op = getattr(hist, "operation", None)
        if op is None or type(op).__name__ == "InputLayer":
            return None
        if getattr(op, "trainable_weights", None):
            return op
        node = op._inbound_nodes[hist.node_index] if len(getattr(op, "_inbound_nodes", [])) > hist.node_index else None
        ins = list(getattr(node, "input_tensors", None) or []) if node is not None else []
        index = hist.tensor_index if len(ins) > 1 else 0
        if index >= len(ins):
            return None
        tensor = ins[index]
    return None


def _mean_head_cut(ctx: Context, c: dict[str, Any], layer: Any) -> list[Finding]:
    """AE301 on the z_mean head of a sample that ignores z_mean (rounds 55 and 57: ``return exp(0.5 * log_var) *
    eps``): the decoder's input does not depend on it, so the reconstruction gives it no gradient and only the
    KL trains it, towards 0. Its authors named it as a layer cut off from the loss; the contract measures it."""
    rows = _rows(c)
    if layer is None or (3.0, 0.0) not in rows or (0.0, 0.0) not in rows:
        return []
    moved = abs(rows[(3.0, 0.0)]["mean"] - rows[(0.0, 0.0)]["mean"])
    head = _mean_head(layer)
    if moved >= IGNORED or head is None:
        return []
    line, src = layer_line(ctx, head)
    return [Finding(
        code="AE301", severity="warning", title="z_mean gets no gradient from the reconstruction",
        message=(f"`{head.name}` ({type(head).__name__}) computes the z_mean that the sampling layer "
                 f"'{layer.name}' is given, but the sample ignores it (moving z_mean by 3 moves the sample by "
                 f"{moved:.2g}). Nothing the decoder reads depends on `{head.name}`, so the reconstruction loss gives "
                 "its weights no gradient: only the KL term trains them, towards z_mean = 0. The code then carries "
                 "no information about the input beyond what the noise's scale can."),
        line=line, layer=head.name, source_line=src,
        evidence={"sampling_layer": layer.name, "sample_moved_by": moved, "z_mean_moved_by": 3.0},
        fix=FIX,
    )]


def nan_sampling(ctx: Context) -> list[Finding]:
    """AE401 for a sampling layer that gives NaN, when the probes could not run at all.

    On torch a NaN sample reaching a sigmoid output makes the compiled binary cross-entropy raise
    ("all elements of input should be between 0 and 1"), so no probe runs; fit raises the same. The
    contract is then measured on a forward copy, with the random state put back.
    """
    from .locate import probe_inputs

    copy = ctx.forward_model()
    x = probe_inputs(ctx, 8)
    if copy is None or x is None:
        return []
    try:
        with kc.preserved_random_state():
            layers = leaf_layers(copy)
            layer = find_sampling_layer(copy, layers, x)
            c = sampling_contract(copy, layer, x) if layer is not None else None
    except Exception:  # evidence only
        return []
    if not c or faults(c) != ["nan"]:
        return []
    idx = next((i for i, ly in enumerate(layers) if ly is layer), None)
    return check_sampling(ctx, {"sampling": c, "latent": {"layer_index": idx}, "probes_failed": True}, [])


# -- the sampling layer called with its inputs in the other order (round 22) -----------------------
_MEANLIKE = ("mean", "mu")
_SCALELIKE = ("log", "var", "sigma", "std")


def _unpacked_names(func: ast.FunctionDef) -> list[str] | None:
    """The names a layer's ``call`` gives its inputs: ``a, b = inputs`` or ``def call(self, a, b)``."""
    params = [a.arg for a in func.args.args[1:]]
    if len(params) >= 2:
        return params[:2]
    if not params:
        return None
    for stmt in func.body:
        if (isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Name) and stmt.value.id == params[0]
                and isinstance(stmt.targets[0], (ast.Tuple, ast.List))
                and all(isinstance(e, ast.Name) for e in stmt.targets[0].elts)):
            return [e.id for e in stmt.targets[0].elts]  # type: ignore[attr-defined]
    return None


def _site_names(call: ast.Call) -> list[str] | None:
    args = call.args
    if len(args) == 1 and isinstance(args[0], (ast.List, ast.Tuple)):
        args = args[0].elts
    names = [a.id for a in args if isinstance(a, ast.Name)]
    return names if len(names) == len(args) and len(names) >= 2 else None


def swapped_inputs(source: str | None) -> tuple[int, str, list[str], list[str]] | None:
    """``(line, class, passed, expected)`` for a custom layer called with its mean and log-variance swapped."""
    try:
        tree = ast.parse(source or "")
    except SyntaxError:
        return None
    expected: dict[str, list[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            call = next((b for b in node.body if isinstance(b, ast.FunctionDef) and b.name == "call"), None)
            names = _unpacked_names(call) if call is not None else None
            if names and len(names) == 2:
                expected[node.name] = names
    if not expected:
        return None
    instances = {t.id: v.value.func.id for v in ast.walk(tree) if isinstance(v, ast.Assign) and len(v.targets) == 1
                 for t in v.targets if isinstance(t, ast.Name) and isinstance(v.value, ast.Call)
                 and isinstance(v.value.func, ast.Name) and v.value.func.id in expected}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        cls = (f.func.id if isinstance(f, ast.Call) and isinstance(f.func, ast.Name) and f.func.id in expected
               else instances.get(f.id) if isinstance(f, ast.Name) else None)
        passed = _site_names(node) if cls else None
        if not cls or not passed:
            continue
        want = expected[cls]
        if passed[:2] == list(reversed(want)) and passed[:2] != want and _is_mean(want[0]) and _is_scale(want[1]):
            return node.lineno, cls, passed[:2], want
    return None


def _is_mean(name: str) -> bool:
    return any(k in name.lower() for k in _MEANLIKE)


def _is_scale(name: str) -> bool:
    return any(k in name.lower() for k in _SCALELIKE) and not _is_mean(name)


def check_swapped_inputs(ctx: Context) -> list[Finding]:
    """AE407: a sampling layer that unpacks ``z_mean, z_log_var`` called with ``[z_log_var, z_mean]``."""
    hit = swapped_inputs(ctx.source)
    if hit is None:
        return []
    raw, cls, passed, want = hit
    return [Finding(
        code="AE407",
        severity="warning",
        title="The sampling layer gets its inputs in the other order",
        message=(f"{cls} unpacks its inputs as `{want[0]}, {want[1]}`, but line {ctx.cell_line(raw)} passes "
                 f"`[{passed[0]}, {passed[1]}]`: the layer takes the log-variance for the mean and the mean for the "
                 "log-variance, so z is centred on the log-variance and scaled by exp(mean / 2), while the KL term "
                 "is computed on the real pair. The decoder learns from a code the encoder's KL never describes."),
        line=ctx.cell_line(raw),
        source_line=ctx.line_text(raw),
        evidence={"layer_class": cls, "passed": passed, "expected": want, "sampling": "call order"},
        fix=f"# pass the inputs in the order {cls}.call unpacks them:\n#   {cls}()([{want[0]}, {want[1]}])",
    )]


CHECKS = [check_swapped_inputs]
