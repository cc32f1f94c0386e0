"""The pipeline: a prepared Context -> checks and probes -> a Report.

:func:`prepare_cell` / :func:`prepare_model` fill a Context (the cell is run
once, by capture), :func:`diagnose` runs every applicable family on it and
returns a plain-data Report that says which families ran, which were off and
which were skipped and why. :class:`ae_magic.session.Session` owns the
Context between runs; ``check()``, ``probe()``, the magics, the CLI and the
panel's re-runs all go through it.
"""

from __future__ import annotations

import time
import traceback
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from . import backends, fixes
from . import checks as _checks
from .context import Context
from .errors import AeMagicUsageError, describe
from .report import Finding, Report
from .version import __version__

# Families in the order they run; the report's ``coverage`` names them.
FAMILIES = ("cell", "structure", "data", "gradients", "training", "range_test")
# Errors after which the model can't run on the data: the probes would only crash.
# AE111 (output ignores input) is not one: the model runs, and the gradient
# probe then names the layers the cut leaves without a gradient (AE301).
BLOCKING = ("AE101", "AE105", "AE112", "AE202", "AE204")


def finish_cell(ctx: Context, *, data: Any = None, target: Any = None, model: Any = None) -> None:
    """After the cell ran (capture): choose its model and resolve the data into ``ctx``."""
    from . import capture

    capture.choose_model(ctx, model)
    _resolve_data(ctx, data, target)
    if ctx.model is None and model is None and ctx.cell_error is not None:
        _choose_unbuilt(ctx)
    _build_unbuilt_copy(ctx)


def prepare_model(ctx: Context, model: Any, data: Any, target: Any = None) -> None:
    """Fill ``ctx`` for a model that already exists (``probe()``, ``%ae_probe``)."""
    from . import keras_compat as kc

    if not kc.is_model(model):
        raise AeMagicUsageError(f"probe() needs a Keras model, got a {type(model).__name__}.")
    ctx.model = model
    if ctx.model_name is None:
        ctx.model_name = getattr(model, "name", None)
    _resolve_data(ctx, data, target)
    _build_unbuilt_copy(ctx)


def _choose_unbuilt(ctx: Context) -> None:
    """The cell raised because a Sequential had no input shape yet: diagnose what it meant to build.

    The cell is never run a second time. When the failing line chains
    several unbuilt Sequentials (``Model(encoder.input, decoder(encoder.output))``),
    the diagnosed model is an unbuilt chain of copies of them, named after the
    variable that line assigns; otherwise the last unbuilt Sequential. With
    data, ``_build_unbuilt_copy`` then builds a copy from the data's shape.
    """
    import re

    from . import keras_compat as kc

    if not kc.is_unbuilt_error(ctx.cell_error.exception):
        return
    unbuilt = [n for n in ctx.bound if kc.is_model(ctx.namespace.get(n)) and not kc.is_built(ctx.namespace[n])
               and kc.model_kind(ctx.namespace[n]) == "sequential"]
    if not unbuilt:
        return
    line = ctx.cell_error.line
    text = ctx.line_text(line) or ""
    chained = sorted((n for n in unbuilt if re.search(rf"(?<![\w.]){re.escape(n)}\b", text)),
                     key=lambda n: ctx.assign_lines.get(n, 0))
    if len(chained) >= 2:
        try:
            chain = kc.keras.Sequential([type(m).from_config(m.get_config()) for m in (ctx.namespace[n] for n in chained)])
        except Exception as exc:  # a part without a config: fall back to one model
            ctx.notes.append(f"Could not chain {', '.join(chained)} ({describe(exc)}).")
        else:
            for part, name in zip(chain.layers, chained, strict=True):
                _carry_lines(ctx, ctx.namespace[name], part)
            meant = next((n for n, ln in ctx.assign_lines.items() if ln == line and n not in chained), None)
            ctx.model, ctx.model_name = chain, meant or " + ".join(chained)
            ctx.notes.append(
                f"Line {ctx.cell_line(line)} raised before `{ctx.model_name}` existed; ae_magic diagnoses "
                f"{' then '.join(f'`{n}`' for n in chained)} chained, as that line meant."
            )
            return
    name = max(unbuilt, key=lambda n: ctx.assign_lines.get(n, 0))
    ctx.model, ctx.model_name = ctx.namespace[name], name
    ctx.other_models.pop(name, None)


def diagnose(ctx: Context, *, timings_in: dict[str, float] | None = None) -> Report:
    """Run every applicable check family on a prepared context.

    numpy's BLAS runs on one thread meanwhile (and is put back after): the
    probes' matrices are small (a randomized SVD of 1024 rows), and on a
    busy 2-core machine OpenBLAS's spinning threads made one such SVD take
    seconds instead of 0.06 s. The backends' own thread pools (Eigen, XLA,
    torch's OpenMP) are not BLAS pools and are left alone.
    """
    with threadpool_limits(limits=1, user_api="blas"):
        return _diagnose(ctx, timings_in=timings_in)


def _diagnose(ctx: Context, *, timings_in: dict[str, float] | None) -> Report:
    from . import graph

    timings = dict(ctx.timings)
    timings.update(timings_in or {})
    findings: list[Finding] = []
    ctx.found = findings  # the same list: later checks see what earlier ones found
    internal: list[dict[str, str]] = []
    ran: list[str] = []

    def run(family: str, fns: list[_checks.Check]) -> None:
        t = time.perf_counter()
        for fn in fns:
            try:
                findings.extend(fn(ctx))
            except Exception as exc:
                internal.append(
                    {
                        "check": f"{fn.__module__}.{fn.__name__}",
                        "error": describe(exc),
                        "traceback": traceback.format_exc(),
                    }
                )
                ctx.skipped.setdefault(family, f"ae_magic failed inside {fn.__name__} ({describe(exc)}); a bug of ours")
        if family not in ran:
            ran.append(family)
        timings[family] = timings.get(family, 0.0) + time.perf_counter() - t

    run("cell", [_explain_cell_error])
    if ctx.model is not None:
        t = time.perf_counter()
        try:
            ctx.graph = graph.analyze(ctx)
        except Exception as exc:
            internal.append(
                {
                    "check": "ae_magic.graph.analyze",
                    "error": describe(exc),
                    "traceback": traceback.format_exc(),
                }
            )
            ctx.skipped.setdefault("structure", f"the layer graph could not be read ({describe(exc)})")
        timings["graph"] = time.perf_counter() - t
        run("structure", _checks.structure_checks())
    elif ctx.calls or ctx.other_models:
        run("structure", _checks.structure_checks())
    else:
        ctx.skipped.setdefault("structure", "no Keras model was found" + (" (the cell raised first)" if ctx.cell_error else ""))
    if ctx.model is not None:
        run("structure", _checks.weight_checks())
    if ctx.data is not None:
        run("data", _checks.data_checks())
    else:
        ctx.skipped.setdefault("data", "no data was given (--data NAME)")
    blockers = _blockers(findings)
    if not ctx.options.train:
        pass
    elif ctx.model is None:
        ctx.skipped.setdefault("gradients", "no Keras model to probe")
    elif ctx.data is None:
        ctx.skipped.setdefault("gradients", "the probes need data: pass --data NAME")
    elif blockers:
        ctx.skipped.setdefault("gradients", f"the model can't run on the data ({', '.join(blockers)}); fix that first")
    else:
        for fn in _checks.probe_checks():
            # A check that only reads another probe's trace counts as that
            # probe's family (``family`` attribute); else its module names it.
            run(getattr(fn, "family", None) or fn.__module__.rsplit(".", 1)[-1], [fn])
        try:
            findings = _checks.refine(ctx, findings)
        except Exception as exc:
            internal.append({"check": "refine", "error": describe(exc), "traceback": traceback.format_exc()})

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
        coverage=_coverage(ctx, ran),
        environment=environment(),
    )
    report.sort()
    # Fixes as edits of the cell, in the cell's own names (ae_magic.fixes).
    fixes.attach(report, ctx)
    return report


def _explain_cell_error(ctx: Context) -> list[Finding]:
    """The cell's exception: a training step that got no gradient is AE301 (``step_failure``), else capture's reading."""
    from . import capture
    from .checks.step_failure import cell_step_failure

    return cell_step_failure(ctx) or capture.explain_cell_error(ctx)


def environment() -> dict[str, Any]:
    """The backend, its version and Keras' version, for the report header."""
    info = backends.name_and_version()
    return {"backend": info["name"], "backend_version": info["version"], "keras": info["keras"],
            "ae_magic": __version__, "chosen_by": info["chosen_by"]}


def _blockers(findings: list[Finding]) -> list[str]:
    """Codes of error findings after which the probes can't run (sorted, unique)."""
    return sorted({f.code for f in findings if f.code in BLOCKING and f.severity == "error"})


def _coverage(ctx: Context, ran: list[str]) -> dict[str, Any]:
    """Which families ran, which the user turned off, which were skipped and why.

    A family counts as run only when it ran to the end: a probe that gave up
    (``ctx.skipped``) is listed as skipped, with its reason, even though its
    check function was called.
    """
    off: list[str] = []
    if not ctx.options.train:
        off += ["gradients", "training", "range_test"]
    elif not ctx.options.range_test:
        off.append("range_test")
    skipped = {k: v for k, v in ctx.skipped.items() if k not in off}
    if "gradients" in skipped and "training" not in skipped and "training" not in ran:
        skipped["training"] = skipped["gradients"]
    if ctx.options.range_test and "range_test" not in off and "lr_range" not in ctx.traces:
        skipped.setdefault("range_test", skipped.get("training", "the range test did not run"))
    done = [f for f in ran if f not in skipped]
    if ctx.options.range_test and "lr_range" in ctx.traces and "range_test" not in skipped:
        done.append("range_test")
    return {"ran": done, "off": off, "skipped": skipped}


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
        ctx.notes.append(f"Could not build `{ctx.model_name}` from the data's shape: {describe(exc)}")
        return
    _carry_lines(ctx, m, copy)
    ctx.unbuilt_original = m
    ctx.model = copy
    ctx.built_from_data = True
    ctx.notes.append(
        f"`{ctx.model_name}` has no input shape; a copy built from the data's shape "
        f"{tuple(ctx.data.shape[1:])} was diagnosed. Your model is unchanged."
    )


def _carry_lines(ctx: Context, original: Any, copy: Any) -> None:
    """Give a copy's layers the cell lines where the original's layers were created.

    Copies come from configs, layer by layer in the same order, so findings on
    the copy can still point at the user's line.
    """
    from .probes import leaf_layers

    try:
        pairs = zip(leaf_layers(original), leaf_layers(copy), strict=True)
        for old, new in pairs:
            line = ctx.creation_lines.get(id(old))
            if line:
                ctx.creation_lines[id(new)] = line
    except Exception:  # lines are a courtesy; a copy we can't pair just has none
        return


def _resolve_data(ctx: Context, data: Any, target: Any) -> None:
    if data is None:
        return
    if isinstance(data, str) and data not in ctx.namespace and ctx.cell_error is not None:
        # The cell failed, perhaps before defining the data: diagnose what exists.
        ctx.notes.append(f"--data {data}: not defined (the cell raised before defining it?); data checks skipped.")
        return
    picked: tuple[Any, str] | None = None
    for value, what in ((data, "data"), (target, "target")):
        raw = ctx.namespace.get(value) if isinstance(value, str) else value
        n = _several_arrays(raw)
        if n and what == "target":
            picked = _reconstruction_target(ctx, raw, value if isinstance(value, str) else "target", data)
            if picked is not None:
                continue
        if n:
            # A model with several inputs (or outputs) trains on a list or dict of arrays. The data checks and
            # probes read one input array and one target: they don't run, and the report says so.
            label = value if isinstance(value, str) else what
            why = f"--{what} {label} holds {n} arrays, not one"
            ctx.notes.append(f"--{what} {label} holds {n} arrays (a model with several inputs or outputs): the data "
                             "checks and probes read one input array and one target, so they did not run.")
            ctx.skipped.setdefault("data", why)
            ctx.skipped.setdefault("gradients", why)
            return
    ctx.data, ctx.data_name = _resolve_array(ctx, data, "data")
    if picked is not None:
        ctx.target, ctx.target_name = np.asarray(picked[0]), picked[1]
    elif target is None:
        ctx.target, ctx.target_name = ctx.data, ctx.data_name
    else:
        ctx.target, ctx.target_name = _resolve_array(ctx, target, "target")


def _reconstruction_target(ctx: Context, targets: Any, label: str, data: Any) -> tuple[Any, str] | None:
    """``(array, name)``: the one target of a list or dict (``fit(x, [x, labels])`` for a reconstruction beside an
    auxiliary head) shaped like the input, with a note; None when the data is several arrays too, or when no
    target or more than one is shaped like the input.

    Round 43's ab08: an autoencoder with a classifier head, checked with ``--target y_train`` for
    ``y_train = [x_train, labels]``, got no data checks and no probes at all. The checks and probes now read
    the reconstruction's target; the session trains and judges the output that target belongs to, and its note
    says that the other heads' losses were not measured.
    """
    raw = ctx.namespace.get(data) if isinstance(data, str) else data
    if raw is None or _several_arrays(raw):
        return None
    try:
        shape = tuple(np.shape(raw))
    except Exception:  # data that is no array: its own check reports it
        return None
    items = list(targets.items()) if isinstance(targets, dict) else list(enumerate(targets))
    fits = [(key, arr) for key, arr in items if tuple(np.shape(arr)) == shape]
    if len(fits) != 1:
        return None
    key, arr = fits[0]
    name = f"{label}[{key!r}]"
    ctx.notes.append(f"--target {label} holds {len(items)} arrays (the targets of a model with several outputs): "
                     f"the checks read {name}, the one shaped like the input, as the reconstruction's target.")
    return arr, name


def _several_arrays(value: Any) -> int | None:
    """How many arrays a list, tuple or dict of two or more same-length arrays holds (a multi-input model's
    data), else None."""
    if isinstance(value, dict):
        parts = list(value.values())
    elif isinstance(value, (list, tuple)):
        parts = list(value)
    else:
        return None
    if len(parts) < 2 or not all(hasattr(p, "shape") and len(getattr(p, "shape", ())) >= 1 for p in parts):
        return None
    lengths = {int(p.shape[0]) for p in parts}
    return len(parts) if len(lengths) == 1 else None


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
        graph = ctx.graph.to_dict()
        # Graph nodes count lines from the cell's first line of code; findings
        # and calls count as the user sees the cell (under %%ae_check the
        # magic line is line 1). One numbering everywhere in the report.
        for node in graph.get("nodes", []):
            if isinstance(node, dict) and isinstance(node.get("line"), int):
                node["line"] = ctx.cell_line(node["line"])
        facts["graph"] = graph
    facts["latent"] = _latent_facts(ctx)
    return facts


def _latent_facts(ctx: Context) -> dict[str, Any]:
    """The probed code width, the user's, and whether a re-run can change it (and why not)."""
    from . import rebuild

    user = ctx.user_model if ctx.user_model is not None else ctx.model
    out: dict[str, Any] = {"applied": ctx.applied_latent, "user": None, "changeable": False, "reason": ""}
    try:
        out["user"] = rebuild.current_latent(user)
        ok, why = rebuild.can_change_latent(user)
        out["changeable"], out["reason"] = bool(ok), str(why or "")
        if ok and out["user"] is None:
            out["changeable"], out["reason"] = False, "The bottleneck width could not be determined."
    except Exception as exc:  # reading the width must never break a report
        out["reason"] = f"Can't tell whether the model can be rebuilt ({describe(exc)})."
    if out["applied"] is None:
        out["applied"] = out["user"]
    return out


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
    """The options this run applied: what was asked, with the probe's own choices filled in.

    ``latent`` is the code width the probed model really has; ``lr``, ``epochs``,
    ``batch_size`` and ``subset`` are read back from the training trace when the
    probe ran (a ``None`` asked for becomes the value used).
    """
    params = ctx.options.settings()
    tr = ctx.traces.get("training") or {}
    for key, trace_key in (("lr", "lr"), ("epochs", "epochs"), ("batch_size", "batch_size"), ("subset", "n_train")):
        if params.get(key) is None and tr.get(trace_key) is not None:
            params[key] = tr[trace_key]
    if ctx.applied_latent is not None:
        params["latent"] = ctx.applied_latent
    return params
