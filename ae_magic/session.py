"""The Session: the live state of one check, and the one way to (re-)run it.

A Session holds what a check keeps alive between runs: the cell and its
namespace, the chosen model, the data, the probes' copies of the model (one
per latent size tried) and their compiled steps. :meth:`Session.run` is the
first diagnosis; :meth:`Session.rerun` is the same pipeline with some options
changed, which is what the panel's sliders, "Try the fix" and ``probe()``
use. Reports are plain data and keep nothing alive; :meth:`Session.close`
releases the copies.

Nothing of the user's changes: the cell runs once (capture), every run after
it happens inside ``keras_compat.preserved_random_state()``, checks that
need a forward pass use a copy, and probes train copies.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

from . import engine
from .context import Context
from .errors import RebuildError, UsageError
from .options import PROBE_SETTINGS, Options
from .report import Finding, Report

# Findings about the cell itself, which a run on a rebuilt copy (another
# latent size) can't see but which still hold for the user's cell.
CELL_LEVEL_CODES = ("AE100", "AE101", "AE112")


class Session:
    """Live state of one check; build it with :meth:`from_cell` or :meth:`from_model`."""

    def __init__(self, ctx: Context, *, label: str | None = None) -> None:
        self._base = ctx
        self.options: Options = ctx.options
        self.label = label
        # latent key (None: the user's own model) -> (model, probe session, check cache)
        self._variants: dict[int | None, tuple[Any, Any, dict[str, Any]]] = {}
        self._cell_findings: list[Finding] | None = None
        self.runs: list[Report] = []
        self.closed = False

    # -- construction ------------------------------------------------------
    @classmethod
    def from_cell(
        cls,
        source: str,
        *,
        namespace: dict[str, Any] | None = None,
        data: Any = None,
        target: Any = None,
        model: Any = None,
        options: Options | None = None,
        runner: Callable[[str], BaseException | None] | None = None,
        filename: str | None = None,
        label: str | None = None,
    ) -> Session:
        """Run ``source`` once as a cell in ``namespace`` and prepare its diagnosis."""
        from . import capture
        from . import keras_compat as kc

        opts = options or Options()
        ctx = Context(source=source, namespace={} if namespace is None else namespace, options=opts)
        t = time.perf_counter()
        capture.run_cell(ctx, source, runner=runner, filename=filename)
        ctx.timings["capture"] = time.perf_counter() - t
        # The cell's own random draws are the user's; everything after is ours.
        with kc.preserved_random_state(), kc.preserved_name_scopes():
            engine.finish_cell(ctx, data=data, target=target, model=model)
        return cls(ctx, label=label)

    @classmethod
    def from_model(
        cls,
        model: Any,
        data: Any,
        *,
        target: Any = None,
        options: Options | None = None,
        namespace: dict[str, Any] | None = None,
        name: str | None = None,
        label: str | None = None,
    ) -> Session:
        """Prepare the diagnosis of a model that already exists (no cell)."""
        from . import keras_compat as kc

        ctx = Context(source=None, namespace={} if namespace is None else namespace, options=options or Options())
        ctx.model_name = name
        with kc.preserved_random_state(), kc.preserved_name_scopes():
            engine.prepare_model(ctx, model, data, target)
        return cls(ctx, label=label)

    # -- what it holds -------------------------------------------------------
    @property
    def model(self) -> Any:
        """The model the checks diagnose (the user's, or a copy built from the data's shape)."""
        return self._base.model

    @property
    def model_name(self) -> str | None:
        """The variable (or Keras name) of the diagnosed model."""
        return self._base.model_name

    @property
    def namespace(self) -> dict[str, Any]:
        """The namespace the cell ran in."""
        return self._base.namespace

    @property
    def source(self) -> str | None:
        """The cell's source (None for a model without a cell)."""
        return self._base.source

    @property
    def data(self) -> Any:
        """The training data as an array (None when none was given)."""
        return self._base.data

    # -- running -------------------------------------------------------------
    def run(self, *, label: str | None = None) -> Report:
        """Diagnose with the session's own options."""
        return self._diagnose(self.options, label or self.label)

    def rerun(self, *, label: str | None = None, **changes: Any) -> Report:
        """The same pipeline with some options changed (``lr``, ``latent``, ``epochs``, ...).

        The cell does not run again; the probes reuse their compiled copy when
        only ``lr``, ``epochs``, ``steps``, ``subset``, ``batch_size`` or
        ``seed`` change. Raises :class:`~ae_magic.errors.UsageError` for an
        unknown option or a bad value, before anything runs.
        """
        if self.closed:
            raise UsageError("This check's session was closed (its cell ran again); run the check again.")
        unknown = sorted(set(changes) - set(PROBE_SETTINGS) - {"progress"})
        if unknown:
            raise UsageError(f"rerun() can't change {', '.join(unknown)}; it can change {', '.join(PROBE_SETTINGS)}.")
        opts = self.options.replace(**changes)
        return self._diagnose(opts, label)

    def close(self) -> None:
        """Release the model copies and compiled steps; later re-runs raise UsageError."""
        from . import keras_compat as kc

        for _model, sess, _cache in self._variants.values():
            release = getattr(sess, "dispose", None) or getattr(sess, "release", None)
            if callable(release):
                # Releasing is best effort; nothing of the user's is involved. A release that raised inside a
                # name scope (a model named "auto encoder $1") must not leave it open for the user's next fit.
                with contextlib.suppress(Exception), kc.preserved_name_scopes():
                    release()
        self._variants.clear()
        self._base.cache.clear()
        self._base.probe_session = None
        self.runs.clear()
        self.closed = True

    # -- the pipeline ----------------------------------------------------------
    def _diagnose(self, opts: Options, label: str | None) -> Report:
        from . import keras_compat as kc

        t = time.perf_counter()
        with kc.preserved_random_state(), kc.preserved_name_scopes():
            ctx = self._context(opts)
            carried = self._apply_latent(ctx, opts.latent)
            report = engine.diagnose(ctx)
        key = ctx.applied_latent if ctx.owned_model else None
        self._variants[key] = (ctx.model, ctx.probe_session, ctx.cache)
        if carried:
            have = set(report.codes)
            report.findings.extend(f for f in carried if f.code not in have)
            report.sort()
        report.label = label or _label(opts, first=not self.runs)
        report.timings["total"] = time.perf_counter() - t + self._base.timings.get("capture", 0.0) * (not self.runs)
        self.runs.append(report)
        return report

    def _context(self, opts: Options) -> Context:
        """A fresh Context for one run: the captured cell and data, these options."""
        b = self._base
        model, sess, cache = self._variants.get(None, (b.model, b.probe_session, b.cache))
        return Context(
            source=b.source,
            namespace=b.namespace,
            bound=list(b.bound),
            assign_lines=dict(b.assign_lines),
            calls=list(b.calls),
            cell_error=b.cell_error,
            model=model,
            model_name=b.model_name,
            other_models=dict(b.other_models),
            data=b.data,
            data_name=b.data_name,
            target=b.target,
            target_name=b.target_name,
            options=opts,
            notes=list(b.notes),
            skipped=dict(b.skipped),  # what resolving the data already ruled out (several arrays)
            built_from_data=b.built_from_data,
            pre_namespace=b.pre_namespace,
            creation_lines=b.creation_lines,
            cache=cache,
            timings=dict(b.timings) if not self.runs else {},
            unbuilt_original=b.unbuilt_original,
            probe_session=sess,
            user_model=b.model,
        )

    def _apply_latent(self, ctx: Context, latent: int | None) -> list[Finding]:
        """Point ``ctx`` at a rebuild with code width ``latent``; return the cell findings to carry over."""
        from .rebuild import current_latent, rebuild_with_latent

        user_model = self._base.model
        try:
            width = current_latent(user_model) if user_model is not None else None
        except Exception:
            width = None
        ctx.applied_latent = width
        if latent is None or user_model is None or latent == width:
            return []
        key = int(latent)
        if key in self._variants:
            model, sess, cache = self._variants[key]
        else:
            try:
                model, info = rebuild_with_latent(user_model, key)
            except RebuildError as exc:
                raise UsageError(str(exc)) from None
            _compile_like(model, user_model)
            sess, cache = None, {}
            ctx.notes.append(
                f"Latent size {info['old']} -> {info['new']} ({info['param']} of layer {info['layer']!r}); "
                f"weights kept for {', '.join(info['copied']) or 'none'}; freshly initialised: "
                f"{', '.join(info['fresh']) or 'none'}. Your model is unchanged."
            )
        ctx.model, ctx.probe_session, ctx.cache = model, sess, cache
        ctx.owned_model = True
        ctx.applied_latent = key
        # The cell's recorded calls and names belong to the user's layers, not
        # to the rebuild: structure checks would read them as dangling.
        ctx.calls, ctx.bound, ctx.namespace = [], [], {}
        ctx.cell_error, ctx.unbuilt_original, ctx.built_from_data = None, None, False
        return self._cell_level_findings()

    def _cell_level_findings(self) -> list[Finding]:
        """Findings about the user's cell (AE100, AE101, AE112), from a static run on the user's model."""
        if self._cell_findings is None:
            ctx = self._context(self.options.replace(train=False, latent=None, epochs=None, steps=None, lr=None,
                                                     range_test=False))
            ctx.timings = {}
            report = engine.diagnose(ctx)
            self._cell_findings = [f for f in report.findings if f.code in CELL_LEVEL_CODES]
        return list(self._cell_findings)


def _compile_like(model: Any, user_model: Any) -> None:
    """Compile a rebuild with a fresh optimizer of the user's class and config, and the user's loss."""
    from . import keras_compat as kc

    if not kc.is_compiled(user_model):
        return
    from .probes import fresh_loss

    opt = user_model.optimizer
    fresh_opt = type(opt).from_config(opt.get_config())
    loss, _ = fresh_loss(user_model)
    model.compile(optimizer=fresh_opt, loss=loss)


def _label(o: Options, *, first: bool) -> str:
    parts = [f"{k}={getattr(o, k)}" for k in ("lr", "latent", "epochs", "steps", "subset") if getattr(o, k) is not None]
    return ", ".join(parts) or ("defaults" if first else "re-run")
