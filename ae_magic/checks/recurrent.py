"""Sequence and recurrent autoencoders: what the per-layer judges can't see alone.

* Output collapse per position (AE404's measure for sequences): the
  reconstruction's spread across samples against the targets' own spread at
  the same time step and feature, padded steps left out
  (``traces["training"]["per_position"]``, ``probes/sequence.py``).
* A relu output layer stuck at zero (AE304): the generic dead-unit judge
  leaves output layers alone (a relu output may rightly be 0 where the data
  is), so here the output is dead where the *targets* are positive.
* Dead or saturated recurrent units (AE304/AE305): the gradient and
  training judges find them in the hidden state (``probes/traces.py``
  measures it); ``refine`` gives those findings a recurrent layer's wording
  and fix.
* LSTM/GRU gates that block learning (AE305): the probes recompute the
  gates on a validation sample (``traces[...]["gates"]``,
  ``probes/sequence.py``); only a state where nothing flows or the candidate
  is pinned at +-1 is a finding. A forget gate near 1 is normal.
"""

from __future__ import annotations

import math
import re
from typing import Any

from .. import keras_compat as kc
from .. import probes as probe
from ..context import Context
from ..probes.sequence import GATE_STEP_SHARE, recurrent_activation
from ..report import Finding
from . import gradients as G

# AE404 for sequences. Below this per-position spread ratio the outputs are
# one curve whatever the input (the flat data's bar, COLLAPSE_RATIO).
SEQ_COLLAPSE_FLOOR = 0.01
# ...or, judged against the data's own variation: the outputs vary less than
# a tenth as much as the targets at the same position, explain less than 5%
# of the targets' per-position variance (the per-position mean explains 0),
# and the run made them vary less than at the initial weights: the model
# converged to the mean curve. Healthy sequence autoencoders measure
# spread ratios >= 0.17 after the default run (slow starters included, whose
# spread grows from the start), a stalled LSTM 0.05.
SEQ_SPREAD = 0.1
SEQ_EXPLAINED = 0.05
# AE304 on the output layer: this share of the positions with a positive
# target get an output <= 0 for every sample (at the initial weights; after
# the run the bar is the training judge's DEAD_SHARE_AFTER, 0.9).
DEAD_OUTPUT_SHARE = G.DEAD_SHARE
DEAD_OUTPUT_SHARE_AFTER = 0.9
# AE305 on a gated recurrent layer: this share of its units has a gate stuck
# where it blocks learning over GATE_STEP_SHARE (95%) of the real steps and
# samples (probes/sequence.py measures it). Healthy LSTM/GRU autoencoders
# measure 0 on every blocking measure; the forget gate (open near 1 by
# unit_forget_bias, normal) and a GRU's reset gate (closed: no recurrence,
# the input still flows) are never judged.
GATE_BLOCKED_SHARE = 0.9
# (trace key, gate, state, consequence) per cell kind.
BLOCKING_GATES: dict[str, tuple[tuple[str, str, str, str], ...]] = {
    "LSTM": (
        ("input_closed", "input gate", "closed (< 0.02)", "nothing the input brings is written into the cell state"),
        ("output_closed", "output gate", "closed (< 0.02)", "the hidden state is 0, so nothing reaches the next layer"),
        ("candidate_saturated", "tanh candidate", "pinned at +-1", "its gradient is nearly 0, so the cell can't learn what to write"),
    ),
    "GRU": (
        ("update_stuck_open", "update gate", "stuck open (> 0.98)", "the state keeps its initial value and ignores the input"),
        ("candidate_saturated", "tanh candidate", "pinned at +-1", "its gradient is nearly 0, so the cell can't learn what to write"),
    ),
}


def position_collapse(tr: dict[str, Any]) -> tuple[float, bool, dict[str, Any]] | None:
    """``(spread ratio, collapsed, evidence)`` per time step x feature; None for flat, unmasked data.

    For flat data AE404 keeps its per-feature ratio (the per-position
    measure is the same positions, averaged the other way).
    """
    pp = tr.get("per_position") or {}
    if not (pp.get("sequence") or pp.get("masked")):
        return None
    ratio, before, expl = pp.get("spread_ratio"), pp.get("spread_ratio_before"), pp.get("explained")
    if ratio is None or not math.isfinite(ratio):
        return None
    shrank = before is None or not math.isfinite(before) or ratio <= before
    unexplained = expl is None or not math.isfinite(expl) or expl < SEQ_EXPLAINED
    collapsed = ratio < SEQ_COLLAPSE_FLOOR or (ratio < SEQ_SPREAD and unexplained and shrank)
    evidence = {
        "per_position": True,
        "position_spread_ratio": ratio,
        "position_spread_ratio_before": before,
        "explained_variance": expl,
        "position_mean_mse": pp.get("position_mean"),
        "masked": bool(pp.get("masked")),
        "threshold_spread": SEQ_SPREAD,
        "threshold_explained": SEQ_EXPLAINED,
    }
    return ratio, collapsed, evidence


def check_dead_output(ctx: Context) -> list[Finding]:
    """AE304 for a relu output layer whose output is 0 wherever the targets are positive."""
    tr = ctx.traces.get("training") or {}
    pp = tr.get("per_position") or {}
    name, act = pp.get("output_layer"), pp.get("output_activation")
    if name is None or act not in kc.RELU_LIKE:
        return []
    before, after = pp.get("dead_output_before"), pp.get("dead_output")
    if before is not None and before >= DEAD_OUTPUT_SHARE:
        when, share = "at the initial weights", before
    elif after is not None and after >= DEAD_OUTPUT_SHARE_AFTER:
        when, share = "after the probe run", after
    else:
        return []
    line, text = G.locate(ctx, name)
    return [
        Finding(
            code="AE304",
            severity="warning",
            title="Dead ReLU units",
            message=(
                f"{when.capitalize()} the relu output layer {name} outputs 0 for every probe sample at "
                f"{100 * share:.0f}% of the positions where the targets are positive: the reconstruction is stuck "
                "at zero there, and a relu that outputs 0 passes no gradient back, so training can't free it."
            ),
            line=line,
            source_line=text,
            layer=name,
            evidence={"dead_output_share": round(float(share), 3), "threshold": DEAD_OUTPUT_SHARE, "when": when,
                      "output_layer": True},
            fix=(
                "# An output activation that matches the data range and always passes a gradient:\n"
                "out = layers.Dense(n_features, activation='sigmoid')(h)  # [0, 1] data; 'linear' for unbounded data\n"
                "# (and no large negative bias_initializer on the output)"
            ),
        )
    ]


# It reads the training probe's trace: part of the training family in the coverage.
check_dead_output.family = "training"  # type: ignore[attr-defined]

def blocked_gates(stats: dict[str, Any] | None) -> list[tuple[str, float, str, str, str]]:
    """The blocking gate states of one layer's gate statistics: ``(key, share, gate, state, consequence)``."""
    if not stats:
        return []
    out = []
    for key, gate, state, why in BLOCKING_GATES.get(str(stats.get("kind")), ()):
        share = stats.get(key)
        if share is not None and math.isfinite(share) and share >= GATE_BLOCKED_SHARE:
            out.append((key, float(share), gate, state, why))
    return out


def check_gates(ctx: Context) -> list[Finding]:
    """AE305 for an LSTM/GRU layer whose gates block learning, at its cell line."""
    before = (ctx.traces.get("gradients") or {}).get("gates") or {}
    after = (ctx.traces.get("training") or {}).get("gates") or {}
    findings = []
    for name in dict.fromkeys([*before, *after]):
        if blocked_gates(before.get(name)):
            when, stats = "at the initial weights", before[name]
        elif blocked_gates(after.get(name)):
            when, stats = "after the probe run", after[name]
        else:
            continue
        blocked = blocked_gates(stats)
        kind = stats.get("kind")
        line, text = G.locate(ctx, name)
        parts = "; ".join(
            f"the {gate} of {100 * share:.0f}% of its units is {state} at {100 * GATE_STEP_SHARE:.0f}% or more of the steps: {why}"
            for _, share, gate, state, why in blocked
        )
        findings.append(
            Finding(
                code="AE305",
                severity="warning",
                title="Saturated recurrent gates",
                message=f"{when.capitalize()} the {kind} layer {name}'s gates block learning: {parts}.",
                line=line,
                source_line=text,
                layer=name,
                evidence={
                    "recurrent": kind,
                    "gates": {k: v for k, v in stats.items() if k != "kind"},
                    "blocked_gates": [b[0] for b in blocked],
                    "threshold": GATE_BLOCKED_SHARE,
                    "when": when,
                    "measured": "gates",
                },
                fix=_gate_fix(str(kind), [b[0] for b in blocked]),
            )
        )
    return findings


def _gate_fix(kind: str, blocked: list[str]) -> str:
    if blocked == ["candidate_saturated"]:
        return (
            "# Standardise each input feature so the candidate starts in its linear range:\n"
            "x = (x - x.mean(axis=(0, 1))) / x.std(axis=(0, 1))\n"
            f"layers.{kind}(units)  # default glorot_uniform kernel, orthogonal recurrent kernel, zero bias"
        )
    return (
        "# Keras' default initialisation opens the gates halfway (zero bias; the LSTM forget gate at 1):\n"
        f"layers.{kind}(units)  # no bias_initializer / set_weights that push a gate's bias far negative\n"
        "# and scale the inputs to about unit range"
    )


check_gates.family = "training"  # type: ignore[attr-defined]

CHECKS: list = [check_dead_output, check_gates]


def refine(ctx: Context, findings: list[Finding]) -> list[Finding]:
    """Word AE304/AE305 on a recurrent layer as its hidden state's units, with a recurrent fix."""
    if ctx.model is None:
        return findings
    layers = probe.layers_by_name(ctx.model)
    findings = _fold_gates(findings)
    for f in findings:
        if f.code not in ("AE304", "AE305") or f.layer not in layers or f.evidence.get("measured") == "gates":
            continue
        act = recurrent_activation(layers[f.layer])
        if act is None:
            continue
        kind = type(layers[f.layer]).__name__
        article = "an" if kind == "LSTM" else "a"
        f.evidence["recurrent"] = kind
        f.evidence["hidden_activation"] = act
        if f.code == "AE304":
            f.message += (
                f" {f.layer} is {article} {kind} with activation='{act}': its hidden state is 0 at every time step, so the"
                " layers after it see the same sequence for every input."
            )
            f.fix = (
                f"layers.{kind}(units)  # the default tanh hidden state can't die\n"
                "# or keep relu with a lower learning rate, clipnorm=1.0 and no negative bias_initializer"
            )
        else:
            f.message += (
                f" {f.layer} is {article} {kind}: its hidden state is pinned near +-1 for most samples and time steps,"
                " so its gates pass almost no gradient."
            )
            f.fix = (
                "# Standardise each input feature so the gates start in their linear range:\n"
                "x = (x - x.mean(axis=(0, 1))) / x.std(axis=(0, 1))\n"
                "# and clip the gradient norm: keras.optimizers.Adam(1e-3, clipnorm=1.0)"
            )
    return findings


def _fold_gates(findings: list[Finding]) -> list[Finding]:
    """One finding per layer: a gate finding on a layer whose hidden state is already judged dead or
    saturated becomes that finding's evidence and one more sentence."""
    out = []
    for f in findings:
        if f.code == "AE305" and f.evidence.get("measured") == "gates":
            host = next((h for h in findings if h is not f and h.code in ("AE304", "AE305")
                         and h.evidence.get("measured") != "gates" and _names(h, f.layer)), None)
            if host is not None:
                host.evidence["gates"] = f.evidence["gates"]
                host.evidence["blocked_gates"] = f.evidence["blocked_gates"]
                host.message += " Its gates, recomputed on validation sequences: " + f.message.split(": ", 1)[1]
                continue
        out.append(f)
    return out


def _names(f: Finding, layer: str | None) -> bool:
    """Whether finding ``f`` is about ``layer`` (its own layer or one of its per-layer shares)."""
    if layer is None:
        return False
    shares = [f.evidence.get(k) for k in ("dead_share", "saturated_share")]
    return f.layer == layer or any(isinstance(s, dict) and layer in s for s in shares)


# -- AE404: a decoder that makes every time step the same ----------------------
# Layers that map each time step on its own: fed the same vector at every step
# (a RepeatVector's output), they give the same output at every step.
PER_STEP = {"TimeDistributed", "Dense", "Activation", "Dropout", "GaussianNoise", "GaussianDropout",
            "LayerNormalization", "BatchNormalization", "ReLU", "LeakyReLU", "ELU", "PReLU", "Softmax"}


def per_step_decoder(ctx: Context) -> tuple[Any, Any] | None:
    """``(repeat node, first layer after it)`` when only per-step layers follow a RepeatVector to the output.

    Nothing after the RepeatVector mixes time steps (no LSTM/GRU/Conv1D) and
    nothing joins another tensor in, so the reconstruction is one vector
    repeated: a flat line per sequence, whatever the weights.
    """
    g = ctx.graph
    if g is None or not g.has_graph or not g.main_path:
        return None
    path = [g.nodes[i] for i in g.main_path]
    repeat = max((i for i, n in enumerate(path) if n.cls == "RepeatVector"), default=None)
    if repeat is None or repeat + 1 >= len(path):
        return None
    after = path[repeat + 1:]
    if any(n.cls not in PER_STEP or len(n.parents) != 1 for n in after):
        return None
    return path[repeat], after[0]


def flat_in_time(ctx: Context, tr: dict[str, Any]) -> Finding | None:
    """AE404: the decoder repeats one vector over the time axis, and the probe run's outputs show the flat line."""
    found = per_step_decoder(ctx)
    ratio = (tr.get("per_position") or {}).get("time_ratio")
    if found is None or ratio is None or not math.isfinite(ratio) or ratio >= TIME_FLAT:
        return None
    repeat, first = found
    line, text = G.locate(ctx, first.name)
    rep_line, rep_text = G.locate(ctx, repeat.name)
    shape = list(getattr(repeat, "shape", None) or [])
    units = shape[-1] if shape and isinstance(shape[-1], int) else 64
    # The name the RepeatVector's line binds (the node keeps the last binding, often rebound after it).
    bound = re.match(r"\s*([A-Za-z_]\w*)\s*=[^=]", rep_text or "")
    var = bound.group(1) if bound else None
    decoder = f"{var or 'decoded'} = layers.LSTM({units}, return_sequences=True)({var or 'decoded'})"
    # The edit adds the recurrent layer right after the RepeatVector's line.
    raw = _raw_line(ctx, rep_line)
    edit = ({"start_line": rep_line, "end_line": rep_line, "replacement": f"{raw}\n{_indent(raw)}{decoder}"}
            if rep_line and raw and var else None)
    return Finding(
        code="AE404",
        severity="error",
        title="Output collapse: the same output at every time step",
        message=(
            f"After the probe run each reconstruction is a flat line: it varies along the time axis "
            f"{100 * ratio:.2g}% as much as the targets do. Only per-step layers follow the RepeatVector"
            + (f" (line {rep_line})" if rep_line else "")
            + f": {first.name} and the layers after it see the same vector at every step, so they give the same "
            "output at every step, whatever the weights. The model can reproduce each sequence's average, not its "
            "shape over time."
        ),
        line=line,
        source_line=text,
        layer=first.name,
        evidence={"time_variation_ratio": ratio, "threshold": TIME_FLAT, "repeat_vector": repeat.name,
                  "per_step_layers": [first.name]},
        fix="# a recurrent decoder between the RepeatVector and the per-step output layer:\n" + decoder,
        edit=edit,
    )


def _raw_line(ctx: Context, cell_line: int | None) -> str | None:
    """The cell's line as written (indentation kept), from a line number as the user sees it."""
    if cell_line is None or not ctx.source:
        return None
    lines = ctx.source.splitlines()
    i = cell_line - ctx.options.line_offset
    return lines[i - 1].rstrip() if 1 <= i <= len(lines) else None


def _indent(text: str) -> str:
    """The leading whitespace of a source line."""
    return text[: len(text) - len(text.lstrip())]


# flat_in_time: outputs that vary along time under 2% as much as the targets
# (a repeated vector measures ~0; any decoder that uses the steps, far more).
TIME_FLAT = 0.02
