"""The error hierarchy: what ae_magic raises, and what it means for the user.

Everything ae_magic raises on purpose derives from :class:`AeMagicError`.
``UsageError`` is the caller's mistake (a bad option, a data name that does
not exist): the magics turn it into IPython's one-line ``UsageError`` and the
CLI into exit status 2. Anything else escaping a check is a bug of ours; the
engine catches it and records it in ``Report.internal_errors`` rather than
letting it pose as a diagnosis or crash the kernel.
"""

from __future__ import annotations


class AeMagicError(Exception):
    """Base class of the errors ae_magic raises on purpose."""


class UsageError(AeMagicError, ValueError):
    """Bad arguments from the caller (unknown data name, non-model object, bad option value).

    The message is written for the person: it names the option as they wrote
    it and what would be accepted.
    """


# The name the API has exported since 0.1; kept so ``except AeMagicUsageError`` keeps working.
AeMagicUsageError = UsageError


class RebuildError(AeMagicError):
    """A model can't be rebuilt with another latent size (the message says why)."""


class ProbeError(AeMagicError, RuntimeError):
    """A probe could not run on this model (the message says why; reported as a skipped probe)."""


class ModelError(ProbeError):
    """The user's model, loss or data raised while a probe ran it (``fit`` would raise it too).

    Reported as a probe that could not run, with the reason, never as a bug of
    ae_magic's.
    """


def safe_str(exc: BaseException) -> str:
    """``str(exc)`` that never raises: a user's exception whose ``__str__`` fails still gets a message."""
    try:
        text = str(exc)
    except Exception:
        try:
            text = repr(exc)
        except Exception:
            text = f"<{type(exc).__name__} whose message could not be read>"
    return text


def describe(exc: BaseException) -> str:
    """``Type: message`` for an exception, safely."""
    msg = safe_str(exc)
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__
