"""The probes' backend: everything that needs the Keras backend's own API.

Keras 3 runs on TensorFlow, JAX or PyTorch; ``keras.ops`` covers the
forward pass, but taking gradients, compiling a training step and choosing
tensor dtypes are the backend's own business. Each backend gets one module,
``backend_<name>.py``, with the functions of :class:`Backend`; every other
module of the probes is backend-neutral (``keras.ops`` and numpy) and goes
through :func:`current`. Only TensorFlow is implemented.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any, Protocol

import numpy as np

from ..errors import ProbeError
from ..keras_compat import keras

# Keras backend name -> module of this package that implements it.
IMPLEMENTED = {"tensorflow": "backend_tensorflow"}


class CompiledStep(Protocol):
    """``k`` training steps in one compiled call (see :func:`Backend.compile_train_step`)."""

    def __call__(self, xs: Any, ys: Any, lrs: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    @property
    def tracing_count(self) -> int: ...


class Backend(Protocol):
    """What a backend module provides (module-level names)."""

    NAME: str

    def input_dtype(self, a: np.ndarray) -> Any:
        """The backend dtype the probes feed ``a`` as (floats and bools as float32)."""

    def loss_and_gradients(
        self, model: Any, loss_fn: Callable[[Any, Any], Any], x: Any, y: Any, variables: Sequence[Any]
    ) -> tuple[Any, list[Any]]:
        """The training loss of one batch (float32, plus the model's added losses) and
        its gradient with respect to each of ``variables`` (``None``: not connected)."""

    def compile_train_step(
        self,
        model: Any,
        loss_fn: Callable[[Any, Any], Any],
        optimizer: Any,
        variables: Sequence[Any],
        lr_var: Any,
        x: np.ndarray,
        y: np.ndarray,
    ) -> CompiledStep:
        """One compiled function ``(xs, ys, lrs) -> (losses, grad_norms)``.

        ``xs``/``ys``: ``k`` stacked batches shaped ``(k, batch, *x.shape[1:])``
        (dtypes from :meth:`input_dtype` of ``x``/``y``; ``k`` and the batch
        size may change between calls without recompiling); ``lrs``: ``k``
        float32 learning rates, each assigned to ``lr_var`` before its step.
        Returns numpy arrays: the ``k`` losses and the ``k x len(variables)``
        gradient norms (-1 where a gradient is ``None``).
        """

    def compile_forward(self, model: Any, x: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        """Compiled inference (``training=False``) for batches shaped like ``x``; returns numpy."""


_loaded: dict[str, ModuleType] = {}


def current() -> Backend:
    """The implementation for ``keras.backend.backend()``.

    Raises :class:`ProbeError` for a backend the probes don't support yet.
    """
    name = keras.backend.backend()
    if name not in _loaded:
        module = IMPLEMENTED.get(name)
        if module is None:
            raise ProbeError(f"the probes do not support the {name} backend yet")
        _loaded[name] = importlib.import_module(f"{__package__}.{module}")
    return _loaded[name]  # type: ignore[return-value]
