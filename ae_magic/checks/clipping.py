"""Gradient clipping that throttles every step: AE402 (loss-stagnant), named at the clip.

Round 45's aj08: ``SGD(learning_rate=0.5, momentum=0.9, clipvalue=1e-5)`` on
a dense image autoencoder. Every gradient element is clipped to 1e-5, so
each step moves the weights about 5e-6 whatever the gradient says; the loss
crawls and the run reads as a slow start or a model stuck at the mean, and
the symptom's advice (a higher learning rate, another loss) misses the
cause. Unclipped, the same cell reaches 0.007x the mean's error.

Measured, then confirmed:

- **binding**: the probe run's per-layer gradient norms (raw, before the
  optimizer clips them) bound what the clip lets through. ``clipvalue=c``
  lets a layer of ``n`` weights keep at most ``c * sqrt(n)`` of its norm,
  ``clipnorm`` (per variable in Keras 3) at most ``clipnorm * sqrt(k)`` for
  ``k`` variables, ``global_clipnorm`` exactly ``global_clipnorm / norm``.
  The clip throttles when, at the median sampled step, the clipped step is
  at most THROTTLE of the raw one.
- **confirmation**: the same steps from the same weights with the clip
  removed (everything else of the optimizer kept) must end at GAIN or less
  of the clipped run's held-out MSE without diverging. A clip that holds
  back a step which would blow up (the usual reason to clip) fails this
  and stays silent.

Adaptive optimizers (Adam and kin) are left out: they divide the clipped
gradient by its own running scale, so a tight clip changes their step's
direction (towards sign descent), not its size.
"""

from __future__ import annotations

import ast
import math
from typing import Any

import numpy as np

from ..context import Context
from ..numeric import all_finite
from ..report import Finding
from .optimizer_source import rate_cap

CLIP_KEYS = ("clipvalue", "clipnorm", "global_clipnorm")
# The clipped step at most this share of the raw gradient's at the median sampled step.
THROTTLE = 0.1
# The unclipped run's held-out MSE at most this share of the clipped run's.
GAIN = 0.5
# Only a run that has not learned yet (held-out MSE at or above this share of the mean's) is judged:
# a clip on a model that learns anyway costs speed, not the result.
UNLEARNED = 0.5
_STALLS = ("AE402", "AE405", "AE404")


def clip_setting(optimizer: Any) -> tuple[str, float] | None:
    """``(keyword, value)`` of the optimizer's gradient clipping, else None."""
    for key in CLIP_KEYS:
        value = getattr(optimizer, key, None)
        if isinstance(value, (int, float)) and value > 0 and math.isfinite(value):
            return key, float(value)
    return None


def throttle(key: str, value: float, norms: dict[str, list[float]], sizes: dict[str, tuple[int, int]]) -> float | None:
    """The median over the sampled steps of (at most) clipped step norm / raw gradient norm.

    ``norms``: each layer's raw gradient norm at the sampled steps; ``sizes``:
    each layer's ``(weights, variables)``.
    """
    names = [n for n in norms if n in sizes and norms[n]]
    if not names:
        return None
    g = np.array([norms[n] for n in names], dtype=np.float64)  # layers x steps
    if not np.all(np.isfinite(g)):
        return None
    raw = np.sqrt(np.sum(g**2, axis=0))
    if key == "global_clipnorm":
        kept = np.minimum(raw, value)
    else:
        cap = np.array([value * math.sqrt(sizes[n][0 if key == "clipvalue" else 1]) for n in names])[:, None]
        kept = np.sqrt(np.sum(np.minimum(g, cap) ** 2, axis=0))
    ok = raw > 0
    if not np.any(ok):
        return None
    return float(np.median(kept[ok] / raw[ok]))


def _sizes(sess: Any) -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    for li, layer in enumerate(sess.layers):
        vs = [v for v, owner in zip(sess.train_vars, sess.var_layer, strict=False) if owner == li]
        if vs:
            out[layer.name] = (int(sum(int(np.prod(v.shape)) for v in vs)), len(vs))
    return out


def clip_line(ctx: Context, key: str) -> tuple[int | None, str | None]:
    """The cell line of the ``key=`` keyword (an optimizer's constructor), else (None, None)."""
    try:
        tree = ast.parse(ctx.source or "")
    except SyntaxError:
        return None, None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            for kw in node.keywords:
                if kw.arg == key:
                    return ctx.cell_line(kw.value.lineno), ctx.line_text(kw.value.lineno)
    return None, None


def _unclipped(optimizer: Any) -> Any | None:
    cfg = dict(optimizer.get_config())
    for key in CLIP_KEYS:
        if key in cfg:
            cfg[key] = None
    try:
        return type(optimizer).from_config(cfg)
    except Exception:  # an optimizer whose config can't rebuild it: no confirmation, no finding
        return None


def _describe(key: str, value: float) -> str:
    if key == "clipvalue":
        return f"clips every gradient element to ±{value:g} ({key}={value:g})"
    if key == "clipnorm":
        return f"clips each weight tensor's gradient to norm {value:g} ({key}={value:g})"
    return f"clips the whole gradient to norm {value:g} ({key}={value:g})"


def name_tight_clip(ctx: Context, sess: Any, trace: dict[str, Any], found: list[Finding]) -> list[Finding]:
    """AE402 at the clip's line when a non-adaptive optimizer's gradient clipping throttles every step
    and the same run unclipped learns (the confirmation runs only when the clip measurably binds)."""
    opt = sess.optimizer
    if getattr(opt, "inner_optimizer", None) is not None or rate_cap(opt) is not None:
        return found
    setting = clip_setting(opt)
    b = trace.get("baselines") or {}
    final, mean = b.get("final"), b.get("mean")
    if setting is None or trace.get("diverged") or not all_finite([final, mean]) or mean <= 0:
        return found
    if final < UNLEARNED * mean:
        return found
    key, value = setting
    shrink = throttle(key, value, trace.get("grad_norms") or {}, _sizes(sess))
    if shrink is None or shrink > THROTTLE:
        return found
    free = _unclipped(opt)
    if free is None:
        return found
    try:
        alt = sess.train_with_optimizer(free, steps=len(trace["loss"]), val_points=len(trace["val_curve"]["steps"]))
    except Exception:  # the confirmation could not run: the clip is not named on the measurement alone
        return found
    alt_final = (alt.get("baselines") or {}).get("final")
    if alt.get("diverged") or not all_finite([alt_final]) or alt_final > GAIN * final:
        return found
    line, text = clip_line(ctx, key)
    cls = type(opt).__name__
    evidence = {"clip": {key: value}, "throttle": shrink, "clipped_mse": float(final),
                "unclipped_mse": float(alt_final), "mean_mse": float(mean), "steps": len(trace["loss"])}
    cause = (f"The optimizer {_describe(key, value)}: over the probe run the clipped step kept at most "
             f"{shrink:.2g} of the raw gradient's norm (median sampled step), so {cls} moves the weights "
             f"{1 / max(shrink, 1e-12):.2g}x less than its learning rate says. The same {len(trace['loss'])} steps "
             f"without the clip reach a held-out MSE of {alt_final:.4g}, against {final:.4g} clipped "
             f"(the mean's: {mean:.4g}). A higher learning rate would only fight the clip; loosen or remove it.")
    fix = (f"# clip only the rare spike, not every step: e.g. {cls}(..., clipnorm=1.0), or no clipping at all\n"
           f"optimizer = keras.optimizers.{cls}(learning_rate={float(trace['lr']):g}"
           + (", momentum=" + format(float(getattr(opt, 'momentum', 0.0)), 'g') if getattr(opt, "momentum", 0) else "")
           + ")")
    hit = next((f for code in _STALLS for f in found if f.code == code and f.severity in ("warning", "error")), None)
    if hit is not None:
        # The symptom's rate advice points away from the cause.
        for advice in (", or a higher learning rate gets there sooner", " or a higher learning rate gets there sooner"):
            hit.message = hit.message.replace(advice, "")
        hit.message += " " + cause
        hit.evidence["clipping"] = evidence
        hit.fix, hit.edit = fix, None
        if line is not None:
            hit.line, hit.source_line, hit.layer = line, text, None
        return found
    return [
        *found,
        Finding(
            code="AE402",
            severity="warning",
            title="Gradient clipping throttles every step",
            message=cause,
            line=line,
            source_line=text,
            evidence={"clipping": evidence},
            fix=fix,
        )
    ]
