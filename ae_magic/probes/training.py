"""The training step: a fresh loss and optimizer, and the compiled step.

The probes never touch the user's optimizer: they train the copy with a new
optimizer of the same class and config and a fresh loss object. The
learning rate lives in the optimizer's variable, so one compiled step serves
the gradient probe (lr 0), the range test (growing lr), the training probe
and every re-run.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import keras_compat as kc
from ..backends import Backend
from ..errors import ModelError, ProbeError, describe
from .sizes import FALLBACK_LR

keras = kc.keras


# The loss name of a model compiled without a loss: its loss is what its
# layers add with ``add_loss`` (a VAE's KL and reconstruction terms).
ADDED_ONLY = "add_loss"


def added_losses_only(y: Any, pred: Any) -> Any:
    """The compiled-loss part of a model compiled without a loss: zero.

    The training step adds the model's ``add_loss`` terms, which are then its
    whole loss, as in ``fit``. ``0 * mean(pred)`` keeps the output's dtype
    and device on every backend.
    """
    return keras.ops.mean(pred) * 0.0


def fresh_loss(model: Any) -> tuple[Callable[[Any, Any], Any], str]:
    """A new loss object like ``model``'s compiled loss, and its name."""
    loss = kc.compiled_loss(model)
    if loss is None:
        return added_losses_only, ADDED_ONLY
    if isinstance(loss, (list, tuple, dict)):
        raise ProbeError("the probes support one reconstruction output with one loss; this model has several.")
    if isinstance(loss, str):
        try:
            fn = keras.losses.get(loss)
        except Exception as exc:
            raise ModelError(f"the compiled loss {loss!r} is not a Keras loss ({describe(exc)}); model.fit fails the same way.") from None
        return fn, loss
    if isinstance(loss, keras.losses.Loss):
        try:
            return type(loss).from_config(loss.get_config()), type(loss).__name__
        except Exception:
            return loss, type(loss).__name__
    if callable(loss):
        return loss, getattr(loss, "__name__", "loss")
    raise ProbeError(f"can't use the compiled loss {loss!r}.")


def fresh_optimizer(model: Any, lr_override: float | None) -> tuple[Any, float]:
    """A new optimizer of the user's class and config, learning rate as a float."""
    return copy_optimizer(getattr(model, "optimizer", None), lr_override)


def copy_optimizer(opt: Any, lr_override: float | None) -> tuple[Any, float]:
    """A new optimizer of ``opt``'s class and config (Adam(1e-3)-like fallback for None), learning rate as a float."""
    lr = kc.optimizer_lr(opt) if opt is not None else None
    if opt is None:
        cls, cfg = keras.optimizers.Adam, {"learning_rate": FALLBACK_LR}
        lr = FALLBACK_LR
    else:
        cls, cfg = type(opt), dict(opt.get_config())
        if lr is None:  # a schedule: start where it starts
            with contextlib.suppress(Exception):
                lr = float(keras.ops.convert_to_numpy(opt.learning_rate))
        lr = FALLBACK_LR if lr is None else lr
    if lr_override is not None:
        lr = float(lr_override)
    cfg["learning_rate"] = float(lr)
    # Loss-scale wrappers and similar keep the inner optimizer in the config.
    try:
        fresh = cls.from_config(cfg)
    except Exception:
        fresh = keras.optimizers.Adam(learning_rate=float(lr))
    return fresh, float(lr)


def weighted_loss(loss_fn: Callable[[Any, Any], Any], weight: float) -> Callable[[Any, Any], Any]:
    """``loss_fn`` times ``weight``: the trained output's ``compile(loss_weights=...)``, as fit applies it."""

    def loss(y_true: Any, y_pred: Any) -> Any:
        return weight * loss_fn(y_true, y_pred)

    loss.__name__ = getattr(loss_fn, "__name__", type(loss_fn).__name__)
    return loss


def fresh_training(src: Any, lr: float | None, notes: list[str]) -> tuple[Callable[[Any, Any], Any], str, Any, float, str | None]:
    """``(loss_fn, loss_name, optimizer, configured_lr, logits)`` for a copy of ``src``.

    An uncompiled model gets MSE and Adam(FALLBACK_LR) and a note. ``logits``
    is ``"sigmoid"``/``"softmax"`` when the loss is ``from_logits`` (the model
    outputs logits: compare sigmoid/softmax of them with the target), else
    ``None``.
    """
    if not kc.is_compiled(src):
        notes.append("The model is not compiled: the probes used MSE and Adam(learning_rate=1e-3).")
        loss_fn, loss_name = keras.losses.get("mse"), "mse"
        optimizer, configured_lr = keras.optimizers.Adam(learning_rate=FALLBACK_LR), FALLBACK_LR
        if lr is not None:
            configured_lr = float(lr)
    else:
        loss_fn, loss_name = fresh_loss(src)
        optimizer, configured_lr = fresh_optimizer(src, lr)
    family = kc.canonical_loss(src) if kc.is_compiled(src) else "mse"
    logits = None
    if kc.loss_config(src).get("from_logits"):
        logits = "softmax" if family in ("cce", "scce") else "sigmoid"
    return loss_fn, loss_name, optimizer, configured_lr, logits


def lr_variable(opt: Any) -> Any:
    """The optimizer's learning-rate variable (Keras 3 returns the Variable
    itself from ``learning_rate`` when it was built with a float)."""
    lr = opt.learning_rate
    if not hasattr(lr, "assign"):
        raise ProbeError("the optimizer's learning rate is not a variable; the probes can't control it.")
    return lr


def set_lr(opt: Any, lr: float) -> None:
    """Set the learning rate of a built optimizer."""
    # Keras 3 keeps a float learning rate in a variable: assigning it does
    # not re-trace the compiled step.
    opt.learning_rate = float(lr)


class TrainStep:
    """One compiled function that runs ``k`` train steps per call.

    ``run(xs, ys, lr)`` takes ``k`` stacked batches and one learning rate or
    ``k`` of them (the lr is assigned to the optimizer's variable before each
    step, so the gradient probe (lr 0), the range test (growing lr), the
    training probe and every re-run share this one trace) and returns the
    ``k`` losses and the ``k x n_vars`` gradient norms (-1: None).
    """

    def __init__(
        self,
        backend: Backend,
        model: Any,
        loss_fn: Callable[[Any, Any], Any],
        optimizer: Any,
        train_vars: list[Any],
        x: np.ndarray,
        y: np.ndarray,
    ) -> None:
        lr_var = lr_variable(optimizer)
        self._compiled = backend.compile_train_step(model, loss_fn, optimizer, train_vars, lr_var, x, y)

    @property
    def tracing_count(self) -> int:
        """How often the compiled step was traced."""
        return self._compiled.tracing_count

    @property
    def compiled(self) -> Any:
        """The backend's compiled step."""
        return self._compiled

    def dispose(self) -> None:
        """Free the compiled step's traced graphs (the session is done with it)."""
        dispose = getattr(self._compiled, "dispose", None)
        if callable(dispose):
            dispose()

    def run(self, xs: Any, ys: Any, lr: float | list[float]) -> tuple[np.ndarray, np.ndarray]:
        k = int(xs.shape[0])
        lrs = np.full(k, lr, dtype=np.float32) if not isinstance(lr, list) else np.asarray(lr, dtype=np.float32)
        losses, norms = self._compiled(xs, ys, lrs)
        return np.asarray(losses, dtype=np.float64), np.asarray(norms, dtype=np.float64).reshape(k, -1)

    def can_overlap(self) -> bool:
        """Whether :meth:`run_alongside` would overlap anything: a backend that traces apart, not yet traced."""
        return callable(getattr(self._compiled, "trace", None)) and self.tracing_count == 0

    def run_alongside(
        self, xs: Any, ys: Any, lr: float | list[float], work: Callable[[], Any]
    ) -> tuple[tuple[np.ndarray, np.ndarray], Any]:
        """:meth:`run`, with ``work()`` done on this thread while the compiled step runs on another.

        Returns ``(run's result, work's result)``. The step is traced here
        first (Python); its first call is then mostly the backend's own
        graph optimisation and instantiation in C++, with the GIL released,
        so ``work`` (tracing another function, an eager pass) costs no wall
        time on a second core. ``work`` must not write what the step reads
        or read what the step writes (the caller's to ensure). An error of
        the step wins over one of ``work``; the thread is always joined.
        """
        if not self.can_overlap():
            result = self.run(xs, ys, lr)
            return result, work()
        self._compiled.trace()
        box: dict[str, Any] = {}

        def step() -> None:
            try:
                box["result"] = self.run(xs, ys, lr)
            except BaseException as exc:  # handed to the caller's thread below
                box["error"] = exc

        thread = threading.Thread(target=step, name="ae_magic-first-step", daemon=True)
        thread.start()
        try:
            done = work()
        except BaseException:
            _join(thread)
            if "error" in box:
                raise box["error"] from None
            raise
        _join(thread)
        if "error" in box:
            raise box["error"]
        return box["result"], done


def _join(thread: threading.Thread) -> None:
    """Wait for ``thread`` even through Ctrl-C (then re-raised): the caller restores variables the step still writes."""
    interrupted: KeyboardInterrupt | None = None
    while thread.is_alive():
        try:
            thread.join()
        except KeyboardInterrupt as exc:
            interrupted = exc
    if interrupted is not None:
        raise interrupted
