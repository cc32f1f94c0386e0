"""The Python API: :func:`check` and :func:`probe`, thin doors into a Session.

Their signatures are written out (not ``**kwargs``) so ``help()``, completion
and type checkers see them; ``tests/test_options.py`` holds them to the
options table. Every value is validated before anything runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .errors import UsageError
from .options import API, Options, validate
from .report import Report
from .session import Session


def check(
    source: str | None = None,
    *,
    namespace: dict[str, Any] | None = None,
    data: Any = None,
    target: Any = None,
    model: Any = None,
    train: bool = True,
    epochs: int | None = None,
    steps: int | None = None,
    subset: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    latent: int | None = None,
    seed: int = 0,
    range_test: bool = False,
    label: str | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> Report:
    """Run ``source`` once as a cell, find its autoencoder and diagnose it.

    ``namespace`` is the cell's globals (a fresh dict by default). ``data``
    and ``target`` are arrays or names in the namespace (``target``: the
    clean data of a denoising set-up). ``model`` is a name or a model object
    overriding the automatic choice; with ``source=None`` it must be given.
    ``train=False`` turns the gradient and training probes off;
    ``range_test=True`` adds the learning-rate range test (AE406).
    ``latent`` probes a copy rebuilt with that bottleneck width. ``progress``
    is called with probe events (``{"phase", "step", "total", "loss"}``).

    Returns a plain-data :class:`~ae_magic.report.Report`. For re-runs with
    other options keep a :class:`~ae_magic.session.Session` instead:
    ``Session.from_cell(...).run()`` then ``.rerun(lr=...)``.

    Raises :class:`~ae_magic.errors.UsageError` for bad options or a data
    name that does not exist after the cell ran.
    """
    opts = _options(train=train, epochs=epochs, steps=steps, subset=subset, batch_size=batch_size, lr=lr,
                    latent=latent, seed=seed, range_test=range_test, progress=progress)
    if source is None:
        if model is None:
            raise UsageError("check() needs cell source or a model.")
        if isinstance(model, str):
            if namespace is None or model not in namespace:
                raise UsageError(f"model={model!r}: no variable of that name in the namespace.")
            name, model = model, namespace[model]
        else:
            name = next((k for k, v in (namespace or {}).items() if v is model and not k.startswith("_")), None)
        session = Session.from_model(model, _lookup(data, namespace), target=_lookup(target, namespace),
                                     options=opts, namespace=namespace, name=name, label=label)
    else:
        if not isinstance(source, str):
            raise UsageError(f"check() takes the cell's source as a string, got a {type(source).__name__}.")
        session = Session.from_cell(source, namespace=namespace, data=data, target=target, model=model, options=opts,
                                    label=label)
    try:
        return session.run()
    finally:
        session.close()


def probe(
    model: Any,
    data: Any,
    *,
    target: Any = None,
    train: bool = True,
    epochs: int | None = None,
    steps: int | None = None,
    subset: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    latent: int | None = None,
    seed: int = 0,
    range_test: bool = False,
    label: str | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> Report:
    """Diagnose a model that already exists: structure, data, gradient and training probes.

    ``model`` is a Keras model; it is never changed (the probes train a copy;
    ``latent`` rebuilds a copy with another bottleneck width, weights copied
    where shapes match). ``data`` is the training data (an array);
    ``target`` the reconstruction target when it differs. The other options
    are those of :func:`check`, with the same defaults.
    """
    opts = _options(train=train, epochs=epochs, steps=steps, subset=subset, batch_size=batch_size, lr=lr,
                    latent=latent, seed=seed, range_test=range_test, progress=progress)
    if data is None:
        raise UsageError("probe() needs the training data (an array).")
    session = Session.from_model(model, data, target=target, options=opts, label=label)
    try:
        return session.run()
    finally:
        session.close()


def _options(*, progress: Callable[[dict[str, Any]], None] | None, **settings: Any) -> Options:
    """The probe settings validated against the options table (UsageError before anything runs)."""
    return Options.from_values(validate(settings, API), API, progress=progress)


def _lookup(value: Any, namespace: dict[str, Any] | None) -> Any:
    """A data name resolved in ``namespace`` (arrays pass through)."""
    if isinstance(value, str):
        if namespace is None or value not in namespace:
            raise UsageError(f"data name {value!r}: no variable of that name in the namespace.")
        return namespace[value]
    return value
