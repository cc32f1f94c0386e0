"""Several reconstruction heads, each trained by its own loss, probed as one reconstruction.

A mixed-type tabular autoencoder reconstructs its numeric columns with one
head (tanh or linear, MSE) and a categorical column with another (softmax,
categorical cross-entropy), compiled as ``loss=["mse", "categorical_crossentropy"]``
and trained as ``fit(x, [x_num, x_cat])`` (round 48's ay09). fit trains every
head at once; the probes used to skip such a model. Here the heads' outputs
are joined along the feature axis into one reconstruction, and the loss is
fit's: each head's loss on its block of columns, times its
``compile(loss_weights=...)`` weight, summed. The target is what the cell's
own ``fit`` call passes, joined the same way; without such a call the heads
are read in order as blocks of the target, and a categorical head's block
must look like one (values in [0, 1] summing to 1 per row).
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import keras_compat as kc
from ..errors import ModelError, describe
from ..fit_calls import argument, fit_calls

keras = kc.keras
ops = keras.ops


@dataclass
class JoinedHeads:
    """The heads' indices among the outputs, their widths, losses and weights, and the joined target (None: the data)."""

    outputs: list[int]
    widths: list[int]
    names: list[str]
    losses: list[Any]
    weights: list[float]
    target: np.ndarray | None
    note: str

    @property
    def loss_name(self) -> str:
        """fit's total, in words: ``mse + 0.2 * categorical_crossentropy``."""
        parts = []
        for loss, w in zip(self.losses, self.weights, strict=False):
            name = _loss_words(loss)
            parts.append(name if w == 1.0 else f"{w:g} * {name}")
        return " + ".join(parts)

    def loss_fn(self) -> Callable[[Any, Any], Any]:
        """fit's loss on the joined output: each head's loss on its columns, weighted, summed (per sample)."""
        fns = [_one_loss(spec) for spec in self.losses]
        bounds = np.cumsum([0, *self.widths]).tolist()
        weights = list(self.weights)

        def joined_heads_loss(y_true: Any, y_pred: Any) -> Any:
            total = None
            for (fn, per_sample), a, b, w in zip(fns, bounds[:-1], bounds[1:], weights, strict=False):
                value = fn(y_true[..., a:b], y_pred[..., a:b])
                value = value if per_sample else ops.mean(value)
                total = w * value if total is None else total + w * value
            return total

        return joined_heads_loss


def _loss_words(spec: Any) -> str:
    if isinstance(spec, str):
        return spec
    if isinstance(spec, keras.losses.Loss):
        return type(spec).__name__
    return getattr(spec, "__name__", type(spec).__name__)


def _one_loss(spec: Any) -> tuple[Callable[[Any, Any], Any], bool]:
    """A head's loss as a callable, and whether it returns one value per sample (a function) or a scalar (a Loss)."""
    if isinstance(spec, str):
        try:
            return keras.losses.get(spec), True
        except Exception as exc:
            raise ModelError(f"the compiled loss {spec!r} is not a Keras loss ({describe(exc)}); model.fit fails the same way.") from None
    if isinstance(spec, keras.losses.Loss):
        try:
            return type(spec).from_config(spec.get_config()), False
        except Exception:
            return spec, False
    return spec, True


def head_losses(model: Any) -> tuple[list[int], list[Any]] | None:
    """``(output indices, their losses)`` for a functional model with a loss on two or more outputs; None otherwise.

    A list or dict of losses names its outputs (:func:`~ae_magic.keras_compat.loss_outputs`). One loss given
    for a model with several outputs (``compile(loss="mse")`` on ``[numeric, aux]``) is applied by Keras 3's
    compile to every output and the results summed, so each output is a head with that loss.
    """
    if kc.model_kind(model) == "subclassed":
        return None
    loss = getattr(model, "loss", None)
    used = kc.loss_outputs(model)
    if used is None and loss is not None and not isinstance(loss, (list, tuple, dict)):
        try:
            n = len(keras.tree.flatten(model.outputs))
        except Exception:
            return None
        return (list(range(n)), [loss] * n) if n >= 2 else None
    if not used or len(used) < 2:
        return None
    names = [str(v) for v in (getattr(model, "output_names", None) or [])]
    return list(used), [loss[names[i]] if isinstance(loss, dict) else loss[i] for i in used]


def head_targets(model: Any, data: np.ndarray, target: np.ndarray | None,
                 fit_targets: Any) -> tuple[list[int], list[int], list[Any], np.ndarray, str] | str:
    """``(outputs, widths, losses, joined target, how)`` for the heads of ``model`` (compiled with a loss on
    several outputs) read as blocks of one reconstruction; a string saying why not otherwise.

    ``fit_targets``: what the cell's ``fit`` passed as the targets (a list or dict of arrays), or None; the
    joined target is those arrays side by side, in the heads' order, else the target itself (``data`` when
    ``target`` is None), its columns read as the heads' blocks in order. Not read as blocks: an output that is
    not one feature axis, widths that don't add up to the target's, a block that doesn't look like its head's
    loss, a loss on logits.
    """
    read = head_losses(model)
    if read is None:
        return "its losses can't be matched to its outputs"
    used, specs = read
    outputs = keras.tree.flatten(model.outputs)
    names = [str(v) for v in (getattr(model, "output_names", None) or [])]
    shapes = [tuple(outputs[i].shape[1:]) for i in used]
    if any(len(sh) != 1 or sh[0] is None for sh in shapes):
        return "its outputs are not one feature axis each (only such heads are read as blocks of columns)"
    widths = [int(sh[0]) for sh in shapes]
    for spec in specs:
        if kc.loss_config_of(spec).get("from_logits"):
            return "a head's loss takes logits (from_logits=True), which the joined reconstruction can't compare"
    y = np.asarray(data if target is None else target)
    joined = _joined_fit_targets(fit_targets, used, names, widths, len(y))
    if joined is not None:
        return list(used), widths, specs, joined, "the targets the cell's fit passes"
    if y.ndim != 2 or y.shape[1] != sum(widths):
        return (f"its heads ({' + '.join(map(str, widths))} features) are not blocks of the target's "
                f"{y.shape[1:]} features and the cell's fit call does not show their targets")
    bounds = np.cumsum([0, *widths])
    for spec, a, b in zip(specs, bounds[:-1], bounds[1:], strict=False):
        if not _looks_like(spec, y[:, a:b]):
            return (f"columns {a}-{b - 1} of the target are not what the head's loss "
                    f"({_loss_words(spec)}) expects, so the heads are not its blocks in order")
    return list(used), widths, specs, y, "the target's columns, the heads in order"


def join_heads(model: Any, data: np.ndarray, target: np.ndarray | None, fit_targets: Any) -> JoinedHeads | tuple[None, str]:
    """The heads of ``model`` as one reconstruction, trained with fit's summed loss (:func:`head_targets`);
    ``(None, why)`` when they can't be read that way."""
    read = head_targets(model, data, target, fit_targets)
    if isinstance(read, str):
        return None, read
    used, widths, specs, joined, how = read
    y = np.asarray(data if target is None else target)
    same = target is None and joined.shape == y.shape and np.array_equal(joined, y)
    names = [str(v) for v in (getattr(model, "output_names", None) or [])]
    heads = [names[i] if i < len(names) else f"output {i}" for i in used]
    note = (f"Model '{model.name}' has a loss on each of {len(used)} outputs ({', '.join(heads)}): the probes train "
            f"them together as fit does, joined into one reconstruction of {sum(widths)} features ({how}), with the "
            "loss as fit sums it (each head's loss on its columns, times its loss weight); the MSE baselines are "
            "read on the joined columns.")
    return JoinedHeads(used, widths, heads, specs, _weights(model, used, names), None if same else joined, note)


def _weights(model: Any, used: list[int], names: list[str]) -> list[float]:
    cfg = getattr(getattr(model, "_compile_config", None), "config", None) or {}
    lw = cfg.get("loss_weights") if isinstance(cfg, dict) else None
    out = []
    for i in used:
        try:
            v = lw.get(names[i], 1.0) if isinstance(lw, dict) else (lw[i] if lw is not None else 1.0)
        except (IndexError, TypeError):
            v = 1.0
        out.append(float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else 1.0)
    return out


def _joined_fit_targets(fit_targets: Any, used: list[int], names: list[str], widths: list[int], n: int) -> np.ndarray | None:
    """The fit call's per-head targets joined along the feature axis, when each matches its head's width."""
    if isinstance(fit_targets, dict):
        per = [fit_targets.get(names[i]) if i < len(names) else None for i in used]
    elif isinstance(fit_targets, (list, tuple)) and len(fit_targets) in (len(used), max(used) + 1):
        per = [fit_targets[k] for k in range(len(used))] if len(fit_targets) == len(used) else [fit_targets[i] for i in used]
    else:
        return None
    arrays = []
    for arr, w in zip(per, widths, strict=False):
        try:
            a = np.asarray(arr, dtype=np.float32)
        except Exception:
            return None
        if a.ndim != 2 or a.shape != (n, w):
            return None
        arrays.append(a)
    return np.concatenate(arrays, axis=1)


def _looks_like(spec: Any, block: np.ndarray) -> bool:
    """A block of target columns is plausible for its head's loss (cross-entropies need probabilities)."""
    family = kc.loss_family(spec)
    finite = block[np.isfinite(block)]
    if family in ("bce", "cce") and finite.size and (finite.min() < 0 or finite.max() > 1):
        return False
    if family == "cce" and block.shape[1] > 1:
        sums = np.nansum(block, axis=1)
        return bool(np.all(np.abs(sums - 1) < 1e-3))
    return True


def fit_targets(source: str | None, model_name: str | None, namespace: dict[str, Any]) -> Any:
    """What the cell's ``<model_name>.fit(x, y)`` passes as ``y`` when it is a list, tuple or dict of names in
    ``namespace`` (the per-head targets of a model with several outputs); None otherwise."""
    for node in fit_calls(source, model_name):
        y = argument(node, 1, "y")
        if isinstance(y, (ast.List, ast.Tuple)) and all(isinstance(e, ast.Name) and e.id in namespace for e in y.elts):
            return [namespace[e.id] for e in y.elts]  # type: ignore[attr-defined]
        pairs = list(zip(y.keys, y.values, strict=False)) if isinstance(y, ast.Dict) else []
        if pairs and all(isinstance(k, ast.Constant) and isinstance(v, ast.Name) and v.id in namespace for k, v in pairs):
            return {k.value: namespace[v.id] for k, v in pairs}  # type: ignore[union-attr, attr-defined]
    return None
