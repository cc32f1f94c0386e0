"""ae_magic: a Jupyter-native debugger for Keras autoencoders.

``%load_ext ae_magic`` registers ``%%ae_check`` and ``%ae_probe``; the same
engine is available as :func:`check` / :func:`probe`, as a
:class:`Session` for re-runs, and as ``ae-magic check`` on the command line.
Heavy imports (Keras and its backend) happen on first use, not at import time.
"""

from __future__ import annotations

from typing import Any

from .api import check, probe
from .errors import AeMagicError, AeMagicUsageError, UsageError
from .report import Finding, Report
from .session import Session
from .version import __version__

__all__ = [
    "AeMagicError",
    "AeMagicUsageError",
    "Finding",
    "Report",
    "Session",
    "UsageError",
    "__version__",
    "check",
    "last_report",
    "load_ipython_extension",
    "probe",
    "unload_ipython_extension",
]


def last_report() -> Report | None:
    """The Report of the latest ``%%ae_check`` / ``%ae_probe`` in this process (None before the first)."""
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
