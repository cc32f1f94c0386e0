"""ae_magic: a Jupyter-native debugger for Keras autoencoders.

``%load_ext ae_magic`` registers ``%%ae_check`` and ``%ae_probe``; the same
engine is available as :func:`check` / :func:`probe` and as ``ae-magic check``.
Heavy imports (TensorFlow) happen on first use, not at import time.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["Finding", "Report", "__version__", "check", "last_report", "load_ipython_extension", "probe", "unload_ipython_extension"]


def check(*args: Any, **kwargs: Any) -> Any:
    """Run a cell's source, find its autoencoder and diagnose it (see ``engine.check``)."""
    from .engine import check as _check

    return _check(*args, **kwargs)


def probe(*args: Any, **kwargs: Any) -> Any:
    """Probe an existing model, optionally with another lr/latent (see ``rerun.probe``)."""
    from .rerun import probe as _probe

    return _probe(*args, **kwargs)


def last_report() -> Any:
    """The Report of the latest ``%%ae_check`` / ``%ae_probe`` (None before the first)."""
    from . import magics

    return magics.LAST_REPORT


def load_ipython_extension(ipython: Any) -> None:
    """Register ``%%ae_check`` and ``%ae_probe`` (``%load_ext ae_magic``)."""
    from .magics import load_ipython_extension as _load

    _load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """Remove the magics again (``%unload_ext ae_magic``)."""
    from .magics import unload_ipython_extension as _unload

    _unload(ipython)


def __getattr__(name: str) -> Any:
    if name in ("Finding", "Report"):
        from . import report

        return getattr(report, name)
    raise AttributeError(name)
