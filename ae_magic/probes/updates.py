"""Probing through the model's own training step, and the updates it makes.

A model that overrides ``train_step`` (the keras.io VAE: encoder and decoder
attributes, a reconstruction + KL loss computed in ``train_step``, often no
``call``) trains on what its step computes, not on a compiled loss. The
probes then drive that step the way ``fit`` does: :class:`OwnStepSession`
runs the model's own compiled train function on one probe batch at a time
(``backends.own_train_step``), fed what ``fit`` feeds ``train_step``: the
bare ``x`` batch of ``fit(x)`` for a model without a compiled loss (its
step computes the loss from ``x``), ``(x, y)`` for a separate target or a
compiled loss, so every backend runs the user's ``train_step`` exactly as
Keras does. The loss of a step is the ``"loss"`` entry of its logs (or the sum of
the entries named ``*loss``); every entry is kept per step in
``loss_terms``.

Per-layer gradients can't be read from inside a user's ``train_step``, so
each step's effect is measured instead: the update-to-weight ratio
``||w_after - w_before|| / ||w_before||`` of every layer
(:func:`update_ratios`). ``checks/updates.py`` judges it (AE301 for a layer
whose weights never move).

The validation reconstruction follows one documented rule
(:func:`forward_rule`, each candidate tried on a sample batch and kept only
when it returns one tensor shaped like the target): the model's own
``call``; ``decoder(encoder(x))`` from ``encoder`` and ``decoder``
attributes, taking the first output of an encoder that returns several
(keras.io's ``z_mean, z_log_var, z``: the mean code, so the validation
curve follows the weights, not the sampling noise); a pair of sub-model
attributes found by shape (``self.enc``/``self.dec``). A model with none of
these is still trained through its own step (the loss curve, the update
ratios, AE301); what needs a forward pass is left out and the trace's
``no_forward`` (and the coverage) says so.

A model that can't be copied is probed **in place**: on the user's own
object. This is the one place ae_magic runs steps on the user's model. Each
probe swaps a fresh optimizer (same class and config) and its own traced
train function in, and afterwards puts back every variable (trainable,
non-trainable, seed-generator states, metric states, the user's optimizer's
variables) byte for byte and every attribute ``fit`` set (``history``,
``train_function``, ``optimizer``, ...), in a ``finally`` that also runs on
``KeyboardInterrupt``.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .. import backends as backend
from .. import keras_compat as kc
from ..errors import ModelError, ProbeError, describe
from .batch_scaling import batch_scaling
from .batches import as_input, segments
from .latent import find_sampling_layer, latent_stats
from .sequence import gate_stats
from .session import ProbeSession, _emit, contract_of
from .sizes import DEFAULT_EPOCHS, MIN_STEPS
from .traces import leaf_layers
from .training import copy_optimizer, fresh_optimizer, set_lr

keras = kc.keras

# The batch-size dependence of the step's terms before it is measured (None is a measurement: nothing to
# weigh, or the step failed on the measuring batches, so it is not tried again).
_UNMEASURED = object()
# The loss name of a model trained by its own ``train_step``.
OWN_STEP = "train_step"
# What the probes can't measure without the model's reconstruction (named in the coverage when it can't be read).
NEEDS_FORWARD = ("the validation curve", "the reconstructions", "the mean/PCA baselines (AE405)",
                 "output collapse (AE404)", "the latent measurement (AE407)")
# Per layer, at most this many per-step ratios are kept in the trace (evenly
# spaced); the judge reads every step.
UPDATE_POINTS = 200


def step_unpacks_target(cls: type) -> bool:
    """Whether ``cls.train_step`` takes a target out of its batch (``x, y = data``, ``data[1]``,
    ``unpack_x_y_sample_weight(data)``): then fit was called as ``fit(x, x)`` and the step needs the pair."""
    import ast
    import inspect
    import textwrap

    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls.train_step)))
    except Exception:  # no source (defined in a notebook that inspect can't read): keep the default
        return False
    fn = next((n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))), None)
    if fn is None or len(fn.args.args) < 2:
        return False
    batch = fn.args.args[-1].arg  # the batch is the last argument: JAX's stateless step is train_step(self, state, data)
    for node in ast.walk(fn):
        if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Name) and node.value.id == batch
                and any(isinstance(t, (ast.Tuple, ast.List)) and len(t.elts) >= 2 for t in node.targets)):
            return True
        if (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == batch
                and isinstance(node.slice, ast.Constant) and node.slice.value == 1):
            return True
        if isinstance(node, ast.Call) and "unpack_x_y" in ast.unparse(node.func):
            return True
    return False


def has_own_train_step(model: Any) -> bool:
    """Whether ``model``'s class overrides ``keras.Model.train_step``."""
    step = getattr(type(model), "train_step", None)
    return step is not None and step is not keras.Model.train_step


def has_own_compute_loss(model: Any) -> bool:
    """Whether ``model``'s class overrides ``keras.Model.compute_loss`` (Keras 3's hook for a loss of one's own).

    Keras' own ``train_step`` trains on what that method returns, not on the
    compiled loss: an override that drops ``super().compute_loss(...)`` drops
    the reconstruction, and only its own step shows that.
    """
    own = getattr(type(model), "compute_loss", None)
    return own is not None and own is not keras.Model.compute_loss


def own_step_name(model: Any) -> str | None:
    """How the model computes the loss ``fit`` trains on, when it is its own: its ``train_step``, or its
    ``compute_loss`` (run by Keras' ``train_step``); ``None`` for a compiled loss alone."""
    if has_own_train_step(model):
        return "train_step"
    return "compute_loss" if has_own_compute_loss(model) else None


def has_own_call(model: Any) -> bool:
    """Whether ``model``'s class defines ``call`` (a subclassed model need not)."""
    call = getattr(type(model), "call", None)
    return call is not None and call is not keras.Model.call


# At most this many sub-model attributes are tried as an encoder/decoder pair (ordered pairs: n * (n - 1)).
MAX_PARTS = 6


def _first(out: Any) -> Any:
    """The first output of a part that returns several (keras.io's encoder: ``z_mean, z_log_var, z``)."""
    return out[0] if isinstance(out, (list, tuple)) and out else out


def _shape(out: Any) -> tuple[int, ...] | None:
    shape = getattr(out, "shape", None)
    return None if shape is None or isinstance(out, (list, tuple, dict)) else tuple(int(d) for d in shape)


def _tries(fn: Callable[[Any], Any], sample: Any, target_shape: tuple[int, ...]) -> bool:
    """Whether ``fn(sample)`` runs and returns one tensor shaped like the target batch."""
    try:
        return _shape(fn(sample)) == target_shape
    except Exception:  # a part that doesn't take this input is not the one we look for
        return False


def _class_head(model: Any, sample: Any, y: np.ndarray, *, may_build: bool) -> tuple[int | None, bool]:
    """``(classes, probabilities)``: the number of classes when ``model``'s own call maps ``sample`` to
    ``(..., classes)`` and ``y`` holds class ids in ``[0, classes)`` one rank below it (else None), and whether
    the head's rows are probabilities (in [0, 1], summing to 1) rather than logits."""
    from .batches import class_index_count

    if not may_build and not getattr(model, "built", False):
        return None, True  # calling it would add weights to the user's model
    try:
        out = np.asarray(kc.to_numpy(model(sample, training=False)), dtype=np.float64)
    except Exception:  # a call that raises (or returns several tensors): no head to read
        return None, True
    classes = class_index_count(y, list(out.shape)) if out.ndim >= 2 else None
    rows = out.sum(axis=-1)
    probabilities = bool(out.min() >= 0 and out.max() <= 1 and np.allclose(rows, 1.0, atol=1e-3))
    return classes, probabilities


def padded_ids(ids: np.ndarray) -> bool:
    """Rows of token ids padded with 0 at their ends, to different lengths: some rows end (or start) with a
    run of zeros and some do not, and no row has a 0 between two real tokens."""
    ids = np.asarray(ids)
    if ids.ndim != 2 or ids.shape[1] < 2 or ids.dtype.kind not in "iuf" or not (ids == 0).any():
        return False
    real = ids != 0
    # For each row: the real tokens are one contiguous block (post- or pre-padding leaves no inner 0).
    first = real.argmax(axis=1)
    last = ids.shape[1] - 1 - real[:, ::-1].argmax(axis=1)
    inner = np.arange(ids.shape[1])[None, :]
    block = (inner >= first[:, None]) & (inner <= last[:, None])
    rows = real.any(axis=1)
    return bool(np.all(real[rows] == block[rows]) and len(set(real.sum(axis=1).tolist())) > 1)


def _outputs(out: Any) -> list[Any]:
    """A call's outputs as a list: a dict's values in order, a tuple's items, or the one tensor."""
    if isinstance(out, dict):
        return list(out.values())
    return list(out) if isinstance(out, (list, tuple)) else [out]


def _shaped_output(fn: Callable[[Any], Any], sample: Any, target_shape: tuple[int, ...]) -> int | None:
    """The index of the only output of ``fn(sample)`` shaped like the target, when it returns several."""
    try:
        out = fn(sample)
    except Exception:  # a call that raises is no reconstruction
        return None
    if not isinstance(out, (list, tuple, dict)):
        return None
    hits = [i for i, t in enumerate(_outputs(out)) if _shape(t) == target_shape]
    return hits[0] if len(hits) == 1 else None


def _builds(layer: Any) -> bool:
    """Whether calling ``layer`` would create weights (it, or one of its sub-layers, is not built yet)."""
    if getattr(layer, "built", False):
        return False
    try:
        subs = list(layer._flatten_layers(include_self=False))
    except Exception:
        return True
    return not subs or any(not getattr(sub, "built", False) for sub in subs)


def _parts(model: Any, usable: Callable[[Any], bool]) -> list[tuple[str, Any]]:
    """``(attribute, sub-model)`` for each attribute of ``model`` that is a Keras model (in definition order)."""
    found: list[tuple[str, Any]] = []
    attrs = dict(vars(model))
    # On torch a Keras layer is a torch Module: sub-layer attributes live in its _modules, not its __dict__.
    modules = attrs.get("_modules")
    if isinstance(modules, dict):
        attrs.update(modules)
    for name, value in attrs.items():
        if name.startswith("_") or not isinstance(value, keras.Model) or value is model:
            continue
        if usable(value) and all(value is not v for _, v in found):
            found.append((name, value))
    return found[:MAX_PARTS]


def forward_rule(
    model: Any, sample: Any = None, target_shape: tuple[int, ...] | None = None, *, may_build: bool = True
) -> tuple[Callable[[Any], Any] | None, str]:
    """``(fn, description)``: how the probes read ``model``'s reconstruction; ``(None, why)`` when they can't.

    In order (see the module docstring): the model's own ``call``; its
    ``encoder``/``decoder`` attributes, ``decoder(encoder(x)[0])``; else a
    pair of its sub-model attributes found by shape (``self.enc``,
    ``self.decoder_net``...): the first whose ``dec(enc(x)[0])`` returns a
    tensor shaped like the target. With a ``sample`` batch and its
    ``target_shape``, each candidate is tried on it first, so a ``call``
    that raises (``NotImplementedError``) or returns something else than the
    reconstruction falls through to the next rule. ``may_build=False`` (a
    model probed in place): a candidate that isn't built yet is not called,
    since calling it would add weights to the user's model.
    """
    probe = sample is not None and target_shape is not None

    def usable(part: Any) -> bool:
        return may_build or not _builds(part)

    def fits(fn: Callable[[Any], Any]) -> bool:
        return not probe or _tries(fn, sample, target_shape)

    reasons: list[str] = []
    if has_own_call(model) or kc.model_kind(model) != "subclassed":
        own = lambda x: model(x, training=False)  # noqa: E731
        if not probe or not usable(model):
            return own, "the model's own call"
        if fits(own):
            return own, "the model's own call"
        k = _shaped_output(own, sample, target_shape)
        if k is not None:
            # call() returns (reconstruction, code) or a dict: the one output shaped like the target.
            return (lambda x: _outputs(model(x, training=False))[k]), (
                f"output {k} of the model's own call (the one shaped like the target)")
        reasons.append("its call() does not return the reconstruction (it raises, or returns another shape)")
    else:
        reasons.append("it has no call()")

    def through(enc: Any, dec: Any) -> Callable[[Any], Any]:
        def fn(x: Any) -> Any:
            return dec(_first(enc(x, training=False)), training=False)

        fn.parts = (enc, dec)  # type: ignore[attr-defined]  # what sampled_forward goes through
        return fn

    enc, dec = getattr(model, "encoder", None), getattr(model, "decoder", None)
    if callable(enc) and callable(dec) and usable(enc) and usable(dec):
        fn = through(enc, dec)
        if fits(fn):
            return fn, "decoder(encoder(x)), the encoder's first output (z_mean) as the code"
        reasons.append("decoder(encoder(x)) does not return a tensor shaped like the target")
    if probe:
        parts = _parts(model, usable)
        for e_name, e in parts:
            for d_name, d in parts:
                if e is not d and (e is not enc or d is not dec) and fits(through(e, d)):
                    return through(e, d), (
                        f"self.{d_name}(self.{e_name}(x)), sub-models found by shape, the first output of "
                        f"{e_name} as the code"
                    )
        reasons.append(
            "no pair of its sub-model attributes maps the input to the target's shape"
            if len(parts) > 1 else "it has no encoder and decoder sub-models to call"
        )
    return None, "; ".join(reasons)


def sampled_forward(model: Any, parts: tuple[Any, Any] | None = None) -> Callable[..., Any] | None:
    """A forward pass that goes through a VAE's sampling layer, or None.

    The model's own call when it has one; else ``decoder(z)`` with ``z`` the
    encoder's last output (keras.io's encoder returns ``[z_mean, z_log_var,
    z]``); ``parts`` is the ``(encoder, decoder)`` pair :func:`forward_rule`
    settled on, when it found one. Unlike :func:`forward_rule`'s
    reconstruction (which decodes ``z_mean``), the latent measurement swaps
    the sampling layer's output, so the pass must use it.
    """
    if parts is None and (has_own_call(model) or kc.model_kind(model) != "subclassed"):
        return lambda x, training=False: model(x, training=training)
    enc, dec = parts if parts is not None else (getattr(model, "encoder", None), getattr(model, "decoder", None))
    if not (callable(enc) and callable(dec)):
        return None

    def through(x: Any, training: bool = False) -> Any:
        code = enc(x, training=training)
        if isinstance(code, (list, tuple)):
            code = code[-1]
        return dec(code, training=training)

    return through


def _as_tensors(unpack: Callable[[np.ndarray], Any]) -> Callable[[np.ndarray], Any]:
    """``unpack`` whose arrays come out as backend tensors, as fit hands a step its batch (PyTorch's step can't
    subtract a tensor from a NumPy array)."""
    def split(xb: np.ndarray) -> Any:
        parts = unpack(np.asarray(kc.to_numpy(xb)))
        if isinstance(parts, dict):
            return {k: keras.ops.convert_to_tensor(v) for k, v in parts.items()}
        return [keras.ops.convert_to_tensor(v) for v in parts]

    return split


def _fed_through(fwd: Callable[..., Any], unpack: Callable[[np.ndarray], Any]) -> Callable[..., Any]:
    """``fwd`` taking a packed batch: cut into the model's inputs first."""
    def through(x: Any, training: bool = False) -> Any:
        return fwd(unpack(x), training=training)

    return through


def layer_weights(layers: list[Any]) -> list[tuple[Any, list[Any], bool]]:
    """``(layer, weights, frozen)`` for each layer with weights.

    A trainable layer is measured on its trainable weights (a BatchNorm's
    moving statistics move without learning); a frozen one on all of them.
    """
    out = []
    for layer in layers:
        trainable = list(layer.trainable_weights)
        weights = trainable or list(layer.weights)
        if weights:
            out.append((layer, weights, not trainable))
    return out


def read_weights(groups: list[tuple[Any, list[Any], bool]]) -> list[list[np.ndarray]]:
    """The current values of every group's weights."""
    return [[np.array(kc.to_numpy(w.value), dtype=np.float64, copy=True) for w in ws] for _, ws, _ in groups]


def update_ratios(before: list[list[np.ndarray]], after: list[list[np.ndarray]]) -> tuple[list[float], list[float]]:
    """Per group ``(||after - before||, ||after - before|| / ||before||)``.

    The ratio of a group whose weights are all zero is its update norm
    itself (nothing to be relative to).
    """
    deltas, ratios = [], []
    for b, a in zip(before, after, strict=True):
        d = math.sqrt(sum(float(np.sum((x - y) ** 2)) for x, y in zip(a, b, strict=True)))
        w = math.sqrt(sum(float(np.sum(y**2)) for y in b))
        deltas.append(d)
        ratios.append(d / w if w > 0 else d)
    return deltas, ratios


def _state_variables(model: Any) -> list[Any]:
    """Every variable the model's training can change: its own (weights and seed states) and its metrics'."""
    found: dict[int, Any] = {}
    sources: list[Any] = [list(model.variables)]
    with contextlib.suppress(Exception):
        sources.append(list(model.metrics_variables))
    for attr in ("_loss_tracker", "_compile_metrics", "_compile_loss"):
        obj = getattr(model, attr, None)
        with contextlib.suppress(Exception):
            if obj is not None:
                sources.append(list(obj.variables))
    with contextlib.suppress(Exception):
        for m in getattr(model, "_metrics", []) or []:
            sources.append(list(m.variables))
    for vs in sources:
        for v in vs:
            found.setdefault(id(v), v)
    return list(found.values())


def _values(variables: list[Any]) -> list[np.ndarray]:
    return [np.array(kc.to_numpy(v.value), copy=True) for v in variables]


def extra_optimizers(model: Any) -> dict[str, Any]:
    """Optimizers a custom ``compile`` stored on the model besides ``optimizer`` (keras.io's GAN style:
    ``compile(self, d_optimizer, g_optimizer)``; an autoencoder with an encoder and a decoder optimizer), by
    attribute name. Its ``train_step`` applies its gradients with these, so the probes drive fresh copies."""
    out: dict[str, Any] = {}
    for name, value in list(getattr(model, "__dict__", {}).items()):
        if name != "optimizer" and not name.startswith("_") and isinstance(value, keras.optimizers.Optimizer):
            out[name] = value
    return out


def compile_like_fit(model: Any, optimizer: Any, loss: Any, run_eagerly: bool = False) -> None:
    """``model.compile(optimizer=..., loss=...)``, or Keras' own compile for a model whose ``compile`` override
    requires arguments of its own (the optimizers it stores are set by the session instead). ``run_eagerly``: the
    user's model was compiled so, and fit runs its train_step uncompiled (Python a trace can't take works there)."""
    eager = {"run_eagerly": True} if run_eagerly else {}
    import inspect

    own = type(model).compile
    if own is not keras.Model.compile:
        try:
            params = list(inspect.signature(own).parameters.values())[1:]
        except (TypeError, ValueError):  # a signature that can't be read: call it as fit's users do
            params = []
        required = [p for p in params if p.default is inspect.Parameter.empty
                    and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
                    and p.name not in ("optimizer", "loss")]
        if required:
            keras.Model.compile(model, optimizer=optimizer, loss=loss, **eager)
            return
    model.compile(optimizer=optimizer, loss=loss, **eager)


class OwnStepSession(ProbeSession):
    """A probe session that trains through the model's own ``train_step`` (see the module docstring).

    ``gradient_probe`` returns a trace marked ``unavailable`` (per-layer
    gradients can't be read from a user's step); the training probe, the
    range test and the confirmation runs work as for any model, one ``fit``
    step at a time, and record ``self.updates`` (per-layer update ratios).
    """

    def __init__(
        self,
        model: Any,
        data: np.ndarray,
        target: np.ndarray | None = None,
        *,
        seed: int = 0,
        lr: float | None = None,
        owned: bool = False,
        compile_from: Any = None,
        notes: list[str] | None = None,
        fit_targets: Any = None,
        unpack: Callable[[np.ndarray], Any] | None = None,
        pass_target: bool | None = None,
    ) -> None:
        # (fit_targets: the heads of a several-output model trained by the compiled loss; an own step trains its own.)
        # unpack: for a model the cell's fit feeds several arrays, ``data`` holds them packed one row per sample
        # (probes/packed.py) and this cuts a batch back into what fit hands the step; pass_target: whether that
        # fit passes a y (else read from the step and the loss, below).
        self.unpack = None if unpack is None else _as_tensors(unpack)
        self.backend = backend.current()
        self.notes = notes if notes is not None else []
        self.heads = None
        self.seed = int(seed)
        self.source_model = model
        # What the notes name: the step itself, or the compute_loss that Keras' step calls.
        self.own = own_step_name(compile_from if compile_from is not None else model) or "train_step"
        src = compile_from if compile_from is not None else model
        if not kc.is_compiled(src):
            raise ModelError(f"model '{model.name}' has its own {self.own} but is not compiled: model.fit fails the same way")
        x = np.asarray(data)
        y = x if target is None else np.asarray(target)
        if x.ndim < 2 or len(x) < 4:
            raise ProbeError(f"the probes need at least 4 samples with a batch axis; the data has shape {x.shape}.")
        if len(y) != len(x):
            raise ProbeError(f"data has {len(x)} samples but the target has {len(y)}.")
        self.x_all, self.y_all = x, y
        self.same_target = target is None or target is data
        # What fit is given: fit(x) for a step that computes its loss from x alone (the keras.io VAE);
        # fit(x, y) when there is a separate target or a compiled loss that needs one.
        self.pass_target = (pass_target if pass_target is not None else
                            not self.same_target or kc.compiled_loss(src) is not None
                            or step_unpacks_target(type(src)))
        sample = self._fed(x[:2])
        with kc.seeded(self.seed):
            if owned:
                self.model, self.in_place = model, False
            else:
                self.model, self.in_place = kc.clone_model(model, sample)
        if self.in_place and _builds(model):
            # Its first step would create its weights: a change to the user's model that can't be undone.
            raise ProbeError(
                f"model '{model.name}' is an unbuilt subclassed model that can't be copied (no get_config); its first "
                "training step would build it, which would change your model. Build it before checking (call it once "
                "on a batch, or fit it for one step), or give it get_config, to probe it."
            )
        # The user's state, before anything of ours runs on an in-place model.
        self.user_snapshot = self._user_state() if self.in_place else None
        self.optimizer, self.configured_lr = fresh_optimizer(src, lr)
        self.lr = self.configured_lr
        self.loss_fn, self.loss_name, self.logits = None, OWN_STEP, None
        # Optimizers of a custom compile (an encoder's and a decoder's): the step applies its gradients with
        # fresh copies of these, each at its own configured rate scaled as the probe's rate is.
        self.extras = {name: copy_optimizer(opt, None) for name, opt in extra_optimizers(src).items()}
        if not self.in_place:
            # Round 30: a layer the train_step uses but call() does not (a VAE's z_log_var Dense) is built only
            # by the first step; fit builds its optimizer then, on every variable. Build such layers the same way
            # before the probe optimizer is built, or its first step fails with "Unknown variable".
            self._build_in_a_still_step(src, sample, y[:2])
        if self.extras:
            self._build_extras(src, sample, y[:2])
        self.train_vars = list(self.model.trainable_variables)
        if not self.train_vars:
            raise ModelError(f"model '{model.name}' has no trainable weights: training can't change it")
        self.optimizer.build(self.train_vars)
        set_lr(self.optimizer, self.lr)
        if not self.in_place:
            # A copy trains with its own compile state: the fresh optimizer and the user's compiled loss (if any).
            compile_like_fit(self.model, self.optimizer, kc.compiled_loss(src), bool(getattr(src, "run_eagerly", False)))
        # Tried on a sample batch: a call that raises or returns something else falls through to the sub-models.
        target_shape = (2, *y.shape[1:])
        fn, how = forward_rule(self.model, sample, target_shape, may_build=not self.in_place)
        # Token ids scored by a categorical head ((n, steps) ids, (n, steps, vocab) out) with no compiled loss to
        # say so (a sentence VAE whose train_step sums a sparse categorical cross-entropy): the reconstruction is
        # one rank above the target, and is measured against one-hot rows, as for a compiled sparse loss.
        self.classes = None
        if fn is None:
            classes, probabilities = _class_head(self.model, sample, y, may_build=not self.in_place)
            if classes is not None:
                fn, how = forward_rule(self.model, sample, (*target_shape, classes), may_build=not self.in_place)
                if fn is not None:
                    self.classes = classes
                    self.id_padding = padded_ids(y)
                    # A head that returns logits (its step's loss has from_logits=True): softmax before measuring.
                    self.logits = None if probabilities else "softmax"
                    how += (f" (the targets are class ids of its {classes}-way head, measured as one-hot rows"
                            f"{'' if probabilities else ' against the softmax of its logits'})")
        self.forward_how = how if fn is not None else None
        # Why the reconstruction can't be read (None: it can): the probes then train blind (see train()).
        self.no_forward = None if fn is not None else (
            f"the probes can't read the reconstruction of model '{model.name}' ({how}), so what needs a forward pass did "
            f"not run: {', '.join(NEEDS_FORWARD)}. The training probe ran through its own train_step (loss curve, "
            "update-to-weight ratios, AE301). Give the model a call() that returns the reconstruction, or "
            "encoder and decoder attributes, to get them."
        )
        self._forward = self._make_forward(fn) if fn is not None else None
        self._raw_forward = fn
        self._parts_found = getattr(fn, "parts", None)
        # The trial calls set attributes (built, _called...) and advanced seed states of an in-place model: put them back.
        self.release()
        self.layers = leaf_layers(self.model)
        self.output_layers, self.widths, self.units = set(), {}, {}
        self.var_layer = [-1] * len(self.train_vars)
        self.groups = layer_weights(self.layers)
        self.user_layers = leaf_layers(src) if src is not self.model else self.layers
        self.split = {}
        # The latent measurement (AE407) needs a forward pass that goes through the sampling layer:
        # the model's call, or decoder(z) with z the encoder's last output (keras.io: [z_mean, z_log_var, z]).
        self._sampled = sampled_forward(self.model, getattr(fn, "parts", None)) if fn is not None else None
        if self._sampled is not None and unpack is not None:
            self._sampled = _fed_through(self._sampled, self.unpack)
        self._sampling = None if self._sampled is not None else False
        self._contract = None
        self._train_function: Any = None
        self._traced = 0
        self._seed_gen: Any = None  # Keras' global seed generator as the traced step captured it (see _seeded)
        self.updates: dict[str, Any] | None = None
        self._collect: list[list[float]] | None = None
        self._terms: dict[str, list[float]] = {}
        self._scaling: Any = _UNMEASURED
        self._state = _state_variables(self.model)
        self.initial = self.snapshot()
        judged = (f"judged the reconstruction by MSE through {how}" if fn is not None
                  else "could not read its reconstruction (next note)")
        self.notes.append(
            f"Model '{model.name}' trains with its own {self.own}: the probes ran {self._step_words()} as fit does, one "
            f"batch at a time (its loss is what its {self.own} returns), {judged}, and "
            "measured what each step did to each layer's weights instead of per-layer gradients."
        )
        if self.no_forward:
            self.notes.append(f"Not measured: {self.no_forward}")
        if self.in_place:
            self.notes.append(
                f"Model '{model.name}' could not be copied (a subclassed model, or a custom layer its config can't rebuild): "
                "probed in place, restored afterwards. Only here do ae_magic's probes run steps on your model itself; every variable, the "
                "optimizer's state, metric and seed states and the attributes fit sets were put back byte for byte."
            )

    def code_width(self) -> int | None:
        """The code's width: the input width of the decoder part (the pair :func:`forward_rule` found, else a
        ``decoder`` attribute), when that part has a known input shape; else None (no PCA bar).

        A subclassed model gives no graph to find its narrowest layer in, but a decoder's input is the code
        by definition: that is what the mean/PCA comparison (AE405) needs.
        """
        parts = getattr(self, "_parts_found", None)
        dec = parts[1] if parts else getattr(self.model, "decoder", None)
        try:
            shape = tuple(dec.inputs[0].shape)[1:]
        except Exception:  # not a functional/Sequential part with a known input: no width
            return None
        if not shape or any(d is None for d in shape):
            return None
        width = int(np.prod(shape))
        return width if 0 < width < int(np.prod(self.x_all.shape[1:])) else None

    def _step_words(self) -> str:
        """The step the probes ran, in the notes' words."""
        return "that step" if self.own == "train_step" else "Keras' train_step, which calls it,"

    def _fed(self, xb: np.ndarray) -> Any:
        """A batch as the model takes it: the array itself, or the several inputs cut out of a packed row."""
        return self.unpack(as_input(xb)) if self.unpack is not None else as_input(xb)

    def _batch(self, x_in: Any, yb: Any) -> Any:
        """What ``fit`` hands the step for one batch: ``(x, y)``, or ``x`` alone (``(x,)`` for several inputs, as
        Keras wraps a list of inputs fed without a y)."""
        if self.pass_target:
            return (x_in, yb)
        return (x_in,) if self.unpack is not None else x_in

    def _build_in_a_still_step(self, src: Any, sample: Any, y: np.ndarray) -> None:
        """One step of the copy's own train_step at learning rate 0 with a throwaway optimizer, when a layer of the
        copy is still unbuilt after copying: it builds what only the step builds. Every variable that
        existed before is put back (a BatchNormalization's moving statistics, metric states)."""
        if not any(not getattr(la, "built", False) for la in leaf_layers(self.model)):
            return
        self._still_step(src, sample, y)

    def _still_step(self, src: Any, sample: Any, y: np.ndarray) -> dict[str, Any]:
        """One step of the copy's own train_step at learning rate 0, with a throwaway optimizer and throwaway copies of
        the custom-compile optimizers (returned: they now know the variables they update); every variable that
        existed before is put back (a BatchNormalization's moving statistics, metric states)."""
        before = list(self.model.variables)
        values = _values(before)
        still = {n: self._still(o) for n, (o, _) in self.extras.items()}
        temp, _ = fresh_optimizer(src, 0.0)
        compile_like_fit(self.model, temp, kc.compiled_loss(src), bool(getattr(src, "run_eagerly", False)))
        data = self._batch(sample, as_input(y))
        try:
            with kc.seeded(self.seed), self._extras_set(still):
                self.backend.own_train_step(self.model, data)
        except Exception:  # the real first step meets the same error and reports it
            pass
        finally:
            for v, val in zip(before, values, strict=True):
                v.assign(val)
            self.model.__dict__["train_function"] = None
        return still

    # -- state --------------------------------------------------------------
    @staticmethod
    def _still(opt: Any) -> Any:
        """A throwaway copy of ``opt`` at learning rate 0."""
        temp, _ = copy_optimizer(opt, 0.0)
        return temp

    @contextlib.contextmanager
    def _extras_set(self, opts: dict[str, Any]) -> Iterator[None]:
        """The model's custom-compile optimizers replaced by ``opts`` (bypassing Keras' attribute tracking), and put
        back afterwards (the user's own objects, on an in-place model)."""
        d = self.model.__dict__
        saved = {n: d[n] for n in opts if n in d}
        d.update(opts)
        try:
            yield
        finally:
            for n in opts:
                d.pop(n, None)
            d.update(saved)

    def _build_extras(self, src: Any, sample: Any, y: np.ndarray) -> None:
        """Build the custom-compile optimizers' copies on the variables each one updates, before the snapshot.

        Which variables an optimizer updates is known only once the step applied it: one step at learning rate 0
        with throwaway copies tells; every variable is put back after it, and the fresh copies are built on those
        lists, so every probe run starts from the same untouched optimizer state."""
        still = self._still_step(src, sample, y)
        for n, (opt, _) in self.extras.items():
            built = getattr(still[n], "_trainable_variables", None)
            if built:
                opt.build(list(built))

    def _extra_variables(self) -> list[Any]:
        return [v for opt, _ in self.extras.values() for v in opt.variables]

    def _user_state(self) -> tuple[list[Any], list[np.ndarray], dict[str, Any]]:
        """Every variable of the user's model and optimizer, and the model's attributes."""
        variables = _state_variables(self.model)
        opt = getattr(self.model, "optimizer", None)
        for v in list(getattr(opt, "variables", []) or []):
            if all(v is not w for w in variables):
                variables.append(v)
        return variables, _values(variables), dict(self.model.__dict__)

    def snapshot(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Values of every model, metric and (probe) optimizer variable."""
        return _values(self._state), _values(list(self.optimizer.variables) + self._extra_variables())

    def restore(self, snap: tuple[list[np.ndarray], list[np.ndarray]]) -> None:
        """Put a :meth:`snapshot` back."""
        model_vals, opt_vals = snap
        for v, val in zip(self._state, model_vals, strict=True):
            v.assign(val)
        for v, val in zip(list(self.optimizer.variables) + self._extra_variables(), opt_vals, strict=True):
            v.assign(val)

    def release(self) -> None:
        """Put the user's model back exactly as it was (in-place probing only)."""
        if not self.in_place or self.user_snapshot is None:
            return
        variables, values, attrs = self.user_snapshot
        for v, val in zip(variables, values, strict=True):
            v.assign(val)
        d = self.model.__dict__
        for k in [k for k in d if k not in attrs]:
            del d[k]
        for k, val in attrs.items():
            if d.get(k, _MISSING) is not val:
                d[k] = val

    def dispose(self) -> None:
        """Restore the user's model and drop the traced step (never parked for reuse)."""
        self.release()
        self._train_function = None
        self._forward = None
        self._raw_forward = None

    def adopt(self, user_model: Any, data: np.ndarray, target: np.ndarray | None) -> None:
        """Own-step sessions are never parked, so never adopted."""
        raise ProbeError("a session driving the model's own train_step is not reused")

    @property
    def tracing_count(self) -> int:
        """How often the model's train function was built for the probes (1 after any number of probes)."""
        return self._traced

    @contextlib.contextmanager
    def _driving(self) -> Iterator[None]:
        """The model set up to run the probes' steps; everything put back afterwards."""
        d = self.model.__dict__
        saved = dict(d) if self.in_place else None
        try:
            if self.in_place:
                # Bypass Keras' attribute tracking: these are put back as they were below.
                d["optimizer"] = self.optimizer
            d["train_function"] = self._train_function
            d["stop_training"] = False
            with self._extras_set({n: opt for n, (opt, _) in self.extras.items()}):
                yield
        finally:
            self._train_function = d.get("train_function")
            if saved is not None:
                self.release()
                for k in [k for k in d if k not in saved]:
                    del d[k]
                d.update(saved)

    @contextlib.contextmanager
    def _seeded(self) -> Iterator[None]:
        """As :meth:`ProbeSession._seeded`, keeping the global seed generator the traced step drew from.

        A train_step that draws unseeded (``keras.random.normal(shape)``, the
        keras.io VAE's style) captures Keras' global generator when it is
        traced; a later probe run that re-seeds would otherwise leave the step
        a generator to create on its next trace, which TensorFlow refuses.
        """
        with super()._seeded():
            if self._seed_gen is not None:
                kc.reinstate_seed_generator(self._seed_gen)
            try:
                yield
            finally:
                if self._seed_gen is None and self.model.__dict__.get("train_function") is not None:
                    self._seed_gen = kc.global_seed_generator()

    # -- the step --------------------------------------------------------------
    def _run(self, xs: Any, ys: Any, lr: float | list[float]) -> tuple[np.ndarray, np.ndarray]:
        """``k`` steps of the model's own ``train_step`` (as ``fit`` runs it); returns the losses and no gradient norms (NaN)."""
        k = int(xs.shape[0])
        lrs = [float(v) for v in lr] if isinstance(lr, list) else [float(lr)] * k
        losses = []
        after = None  # the weights after the previous step are the next step's "before": one read a step, not two
        for i in range(k):
            set_lr(self.optimizer, lrs[i])
            for opt, own_lr in self.extras.values():  # each at its own rate, scaled as the probe's rate is
                set_lr(opt, own_lr * lrs[i] / self.configured_lr if self.configured_lr else own_lr)
            data = self._batch(self.unpack(xs[i]) if self.unpack is not None else xs[i], ys[i])
            before = (after if after is not None else read_weights(self.groups)) if self._collect is not None else None
            had = self.model.__dict__.get("train_function") is not None
            try:
                logs = self.backend.own_train_step(self.model, data)
            except Exception as exc:
                if not had or self._traced == 0:
                    raise ModelError(f"the model's own train_step raises {describe(exc)}; model.fit fails the same way") from exc
                # A step that ran before fails when traced again (a new batch shape): fit traces once per shape
                # in one run, the probes across runs. One fresh trace tells the model's fault from the probes'.
                self.model.__dict__["train_function"] = None
                try:
                    logs = self.backend.own_train_step(self.model, data)
                except Exception:
                    raise ModelError(
                        f"the model's own train_step raises {describe(exc)}; model.fit fails the same way") from exc
            if not had and self.model.__dict__.get("train_function") is not None:
                self._traced += 1
            losses.append(step_loss(logs))
            if before is not None and self._collect is not None:
                after = read_weights(self.groups)
                _, ratios = update_ratios(before, after)
                self._collect.append(ratios)
                for key, val in logs.items():
                    self._terms.setdefault(key, []).append(val)
        return np.asarray(losses, dtype=np.float64), np.full((k, len(self.train_vars)), np.nan)

    def eager_forward(self) -> Callable[[np.ndarray], Any] | None:
        """The reconstruction rule's own Python call, uncompiled (a patched layer takes effect), or None."""
        fn = getattr(self, "_raw_forward", None)
        if fn is None or self.in_place or self.unpack is not None or getattr(self, "classes", None) is not None:
            return None
        return lambda xb: fn(keras.ops.convert_to_tensor(xb))

    def _make_forward(self, fn: Callable[[Any], Any]) -> Callable[[np.ndarray], np.ndarray]:
        compiled: list[Callable[[Any], Any]] = [self.backend.compile_callable(fn)]

        def call(x: Any) -> Any:
            if compiled[0] is not fn:
                try:
                    return compiled[0](x)
                except Exception:  # Python the compiler can't trace (a numpy call, a print of a value): run it as it is
                    compiled[0] = fn
            return fn(x)

        def forward(xb: np.ndarray) -> np.ndarray:
            try:
                out = call(self.unpack(xb) if self.unpack is not None else keras.ops.convert_to_tensor(xb))
            except Exception as exc:
                raise ModelError(f"the model's reconstruction ({self.forward_how}) raises {describe(exc)}") from exc
            out = np.asarray(kc.to_numpy(out))
            if getattr(self, "id_padding", False) and np.ndim(xb) == 2 and out.shape[:2] == np.shape(xb):
                # Padding (id 0 at the rows' ends) is what the step's masked loss leaves out: it is read as
                # reconstructed, so the errors, curves and baselines judge the real tokens only.
                out = np.array(out, copy=True)
                pad = np.asarray(xb) == 0
                hot = 30.0 if self.logits == "softmax" else 1.0
                out[pad] = -hot if self.logits == "softmax" else 0.0
                out[pad, 0] = hot
            return out

        return forward

    def predict(self, x: np.ndarray, chunk: int = 512) -> np.ndarray:
        """As :meth:`ProbeSession.predict`; a ProbeError (``no_forward`` says why) when the reconstruction can't be read."""
        if self._forward is None:
            raise ProbeError(self.no_forward or "the probes can't read the model's reconstruction")
        return super().predict(x, chunk)

    def loss_value(self, y: np.ndarray, pred: np.ndarray) -> float:
        """The validation loss: the reconstruction's MSE (a custom step's loss needs more than a prediction); class
        ids against their one-hot rows."""
        if getattr(self, "classes", None) is not None and np.ndim(y) + 1 == np.ndim(pred):
            from .batches import one_hot

            ids = np.asarray(y)
            y, pred = one_hot(ids, int(self.classes)), self.as_recon(np.asarray(pred))
            if getattr(self, "id_padding", False) and padded_ids(ids):
                # Id 0 padding the rows' ends (pad_sequences' default, what mask_zero and a step's own
                # `x != 0` mask leave out): the real tokens only, as the step's masked loss scores them.
                real = ids != 0
                if real.any():
                    return float(np.mean((y[real].astype(np.float64) - pred[real].astype(np.float64)) ** 2))
        return float(np.mean((np.asarray(y, np.float64) - np.asarray(pred, np.float64)) ** 2))

    def activations_and_gates(
        self, x_act: np.ndarray, x_gate: np.ndarray
    ) -> tuple[dict[str, tuple[float | None, float | None]], dict[str, dict[str, Any]]]:
        """No activations (there is no forward graph of the training step to record layers from); the gates as usual."""
        return {}, gate_stats(self.model, self.layers, x_gate)

    # -- probes -------------------------------------------------------------
    def gradient_probe(self, *, batches: int = 0, progress: Any = None) -> dict[str, Any]:
        """No per-layer gradients: the trace says why; the update ratios of the training probe stand in."""
        return {
            "layers": [],
            "batches": 0,
            "loss": [],
            "unavailable": (
                "per-layer gradients can't be read from the model's own train_step; the training probe measured "
                "each layer's update-to-weight ratio per step instead"
            ),
        }

    def run_steps(self, lrs: list[float] | float, n: int) -> list[float]:
        """As :meth:`ProbeSession.run_steps`, through the model's own step."""
        with self._driving():
            return super().run_steps(lrs, n)

    def train_with_optimizer(self, optimizer: Any, **train_kw: Any) -> dict[str, Any]:
        """Not for a model's own step: it applies its gradients with the optimizer fit gave it (ProbeError)."""
        raise ProbeError("a model with its own train_step applies its gradients itself; the probes can't swap its optimizer.")

    def train(self, **kwargs: Any) -> dict[str, Any]:
        """The training probe through the model's own step; also fills ``self.updates``.

        ``until_frozen`` is ignored: an own step may hold its weights still for a while and then move them (a
        warm-up, a loss term switched on at some step), so its run goes its full length.
        """
        kwargs["until_frozen"] = False
        self._collect, self._terms = [], {}
        try:
            with self._driving():
                trace = super().train(**kwargs) if self._forward is not None else self._train_blind(**kwargs)
                rows, terms = self._collect, self._terms
        finally:
            self._collect = None
        trace["grad_steps"], trace["grad_norms"] = [], {}
        trace["train_step"] = "own"
        trace["forward"] = self.forward_how
        trace["loss_terms"] = terms
        trace["in_place"] = self.in_place
        self.updates = self._updates_trace(rows)
        if self._scaling is _UNMEASURED:  # once per session: the re-runs train the same step
            self._scaling = batch_scaling(self, terms)
        if self._scaling is not None:
            trace["batch_scaling"] = self._scaling
        return trace

    def still_logs(self, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
        """The terms one step of the model's own step reports on the batch ``x`` (target ``y``), weights kept.

        The step runs at learning rate 0 and everything it changed (weights, optimizer, metric and seed
        states) is put back, so the batch only sizes what the step computes.
        """
        snap = self.snapshot()
        saved = self._collect, self._terms
        self._collect, self._terms = [], {}
        try:
            with self._driving(), self._seeded():
                self._run(keras.ops.convert_to_tensor(x)[None], keras.ops.convert_to_tensor(y)[None], 0.0)
            return {k: float(v[-1]) for k, v in self._terms.items() if v}
        finally:
            self._collect, self._terms = saved
            self.restore(snap)

    def _train_blind(
        self, *, epochs: int | None = None, steps: int | None = None, lr: float | None = None, progress: Any = None,
        val_points: int | None = None, stop: Any = None, until_frozen: bool = False,
    ) -> dict[str, Any]:
        """The training probe of a model whose reconstruction can't be read: the own step's losses only.

        With no held-out curve there is nothing for ``val_points``, ``stop`` or ``until_frozen`` to act on; they are accepted
        so every session's ``train`` takes the same arguments.

        The same steps as :meth:`ProbeSession.train` (batches, epochs, learning
        rate); everything that needs a forward pass (the validation curve,
        reconstructions, baselines, spreads, the latent measurement) is left
        empty and ``no_forward`` says why, so no check judges a number that
        was not measured.
        """
        s = self.split
        spe = math.ceil(len(s["x_tr"]) / s["batch_size"])
        if steps:
            total = int(steps)
            epochs = math.ceil(total / spe)
        else:
            epochs = int(epochs) if epochs else max(DEFAULT_EPOCHS, math.ceil(MIN_STEPS / spe))
            total = epochs * spe
        lr = self.lr if lr is None else float(lr)
        loss_t: list[float] = []
        epoch_loss: list[float] = []
        diverged = False
        step = 0
        with kc.seeded(self.seed):
            self.reset()
            self._set_lr(lr)
            try:
                for ep in range(epochs):
                    start = step
                    for xs, ys in segments(s, ep):
                        k = min(int(xs.shape[0]), total - step)
                        if k <= 0:
                            break
                        ls, _ = self._run(xs[:k], ys[:k], lr)
                        loss_t.extend(float(v) for v in ls)
                        step += k
                        if progress is not None:
                            _emit(progress, "training", step, total, loss_t[-1], epoch=ep, lr=lr)
                    ep_losses = np.asarray(loss_t[start:step], dtype=np.float64)
                    epoch_loss.append(float(np.mean(ep_losses)) if len(ep_losses) else float("nan"))
                    if not np.all(np.isfinite(ep_losses)):
                        diverged = True
                        break
            finally:
                self._set_lr(self.lr)
                if self.in_place:
                    self.reset()
        nan = float("nan")
        return {
            **self._trace_header(lr, len(epoch_loss), spe),
            "loss": loss_t,
            "epoch_loss": epoch_loss,
            "val_loss": [],
            "val_loss_before": nan,
            "has_batchnorm": any("BatchNormalization" in type(layer).__name__ for layer in self.layers),
            "val_mse": [],
            "val_curve": {"steps": [], "loss": [], "mse": []},
            "diverged": diverged,
            "stopped_early": False,
            "frozen": False,
            "grad_steps": [],
            "grad_norms": {},
            "recon": None,
            "baselines": {"final": None, "start": None, "mean": None, "pca": None, "position_mean": None,
                          "loss_units": {"mean": None, "pca": None}},
            "per_position": None,
            "output_spread": nan,
            "input_spread": nan,
            "activations_after": [],
            "latent": None,
            "no_forward": self.no_forward,
        }

    def latent_after(self, x_tr: np.ndarray, x_val: np.ndarray, y_val: np.ndarray) -> dict[str, Any] | None:
        """As :meth:`ProbeSession.latent_after`, through :func:`sampled_forward` (a custom-step VAE has no graph of its own)."""
        fwd = self._sampled
        if fwd is None:
            return None
        try:
            if self._sampling is None:
                self._sampling = find_sampling_layer(fwd, self.layers, x_tr) or False
                self._contract = contract_of(fwd, self._sampling, x_tr)
            if self._sampling is False:
                return None
            stats = latent_stats(fwd, self._sampling, x_val, y_val)
            stats["layer_index"] = next((i for i, ly in enumerate(self.layers) if ly is self._sampling), None)
            return stats
        except Exception:  # evidence for AE407 only: a failed measurement is left out
            return None

    def _updates_trace(self, rows: list[list[float]]) -> dict[str, Any]:
        """``traces["updates"]``: per layer, the update-to-weight ratio of every step."""
        table = np.asarray(rows, dtype=np.float64).reshape(len(rows), len(self.groups))
        keep = sorted(set(np.linspace(0, len(rows) - 1, min(len(rows), UPDATE_POINTS)).astype(int).tolist())) if rows else []
        names = [ly.name for ly in self.user_layers] if len(self.user_layers) == len(self.layers) else None
        layers = []
        for j, (layer, ws, frozen) in enumerate(self.groups):
            col = table[:, j] if len(rows) else np.zeros(0)
            i = next(i for i, ly in enumerate(self.layers) if ly is layer)
            finite = col[np.isfinite(col)]
            layers.append(
                {
                    "layer": names[i] if names else layer.name,
                    "index": i,
                    "class": type(layer).__name__,
                    "frozen": frozen,
                    "n_weights": len(ws),
                    "never_moved": bool(len(col)) and bool(np.all(col == 0.0)),
                    "max_ratio": float(finite.max()) if len(finite) else None,
                    "mean_ratio": float(finite.mean()) if len(finite) else None,
                    "ratios": [float(col[s]) for s in keep],
                }
            )
        measured = {ly["layer"] for ly in layers}
        found = _sub_models(self.model, self.layers, names, getattr(self, "_parts_found", None))
        subs = {k: [n for n in v if n in measured] for k, v in found.items()}
        return {"source": OWN_STEP, "steps": len(rows), "points": keep, "layers": layers, "sub_models": subs}


def step_loss(logs: dict[str, float]) -> float:
    """A step's loss from ``fit``'s logs: ``"loss"``, else the sum of the entries named ``*loss``, else the sum of
    every entry (a step that logs only its terms: ``{"reconstruction": ..., "kl": ...}``)."""
    if "loss" in logs:
        return logs["loss"]
    parts = ([v for k, v in logs.items() if k.endswith("loss")]
             or [v for k, v in logs.items() if not _METRIC_NAME.search(k)])
    return float(sum(parts)) if parts else float("nan")


# Logged entries that are metrics, not loss terms (left out of a step's loss when nothing is named *loss).
_METRIC_NAME = re.compile(r"acc|auc|precision|recall|^lr$|learning_rate", re.IGNORECASE)


def _sub_models(
    model: Any, layers: list[Any], names: list[str] | None, parts: tuple[Any, Any] | None = None
) -> dict[str, list[str]]:
    """The leaf-layer names under the model's ``encoder`` / ``decoder`` (weighted ones kept by the caller).

    The attributes of those names, else the ``parts`` pair :func:`forward_rule` found by shape.
    """
    out: dict[str, list[str]] = {}
    for k, attr in enumerate(("encoder", "decoder")):
        sub = getattr(model, attr, None)
        if sub is None and parts is not None:
            sub = parts[k]
        if sub is None or not hasattr(sub, "layers"):
            continue
        ids = {id(ly) for ly in leaf_layers(sub)}
        out[attr] = [(names[i] if names else ly.name) for i, ly in enumerate(layers) if id(ly) in ids]
    return out


_MISSING = object()
