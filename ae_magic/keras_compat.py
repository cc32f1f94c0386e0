"""Every Keras-version specific detail lives here, so the next Keras change
touches one file. Written against Keras 3 (3.0-3.15) on TensorFlow 2.16+,
JAX and PyTorch; what differs between the backends lives in
:mod:`ae_magic.backends`.
"""

from __future__ import annotations

import contextlib
import math
import random
import re
import weakref
from collections.abc import Callable, Iterator
from typing import Any

from . import backends
from .errors import safe_str

# Picks an installed backend first; a missing one is one sentence (BackendMissingError).
keras = backends.import_keras()

KERAS_VERSION = keras.__version__

# The three wordings Keras 3 has used for "an output is not reachable from
# the inputs" (function.py; changed in 3.14.0, commit 462f55b05f).
_DISCONNECT_PATTERNS = (
    re.compile(r"Graph disconnected", re.I),
    re.compile(r"Output with path `[^`]*` is not connected to `inputs`"),
    re.compile(r"`inputs` not connected to `outputs`"),
)
# Unbuilt Sequential: `.input`/`.output` raise AttributeError in Keras 3.
_UNBUILT_PATTERNS = (
    re.compile(r"has never been called and thus has no defined (input|output)"),
    re.compile(r"has no defined inputs yet"),
    re.compile(r"has no defined outputs yet"),
    re.compile(r"This model has not yet been built"),
    # PyTorch backend: layers are torch Modules, whose __getattr__ replaces
    # the property's own AttributeError with this one.
    re.compile(r"'Sequential' object has no attribute '(input|output|inputs|outputs)'"),
)

SATURATING_ACTIVATIONS = {"sigmoid", "tanh", "hard_sigmoid", "softsign", "softmax", "hard_tanh", "hard_silu_never"}
RELU_LIKE = {"relu", "relu6"}


def is_model(obj: Any) -> bool:
    return isinstance(obj, keras.Model)


def is_layer(obj: Any) -> bool:
    return isinstance(obj, keras.layers.Layer)


def is_keras_tensor(obj: Any) -> bool:
    return isinstance(obj, keras.KerasTensor)


def is_disconnect_error(exc: BaseException) -> bool:
    msg = safe_str(exc)
    return isinstance(exc, ValueError) and any(p.search(msg) for p in _DISCONNECT_PATTERNS)


def is_unbuilt_error(exc: BaseException) -> bool:
    msg = safe_str(exc)
    return isinstance(exc, (AttributeError, ValueError)) and any(p.search(msg) for p in _UNBUILT_PATTERNS)


def model_kind(model: Any) -> str:
    """``"sequential"``, ``"functional"`` or ``"subclassed"``."""
    if isinstance(model, keras.Sequential):
        return "sequential"
    from keras.src.models.functional import Functional

    if isinstance(model, Functional):
        return "functional"
    return "subclassed"


def is_built(model: Any) -> bool:
    """Whether the model has defined inputs (a graph we can walk)."""
    try:
        model.inputs  # noqa: B018 - raises on an unbuilt Sequential
    except (AttributeError, ValueError):
        return False
    return model.inputs is not None and len(model.inputs) > 0


def graph_inputs(model: Any) -> list[Any]:
    """Symbolic inputs of a Functional/Sequential model (flattened)."""
    return list(keras.tree.flatten(model.inputs))


def graph_outputs(model: Any) -> list[Any]:
    return list(keras.tree.flatten(model.outputs))


def inner_functional(model: Any) -> Any:
    """The Functional that a built Sequential wraps (Keras 3 keeps one)."""
    if isinstance(model, keras.Sequential):
        return getattr(model, "_functional", None)
    return model


def history(tensor: Any) -> tuple[Any, int, int] | None:
    """``(operation, node_index, tensor_index)`` of a KerasTensor."""
    h = getattr(tensor, "_keras_history", None)
    if h is None:
        return None
    return h.operation, h.node_index, h.tensor_index


def node_input_tensors(op: Any, node_index: int) -> list[Any]:
    """The tensors a layer call read as data.

    A padding mask that Keras passes along by itself (``mask=`` from an
    ``Embedding(mask_zero=True)``, computed by a ``not_equal`` op on the
    input) is no data path: counted as one, it would bypass the bottleneck.
    """
    node = op._inbound_nodes[node_index]
    tensors = list(node.input_tensors)
    try:
        args, kwargs = node.arguments.args, dict(node.arguments.kwargs)
        mask = kwargs.pop("mask", None)
    except AttributeError:  # another Node layout: keep every input
        return tensors
    if mask is None:
        return tensors
    masks = {id(t) for t in keras.tree.flatten(mask)}
    data = {id(t) for t in keras.tree.flatten([args, kwargs])}
    return [t for t in tensors if id(t) not in masks or id(t) in data]


def safe_input_shape(model: Any) -> list[Any] | None:
    try:
        shape = model.inputs[0].shape
    except Exception:
        return None
    return list(shape)


def safe_output_shape(model: Any) -> list[Any] | None:
    try:
        shape = model.outputs[0].shape
    except Exception:
        return None
    return list(shape)


def safe_count_params(model: Any) -> int | None:
    try:
        return int(model.count_params())
    except Exception:
        return None


def is_compiled(model: Any) -> bool:
    return bool(getattr(model, "compiled", False)) and getattr(model, "optimizer", None) is not None


def loss_outputs(model: Any) -> list[int] | None:
    """The indices of the outputs a per-output loss (list or dict) trains; None for any other loss."""
    loss = getattr(model, "loss", None)
    if not isinstance(loss, (list, tuple, dict)):
        return None
    if model_kind(model) == "subclassed":
        # No symbolic outputs to count or name: a list with one loss (``["mse", None]`` on a call that
        # returns ``(reconstruction, code)``) says which output fit trains; anything else is not read.
        used = [i for i, v in enumerate(loss) if v is not None] if isinstance(loss, (list, tuple)) else []
        return used if len(used) == 1 else None
    try:
        n = len(model.outputs)
    except Exception:
        return None
    if isinstance(loss, dict):
        names = [str(v) for v in (getattr(model, "output_names", None) or [])]
        given = [k for k, v in loss.items() if v is not None]
        used = [names.index(k) for k in given if k in names]
        if len(used) != len(given):
            return None
    else:
        if len(loss) != n:
            return None
        used = [i for i, v in enumerate(loss) if v is not None]
    return used


def loss_output(model: Any) -> int | None:
    """The index of the output the checks and probes judge and train, else None.

    ``compile(loss=["mse", None])`` or ``loss={"recon": "mse"}`` on a model
    that returns ``[reconstruction, code]``: ``fit`` trains the
    reconstruction alone, so the checks and probes judge that output. With
    losses on several outputs (``["mse", "sparse_categorical_crossentropy"]``
    on ``[reconstruction, class]``, trained as ``fit(x, [x, y])``), the
    check is given the reconstruction's target only: the one loss output
    shaped like the input is chosen (:func:`untrained_outputs` names the
    others), and None when no single one is.
    """
    used = loss_outputs(model)
    if not used:
        return None
    if len(used) == 1:
        return used[0]
    try:
        want = tuple(model.inputs[0].shape[1:]) if len(model.inputs) == 1 else None
        shaped = [i for i in used if tuple(model.outputs[i].shape[1:]) == want]
    except Exception:
        return None
    return shaped[0] if want is not None and len(shaped) == 1 else None


def untrained_outputs(model: Any) -> list[str]:
    """Names of the outputs whose loss the probes leave out (losses on several outputs; see :func:`loss_output`)."""
    used, k = loss_outputs(model) or [], loss_output(model)
    if k is None or len(used) < 2:
        return []
    names = [str(v) for v in (getattr(model, "output_names", None) or [])]
    return [names[i] if i < len(names) else f"output {i}" for i in used if i != k]


def loss_weight(model: Any) -> float | None:
    """The ``compile(loss_weights=...)`` weight of the output the probes train (:func:`loss_output`), or of a
    single-output model's loss; None when none was given or it can't be read."""
    cfg = getattr(getattr(model, "_compile_config", None), "config", None) or {}
    lw = cfg.get("loss_weights") if isinstance(cfg, dict) else None
    if lw is None:
        return None
    if isinstance(lw, (int, float)):
        return float(lw)
    k = loss_output(model)
    if k is None:
        return None
    try:
        v = lw.get(str(model.output_names[k])) if isinstance(lw, dict) else lw[k]
    except (IndexError, AttributeError, TypeError):
        return None
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def compiled_loss(model: Any) -> Any:
    """The loss given to ``compile`` (string, function or Loss), or None.

    For a per-output loss that trains one output (:func:`loss_output`),
    that output's loss.
    """
    loss = getattr(model, "loss", None)
    if isinstance(loss, (list, tuple, dict)):
        k = loss_output(model)
        if k is not None:
            return loss[model.output_names[k]] if isinstance(loss, dict) else loss[k]
    return loss


def loss_name(model: Any) -> str | None:
    loss = compiled_loss(model)
    if loss is None:
        return None
    if isinstance(loss, str):
        return loss
    if isinstance(loss, keras.losses.Loss):
        return type(loss).__name__
    return getattr(loss, "__name__", type(loss).__name__)


def loss_config(model: Any) -> dict[str, Any]:
    """The compiled loss's config (``from_logits`` and the rest); {} for a string or a function."""
    return loss_config_of(compiled_loss(model))


def loss_config_of(loss: Any) -> dict[str, Any]:
    """One loss's config, as :func:`loss_config`."""
    if isinstance(loss, keras.losses.Loss):
        try:
            return dict(loss.get_config())
        except Exception:
            return {}
    return {}


def canonical_loss(model: Any) -> str | None:
    """Loss family: 'bce', 'cce', 'scce', 'mse', 'mae', 'huber', other name, or None."""
    name = loss_name(model)
    return None if name is None else canonical_name(name)


def loss_family(loss: Any) -> str | None:
    """:func:`canonical_loss` for one loss as given to ``compile`` (a string, function or Loss), None for None."""
    if loss is None:
        return None
    if isinstance(loss, str):
        return canonical_name(loss)
    if isinstance(loss, keras.losses.Loss):
        return canonical_name(type(loss).__name__)
    return canonical_name(getattr(loss, "__name__", type(loss).__name__))


def canonical_name(name: str) -> str:
    """A loss's name as its family ('bce', 'cce', 'scce', 'mse', 'mae', 'huber', 'kld', else the name squeezed)."""
    n = re.sub(r"[^a-z]", "", name.lower())
    table = {
        "binarycrossentropy": "bce",
        "bce": "bce",
        "binaryfocalcrossentropy": "bce",
        "categoricalcrossentropy": "cce",
        "categoricalfocalcrossentropy": "cce",
        "sparsecategoricalcrossentropy": "scce",
        "meansquarederror": "mse",
        "mse": "mse",
        "meanabsoluteerror": "mae",
        "mae": "mae",
        "huber": "huber",
        "logcosh": "huber",
        "kldivergence": "kld",
        "kld": "kld",
        "kullbackleiblerdivergence": "kld",
    }
    return table.get(n, n)


def optimizer_summary(model: Any) -> dict[str, Any] | None:
    opt = getattr(model, "optimizer", None)
    if opt is None:
        return None
    out: dict[str, Any] = {"class": type(opt).__name__}
    lr = optimizer_lr(opt)
    if lr is not None:
        out["learning_rate"] = lr
    return out


# Where a learning-rate schedule is read: its highest rate over these first steps of fit.
SCHEDULE_STEPS = (0, 10, 30, 100, 300, 1000, 3000)


def optimizer_lr(opt: Any) -> float | None:
    """The optimizer's learning rate as a float; for a schedule, its highest rate over the first steps.

    A warm-up schedule starts at 0 (``CosineDecay(initial_learning_rate=0.0, warmup_target=3e-3)``):
    a probe run at the starting rate would move no weight, and read as AE301 "weights that never move".
    A decaying schedule's highest rate is its starting one.
    """
    inner = getattr(opt, "inner_optimizer", None) or opt
    sched = getattr(inner, "_learning_rate", None)
    if isinstance(sched, keras.optimizers.schedules.LearningRateSchedule):
        try:
            rates = [float(keras.ops.convert_to_numpy(sched(s))) for s in SCHEDULE_STEPS]
            finite = [r for r in rates if math.isfinite(r)]
            if finite:
                return max(finite)
        except Exception:  # a schedule that can't be called on a step: read the optimizer's value
            pass
    try:
        lr = opt.learning_rate
        return float(keras.ops.convert_to_numpy(lr))
    except Exception:
        return None


RECURRENT = ("LSTM", "GRU", "SimpleRNN", "Bidirectional", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D", "RNN")


def activation_name(layer: Any) -> str | None:
    """Name of a layer's activation ('relu', 'sigmoid', 'linear'...), or None.

    Recurrent layers report None: their tanh is gated by the cell and is the
    standard design, not a saturating stack.
    """
    if type(layer).__name__ in RECURRENT:
        return None
    if type(layer).__name__ == "TimeDistributed" and getattr(layer, "layer", None) is not None:
        # TimeDistributed(Dense(1, activation="sigmoid")) squashes like the
        # Dense it wraps: the sequence models' usual output layer.
        return activation_name(layer.layer)
    if isinstance(layer, keras.layers.Activation) or hasattr(layer, "activation"):
        act = getattr(layer, "activation", None)
        if act is None:
            return None
        name = getattr(act, "__name__", None) or type(act).__name__
        return str(name).lower()
    cls = type(layer).__name__
    simple = {"ReLU": "relu", "LeakyReLU": "leaky_relu", "ELU": "elu", "Softmax": "softmax", "PReLU": "prelu"}
    return simple.get(cls)


def recurrent_output_activation(layer: Any) -> str | None:
    """The activation that bounds a recurrent layer's output (LSTM/GRU/SimpleRNN: tanh by default), or None.

    :func:`activation_name` leaves recurrent layers out (their tanh is the
    standard design, not a saturating stack); where a recurrent layer *is*
    the output, that tanh decides which targets the model can reach (AE203).
    Bidirectional layers answer for their forward layer.
    """
    name = type(layer).__name__
    if name == "Bidirectional":
        layer = getattr(layer, "forward_layer", None)
        name = type(layer).__name__
    if name not in ("LSTM", "GRU", "SimpleRNN"):
        return None
    act = getattr(layer, "activation", None) or getattr(getattr(layer, "cell", None), "activation", None)
    if act is None:
        return None
    return str(getattr(act, "__name__", None) or type(act).__name__).lower()


def width_of(shape: Any) -> int | None:
    """Features per sample of a shape with a batch axis (H*W*C for images)."""
    try:
        dims = list(shape)[1:]
    except TypeError:
        return None
    if any(d is None for d in dims):
        # Sequence models: count the feature axis only.
        known = [d for d in dims if d is not None]
        return int(known[-1]) if known else None
    n = 1
    for d in dims:
        n *= int(d)
    return n


def kernel_initializer_name(layer: Any) -> str | None:
    init = getattr(layer, "kernel_initializer", None)
    if init is None:
        return None
    return type(init).__name__


@contextlib.contextmanager
def record_layer_calls(
    callback: Callable[[Any, tuple, dict, Any], None], depth: list[int] | None = None
) -> Iterator[None]:
    """Call ``callback(layer, args, kwargs, outputs)`` for each symbolic layer call.

    Patches ``Layer.__call__`` for the duration; only calls whose arguments
    contain a KerasTensor are reported (eager calls on data are not graph),
    and only the outermost one (a nested model's inner layers are walked by
    graph analysis, not recorded as cell calls).
    """
    from keras.src.ops.operation import Operation

    level = depth if depth is not None else [0]

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def patched(self: Any, *args: Any, **kwargs: Any) -> Any:
            level[0] += 1
            try:
                out = original(self, *args, **kwargs)
            finally:
                level[0] -= 1
            if level[0] == 0:
                try:
                    flat = keras.tree.flatten((args, kwargs))
                except Exception:
                    flat = list(args)
                if any(isinstance(a, keras.KerasTensor) for a in flat):
                    with contextlib.suppress(Exception):
                        callback(self, args, kwargs, out)
            return out

        return patched

    # Layers go through Layer.__call__; raw `keras.ops.*` calls on symbolic
    # tensors (stop_gradient, add...) only through Operation.symbolic_call.
    # The shared level counter keeps a layer's own symbolic_call unrecorded.
    patches = [(keras.layers.Layer, "__call__"), (Operation, "symbolic_call")]
    originals = [(cls, name, cls.__dict__[name]) for cls, name in patches]
    for cls, name, orig in originals:
        setattr(cls, name, make(orig))
    try:
        yield
    finally:
        for cls, name, orig in originals:
            setattr(cls, name, orig)


@contextlib.contextmanager
def record_layer_creation(callback: Callable[[Any], None]) -> Iterator[None]:
    """Call ``callback(layer)`` when a layer is constructed (for its source line).

    Hooks ``Layer.__new__`` rather than ``__init__`` so warnings Keras raises in
    ``__init__`` (``stacklevel=2``) still point at the user's line, not at ours.
    """
    base = keras.layers.Layer
    original = base.__dict__["__new__"]
    func = original.__func__ if isinstance(original, staticmethod) else original

    def patched(cls: Any, *args: Any, **kwargs: Any) -> Any:
        obj = func(cls, *args, **kwargs)
        with contextlib.suppress(Exception):
            callback(obj)
        return obj

    # Model.__new__ calls Layer.__new__ without the constructor's arguments:
    # hook it too, to record them (see constructor_args).
    model_base = keras.Model
    model_original = model_base.__dict__["__new__"]
    model_func = model_original.__func__ if isinstance(model_original, staticmethod) else model_original

    def model_patched(cls: Any, *args: Any, **kwargs: Any) -> Any:
        obj = model_func(cls, *args, **kwargs)
        with contextlib.suppress(Exception):
            _remember_plain_constructor_args(obj, args, kwargs)
        return obj

    base.__new__ = staticmethod(patched)
    model_base.__new__ = staticmethod(model_patched)
    try:
        yield
    finally:
        base.__new__ = original
        model_base.__new__ = model_original


# Subclassed models created in the cell -> the (args, kwargs) they were
# constructed with, when those are plain values. Keras' own auto-config
# never sees a subclassed Model's arguments (Model.__new__ drops them), so an
# unbuilt `MyAE(n_features)` without get_config could not be copied; calling
# the class again with the same plain values is a faithful copy of an unbuilt
# model. Weak keys: the record never keeps a user's model alive.
_CTOR_ARGS: weakref.WeakKeyDictionary[Any, tuple[tuple, dict]] = weakref.WeakKeyDictionary()
_PLAIN = (str, int, float, bool, complex, type(None))


def _is_plain(value: Any) -> bool:
    """A value that a second constructor call can share safely (immutable, holds no layer or array)."""
    import numpy as np

    if isinstance(value, (tuple, list)):
        return all(_is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    return isinstance(value, _PLAIN) or (isinstance(value, np.generic) and value.ndim == 0)


def _graph_model(value: Any) -> bool:
    """A Functional or Sequential model: one ``clone_model`` copies (keras.io's ``VAE(encoder, decoder)``)."""
    return isinstance(value, keras.Model) and model_kind(value) in ("functional", "sequential")


def _remember_plain_constructor_args(obj: Any, args: tuple, kwargs: dict) -> None:
    if not isinstance(obj, keras.Model) or model_kind(obj) != "subclassed":
        return
    if not all(_is_plain(v) or _graph_model(v) for v in (*args, *kwargs.values())):
        return
    import copy

    # Copied: a list the cell mutates later must not change the record. A model
    # argument is kept as it is (the subclassed model holds it anyway) and cloned
    # when the copy is made.
    _CTOR_ARGS[obj] = (tuple(a if _graph_model(a) else copy.deepcopy(a) for a in args),
                       {k: v if _graph_model(v) else copy.deepcopy(v) for k, v in kwargs.items()})


def constructor_args(model: Any) -> tuple[tuple, dict] | None:
    """The plain-valued arguments a subclassed model was constructed with in a checked cell, if recorded."""
    try:
        return _CTOR_ARGS.get(model)
    except TypeError:
        return None


def disconnect_args(exc: BaseException) -> tuple[list[Any], list[Any]] | None:
    """The ``inputs``/``outputs`` handed to the Functional that failed to build.

    Read from the traceback's frame locals: Keras names them ``inputs`` and
    ``outputs`` in ``Function.__init__`` in every 3.x version.
    """
    tb = exc.__traceback__
    found = None
    while tb is not None:
        loc = tb.tb_frame.f_locals
        if "inputs" in loc and "outputs" in loc and "self" in loc:
            found = (loc["inputs"], loc["outputs"])
        tb = tb.tb_next
    if found is None:
        return None
    ins = [t for t in keras.tree.flatten(found[0]) if isinstance(t, keras.KerasTensor)]
    outs = [t for t in keras.tree.flatten(found[1]) if isinstance(t, keras.KerasTensor)]
    return ins, outs


def source_inputs(tensor: Any) -> list[Any]:
    """The Input tensors a KerasTensor is computed from (walking its history)."""
    seen: set[int] = set()
    found: list[Any] = []
    stack = [tensor]
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        h = history(t)
        if h is None:
            continue
        op, node_index, _ = h
        if isinstance(op, keras.layers.InputLayer):
            found.append(t)
            continue
        try:
            stack.extend(node_input_tensors(op, node_index))
        except (IndexError, AttributeError):
            continue
    return found


@contextlib.contextmanager
def autobuild_sequential(input_shape: tuple[int, ...]) -> Iterator[list[Any]]:
    """Make ``.input``/``.output`` of an unbuilt Sequential build it first.

    Used to continue a diagnosis (AE112) when the cell read ``encoder.input``
    on a Sequential without ``Input``: the first such model is built with the
    data's shape. Yields the list of models it built.
    """
    seq = keras.Sequential
    built: list[Any] = []
    props = {name: getattr(seq, name) for name in ("input", "output")}

    def wrap(name: str, prop: property) -> property:
        def getter(self: Any) -> Any:
            if not is_built(self) and not built:
                self.build((None, *input_shape))
                built.append(self)
            try:
                return prop.fget(self)
            except AttributeError:
                # A built-but-never-called Sequential still has no `.input`
                # node in Keras 3; its functional inputs/outputs stand in.
                if name in ("input", "output") and is_built(self):
                    ts = self.inputs if name == "input" else self.outputs
                    return ts[0] if len(ts) == 1 else ts
                raise

        return property(getter)

    own = {name: seq.__dict__.get(name) for name in props}
    for name, prop in props.items():
        setattr(seq, name, wrap(name, prop))
    try:
        yield built
    finally:
        for name in props:
            if own[name] is None:
                delattr(seq, name)
            else:
                setattr(seq, name, own[name])


def to_numpy(value: Any) -> Any:
    """A backend tensor (or anything array-like) as numpy, on every backend (torch: detached)."""
    import numpy as np

    if isinstance(value, np.ndarray):
        return value
    return np.asarray(keras.ops.convert_to_numpy(value))


def input_gradient_max(model: Any, x: Any) -> float | None:
    """Largest |d(r . model(x)) / dx| over the batch, for a fixed random ``r``.

    ``None`` when no gradient reaches the input at all (a ``stop_gradient``
    on every path, where the backend can tell); ``0.0`` when it arrives as
    exact zeros. Runs on the current backend (:mod:`ae_magic.backends`).
    """
    return backends.current().input_gradient_max(model, x)


# -- copies ---------------------------------------------------------------
def fresh_copy(model: Any, sample: Any = None) -> Any | None:
    """``model``'s architecture with fresh initial weights (as re-running the cell would build it), or None when
    it can't be rebuilt. A subclassed model needs ``sample`` (a batch to build it on). Call it inside
    :func:`seeded`: initializers draw from the global random state."""
    kind = model_kind(model)
    if kind == "subclassed" and sample is not None:
        return _new_instance(model, sample, weights=False)
    if kind not in ("functional", "sequential"):
        return None
    with contextlib.suppress(Exception):
        return keras.models.clone_model(model)
    with contextlib.suppress(Exception), keras.saving.custom_object_scope(_cell_objects(model)):
        return keras.models.clone_model(model, clone_function=_clone_layer)
    with contextlib.suppress(Exception), keras.saving.custom_object_scope(_cell_objects(model)):
        # (clone_model also rebuilds the compile config: a metric function the cell did not register stops it.)
        return type(model).from_config(model.get_config())
    return None


def _new_instance(model: Any, sample: Any, *, weights: bool) -> Any | None:
    """A new instance of a subclassed ``model``'s class, built on ``sample[:1]``: from its config, else from the
    constructor arguments the cell passed (``MyAE(n_features, code=4)``, recorded when the cell made it), with model
    arguments (an encoder and a decoder) cloned, at their weights when ``weights`` else at fresh ones. None when
    neither makes a working instance that shares no layer with ``model``."""

    def finish(made: Any) -> Any:
        if not _unshare_layers(model, made):
            raise ValueError("the copy shares layers with the user's model")
        _carry_adapted_layers(model, made)
        _carry_layer_names(model, made)
        # A model fed several arrays (a conditional VAE's `fit([x, labels], x)`) builds on the first row of each.
        made(keras.tree.map_structure(lambda a: a[:1], sample) if isinstance(sample, (list, tuple, dict)) else sample[:1])
        return made

    with contextlib.suppress(Exception):
        return finish(type(model).from_config(model.get_config()))
    # The common subclassed autoencoder takes no constructor arguments (widths set inside __init__), or only
    # plain ones, and has no get_config: a fresh instance of the same class is a faithful copy.
    args, kwargs = constructor_args(model) or ((), {})
    with contextlib.suppress(Exception):
        args = tuple(_clone_graph(a, weights=weights) if _graph_model(a) else a for a in args)
        kwargs = {k: _clone_graph(v, weights=weights) if _graph_model(v) else v for k, v in kwargs.items()}
        return finish(type(model)(*args, **kwargs))
    return None


def clone_model(model: Any, sample: Any) -> tuple[Any, bool]:
    """A copy of ``model`` with the same architecture and weights.

    Returns ``(copy, in_place)``. Functional and Sequential models go through
    ``keras.models.clone_model``; subclassed models through
    ``from_config``. When neither works, ``(model, True)``: the caller must
    then snapshot and restore the model's variables around every probe.
    """
    kind = model_kind(model)
    weights = model.get_weights()
    clone = None
    if kind in ("functional", "sequential"):
        with contextlib.suppress(Exception):
            clone = keras.models.clone_model(model)
        if clone is None:
            # A Lambda holding a Python lambda can't go through its config
            # (Keras' safe mode): reuse the user's function object itself.
            # A regularizer, constraint or initializer class the cell defined
            # without registering it can't be found by name: hand Keras the
            # classes the layers hold.
            with contextlib.suppress(Exception), keras.saving.custom_object_scope(_cell_objects(model)):
                clone = keras.models.clone_model(model, clone_function=_clone_layer)
    if clone is None and kind != "subclassed":
        with contextlib.suppress(Exception):
            clone = type(model).from_config(model.get_config())
    if clone is None and kind == "subclassed" and sample is not None:
        clone = _new_instance(model, sample, weights=True)
    if clone is not None and weights and not all_finite_arrays(weights):
        # The cell's own fit diverged and left NaN/Inf in the weights (round 48's av08): nothing can be measured
        # from them. The copy keeps the fresh initial weights clone_model gave it, as re-running the cell would;
        # a subclassed one is made again with fresh ones, its encoder and decoder arguments included (round 81's
        # fb02: the copy of a VAE whose KL went to NaN in the cell's fit had the NaN weights).
        fresh = clone if kind in ("functional", "sequential") else _new_instance(model, sample, weights=False)
        if fresh is not None:
            fresh._ae_fresh_init = True
            finalize_states(fresh)
            return fresh, False
    if clone is not None and weights:
        try:
            clone.set_weights(weights)
        except Exception:
            # An unbuilt subclassed model can be partly built (TensorFlow's
            # Denoise tutorial: an encoder Sequential with an Input, a decoder
            # without): its weights are those of the built parts only. Copy
            # them layer by layer; the rest is fresh, as fit would build it.
            built = kind == "subclassed" and not getattr(model, "built", True)
            clone = clone if built and _copy_built_layers(model, clone) else None
    if clone is None:
        return model, True
    finalize_states(clone)
    return clone, False


def all_finite_arrays(arrays: list[Any]) -> bool:
    """Every value of every array is finite (non-float arrays count as finite)."""
    import numpy as np

    for a in arrays:
        arr = np.asarray(a)
        if arr.dtype.kind in "fc" and not np.all(np.isfinite(arr)):
            return False
    return True


def builds_on_first_call(model: Any) -> bool:
    """Whether the model's weights are made on its first call: it is unbuilt, or it has no
    variables yet while a sub-layer is unbuilt (``model.build(shape)`` on a subclassed model
    whose ``call`` uses nested models: Keras marks it built, and ``fit`` makes the weights)."""
    if not getattr(model, "built", True):
        return True
    try:
        # A Dropout's seed generator state is made with the layer, not on its first call.
        if [v for v in model.variables if "seed_generator" not in (getattr(v, "path", "") or "")]:
            return False
        subs = list(model._flatten_layers(include_self=False))
    except Exception:
        return False
    return any(not getattr(sub, "built", True) for sub in subs)


def finalize_states(model: Any) -> None:
    """Recompute what preprocessing layers derive from their weights, after those were set.

    An adapted ``Normalization`` keeps its mean and variance as weights but
    normalises with constants made from them by ``finalize_state()``, which
    ``adapt`` and weight loading call and ``set_weights`` does not: a copy
    would normalise with mean 0 and variance 1.
    """
    for layer in leaf_layers(model):
        fin = getattr(type(layer), "finalize_state", None)
        if fin is not None and fin is not getattr(keras.layers.Layer, "finalize_state", None):
            with contextlib.suppress(Exception):
                layer.finalize_state()


def leaf_layers(model: Any) -> list[Any]:
    """``model``'s innermost layers in tracking order, InputLayers aside (a nested Sequential gets one only once built)."""
    return [la for la in model._flatten_layers(include_self=False)
            if not list(la._flatten_layers(include_self=False)) and not isinstance(la, keras.layers.InputLayer)]


def _layer_paths(layer: Any, prefix: str = "", depth: int = 0) -> dict[str, Any]:
    """Each sub-layer of ``layer`` by where it sits: ``encoder.1`` for the second layer of the attribute
    ``encoder`` (a Sequential's ``layers``, InputLayers aside), ``blocks[2]`` for a list's third."""
    out: dict[str, Any] = {}
    if depth > 8:
        return out
    if isinstance(layer, keras.Sequential) or model_kind(layer) == "functional":
        items = [(str(i), la) for i, la in enumerate(la for la in layer.layers if not isinstance(la, keras.layers.InputLayer))]
    else:
        items = []
        for attr, value in sorted(vars(layer).items()):
            if attr.startswith("__"):
                continue
            if isinstance(value, keras.layers.Layer):
                items.append((attr, value))
            elif isinstance(value, (list, tuple)):
                items += [(f"{attr}[{i}]", v) for i, v in enumerate(value) if isinstance(v, keras.layers.Layer)]
    for key, sub in items:
        path = f"{prefix}.{key}" if prefix else key
        if path in out or sub is layer:
            continue
        out[path] = sub
        out.update(_layer_paths(sub, path, depth + 1))
    return out


def _carry_layer_names(model: Any, clone: Any) -> None:
    """Give a fresh instance's layers the names of the user's, before the copy is built.

    A subclassed model made anew names its layers anew (``dense_3`` for the user's ``dense``), so every finding
    about a layer named one the user never made, and could not find its line (round 69's cz05). Layers are
    matched by where they sit (the attribute, the index in a Sequential), never by tracking order, which a
    Sequential's first build reorders; only when both sides hold the same classes at the same places. Done before
    the copy is built, so its variables' paths carry the user's names too.
    """
    try:
        mine, theirs = _layer_paths(model), _layer_paths(clone)
    except Exception:
        return
    if mine.keys() != theirs.keys() or any(type(mine[k]) is not type(theirs[k]) for k in mine):
        return
    if any(getattr(b, "built", False) and b.weights for b in theirs.values()):
        return  # a part already built keeps its variables' paths; renaming it would split name and path
    for key, a in mine.items():
        with contextlib.suppress(Exception):
            if theirs[key].name != a.name:
                theirs[key].name = a.name


def _carry_adapted_layers(model: Any, clone: Any) -> None:
    """Build ``clone``'s layers that are already built in the unbuilt ``model`` (an adapted ``Normalization``)
    from their build config, with their weights, before the copy's first call.

    Round 27: a subclassed autoencoder that adapts its Normalization layers in a method of its own
    (``model.adapt(x)``) is unbuilt, yet those layers hold the data's statistics; a fresh instance's
    un-adapted Normalization fails on its first call, and the copy failed with it.
    """
    if getattr(model, "built", True):
        return
    mine, theirs = leaf_layers(clone), leaf_layers(model)
    if len(mine) != len(theirs):
        return
    for a, b in zip(mine, theirs, strict=True):
        if type(a) is not type(b) or not getattr(b, "built", False) or not b.weights or getattr(a, "built", False):
            continue
        with contextlib.suppress(Exception):
            a.build_from_config(b.get_build_config())
            a.set_weights(b.get_weights())
            fin = getattr(a, "finalize_state", None)
            if fin is not None:
                fin()


def _copy_built_layers(model: Any, clone: Any) -> bool:
    """Set each of ``clone``'s leaf layers to the weights of ``model``'s built one in the same place."""
    mine, theirs = leaf_layers(clone), leaf_layers(model)
    if len(mine) != len(theirs) or any(type(a) is not type(b) for a, b in zip(mine, theirs, strict=True)):
        return False
    try:
        for a, b in zip(mine, theirs, strict=True):
            if b.weights:
                a.set_weights(b.get_weights())
    except Exception:
        return False
    return True


def _unshare_layers(model: Any, clone: Any) -> bool:
    """Give ``clone`` its own copy of every layer it holds that is one of ``model``'s; True when none is left shared.

    Round 30: a subclassed model whose ``__init__`` takes layers the cell made at module level
    (``self.decoder = decoder``) gets the *same* layer objects when its class is called again, so
    training the "copy" trained the user's layers. Each such attribute is replaced by a copy with the
    same weights (an unbuilt layer stays unbuilt, as the user's is).
    """
    try:
        theirs = {id(la): la for la in model._flatten_layers(include_self=False)}
    except Exception:
        return False
    for name, value in list(vars(clone).items()):
        if not isinstance(value, keras.layers.Layer) or id(value) not in theirs:
            continue
        copy = _copy_layer(value)
        # In place: Keras' attribute tracker holds this very list and appends the copy to it.
        layers = clone._layers
        for k in [k for k, la in enumerate(layers) if la is value][::-1]:
            del layers[k]
        setattr(clone, name, copy)
    try:
        return not any(id(la) in theirs for la in clone._flatten_layers(include_self=False))
    except Exception:
        return False


def _copy_layer(layer: Any) -> Any:
    """A copy of one layer (or nested Functional/Sequential model) with its weights."""
    if _graph_model(layer):
        return _clone_graph(layer)
    with keras.saving.custom_object_scope(_cell_objects(layer) if isinstance(layer, keras.Model) else {}):
        copy = type(layer).from_config(layer.get_config())
    if getattr(layer, "built", False):
        copy.build_from_config(layer.get_build_config())
        copy.set_weights(layer.get_weights())
    return copy


def _clone_graph(model: Any, weights: bool = True) -> Any:
    """A Functional or Sequential model's copy with its weights (``weights=False``: fresh initial ones; raises
    when it can't be copied)."""
    with keras.saving.custom_object_scope(_cell_objects(model)):
        try:
            clone = keras.models.clone_model(model)
        except Exception:
            clone = keras.models.clone_model(model, clone_function=_clone_layer)
    if weights:
        clone.set_weights(model.get_weights())
    return clone


def _cell_objects(model: Any) -> dict[str, Any]:
    """Name -> class of the regularizers, constraints and initializers the model's layers hold, and of
    its nested layers: what deserializing their configs looks up by name."""
    kinds = (keras.regularizers.Regularizer, keras.constraints.Constraint, keras.initializers.Initializer)
    found: dict[str, Any] = {}
    try:
        layers = list(model._flatten_layers(include_self=False))
    except Exception:
        layers = list(getattr(model, "layers", []) or [])
    for layer in layers:
        found.setdefault(type(layer).__name__, type(layer))
        for value in list(vars(layer).values()):
            if isinstance(value, kinds):
                found.setdefault(type(value).__name__, type(value))
    # clone_model carries the compile config too: a loss (or metric) function the cell wrote is looked up by
    # its name (round 59's cf02, a summed BCE beside a Sampling layer, could not be copied without it).
    losses = getattr(model, "loss", None)
    for loss in (losses.values() if isinstance(losses, dict) else losses if isinstance(losses, (list, tuple))
                 else [losses]):
        if loss is None or isinstance(loss, str):
            continue
        obj = loss if callable(loss) and hasattr(loss, "__name__") else type(loss)
        name = getattr(obj, "__name__", None)
        if name and not str(getattr(obj, "__module__", "")).startswith("keras"):
            found.setdefault(name, obj)
    return found


def _clone_layer(layer: Any) -> Any:
    """A fresh layer like ``layer``; Lambda layers keep their (stateless) Python function."""
    if isinstance(layer, keras.layers.Lambda):
        return keras.layers.Lambda(
            layer.function,
            output_shape=getattr(layer, "_output_shape", None),
            mask=getattr(layer, "mask", None),
            arguments=dict(getattr(layer, "arguments", None) or {}),
            name=layer.name,
        )
    return type(layer).from_config(layer.get_config())



# -- probes: determinism and intermediate outputs -------------------------
@contextlib.contextmanager
def seeded(seed: int, *, keep_compiled: bool = False) -> Iterator[None]:
    """Seed Python, NumPy, TF and Keras for the probe, then put every generator back.

    ``keras.utils.set_random_seed`` makes the clone's fresh layers (dropout
    seeds, initialisers) and the probe's shuffling reproducible; afterwards
    :func:`preserved_random_state` restores what was there, so the user's
    later unseeded draws are what they would have been without the check.

    ``keep_compiled``: the caller knows that its compiled functions hold no
    stateful random op, so the same seeds are set without what
    ``tf.random.set_seed`` also does, clearing TensorFlow's kernel cache
    (which makes every compiled function instantiate again, up to a second
    or more for a recurrent model's step). A backend without that cost
    seeds as Keras does.
    """
    with preserved_random_state():
        keep = getattr(backends.current(), "set_seed_keeping_compiled", None) if keep_compiled else None
        if keep is None:
            keras.utils.set_random_seed(int(seed))
        else:
            # keras.utils.set_random_seed on TensorFlow, but for the cache.
            import numpy as np
            from keras.src.backend.common import global_state
            from keras.src.random import seed_generator
            from keras.src.utils import rng_utils

            global_state.set_global_attribute(rng_utils.GLOBAL_RANDOM_SEED, int(seed))
            global_state.set_global_attribute(seed_generator.GLOBAL_SEED_GENERATOR, None)
            random.seed(int(seed))
            np.random.seed(int(seed))
            keep(int(seed))
        yield


@contextlib.contextmanager
def preserved_random_state() -> Iterator[None]:
    """Leave every global random state as it was: Python, NumPy, Keras, and the backend's.

    Wraps a whole check (after the user's cell), because more than the
    seeded probes draw random numbers: cloning a model or rebuilding it with
    another latent size creates layers whose initialisers advance Keras'
    global seed generator. The backend's own global state (TensorFlow's op
    seeds, torch's default generator) is saved and put back by its module in
    :mod:`ae_magic.backends`.
    """
    import numpy as np
    from keras.src.backend.common import global_state
    from keras.src.random import seed_generator
    from keras.src.utils import rng_utils

    py_state = random.getstate()
    np_state = np.random.get_state()
    k_seed = global_state.get_global_attribute(rng_utils.GLOBAL_RANDOM_SEED)
    k_gen = global_state.get_global_attribute(seed_generator.GLOBAL_SEED_GENERATOR)
    k_gen_state = None
    if k_gen is not None:
        with contextlib.suppress(Exception):
            k_gen_state = keras.ops.convert_to_numpy(k_gen.state.value).copy()
    backend = backends.current()
    backend_saved = backend.rng_state()
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
        global_state.set_global_attribute(rng_utils.GLOBAL_RANDOM_SEED, k_seed)
        global_state.set_global_attribute(seed_generator.GLOBAL_SEED_GENERATOR, k_gen)
        if k_gen is not None and k_gen_state is not None:
            with contextlib.suppress(Exception):
                k_gen.state.assign(k_gen_state)
        backend.restore_rng_state(backend_saved)


def global_seed_generator() -> Any | None:
    """Keras' global ``SeedGenerator`` (what unseeded ``keras.random`` calls draw from), or None before the first."""
    from keras.src.backend.common import global_state
    from keras.src.random import seed_generator

    return global_state.get_global_attribute(seed_generator.GLOBAL_SEED_GENERATOR)


def reinstate_seed_generator(gen: Any) -> None:
    """Make ``gen`` Keras' global seed generator again, restarted as a new one would start now.

    :func:`seeded` drops the global generator so that the next unseeded draw
    starts a fresh, seeded one. A compiled step that already captured the old
    generator's state variable keeps drawing from it, and when that step is
    traced again (a smaller last batch), the trace creates a new generator, a
    variable TensorFlow refuses outside a function's first call. Putting the
    same generator back, with the state a new one would get from the Python
    seed just set, gives both traces one generator and the same stream.
    """
    import numpy as np
    from keras.src.backend.common import global_state
    from keras.src.random import seed_generator

    start = random.randint(1, int(1e9))  # what SeedGenerator() draws (make_default_seed)
    gen.state.assign(np.array([start, 0], dtype=str(gen.state.dtype)))
    global_state.set_global_attribute(seed_generator.GLOBAL_SEED_GENERATOR, gen)


@contextlib.contextmanager
def record_outputs(wanted: dict[int, Any]) -> Iterator[dict[int, list[Any]]]:
    """Record the eager outputs of the layers in ``wanted`` (id -> layer).

    Patches ``Layer.__call__`` for the duration of one eager forward pass;
    works for Functional, Sequential, nested and subclassed models alike.
    Yields id -> [output of each call], in call order (dict order).
    """
    base = keras.layers.Layer
    original = base.__call__
    seen: dict[int, list[Any]] = {}

    def patched(self: Any, *args: Any, **kwargs: Any) -> Any:
        out = original(self, *args, **kwargs)
        if id(self) in wanted:
            seen.setdefault(id(self), []).append(out)
        return out

    base.__call__ = patched
    try:
        yield seen
    finally:
        base.__call__ = original


@contextlib.contextmanager
def intercept_layer(layer: Any, replace: Callable[[tuple[Any, ...], Any], Any] | None = None) -> Iterator[list[Any]]:
    """Record ``layer``'s call inputs (and optionally replace its output) during eager forward passes.

    ``replace(args, output)`` returns the output to use instead. Yields a
    list that gets ``(args, output)`` for each call of ``layer``.
    """
    base = keras.layers.Layer
    original = base.__call__
    calls: list[Any] = []

    def patched(self: Any, *args: Any, **kwargs: Any) -> Any:
        out = original(self, *args, **kwargs)
        if self is layer:
            calls.append((args, out))
            if replace is not None:
                out = replace(args, out)
        return out

    base.__call__ = patched
    try:
        yield calls
    finally:
        base.__call__ = original


def name_scopes() -> list[Any] | None:
    """A copy of Keras' stack of open name scopes (None where this Keras keeps none we can read)."""
    try:
        from keras.src.backend.common import global_state

        stack = global_state.get_global_attribute("name_scope_stack")
    except Exception:  # another Keras layout: nothing to read
        return None
    return list(stack) if isinstance(stack, list) else None


@contextlib.contextmanager
def preserved_name_scopes() -> Iterator[None]:
    """Leave Keras' stack of open name scopes as it was found (:func:`restore_name_scopes`): a probe that
    raised inside a scope, on a layer named "my layer", must not break the user's next ``fit``."""
    saved = name_scopes()
    try:
        yield
    finally:
        restore_name_scopes(saved)


def restore_name_scopes(saved: list[Any] | None) -> bool:
    """Put Keras' stack of open name scopes back to ``saved``; True when it had changed.

    Why: a layer name Keras rejects ("my layer" has a space) raises inside
    ``name_scope.__enter__`` after the scope was pushed, and it is never
    popped. Every variable made afterwards in the kernel, an optimizer's
    slots included, then carries the bad name and ``fit`` fails for any later
    model. A cell that raised leaves the stack as it found it.
    """
    if saved is None:
        return False
    try:
        from keras.src.backend.common import global_state

        stack = global_state.get_global_attribute("name_scope_stack")
        if not isinstance(stack, list) or stack == saved:
            return False
        stack[:] = saved
        return True
    except Exception:  # another Keras layout: leave it
        return False
