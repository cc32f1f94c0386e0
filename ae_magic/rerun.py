"""Re-run engine: probe a model with other hyper-parameters, or re-run a report.

``probe(model, data, lr=..., latent=...)`` diagnoses an existing model;
``rerun(report, lr=...)`` repeats a report's diagnosis with some options
changed (the notebook sliders call it). Both go through
:func:`ae_magic.engine.diagnose`, so the report has the same shape as
``check()``'s and the traces of several runs can be compared side by side.

A re-run with another learning rate, epoch count, subset or seed reuses the
probe session (the copy and its compiled step): nothing is re-traced. A
re-run with another latent size rebuilds the model (Functional/Sequential
only) and keeps that rebuild's session for the next time the slider comes
back to the same value.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from . import keras_compat as kc
from .context import Context, Options
from .report import Report

# Options a re-run may change.
RERUN_OPTIONS = ("lr", "latent", "epochs", "steps", "subset", "batch_size", "seed", "range_test", "progress", "train")


def probe(
    model: Any,
    data: Any,
    *,
    target: Any = None,
    lr: float | None = None,
    latent: int | None = None,
    epochs: int | None = None,
    steps: int | None = None,
    subset: int | None = None,
    batch_size: int | None = None,
    seed: int = 0,
    range_test: bool = True,
    progress: Any = None,
    label: str | None = None,
) -> Report:
    """Diagnose ``model`` on ``data`` (gradient + training probes), optionally with
    another learning rate ``lr`` or code width ``latent``.

    The model is never changed: the probes run on a copy, and ``latent``
    rebuilds a new model (weights copied where shapes match). Subclassed
    models can't change their latent size; that raises a usage error with
    the reason.
    """
    from .engine import AeMagicUsageError, _build_unbuilt_copy, _resolve_data

    if not kc.is_model(model):
        raise AeMagicUsageError(f"probe() needs a Keras model, got a {type(model).__name__}.")
    if data is None:
        raise AeMagicUsageError("probe() needs the training data (an array).")
    opts = Options(
        train=True,
        epochs=epochs,
        steps=steps,
        subset=subset,
        batch_size=batch_size,
        lr=lr,
        latent=latent,
        seed=seed,
        range_test=range_test,
        progress=progress,
    )
    ctx = Context(source=None, namespace={}, options=opts)
    ctx.model = model
    ctx.model_name = getattr(model, "name", None)
    _resolve_data(ctx, data, target)
    _build_unbuilt_copy(ctx)
    ctx._user_model = ctx.model  # type: ignore[attr-defined]
    ctx._rerun_cache = {}  # type: ignore[attr-defined]
    _apply_latent(ctx, latent)
    return _diagnose(ctx, label)


def rerun(report: Report, **overrides: Any) -> Report:
    """Re-run ``report``'s diagnosis with some options changed.

    ``overrides`` are any of ``lr``, ``latent``, ``epochs``, ``steps``,
    ``subset``, ``batch_size``, ``seed``, ``range_test``, ``progress``,
    ``train``, plus ``label``. Uses the model, data and cell of the report's
    live context; the user's model stays untouched.
    """
    from .engine import AeMagicUsageError

    ctx0 = report.context
    if ctx0 is None:
        raise AeMagicUsageError("This report has no live model to re-run (was it loaded from JSON?).")
    label = overrides.pop("label", None)
    unknown = sorted(set(overrides) - set(RERUN_OPTIONS))
    if unknown:
        raise AeMagicUsageError(f"rerun() can't change {', '.join(unknown)}; it can change {', '.join(RERUN_OPTIONS)}.")
    opts = dataclasses.replace(ctx0.options, **overrides)
    user_model = getattr(ctx0, "_user_model", ctx0.model)
    cache = getattr(ctx0, "_rerun_cache", None)
    if cache is None:
        cache = {}
    # The first run's session belongs to the user's model (latent None).
    sess0 = getattr(ctx0, "_probe_session", None)
    if getattr(ctx0, "_latent_key", None) is None and sess0 is not None:
        cache.setdefault(None, (ctx0.model, sess0))
    ctx = Context(
        source=ctx0.source,
        namespace=ctx0.namespace,
        bound=list(ctx0.bound),
        assign_lines=dict(ctx0.assign_lines),
        calls=list(ctx0.calls),
        cell_error=ctx0.cell_error,
        model=user_model,
        model_name=ctx0.model_name,
        other_models=dict(ctx0.other_models),
        data=ctx0.data,
        data_name=ctx0.data_name,
        target=ctx0.target,
        target_name=ctx0.target_name,
        options=opts,
        built_from_data=ctx0.built_from_data,
    )
    ctx._user_model = user_model  # type: ignore[attr-defined]
    ctx._rerun_cache = cache  # type: ignore[attr-defined]
    _apply_latent(ctx, opts.latent)
    return _diagnose(ctx, label)


def _apply_latent(ctx: Context, latent: int | None) -> None:
    """Point ``ctx`` at the user's model, or at a rebuild with code width ``latent``."""
    from .engine import AeMagicUsageError
    from .rebuild import RebuildError, current_latent, rebuild_with_latent

    user_model = ctx._user_model  # type: ignore[attr-defined]
    cache: dict[Any, Any] = ctx._rerun_cache  # type: ignore[attr-defined]
    key = None if latent is None or latent == current_latent(user_model) else int(latent)
    ctx._latent_key = key  # type: ignore[attr-defined]
    if key is None:
        ctx.model = user_model
        if None in cache:
            ctx._probe_session = cache[None][1]  # type: ignore[attr-defined]
        return
    if key in cache:
        model, sess = cache[key]
        ctx._probe_session = sess  # type: ignore[attr-defined]
        info = getattr(model, "_ae_rebuild_info", None)
    else:
        try:
            model, info = rebuild_with_latent(user_model, key)
        except RebuildError as exc:
            raise AeMagicUsageError(str(exc)) from None
        _compile_like(model, user_model)
        model._ae_rebuild_info = info
        cache[key] = (model, None)
    ctx.model = model
    ctx._owned_model = True  # type: ignore[attr-defined]
    # The cell's recorded calls and names belong to the user's layers, not to
    # the rebuild: structural checks would read them as dangling.
    ctx.calls = []
    ctx.bound = []
    ctx.namespace = {}
    if info:
        kept = ", ".join(info["copied"]) or "none"
        ctx.notes.append(
            f"Latent size {info['old']} -> {info['new']} ({info['param']} of layer {info['layer']!r}); "
            f"weights kept for {kept}; freshly initialised: {', '.join(info['fresh']) or 'none'}."
        )


def _compile_like(model: Any, user_model: Any) -> None:
    """Compile a rebuild with a fresh optimizer and the loss of the user's model."""
    if not kc.is_compiled(user_model):
        return
    from .probes import _fresh_loss

    opt = user_model.optimizer
    fresh_opt = type(opt).from_config(opt.get_config())
    loss, _ = _fresh_loss(user_model)
    model.compile(optimizer=fresh_opt, loss=loss)


def _diagnose(ctx: Context, label: str | None) -> Report:
    from .engine import diagnose

    t = time.perf_counter()
    report = diagnose(ctx)
    sess = getattr(ctx, "_probe_session", None)
    key = getattr(ctx, "_latent_key", None)
    cache = getattr(ctx, "_rerun_cache", None)
    if cache is not None and sess is not None:
        cache[key] = (ctx.model, sess)
    report.label = label or _label(ctx.options)
    report.timings["total"] = time.perf_counter() - t
    return report


def _label(o: Options) -> str:
    parts = [f"{k}={getattr(o, k)}" for k in ("lr", "latent", "epochs", "steps", "subset") if getattr(o, k) is not None]
    return ", ".join(parts) or "defaults"
