"""The TensorFlow backend: gradient tape, ``tf.function``, TF dtypes and seeds.

The only module of ae_magic that imports TensorFlow (see
:mod:`ae_magic.backends` for the interface).
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from ..errors import ModelError
from . import batch_triple, call_loss, call_model, logs_as_floats, probe_seed_values

NAME = "tensorflow"


def version() -> str:
    """TensorFlow's version."""
    return str(tf.__version__)


def input_dtype(a: np.ndarray) -> Any:
    """The dtype the probes feed ``a`` as: float32 for floats and bools, else its own."""
    return tf.float32 if (np.issubdtype(a.dtype, np.floating) or a.dtype == bool) else tf.as_dtype(a.dtype)


def loss_and_gradients(model: Any, loss_fn: Callable[[Any, Any], Any], x: Any, y: Any, variables: Sequence[Any]) -> tuple[Any, list[Any]]:
    """Training loss of one batch (with the model's added losses) and its per-variable gradients."""
    with tf.GradientTape() as tape:
        pred = call_model(model, x, training=True)
        loss = tf.reduce_mean(tf.cast(call_loss(loss_fn, y, pred), tf.float32))
        extra = model.losses
        if extra:
            # Keras sums each add_loss term (a per-sample vector counts once per sample), as fit does.
            loss = loss + tf.add_n([tf.reduce_sum(tf.cast(t, tf.float32)) for t in extra])
    return loss, tape.gradient(loss, variables)


def _dense(g: Any) -> Any:
    return tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g


class _CompiledStep:
    """A traced ``run(xs, ys, lrs)`` (see :func:`compile_train_step`)."""

    def __init__(self, fn: Any, model_errors: list[ModelError]) -> None:
        self._fn = fn
        # ModelErrors raised while tracing: autograph re-raises them as its own
        # StagingError, so they come back through this side channel.
        self._model_errors = model_errors

    def __call__(self, xs: Any, ys: Any, lrs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        try:
            losses, norms = self._fn(xs, ys, tf.constant(lrs))
        except ModelError:
            raise
        except Exception as exc:
            self._raise_model_error(exc)
            raise
        return np.asarray(losses), np.asarray(norms)

    def trace(self) -> None:
        """Trace the step now, without running it (the Python half of the first call's cost).

        What is left for the first call is TensorFlow's own work (graph
        optimisation, instantiation, the run) in C++, which does not hold the
        GIL: :meth:`TrainStep.run_alongside` does Python work meanwhile.
        """
        try:
            self._fn.get_concrete_function()  # the input signature is complete
        except ModelError:
            raise
        except Exception as exc:
            self._raise_model_error(exc)
            raise

    def _raise_model_error(self, exc: Exception) -> None:
        """Raise what a failure of the step says about the user's model, if it says anything."""
        if self._model_errors:
            raise self._model_errors[-1] from None
        if isinstance(exc, tf.errors.OpError):
            # Raised inside the graph: the model on this data.
            raise ModelError(f"a training step fails ({type(exc).__name__}: {exc.message.splitlines()[0][:300]})") from exc

    @property
    def tracing_count(self) -> int:
        return int(self._fn.experimental_get_tracing_count())

    @property
    def traced(self) -> Any:
        """The ``tf.function`` (for :func:`free_of_stateful_random`)."""
        return self._fn

    def dispose(self) -> None:
        """Free the traced graphs now.

        The graph loop's ``while`` body and condition are functions registered
        on the traced graph, and that cycle outlives the ``tf.function``: each
        check would keep a few MB of graphs alive for the life of the kernel.
        Clearing the registry lets Python collect them (and TF unregister them).
        """
        fn, self._fn = self._fn, None
        if fn is None:
            return
        try:
            concrete = fn._list_all_concrete_functions()  # no public API lists a tf.function's traces
        except Exception:
            return
        from tensorflow.python.framework import func_graph as func_graph_module

        graphs = []
        for cf in concrete:
            stack = [cf.graph]
            while stack:
                g = stack.pop()
                graphs.append(g)
                funcs = getattr(g, "_functions", None)
                if funcs:
                    stack.extend(getattr(f, "graph", None) for f in list(funcs.values()) if getattr(f, "graph", None) is not None)
                    funcs.clear()
        del concrete, fn
        for g in graphs:
            with contextlib.suppress(Exception):
                func_graph_module.dismantle_func_graph(g)


def compile_train_step(
    model: Any,
    loss_fn: Callable[[Any, Any], Any],
    optimizer: Any,
    variables: Sequence[Any],
    lr_var: Any,
    x: np.ndarray,
    y: np.ndarray,
) -> _CompiledStep:
    """``k`` train steps in one ``tf.function`` with a graph loop (traced once).

    The batch axes are left open in the input signature and the learning rate
    is assigned to the optimizer's variable before each step, so every probe
    shares the one trace. Looping inside the graph saves the per-step Python
    dispatch that ``fit`` pays (like ``steps_per_execution``).
    """
    xs_spec = tf.TensorSpec((None, None, *x.shape[1:]), input_dtype(x))
    ys_spec = tf.TensorSpec((None, None, *y.shape[1:]), input_dtype(y))
    lr_spec = tf.TensorSpec((None,), tf.float32)
    tvars = list(variables)
    nvar = len(tvars)

    model_errors: list[ModelError] = []

    def one(xb: Any, yb: Any) -> tuple[Any, Any]:
        try:
            loss, grads = loss_and_gradients(model, loss_fn, xb, yb, tvars)
        except ModelError as exc:
            model_errors.append(exc)
            raise
        pairs = [(g, v) for g, v in zip(grads, tvars, strict=True) if g is not None]
        if pairs:
            optimizer.apply_gradients(pairs)
        norms = [tf.constant(-1.0, tf.float32) if g is None else tf.norm(tf.cast(_dense(g), tf.float32)) for g in grads]
        return loss, tf.stack(norms) if norms else tf.zeros((0,), tf.float32)

    def run(xs: Any, ys: Any, lrs: Any) -> tuple[Any, Any]:
        k = tf.shape(xs)[0]
        losses = tf.TensorArray(tf.float32, size=k)
        norms = tf.TensorArray(tf.float32, size=k, element_shape=(nvar,))
        for i in tf.range(k):
            lr_var.assign(tf.cast(lrs[i], lr_var.dtype))
            loss, nv = one(xs[i], ys[i])
            losses = losses.write(i, loss)
            norms = norms.write(i, nv)
        return losses.stack(), norms.stack()

    return _CompiledStep(tf.function(run, input_signature=[xs_spec, ys_spec, lr_spec]), model_errors)


def compile_forward(model: Any, x: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """Compiled inference for batches shaped like ``x`` (traced once, any batch size)."""
    fn = tf.function(lambda xb: call_model(model, xb, training=False),
                     input_signature=[tf.TensorSpec((None, *x.shape[1:]), input_dtype(x))])

    def forward(xb: np.ndarray) -> np.ndarray:
        try:
            return np.asarray(fn(xb))
        except tf.errors.OpError as exc:
            raise ModelError(f"the model's forward pass fails ({type(exc).__name__}: {exc.message.splitlines()[0][:300]})") from exc

    forward.traced = fn  # type: ignore[attr-defined]
    return forward


def compile_callable(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``fn`` as one ``tf.function`` (shapes relaxed, so batch sizes share a trace). Round 81's fc08: a masked GRU
    model with its own train_step was read eagerly, 0.8 s a validation pass, 60 s of a 140 s check."""
    return tf.function(fn, reduce_retracing=True)


def compile_eval(
    model: Any, loss_fn: Callable[[Any, Any], Any], x: np.ndarray, y: np.ndarray
) -> Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, float]]:
    """Compiled inference and the mean loss of a batch, in one ``tf.function`` (traced once, any batch size).

    In the graph the output of a sigmoid/softmax layer carries its logits
    (``_keras_logits``) and Keras' crossentropies compute from them, as the
    training step does; a numpy prediction has lost them (the clipped
    probability form), so the validation loss is computed here.
    """

    def run(xb: Any, yb: Any) -> tuple[Any, Any]:
        pred = call_model(model, xb, training=False)
        return pred, tf.reduce_mean(tf.cast(call_loss(loss_fn, yb, pred), tf.float32))

    fn = tf.function(run, input_signature=[tf.TensorSpec((None, *x.shape[1:]), input_dtype(x)),
                                           tf.TensorSpec((None, *y.shape[1:]), input_dtype(y))])

    def evaluate(xb: np.ndarray, yb: np.ndarray) -> tuple[np.ndarray, float]:
        try:
            pred, loss = fn(xb, yb)
        except tf.errors.OpError as exc:
            raise ModelError(f"the model's forward pass or loss fails ({type(exc).__name__}: {exc.message.splitlines()[0][:300]})") from exc
        return np.asarray(pred), float(loss)

    evaluate.traced = fn  # type: ignore[attr-defined]
    return evaluate


def input_gradient_max(model: Any, x: np.ndarray) -> float | None:
    """Largest ``|d(r . model(x)) / dx|``; ``None`` when the tape finds no path to the input."""
    xt = tf.convert_to_tensor(np.asarray(x, dtype="float32"))
    with tf.GradientTape() as tape:
        tape.watch(xt)
        ys = [tf.cast(t, tf.float32) for t in tf.nest.flatten(model(xt, training=False))]
        rs = probe_seed_values([tuple(t.shape) for t in ys])
        s = tf.add_n([tf.reduce_sum(t * r) for t, r in zip(ys, rs, strict=True)])
    grad = tape.gradient(s, xt)
    return None if grad is None else float(tf.reduce_max(tf.abs(grad)))


# Random ops that keep a state in their kernel (tf.random.normal and friends
# without an explicit seed pair). Their stream restarts only when TF's kernel
# cache is cleared, which tf.random.set_seed does.
_STATEFUL_RANDOM = {
    "RandomUniform", "RandomUniformInt", "RandomStandardNormal", "TruncatedNormal", "ParameterizedTruncatedNormal",
    "RandomGamma", "RandomPoisson", "RandomPoissonV2", "Multinomial", "RandomShuffle", "RandomCrop",
}


def _stateful_random_op(op: str) -> bool:
    # tf.random.Generator's ops (StatefulUniform, StatefulStandardNormalV2, ...);
    # not StatefulPartitionedCall, a call whose body is checked on its own.
    return op in _STATEFUL_RANDOM or (op.startswith("Stateful") and not op.endswith("PartitionedCall"))


def free_of_stateful_random(compiled: Sequence[Any]) -> bool:
    """True when every traced graph of ``compiled`` (objects with a ``traced``
    ``tf.function``) is free of stateful random ops, and the first one has been
    traced; False when that can't be shown.

    Re-seeding with ``tf.random.set_seed`` clears TensorFlow's kernel cache:
    every compiled function is instantiated again (Grappler and all: 0.2 s
    for a dense step, 1.3 s for an LSTM's). That is only needed to restart
    the streams of stateful random ops; see :func:`set_seed_keeping_compiled`.
    """
    seen = False
    for i, obj in enumerate(compiled):
        fn = getattr(obj, "traced", None)
        try:
            # Listing an untraced function with an input signature would trace
            # it here, outside the probe's seed: check the count first.
            traced = fn is not None and fn.experimental_get_tracing_count() > 0
            concrete = fn._list_all_concrete_functions() if traced else []  # no public API lists the traces
        except Exception:
            return False
        if not concrete:
            if i == 0:
                return False
            continue
        for cf in concrete:
            try:
                gdef = cf.graph.as_graph_def()
            except Exception:
                return False
            nodes = list(gdef.node) + [n for f in gdef.library.function for n in f.node_def]
            if any(_stateful_random_op(n.op) for n in nodes):
                return False
            seen = True
    return seen


def set_seed_keeping_compiled(seed: int) -> None:
    """TensorFlow's global seed as ``tf.random.set_seed`` sets it, without clearing the kernel cache."""
    from tensorflow.python.eager import context as tf_context

    c = tf_context.context()
    c._seed = seed
    c._rng = random.Random(seed)


def rng_state() -> Any:
    """TensorFlow's global seed and op-seed generator.

    TF has no public getter, so the private ``context._rng`` is saved; where
    it is missing the user's next unseeded draws are unaffected anyway.
    """
    try:
        from tensorflow.python.eager import context as tf_context

        c = tf_context.context()
        rng = getattr(c, "_rng", None)
        return (c._seed, rng, rng.getstate() if rng is not None else None)
    except Exception:
        return None


def restore_rng_state(state: Any) -> None:
    """Put back what :func:`rng_state` returned."""
    if state is None:
        return
    with contextlib.suppress(Exception):
        from tensorflow.python.eager import context as tf_context

        c = tf_context.context()
        seed, rng, inner = state
        c._seed = seed
        c._rng = rng
        if rng is not None and inner is not None:
            rng.setstate(inner)


def own_train_step(model: Any, data: Any) -> dict[str, Any]:
    """One step of the model's own ``train_step``, through its compiled train function (see :class:`Backend`)."""
    model._maybe_symbolic_build(data_batch=batch_triple(data))
    model.make_train_function()
    model.reset_metrics()

    def batches() -> Any:
        yield data

    return logs_as_floats(model.train_function(batches()))
