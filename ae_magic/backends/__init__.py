"""The Keras backend seam: everything that needs TensorFlow, JAX or PyTorch itself.

Keras 3 runs on TensorFlow, JAX or PyTorch. ``keras.ops`` covers forward
passes, but four things are the backend's own business: per-variable
gradients of the model's loss, a (compiled) training step, an inference
forward pass, and the global random state a check must leave as it found
it. Each backend gets one module here (``tensorflow.py``, ``jax.py``,
``torch.py``) with the functions of :class:`Backend`; every other module is
backend-neutral and goes through :func:`current`. Adding a backend means
adding one file and one line to :data:`IMPLEMENTED`.

This package sits below :mod:`ae_magic.keras_compat`: :func:`import_keras`
picks the backend before Keras is imported, and turns a missing backend
into one sentence that names the extra to install.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from types import ModuleType
from typing import Any, Protocol

import numpy as np

from ..errors import ModelError, ProbeError, UsageError, describe

# Keras backend name -> module of this package that implements it.
IMPLEMENTED = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}
# Keras backend name -> the Python package it needs (and ae-magic's extra of the same name).
PACKAGES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}
# Why the backend was chosen, for the report ("KERAS_BACKEND", "keras.json", ...).
CHOSEN_BY: dict[str, str] = {}

# TensorFlow's C++ log level is read once, when TensorFlow is imported: set it
# here (``import ae_magic`` comes before the user's ``import keras`` in a
# notebook) so its start-up notices stay out of cells and panels. A value the
# user set is kept.
if "tensorflow" not in sys.modules:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Start-up notices that TensorFlow, XLA and CUDA write straight to file
# descriptor 2 (some before TF_CPP_MIN_LOG_LEVEL is read, through absl's
# pre-initialisation logger): none is about the user's model. Any other line
# written while Keras is imported is passed on.
NATIVE_NOISE = re.compile(
    r"absl::InitializeLog|cudart_stub|cuda_(?:platform|dnn|fft|blas|executor|diagnostics)|cuInit"
    r"|Unable to register cu(?:DNN|FFT|BLAS) factory|computation_placer|computation placer|TF-TRT"
    r"|oneDNN custom operations|TF_ENABLE_ONEDNN_OPTS|cpu_feature_guard|This TensorFlow binary is optimized"
    r"|rebuild TensorFlow with the appropriate compiler flags|Could not find cuda drivers"
)


@contextlib.contextmanager
def _native_stderr_filtered() -> Iterator[None]:
    """Capture what is written to file descriptor 2 meanwhile; re-emit all but :data:`NATIVE_NOISE`.

    C++ libraries write past ``sys.stderr``, so only the descriptor itself
    catches them (in a terminal, and in a Jupyter kernel, which forwards it to
    the cell). Where it can't be redirected, nothing is filtered.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        yield
        return
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(OSError, ValueError, AttributeError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            text = tmp.read().decode("utf-8", errors="replace")
    kept = [line for line in text.splitlines() if line.strip() and not NATIVE_NOISE.search(line)]
    if kept:
        print("\n".join(kept), file=sys.stderr)


def _quiet_absl() -> None:
    """Raise absl's Python log threshold to errors, unless the user has changed it already."""
    absl_logging = sys.modules.get("absl.logging")
    if absl_logging is not None and absl_logging.get_verbosity() == absl_logging.WARNING:
        absl_logging.set_verbosity(absl_logging.ERROR)


class BackendMissingError(UsageError):
    """The configured Keras backend is not installed (a usage error: the fix is an install)."""


class CompiledStep(Protocol):
    """``k`` training steps in one call (see :func:`Backend.compile_train_step`)."""

    def __call__(self, xs: Any, ys: Any, lrs: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    @property
    def tracing_count(self) -> int: ...

    def dispose(self) -> None: ...


class Backend(Protocol):
    """What a backend module provides (module-level names)."""

    NAME: str

    def version(self) -> str:
        """The backend library's version string."""

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
        """One function ``(xs, ys, lrs) -> (losses, grad_norms)`` that trains ``model``.

        ``xs``/``ys``: ``k`` stacked batches shaped ``(k, batch, *x.shape[1:])``
        (backend tensors; ``k`` and the batch size may change between calls);
        ``lrs``: ``k`` float32 learning rates, each assigned to ``lr_var``
        (the optimizer's learning-rate variable) before its step. The loss is
        the mean of ``loss_fn(y, model(x, training=True))`` plus the model's
        added losses; ``optimizer`` applies the gradients of ``variables``.
        Returns numpy arrays: the ``k`` losses and the ``k x len(variables)``
        gradient norms (-1 where a variable is not connected to the loss).
        After the call the model's variables hold the trained values.
        """

    def compile_forward(self, model: Any, x: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        """Inference (``training=False``) for batches shaped like ``x``; returns numpy."""

    def compile_callable(self, fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
        """``fn`` (a forward pass written in Python: a subclassed model's call, ``decoder(encoder(x))``) compiled
        where the backend compiles Python cheaply, else ``fn`` itself. The caller falls back to ``fn`` when the
        compiled one raises."""

    def compile_eval(
        self, model: Any, loss_fn: Callable[[Any, Any], Any], x: np.ndarray, y: np.ndarray
    ) -> Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, float]]:
        """Inference and the loss in the training step's own formula: ``(xb, yb) -> (predictions, mean loss)``.

        The loss is ``mean(loss_fn(yb, model(xb, training=False)))`` computed
        on the model's output tensor as the compiled step computes it, so a
        loss that reads the logits behind a sigmoid/softmax output (Keras'
        crossentropies on TensorFlow) does so here too.
        """

    def input_gradient_max(self, model: Any, x: np.ndarray) -> float | None:
        """Largest ``|d(r . model(x)) / dx|`` for a fixed random ``r``.

        ``None`` where the backend can tell that no gradient reaches the input
        at all; ``0.0`` where it arrives as exact zeros.
        """

    def own_train_step(self, model: Any, data: Any) -> dict[str, Any]:
        """One step of the model's own ``train_step`` on ``data``, as ``fit`` runs it; returns its logs.

        ``data`` is what ``fit`` hands ``train_step``: the bare ``x`` batch
        (``fit(x)``) or ``(x, y)``. Like ``train_on_batch`` (which would hand
        ``(x, None, None)`` instead), the model's metrics are reset first, so
        the logs are this step's values; the model's compiled train function
        is built on first use and reused.
        """

    def rng_state(self) -> Any:
        """The backend's own global random state (``None`` where it has none)."""

    def restore_rng_state(self, state: Any) -> None:
        """Put back what :meth:`rng_state` returned."""


def call_model(model: Any, x: Any, *, training: bool) -> Any:
    """``model(x)``; what the user's model raises is the model's fault (ModelError), not ours."""
    try:
        return model(x, training=training)
    except Exception as exc:
        # The probes compile their steps (tf.function, jit): a model that only fit's run_eagerly=True lets
        # through (a layer made inside call) raises here and not in the user's fit.
        eager = getattr(model, "run_eagerly", False) or model.__dict__.get("_ae_fit_eagerly", False)
        how = ("model.fit fails the same way" if not eager else
               "the probes compile their steps, while this model is compiled with run_eagerly=True, which fit runs "
               "without compiling")
        raise ModelError(f"calling the model raises {describe(exc)}; {how}") from exc


def call_loss(loss_fn: Callable[[Any, Any], Any], y: Any, pred: Any) -> Any:
    """``loss_fn(y, pred)``; what the compiled loss raises is the model's fault (ModelError)."""
    try:
        return loss_fn(y, pred)
    except Exception as exc:
        raise ModelError(f"the compiled loss raises {describe(exc)} on the model's output; model.fit fails the same way") from exc


def batch_triple(data: Any) -> tuple[Any, Any, None]:
    """``(x, y, None)`` of a ``fit`` batch (bare ``x`` or ``(x, y)``), as Keras' symbolic build takes it."""
    if isinstance(data, tuple):  # (x, y), or (x,): several inputs fed without a y
        return data[0], data[1] if len(data) > 1 else None, None
    return data, None, None


def logs_as_floats(logs: Any) -> dict[str, float]:
    """A train step's logs as plain floats (entries that aren't scalars are left out)."""
    out: dict[str, float] = {}
    for key, val in dict(logs or {}).items():
        try:
            arr = np.asarray(val.detach().cpu().numpy() if hasattr(val, "detach") else val, dtype=np.float64)
        except Exception:
            continue
        if arr.size == 1:
            out[str(key)] = float(arr.reshape(()))
    return out


def probe_seed_values(shapes: Sequence[tuple[int, ...]]) -> list[np.ndarray]:
    """The fixed random weights ``r`` of :meth:`Backend.input_gradient_max` (the same on every backend)."""
    rng = np.random.default_rng(0)
    return [rng.standard_normal(s).astype("float32") for s in shapes]


def _installed(package: str) -> bool:
    return importlib.util.find_spec(package) is not None


def _keras_json_backend() -> str | None:
    """The backend named in Keras' config file, where there is one (Keras reads the same file)."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    for base in (home, "/tmp/.keras"):
        try:
            with open(os.path.join(base, "keras.json"), encoding="utf-8") as fh:
                name = json.load(fh).get("backend")
            if isinstance(name, str):
                return name
        except (OSError, ValueError, AttributeError):
            continue
    return None


def missing_message(name: str, how: str) -> str:
    """One sentence: which backend is configured, and what to install."""
    pkg = PACKAGES.get(name)
    if pkg is None:
        return (f"Keras is set to the {name!r} backend ({how}), which ae_magic does not support; "
                f"use one of {', '.join(sorted(IMPLEMENTED))} (set KERAS_BACKEND).")
    return (f"Keras is set to the {name} backend ({how}) but {pkg} is not installed: "
            f'pip install "ae-magic[{name}]" (or set KERAS_BACKEND to a backend you have).')


def import_keras() -> ModuleType:
    """Import Keras with a backend that is installed, or raise one sentence that says what to install.

    An explicit ``KERAS_BACKEND`` is obeyed. Without one, Keras' own choice
    (``keras.json``, else TensorFlow) is kept when that backend is
    installed; otherwise the first installed of TensorFlow, JAX and PyTorch
    is used, so that ``pip install "ae-magic[jax]"`` works without further
    setup. Once Keras is imported its backend is final, whatever it is.
    """
    if "keras" in sys.modules:
        CHOSEN_BY.setdefault("how", "already imported")
        return sys.modules["keras"]
    env = os.environ.get("KERAS_BACKEND")
    if env:
        if env in PACKAGES and not _installed(PACKAGES[env]):
            raise BackendMissingError(missing_message(env, f"KERAS_BACKEND={env}"))
        CHOSEN_BY["how"] = f"KERAS_BACKEND={env}"
    else:
        configured = _keras_json_backend() or "tensorflow"
        if configured in PACKAGES and _installed(PACKAGES[configured]):
            CHOSEN_BY["how"] = "Keras' default" if configured == "tensorflow" else "keras.json"
        else:
            found = next((n for n, p in PACKAGES.items() if _installed(p)), None)
            if found is None:
                raise BackendMissingError(
                    "Keras needs a backend and none is installed: "
                    'pip install "ae-magic[tensorflow]" (or [jax] or [torch]).'
                )
            os.environ["KERAS_BACKEND"] = found  # Keras reads it on import; the only installed choice
            CHOSEN_BY["how"] = f"the only installed backend ({configured} is not installed)"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        with _native_stderr_filtered():
            import keras

            # The first tensor initialises the device (TensorFlow's CUDA probe logs then).
            keras.ops.convert_to_tensor(0.0)
    except ImportError as exc:  # a backend that is there but broken
        raise BackendMissingError(f"Keras could not be imported ({describe(exc)}); reinstall ae-magic with its backend's extra.") from None
    _quiet_absl()
    return keras


_loaded: dict[str, ModuleType] = {}


def current() -> Backend:
    """The implementation for the backend Keras runs on.

    Raises :class:`ProbeError` for a backend ae_magic doesn't support.
    """
    keras = import_keras()
    name = keras.backend.backend()
    if name not in _loaded:
        module = IMPLEMENTED.get(name)
        if module is None:
            raise ProbeError(f"ae_magic does not support the {name} backend")
        _loaded[name] = importlib.import_module(f"{__package__}.{module}")
    return _loaded[name]  # type: ignore[return-value]


def name_and_version() -> dict[str, str]:
    """``{"name", "version", "keras", "chosen_by"}`` for the report header."""
    keras = import_keras()
    name = keras.backend.backend()
    try:
        version = current().version()
    except Exception:
        version = "unknown"
    return {"name": name, "version": version, "keras": keras.__version__, "chosen_by": CHOSEN_BY.get("how", "")}
