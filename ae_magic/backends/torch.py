"""The PyTorch backend: eager steps with ``torch.autograd.grad``.

Keras' own PyTorch trainer runs eagerly (no compilation by default), and so
do the probes: one forward pass, ``torch.autograd.grad`` for the gradients
(``None`` for a variable the loss does not reach, as TensorFlow's tape
says), and the optimizer's update under ``torch.no_grad()``. torch's global
generator is saved and restored around a check.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from ..errors import ModelError
from . import batch_triple, call_loss, call_model, logs_as_floats, probe_seed_values

NAME = "torch"


def version() -> str:
    """PyTorch's version."""
    return str(torch.__version__)


def _tensor(a: Any) -> Any:
    """A NumPy batch as the torch tensor fit would hand the loss (a hand-written loss may do ``y_true - ...``)."""
    import keras  # lazily, as below: the backend modules load before the user's keras import

    return keras.ops.convert_to_tensor(a) if isinstance(a, np.ndarray) else a


def loss_input(a: Any) -> Any:
    """A NumPy array as the tensor ``fit`` hands a loss on this backend (for losses computed outside a step)."""
    return _tensor(a)


def _loss(model: Any, loss_fn: Callable[[Any, Any], Any], x: Any, y: Any) -> Any:
    pred = call_model(model, x, training=True)
    loss = torch.mean(torch.as_tensor(call_loss(loss_fn, _tensor(y), pred)).to(torch.float32))
    for term in model.losses:
        # Keras sums each add_loss term (a per-sample vector counts once per sample), as fit does.
        loss = loss + torch.sum(torch.as_tensor(term).to(torch.float32))
    return loss


class _Step:
    """``run(xs, ys, lrs)``: ``k`` eager training steps (see :func:`compile_train_step`)."""

    def __init__(self, model: Any, loss_fn: Callable[[Any, Any], Any], optimizer: Any, variables: Sequence[Any], lr_var: Any) -> None:
        self._model, self._loss_fn, self._optimizer = model, loss_fn, optimizer
        self._vars = list(variables)
        self._lr_var = lr_var
        self._disposed = False

    def __call__(self, xs: Any, ys: Any, lrs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self._disposed:
            raise ModelError("the training step was disposed of")
        k, n = int(xs.shape[0]), len(self._vars)
        losses = np.zeros((k,), np.float32)
        norms = np.full((k, n), -1.0, np.float32)
        params = [v.value for v in self._vars]
        for i in range(k):
            self._lr_var.assign(float(lrs[i]))
            loss = _loss(self._model, self._loss_fn, xs[i], ys[i])
            wanted = [j for j, p in enumerate(params) if p.requires_grad]
            grads: list[Any] = [None] * n
            if wanted and loss.requires_grad:
                try:
                    got = torch.autograd.grad(loss, [params[j] for j in wanted], allow_unused=True)
                except RuntimeError as exc:
                    raise ModelError(f"a training step fails (RuntimeError: {str(exc).splitlines()[0][:300]})") from exc
                for j, g in zip(wanted, got, strict=True):
                    grads[j] = g
            pairs = [(g, v) for g, v in zip(grads, self._vars, strict=True) if g is not None]
            if pairs:
                with torch.no_grad():
                    self._optimizer.apply_gradients(pairs)
            losses[i] = float(loss.detach())
            for j, g in enumerate(grads):
                if g is not None:
                    norms[i, j] = float(torch.linalg.vector_norm(g.detach().to(torch.float32)))
        return losses, norms

    @property
    def tracing_count(self) -> int:
        return 1  # eager: nothing is traced

    def dispose(self) -> None:
        """Nothing compiled to free; refuse further calls."""
        self._disposed = True


def compile_train_step(
    model: Any,
    loss_fn: Callable[[Any, Any], Any],
    optimizer: Any,
    variables: Sequence[Any],
    lr_var: Any,
    x: np.ndarray,
    y: np.ndarray,
) -> _Step:
    """Eager training steps, like Keras' own PyTorch ``fit``."""
    return _Step(model, loss_fn, optimizer, variables, lr_var)


def compile_forward(model: Any, x: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """Inference without autograd bookkeeping."""

    def forward(xb: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            out = call_model(model, xb, training=False)
        return np.asarray(out.detach().cpu().numpy() if hasattr(out, "detach") else out)

    return forward


def compile_callable(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``fn`` itself: PyTorch runs eagerly; compiling a Python forward pass costs more than it saves here."""
    return fn


def compile_eval(
    model: Any, loss_fn: Callable[[Any, Any], Any], x: np.ndarray, y: np.ndarray
) -> Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, float]]:
    """Inference (:func:`compile_forward`) and the mean loss of its output.

    Keras' torch losses read no logits from an activation's output, so the
    loss of the returned predictions is the training step's formula.
    """
    forward = compile_forward(model, x)

    def evaluate(xb: np.ndarray, yb: np.ndarray) -> tuple[np.ndarray, float]:
        pred = forward(xb)
        with torch.no_grad():
            loss = call_loss(loss_fn, _tensor(yb), _tensor(pred))
            value = loss.detach().cpu().numpy() if hasattr(loss, "detach") else loss
        return pred, float(np.mean(np.asarray(value, dtype=np.float64)))

    return evaluate


def input_gradient_max(model: Any, x: np.ndarray) -> float | None:
    """Largest ``|d(r . model(x)) / dx|``; ``None`` when autograd finds no path to the input."""
    import keras

    xt = keras.ops.convert_to_tensor(np.asarray(x, dtype="float32")).detach().requires_grad_(True)
    out = call_model(model, xt, training=False)
    leaves = [torch.as_tensor(t).to(torch.float32) for t in keras.tree.flatten(out)]
    rs = probe_seed_values([tuple(t.shape) for t in leaves])
    s = sum(torch.sum(t * torch.as_tensor(r, device=t.device)) for t, r in zip(leaves, rs, strict=True))
    if not getattr(s, "requires_grad", False):
        return None
    (g,) = torch.autograd.grad(s, xt, allow_unused=True)
    return None if g is None else float(g.abs().max())


def rng_state() -> Any:
    """torch's default CPU generator state (and CUDA's where there is one)."""
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    return torch.get_rng_state(), cuda


def restore_rng_state(state: Any) -> None:
    """Put back what :func:`rng_state` returned."""
    if state is None:
        return
    cpu, cuda = state
    torch.set_rng_state(cpu)
    if cuda is not None:
        torch.cuda.set_rng_state_all(cuda)


def own_train_step(model: Any, data: Any) -> dict[str, Any]:
    """One step of the model's own ``train_step``, through its train function (see :class:`Backend`)."""
    model._symbolic_build(data_batch=batch_triple(data))
    model.make_train_function()
    model.reset_metrics()
    return logs_as_floats(model.train_function([data]))
