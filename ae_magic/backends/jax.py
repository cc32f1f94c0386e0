"""The JAX backend: ``stateless_call``, ``jax.value_and_grad`` and ``jax.jit``.

JAX has no mutable variables inside a traced function, so the step works on
the values of the model's and the optimizer's variables (Keras'
``stateless_call`` / ``stateless_apply``, as Keras' own JAX trainer does)
and writes them back into the Keras variables after each call. JAX has no
global random generator: Keras' own seed state is saved by
:func:`ae_magic.keras_compat.preserved_random_state`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import ModelError
from . import batch_triple, call_loss, call_model, logs_as_floats, probe_seed_values

NAME = "jax"


def version() -> str:
    """JAX's version."""
    return str(jax.__version__)


def _values(variables: Sequence[Any]) -> list[Any]:
    return [v.value for v in variables]


def _training_kwargs(model: Any, training: bool) -> dict[str, bool]:
    """``{"training": ...}`` only for a ``call`` that takes it (``stateless_call`` passes kwargs through)."""
    takes = getattr(model, "_call_has_training_arg", None)
    if takes is None:
        import inspect

        try:
            takes = "training" in inspect.signature(model.call).parameters
        except (TypeError, ValueError):
            takes = True
    return {"training": training} if takes else {}


def _mean_loss(loss_fn: Callable[[Any, Any], Any], y: Any, pred: Any, added: Sequence[Any]) -> Any:
    loss = jnp.mean(jnp.asarray(call_loss(loss_fn, y, pred), dtype=jnp.float32))
    for term in added:
        # Keras sums each add_loss term (a per-sample vector counts once per sample), as fit does.
        loss = loss + jnp.sum(jnp.asarray(term, dtype=jnp.float32))
    return loss


def _conv_transpose_with_fast_gradient(original: Callable[..., Any]) -> Callable[..., Any]:
    """Keras' JAX ``conv_transpose`` with a backward pass that XLA's CPU convolutions run fast.

    JAX differentiates a transposed convolution's kernel as a convolution of
    the input dilated by the strides, which XLA's CPU backend runs through a
    generic loop: 40 ms where the strided convolution's own kernel gradient
    takes 1 ms, so a conv autoencoder's probe step took 5x TensorFlow's. The
    output is ``original``'s. The gradients are the same math, reached the
    way TensorFlow reaches them: the operation is linear in its input, and its
    transpose at the output's cotangent is a strided convolution. So the input
    gradient is that convolution, and the kernel gradient is the kernel
    gradient of that convolution, with the input as its cotangent.
    """

    def conv_transpose(inputs: Any, kernel: Any, *args: Any, **kwargs: Any) -> Any:
        conv_transpose.calls += 1  # type: ignore[attr-defined]

        def f(x: Any, k: Any) -> Any:
            return original(x, k, *args, **kwargs)

        @jax.custom_vjp
        def op(x: Any, k: Any) -> Any:
            return f(x, k)

        def fwd(x: Any, k: Any) -> tuple[Any, tuple[Any, Any]]:
            return f(x, k), (x, k)

        def bwd(res: tuple[Any, Any], ct: Any) -> tuple[Any, Any]:
            x, k = res

            def transposed(kk: Any) -> Any:
                (dx,) = jax.linear_transpose(lambda xx: f(xx, kk), x)(ct)
                return dx

            dx, vjp_k = jax.vjp(transposed, k)
            (dk,) = vjp_k(x)  # <ct, f(x, k)> = <transposed(k), x>, bilinear in (x, k)
            return dx, dk

        op.defvjp(fwd, bwd)
        return op(jnp.asarray(inputs), jnp.asarray(kernel))

    conv_transpose.__wrapped__ = original  # type: ignore[attr-defined]
    conv_transpose.calls = 0  # type: ignore[attr-defined]
    return conv_transpose


@contextlib.contextmanager
def fast_conv_transpose(enabled: bool = True) -> Iterator[Callable[[], bool]]:
    """While jax traces a probe's step: transposed convolutions get :func:`_conv_transpose_with_fast_gradient`.

    Swapped only around the probes' own jitted calls (where tracing happens)
    and put back afterwards, so the user's own ``fit`` never sees it. Yields
    ``used()``: whether a transposed convolution was traced with the swap.
    The custom gradient has no forward-mode rule, so a step that fails where
    it was used is traced again without it (``_Step._step``).
    """
    try:
        from keras.src.backend.jax import nn as keras_nn
    except ImportError:  # a Keras that moved its JAX ops: the plain gradient, only slower
        enabled = False
    swapped = _conv_transpose_with_fast_gradient(keras_nn.conv_transpose) if enabled else None
    if swapped is None or getattr(keras_nn.conv_transpose, "__wrapped__", None) is not None:
        # Off, or nested / another thread's swap already in place (it is theirs to put back).
        yield lambda: False
        return
    original = keras_nn.conv_transpose
    keras_nn.conv_transpose = swapped
    try:
        yield lambda: swapped.calls > 0  # type: ignore[attr-defined]
    finally:
        keras_nn.conv_transpose = original


class _Step:
    """``run(xs, ys, lrs)`` over a jitted single step (see :func:`compile_train_step`)."""

    def __init__(self, model: Any, loss_fn: Callable[[Any, Any], Any], optimizer: Any, variables: Sequence[Any], lr_var: Any) -> None:
        self._model, self._loss_fn = model, loss_fn
        self._trainable = list(model.trainable_variables)
        self._non_trainable = list(model.non_trainable_variables)
        position = {id(v): i for i, v in enumerate(self._trainable)}
        missing = [v for v in variables if id(v) not in position]
        if missing:
            raise ModelError(f"{len(missing)} of the variables to train are not the model's trainable variables")
        self._selected = [position[id(v)] for v in variables]
        if not optimizer.built:
            optimizer.build(self._trainable)
        self._optimizer = optimizer
        self._opt_vars = list(optimizer.variables)
        self._lr_index = next((i for i, v in enumerate(self._opt_vars) if v is lr_var), None)
        if self._lr_index is None:
            raise ModelError("the optimizer's learning rate is not one of its variables")
        self._traces = 0
        self._jitted: Any = jax.jit(self._one)
        self._fast = True  # trace with fast_conv_transpose
        # Trainable positions whose gradient is structurally zero (see _cut_off).
        self._cut: set[int] | None = None
        self._batch: int | None = None  # the full batch size (see _full_batch)

    def _loss_of(self, tv: list[Any], ntv: list[Any], xb: Any, yb: Any) -> tuple[Any, list[Any]]:
        try:
            pred, new_ntv, added = self._model.stateless_call(
                tv, ntv, xb, return_losses=True, **_training_kwargs(self._model, True))
        except ModelError:
            raise
        except Exception as exc:
            raise ModelError(f"calling the model raises {type(exc).__name__}: {str(exc)[:300]}; model.fit fails the same way") from exc
        return _mean_loss(self._loss_fn, yb, pred, added), new_ntv

    def _cut_off(self, tvals: list[Any], ntvals: list[Any], xb: Any, yb: Any) -> set[int]:
        """Trainable positions the loss does not reach: JAX's ``None`` gradient.

        ``jax.grad`` returns zeros for a variable the loss never reads (or
        reads only through ``stop_gradient``). Such a gradient depends on no
        input of the gradient's jaxpr; dead-code elimination tells which.
        """
        try:
            from jax._src.interpreters import partial_eval as pe  # no public API gives per-output dependence

            def grads_of(tv: list[Any], ntv: list[Any], xb: Any, yb: Any) -> list[Any]:
                return jax.grad(lambda t: self._loss_of(t, ntv, xb, yb)[0])(tv)

            jaxpr = jax.make_jaxpr(grads_of)(tvals, ntvals, xb, yb).jaxpr
            cut = set()
            n_out = len(jaxpr.outvars)
            for j in range(n_out):
                _, used = pe.dce_jaxpr(jaxpr, [k == j for k in range(n_out)])
                if not any(used):
                    cut.add(j)
            return cut if n_out == len(self._trainable) else set()
        except ModelError:
            raise
        except Exception:  # an older or newer JAX without this internal: report zeros as zeros
            return set()

    def _one(self, tvals: list[Any], ntvals: list[Any], ovals: list[Any], xb: Any, yb: Any, lr: Any) -> tuple[Any, ...]:
        self._traces += 1  # runs only while jax traces
        (loss, new_ntvals), grads = jax.value_and_grad(self._loss_of, has_aux=True)(tvals, ntvals, xb, yb)
        ovals = list(ovals)
        ovals[self._lr_index] = jnp.asarray(lr, dtype=ovals[self._lr_index].dtype)
        new_tvals, new_ovals = self._optimizer.stateless_apply(ovals, grads, tvals)
        norms = [jnp.linalg.norm(jnp.ravel(grads[i]).astype(jnp.float32)) for i in self._selected]
        stacked = jnp.stack(norms) if norms else jnp.zeros((0,), jnp.float32)
        return loss, stacked, new_tvals, new_ntvals, new_ovals

    def __call__(self, xs: Any, ys: Any, lrs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self._jitted is None:
            raise ModelError("the training step was disposed of")
        tvals, ntvals, ovals = _values(self._trainable), _values(self._non_trainable), _values(self._opt_vars)
        losses, norms = [], []
        try:
            # Host arrays: slicing a device array eagerly compiles a kernel per shape.
            xs, ys = np.asarray(xs), np.asarray(ys)
            for i in range(int(xs.shape[0])):
                xb, yb = self._full_batch(xs[i], ys[i])
                loss, nv, tvals, ntvals, ovals = self._step(tvals, ntvals, ovals, xb, yb, np.float32(lrs[i]))
                losses.append(loss)
                norms.append(nv)
        except ModelError:
            raise
        except (TypeError, ValueError) as exc:  # raised while tracing the user's model or loss
            raise ModelError(f"a training step fails ({type(exc).__name__}: {str(exc).splitlines()[0][:300]})") from exc
        finally:
            # Keras variables hold the state between calls, as after fit.
            for group, vals in ((self._trainable, tvals), (self._non_trainable, ntvals), (self._opt_vars, ovals)):
                for var, val in zip(group, vals, strict=True):
                    var.assign(val)
        n = len(self._selected)
        losses, norms = jax.device_get(losses), jax.device_get(norms)  # no eager stack: one compile per length
        losses = np.asarray(losses, dtype=np.float32).reshape(-1)
        norms = np.asarray(norms, dtype=np.float32).reshape(len(losses), n)
        if norms.size and np.any(norms == 0.0):
            # Exact zeros: cut off from the loss (None elsewhere) or a true zero?
            if self._cut is None:
                self._cut = self._cut_off(_values(self._trainable), _values(self._non_trainable), xs[0], ys[0])
            for col, pos in enumerate(self._selected):
                if pos in self._cut:
                    norms[:, col] = -1.0
        return losses, norms

    def _step(self, *args: Any) -> tuple[Any, ...]:
        """One jitted step; traced (on a new shape) with :func:`fast_conv_transpose`, or without it if it can't be."""
        with fast_conv_transpose(self._fast) as used:
            try:
                return self._jitted(*args)
            except Exception:
                if not used():
                    raise
        # E.g. a loss that takes a forward-mode derivative through a transposed convolution: the plain gradient.
        self._fast = False
        self._jitted.clear_cache()
        return self._jitted(*args)

    def _full_batch(self, xb: np.ndarray, yb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """An epoch's short last batch, filled up to the full batch size with its own samples.

        jit compiles once per batch shape, and a compilation costs more than
        the step; repeating the last batch's samples keeps one shape (its
        loss is still the mean over those samples, each about equally often).
        """
        n = int(xb.shape[0])
        if self._batch is None or n > self._batch:
            self._batch = n
        if n == self._batch or n == 0:
            return xb, yb
        idx = np.arange(self._batch) % n
        return xb[idx], yb[idx]

    @property
    def tracing_count(self) -> int:
        return self._traces

    def dispose(self) -> None:
        """Drop the jitted function and its compiled executables."""
        if self._jitted is not None:
            self._jitted.clear_cache()
        self._jitted = None


def compile_train_step(
    model: Any,
    loss_fn: Callable[[Any, Any], Any],
    optimizer: Any,
    variables: Sequence[Any],
    lr_var: Any,
    x: np.ndarray,
    y: np.ndarray,
) -> _Step:
    """A jitted train step on the variables' values, looped ``k`` times per call.

    The learning rate is an argument of the jitted function (written into the
    optimizer's learning-rate value before each step), so changing it never
    re-traces; each new batch shape traces once. JAX gives zeros, not
    ``None``, for a variable the loss does not reach; those are found from the
    gradient's jaxpr and reported as -1, like the other backends' ``None``.
    """
    return _Step(model, loss_fn, optimizer, variables, lr_var)


def compile_forward(model: Any, x: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """Jitted inference on the model's current variable values."""

    def run(tvals: list[Any], ntvals: list[Any], xb: Any) -> Any:
        out, _ = model.stateless_call(tvals, ntvals, xb, **_training_kwargs(model, False))
        return out

    jitted = jax.jit(run)

    def forward(xb: np.ndarray) -> np.ndarray:
        # Each new batch size compiles anew under jit: pad to the next power
        # of two so the probes' many sizes (validation slice, samples, chunks)
        # share a handful of compilations. Inference is per sample, so the
        # padding rows don't change the others' outputs.
        n = int(xb.shape[0])
        size = max(8, 1 << max(n - 1, 0).bit_length())
        padded = xb if size == n else np.concatenate([np.asarray(xb), np.zeros((size - n, *xb.shape[1:]), dtype=np.asarray(xb).dtype)])
        try:
            out = jitted(_values(model.trainable_variables), _values(model.non_trainable_variables), padded)
            return np.asarray(out)[:n]
        except (TypeError, ValueError) as exc:
            raise ModelError(f"the model's forward pass fails ({type(exc).__name__}: {str(exc).splitlines()[0][:300]})") from exc

    return forward


def compile_callable(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``fn`` itself: jit needs the stateless call, which a Python forward pass does not go through."""
    return fn


def compile_eval(
    model: Any, loss_fn: Callable[[Any, Any], Any], x: np.ndarray, y: np.ndarray
) -> Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, float]]:
    """Inference (:func:`compile_forward`) and the mean loss of its output.

    Keras' jax losses read no logits from an activation's output, so the
    loss of the returned predictions is the training step's formula.
    """
    forward = compile_forward(model, x)

    def evaluate(xb: np.ndarray, yb: np.ndarray) -> tuple[np.ndarray, float]:
        pred = forward(xb)
        loss = call_loss(loss_fn, yb, pred)
        return pred, float(np.mean(np.asarray(loss, dtype=np.float64)))

    return evaluate


def input_gradient_max(model: Any, x: np.ndarray) -> float | None:
    """Largest ``|d(r . model(x)) / dx|`` (JAX returns zeros, never ``None``, for a cut path)."""
    xt = jnp.asarray(np.asarray(x, dtype="float32"))
    tvals, ntvals = _values(model.trainable_variables), _values(model.non_trainable_variables)
    shapes = [tuple(t.shape) for t in jax.tree_util.tree_leaves(call_model(model, xt, training=False))]
    rs = [jnp.asarray(r) for r in probe_seed_values(shapes)]

    def weighted(xi: Any) -> Any:
        out, _ = model.stateless_call(tvals, ntvals, xi, **_training_kwargs(model, False))
        leaves = jax.tree_util.tree_leaves(out)
        return sum(jnp.sum(jnp.asarray(t, jnp.float32) * r) for t, r in zip(leaves, rs, strict=True))

    return float(jnp.max(jnp.abs(jax.grad(weighted)(xt))))


def rng_state() -> Any:
    """JAX has no global random state."""
    return None


def restore_rng_state(state: Any) -> None:
    """Nothing to restore (see :func:`rng_state`)."""


def own_train_step(model: Any, data: Any) -> dict[str, Any]:
    """One step of the model's own ``train_step``, through its jitted train function (see :class:`Backend`).

    As ``train_on_batch`` does on JAX: the state goes in, the new state is
    written back to the model's variables.
    """
    model._symbolic_build(data_batch=batch_triple(data))
    model.make_train_function()
    model.reset_metrics()
    state = model._get_jax_state(
        trainable_variables=True, non_trainable_variables=True, optimizer_variables=True,
        metrics_variables=True, purge_model_variables=False,
    )
    model._jax_state_synced = False

    def batches() -> Any:
        yield data

    with fast_conv_transpose() as used:
        try:
            logs, state = model.train_function(state, batches())
        except Exception:
            if not used():
                raise
            used = None
    if used is None:  # traced again with the plain gradient (see _Step._step)
        logs, state = model.train_function(state, batches())
    tv, ntv, ov, mv = state
    model._jax_state = {"trainable_variables": tv, "non_trainable_variables": ntv,
                        "optimizer_variables": ov, "metrics_variables": mv}
    model.jax_state_sync()
    return logs_as_floats(logs)
