"""Categorical reconstructions: token and one-hot autoencoders trained with a classification loss.

A sequence autoencoder over tokens (``Embedding`` -> LSTM -> ... ->
``softmax`` over the vocabulary) is trained with sparse categorical
cross-entropy: its target is the input's class indices, one rank lower than
its output. One-hot data reconstructed with a softmax and categorical
cross-entropy is the same idea. The checks that assume a continuous
reconstruction of the input's shape (AE105, AE108, AE201, AE203, AE205) ask
these questions first, so a healthy text autoencoder is not told to scale
its token ids or to use MSE.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import keras_compat as kc
from ..context import Context
from ..probes.batches import class_index_count
from ..report import Finding

# Rows of the data the one-hot and index tests read (the data checks' own sample size).
_SAMPLE = 512
# A one-hot or probability row sums to 1 within this.
_SUM_TOL = 1e-3


def _sample(arr: np.ndarray) -> np.ndarray:
    if len(arr) <= _SAMPLE:
        return np.asarray(arr)
    idx = np.linspace(0, len(arr) - 1, _SAMPLE).astype(np.int64)
    return np.asarray(arr[idx])


def _loss(ctx: Context) -> str | None:
    m = ctx.model
    return kc.canonical_loss(m) if m is not None and kc.is_compiled(m) else None


def _output_shape(ctx: Context) -> list[Any] | None:
    if ctx.model is None:
        return None
    outputs = getattr(ctx.model, "outputs", None)
    if outputs is not None and len(outputs) != 1:
        k = kc.loss_output(ctx.model)
        return None if k is None else list(outputs[k].shape)
    return kc.safe_output_shape(ctx.model)


def _target(ctx: Context) -> np.ndarray | None:
    t = ctx.target if ctx.target is not None else ctx.data
    return t if isinstance(t, np.ndarray) and t.size else None


def class_index_targets(ctx: Context) -> bool:
    """The loss is sparse categorical and the targets are class indices that fit the output.

    The output is one rank above the target (``(..., classes)`` for a
    target of ``(...)``) with more than one class, and, where the data is
    given, the targets are whole numbers in ``[0, classes)``. Without data the
    shapes alone decide, read from the model's input (the autoencoder's
    target).
    """
    if _loss(ctx) != "scce":
        return False
    out = _output_shape(ctx)
    t = _target(ctx)
    if t is not None:
        # Ids that overflow the output are class indices too, with a vocabulary one short: check_index_range's.
        return class_index_count(t, out) is not None or index_overflow(ctx) is not None
    ins = kc.safe_input_shape(ctx.model)
    return (out is not None and len(out) >= 2 and isinstance(out[-1], int) and out[-1] > 1
            and ins is not None and list(ins[1:]) == list(out[1:-1]))


def one_hot_targets(ctx: Context) -> bool:
    """The loss is categorical and every target row (the last axis) is a distribution: one-hot data.

    Needs the data: without it, a categorical loss on a reconstruction is
    judged as before (AE108).
    """
    if _loss(ctx) != "cce":
        return False
    t = _target(ctx)
    out = _output_shape(ctx)
    if t is None or t.ndim < 2 or t.shape[-1] < 2 or t.dtype.kind not in "fiub":
        return False
    if out and list(out[1:]) != list(t.shape[1:]):
        return False
    s = _sample(t).astype(np.float64)
    if not np.all(np.isfinite(s)) or s.min() < 0:
        return False
    return bool(np.all(np.abs(s.sum(axis=-1) - 1.0) <= _SUM_TOL))


def categorical_reconstruction(ctx: Context) -> bool:
    """The model reconstructs categories (class indices or one-hot rows) with a matching classification loss."""
    return class_index_targets(ctx) or one_hot_targets(ctx)


def index_input(ctx: Context) -> bool:
    """Every layer that reads the model's input is an ``Embedding``: the input is token indices, not a signal.

    A model with no layer graph (subclassed, with its own ``train_step``) says so by its output: ids that a
    categorical head scores (:func:`ids_for_classes`), read by an ``Embedding`` of the model whose table covers them.
    """
    g = ctx.graph
    if g is not None and getattr(g, "has_graph", False):
        return bool(getattr(g, "token_input", False))
    d = ctx.data
    if not isinstance(d, np.ndarray) or not d.size or not ids_for_classes(ctx):
        return False
    try:
        top = float(np.max(d))
        tables = [la for la in kc.leaf_layers(ctx.model) if type(la).__name__ == "Embedding"]
        return any(int(getattr(la, "input_dim", 0) or 0) > top for la in tables)
    except Exception:  # a layer we can't read: judge the data as a signal
        return False


def ids_for_classes(ctx: Context) -> bool:
    """The target holds whole numbers in ``[0, classes)`` and the reconstruction is one rank above it,
    ``(..., classes)``: class (token) ids that a categorical head scores, whatever the loss is called.

    Round 42's aa09: a sentence VAE whose own ``train_step`` sums a sparse categorical cross-entropy over a
    softmax head has no compiled loss to say so; its ids were taken for 0-25 pixels (AE201) and for targets a
    softmax can't reach (AE203). A subclassed model's output shape comes from one forward pass of a copy.
    """
    t = _target(ctx)
    if t is None or ctx.model is None:
        return False
    out = _output_shape(ctx)
    if out is None and kc.model_kind(ctx.model) == "subclassed":
        from .locate import subclassed_output

        shape = subclassed_output(ctx)[2]
        out = None if shape is None else [None, *list(shape)[1:]]
    return class_index_count(t, out) is not None


# index_overflow: the largest id at most this many times the output's classes (ids, not a signal to scale).
_OVERFLOW_MAX = 4


def index_overflow(ctx: Context) -> dict[str, Any] | None:
    """Class-index targets of a sparse categorical loss that reach past the output's classes, else None.

    Round 28: a tokenizer-style index starts at 1 (0 is padding), and ``vocab_size = len(index)`` leaves out
    the padding id, so the largest id equals the number of classes (and the Embedding's ``input_dim``).
    ``fit`` raises in the Embedding's gather on CPU; on a GPU it may read zeros instead and train on garbage.
    """
    if _loss(ctx) != "scce":
        return None
    out, t = _output_shape(ctx), _target(ctx)
    if t is None or out is None or len(out) < 2 or not isinstance(out[-1], int) or out[-1] < 2:
        return None
    if list(t.shape[1:]) != list(out[1:-1]) or t.dtype.kind not in "fiu":
        return None
    s = _sample(t).astype(np.float64)
    classes = int(out[-1])
    if not np.all(np.isfinite(s)) or not np.all(s == np.round(s)) or s.min() < 0:
        return None
    top = float(np.max(t))
    if top < classes or top >= _OVERFLOW_MAX * classes:
        return None
    over = int(np.count_nonzero(np.asarray(t) >= classes))
    return {"classes": classes, "max_id": int(top), "ids_out_of_range": over,
            "share_out_of_range": over / float(np.asarray(t).size)}


def _size_line(ctx: Context, classes: int) -> tuple[int | None, str | None]:
    """The cell line that binds a top-level name to ``classes`` (``vocab_size = len(index)``), if one does."""
    for name in reversed(getattr(ctx, "bound", [])):
        v = ctx.namespace.get(name)
        if isinstance(v, (int, np.integer)) and not isinstance(v, bool) and int(v) == classes and name in ctx.assign_lines:
            at = ctx.assign_lines[name]
            return ctx.cell_line(at), ctx.line_text(at)
    return None, None


def check_index_range(ctx: Context) -> list[Finding]:
    """AE203: class ids in the target reach the number of classes the output (and Embedding) can take."""
    found = index_overflow(ctx)
    if found is None:
        return []
    c, top = found["classes"], found["max_id"]
    line, text = _size_line(ctx, c)
    var = ctx.data_name or "x"
    try:
        short = [la for la in ctx.model._flatten_layers(include_self=False)
                 if type(la).__name__ == "Embedding" and int(getattr(la, "input_dim", top + 1)) <= top]
    except Exception:
        short = []
    emb = f" (and the Embedding '{short[0].name}', input_dim={short[0].input_dim})" if short else ""
    if short:
        found["embedding_input_dim"] = int(short[0].input_dim)
    return [Finding(
        code="AE203", severity="error", title="Class ids reach past the output's classes",
        message=(f"`{var}` holds ids up to {top}, but the output has {c} classes (ids 0 to {c - 1}); "
                 f"{found['ids_out_of_range']} values are out of range. Sparse categorical cross-entropy{emb} "
                 "can't take them: fit raises on the CPU and may train on garbage on a GPU. Ids that start at 1, "
                 "with 0 kept for padding, need one more class than the index has."),
        line=line, source_line=text, evidence=found,
        fix=f"vocab_size = {top + 1}  # the largest id + 1: len(index) + 1 when ids start at 1 (0 = padding)",
    )]


CHECKS: list[Any] = [check_index_range]
