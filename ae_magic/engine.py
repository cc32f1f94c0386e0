"""The engine: cell source -> capture -> context -> checks -> report.

``check`` is the one entry point; the magics, the CLI and the panel's re-run
button are thin shells around it. ``probe`` re-runs the probes for a model
that already exists, optionally with another learning rate or latent size.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from typing import Any

import numpy as np

from . import checks as _checks
from .context import Context, Options
from .errors import AeMagicUsageError
from .report import Finding, Report




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
    line_offset: int = 0,
    label: str | None = None,
    runner: Callable[[str], BaseException | None] | None = None,
    filename: str | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> Report:
    """Run ``source`` as one cell, find its autoencoder and diagnose it.

    ``namespace`` is the cell's globals (a fresh dict by default; the user's
    namespace in a notebook). ``data``/``target`` are arrays or names in the
    namespace; ``model`` is a name or a model object overriding the automatic
    choice. With ``source=None`` the model must be given. ``train=False``
    skips the gradient and training probes; ``range_test=True`` adds the
    learning-rate range test (AE406; the panel turns it on, AE401-AE404 run
    it on demand to name a better rate). ``runner`` executes the source
    (the magics pass IPython's ``run_cell`` so the cell behaves as usual).
    ``progress`` is called during the probes (see ``Options.progress``).
    """
    t_start = time.perf_counter()
    opts = Options(
        train=train,
        epochs=epochs,
        steps=steps,
        subset=subset,
        batch_size=batch_size,
        lr=lr,
        latent=latent,
        seed=seed,
        range_test=range_test,
        line_offset=line_offset,
        progress=progress,
    )
    ns: dict[str, Any] = {} if namespace is None else namespace
    ctx = Context(source=source, namespace=ns, options=opts)
    timings: dict[str, float] = {}

    from . import capture

    if source is not None:
        t = time.perf_counter()
        capture.run_cell(ctx, source, runner=runner, filename=filename)
        timings["capture"] = time.perf_counter() - t
    elif model is None:
        raise AeMagicUsageError("check() needs cell source or a model.")

    capture.choose_model(ctx, model)
    _resolve_data(ctx, data, target)
    if ctx.cell_error is not None and model is None:
        capture.rerun_with_autobuild(ctx)
    _build_unbuilt_copy(ctx)
    report = diagnose(ctx, timings=timings)
    report.label = label
    report.timings["total"] = time.perf_counter() - t_start
    return report


def diagnose(ctx: Context, *, timings: dict[str, float] | None = None) -> Report:
    """Run every applicable check family on a prepared context."""
    from . import capture, graph

    timings = dict(timings or {})
    findings: list[Finding] = []
    internal: list[dict[str, str]] = []

    def run(family: str, fns: list[_checks.Check]) -> None:
        t = time.perf_counter()
        for fn in fns:
            try:
                findings.extend(fn(ctx))
            except Exception as exc:
                internal.append(
                    {
                        "check": f"{fn.__module__}.{fn.__name__}",
                        "error": f"{type(exc).__name__}: {exc}",
                        "traceback": traceback.format_exc(),
                    }
                )
        timings[family] = timings.get(family, 0.0) + time.perf_counter() - t

    run("cell", [capture.explain_cell_error])
    if ctx.model is not None:
        t = time.perf_counter()
        try:
            ctx.graph = graph.analyze(ctx)
        except Exception as exc:
            internal.append(
                {
                    "check": "ae_magic.graph.analyze",
                    "error": f"{type(exc).__name__}: {exc}",
                    "traceback": traceback.format_exc(),
                }
            )
        timings["graph"] = time.perf_counter() - t
        run("structure", _checks.structure_checks())
    elif ctx.calls or ctx.other_models:
        run("structure", _checks.structure_checks())
    if ctx.data is not None:
        run("data", _checks.data_checks())
    if ctx.options.train and ctx.model is not None and ctx.data is not None and _probe_ready(findings):
        for fn in _checks.probe_checks():
            run(fn.__module__.rsplit(".", 1)[-1], [fn])
        try:
            findings = _checks.refine(ctx, findings)
        except Exception as exc:
            internal.append({"check": "refine", "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()})

    report = Report(
        findings=findings,
        model=_model_facts(ctx),
        data=_data_facts(ctx),
        cell_error=ctx.cell_error.to_dict() if ctx.cell_error else None,
        calls=_call_facts(ctx),
        timings=timings,
        traces=ctx.traces,
        params=_params(ctx),
        source=ctx.source,
        notes=list(ctx.notes),
        internal_errors=internal,
        context=ctx,
    )
    report.sort()
    return report


def _probe_ready(findings: list[Finding]) -> bool:
    """Probes need a model that can run on the data: skip after blocking errors."""
    blocking = {"AE101", "AE105", "AE111", "AE202", "AE204"}
    return not any(f.code in blocking and f.severity == "error" for f in findings) and not any(
        f.code == "AE112" and f.severity == "error" for f in findings
    )


def _build_unbuilt_copy(ctx: Context) -> None:
    """An unbuilt Sequential with data: diagnose a copy built from the data's shape."""
    from . import keras_compat as kc

    m = ctx.model
    if m is None or ctx.data is None or kc.is_built(m) or kc.model_kind(m) != "sequential":
        return
    try:
        copy = kc.keras.Sequential.from_config(m.get_config())
        copy.build((None, *ctx.data.shape[1:]))
        if kc.is_compiled(m):
            copy.compile(optimizer=type(m.optimizer).from_config(m.optimizer.get_config()), loss=m.loss)
    except Exception as exc:
        ctx.notes.append(f"Could not build `{ctx.model_name}` from the data's shape: {exc}")
        return
    ctx.unbuilt_original = m  # type: ignore[attr-defined]
    ctx.model = copy
    ctx.built_from_data = True
    ctx.notes.append(
        f"`{ctx.model_name}` has no input shape; a copy built from the data's shape "
        f"{tuple(ctx.data.shape[1:])} was diagnosed. Your model is unchanged."
    )


def _resolve_data(ctx: Context, data: Any, target: Any) -> None:
    if data is None:
        return
    if isinstance(data, str) and data not in ctx.namespace and ctx.cell_error is not None:
        # The cell failed, perhaps before defining the data: diagnose what exists.
        ctx.notes.append(f"--data {data}: not defined (the cell raised before defining it?); data checks skipped.")
        return
    ctx.data, ctx.data_name = _resolve_array(ctx, data, "data")
    if target is None:
        ctx.target, ctx.target_name = ctx.data, ctx.data_name
    else:
        ctx.target, ctx.target_name = _resolve_array(ctx, target, "target")


def _resolve_array(ctx: Context, value: Any, what: str) -> tuple[Any, str | None]:
    name: str | None = None
    if isinstance(value, str):
        name = value
        if value not in ctx.namespace:
            known = sorted(
                k
                for k, v in ctx.namespace.items()
                if not k.startswith("_") and hasattr(v, "__array__") and hasattr(v, "shape") and hasattr(v, "dtype")
            )
            hint = f" Arrays defined: {', '.join(known)}." if known else ""
            raise AeMagicUsageError(f"--{what} {value}: no variable named {value!r} exists after the cell ran.{hint}")
        value = ctx.namespace[value]
    label = name or what
    try:
        arr = np.asarray(value)
    except Exception as exc:
        raise AeMagicUsageError(
            f"{label} is a {type(value).__name__}, which can't be read as an array ({exc}); pass a NumPy array or tensor."
        ) from None
    if arr.ndim == 0:
        raise AeMagicUsageError(f"{label} is a {type(value).__name__}, not an array; pass a NumPy array or tensor.")
    return arr, name


def _model_facts(ctx: Context) -> dict[str, Any] | None:
    from . import keras_compat as kc

    m = ctx.model
    if m is None:
        return None
    facts: dict[str, Any] = {
        "variable": ctx.model_name,
        "name": getattr(m, "name", None),
        "kind": kc.model_kind(m),
        "input_shape": kc.safe_input_shape(m),
        "output_shape": kc.safe_output_shape(m),
        "params": kc.safe_count_params(m),
        "compiled": kc.is_compiled(m),
        "loss": kc.loss_name(m),
        "optimizer": kc.optimizer_summary(m),
        "other_models": sorted(ctx.other_models),
    }
    if ctx.graph is not None:
        facts["graph"] = ctx.graph.to_dict()
    return facts


def _call_facts(ctx: Context) -> list[dict[str, Any]]:
    used = ctx.graph.tensor_ids if ctx.graph is not None else set()
    out = []
    for c in ctx.calls:
        if not c.direct:
            continue
        out.append(
            {
                "line": ctx.cell_line(c.line),
                "layer": c.layer_name,
                "class": c.layer_class,
                "variable": c.variable,
                "inputs": [ctx.var_of(t) or getattr(t, "name", None) for t in c.inputs],
                "output_shapes": [list(o.shape) for o in c.outputs],
                "in_model": any(id(o) in used for o in c.outputs),
            }
        )
    return out


def _data_facts(ctx: Context) -> dict[str, Any] | None:
    if ctx.data is None:
        return None
    d = ctx.data
    facts: dict[str, Any] = {"name": ctx.data_name, "shape": list(d.shape), "dtype": str(d.dtype)}
    if ctx.target is not None and ctx.target is not ctx.data:
        facts["target"] = {"name": ctx.target_name, "shape": list(ctx.target.shape), "dtype": str(ctx.target.dtype)}
    return facts


def _params(ctx: Context) -> dict[str, Any]:
    o = ctx.options
    return {
        "train": o.train,
        "epochs": o.epochs,
        "steps": o.steps,
        "subset": o.subset,
        "batch_size": o.batch_size,
        "lr": o.lr,
        "latent": o.latent,
        "seed": o.seed,
        "range_test": o.range_test,
    }
