"""Capture: run a cell, record its symbolic layer calls with their source
lines, find the autoencoder it bound, and explain the exception it raised.
"""

from __future__ import annotations

import ast
import sys
import traceback
from collections.abc import Callable
from typing import Any

from . import keras_compat as kc
from .context import CellError, Context, LayerCall
from .errors import describe, safe_str
from .report import Finding

CELL_FILENAME = "<ae_magic-cell>"


def run_cell(
    ctx: Context,
    source: str,
    *,
    runner: Callable[[str], BaseException | None] | None = None,
    filename: str | None = None,
) -> None:
    """Execute ``source`` in ``ctx.namespace``, filling calls, bound names and errors."""
    ns = ctx.namespace
    before = {k: id(v) for k, v in ns.items()}
    ctx.pre_namespace = dict(ns)
    ctx.assign_lines = _assignment_lines(source)
    creation_lines = ctx.creation_lines
    depth = [0]

    def on_call(layer: Any, args: tuple, kwargs: dict, out: Any) -> None:
        line = _cell_line(ns)
        # frame 0: on_call, 1: the patched method, 2: whoever called it
        caller = sys._getframe(2)
        flat_in = [a for a in _flatten((args, kwargs)) if kc.is_keras_tensor(a)]
        flat_out = [o for o in _flatten(out) if kc.is_keras_tensor(o)]
        ctx.calls.append(
            LayerCall(layer=layer, line=line, inputs=flat_in, outputs=flat_out, direct=caller.f_globals is ns)
        )

    exc: BaseException | None = None
    scopes = kc.name_scopes()
    with kc.record_layer_calls(on_call, depth), kc.record_layer_creation(
        lambda layer: creation_lines.setdefault(id(layer), _cell_line(ns) or 0)
    ):
        exc = runner(source) if runner is not None else _exec(source, ns, filename or CELL_FILENAME)
    if exc is not None:
        kc.restore_name_scopes(scopes)  # a scope Keras left open when the cell raised (keras_compat)

    changed = [k for k, v in ns.items() if before.get(k) != id(v) and not k.startswith("_")]
    ctx.bound = sorted(changed, key=lambda k: ctx.assign_lines.get(k, 0))
    _name_calls(ctx)
    if exc is not None:
        ctx.cell_error = _cell_error(ctx, exc)


# Cell sources registered with linecache (oldest first), at most _REGISTERED_MAX of them.
_REGISTERED: list[str] = []
_REGISTERED_MAX = 64


def _registered(source: str, filename: str) -> str:
    """A filename under which ``source`` is in ``linecache``, as IPython registers its cells.

    ``inspect.getsource`` then finds the cell's classes and functions: TensorFlow's AutoGraph converts a
    ``train_step`` written in the cell (``x, y = data`` in graph mode), and the probes read it. One name
    per distinct source, so a class from an earlier cell never reads a later cell's text; the oldest
    entries are dropped, so memory does not grow check over check.
    """
    import hashlib
    import linecache

    if filename != CELL_FILENAME:
        return filename  # a real file (the CLI): linecache reads it from disk
    name = f"<ae_magic-cell-{hashlib.sha1(source.encode('utf-8', 'surrogatepass')).hexdigest()[:12]}>"
    linecache.cache[name] = (len(source), None, source.splitlines(keepends=True), name)
    if name in _REGISTERED:
        _REGISTERED.remove(name)
    _REGISTERED.append(name)
    while len(_REGISTERED) > _REGISTERED_MAX:
        linecache.cache.pop(_REGISTERED.pop(0), None)
    return name


def _exec(source: str, ns: dict[str, Any], filename: str) -> BaseException | None:
    try:
        code = compile(source, _registered(source, filename), "exec")
    except Exception as exc:
        # SyntaxError, and what plain Python raises for source it can't compile
        # (UnicodeEncodeError for a lone surrogate, MemoryError/RecursionError
        # for pathological nesting): the cell failed, exactly as it would without us.
        return exc
    try:
        exec(code, ns)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        return exc
    return None


def _flatten(obj: Any) -> list[Any]:
    try:
        return list(kc.keras.tree.flatten(obj))
    except Exception:
        return [obj]


def _cell_line(ns: dict[str, Any]) -> int | None:
    """Line of the innermost frame that runs the cell's code."""
    f = sys._getframe(1)
    while f is not None:
        if f.f_globals is ns:
            return f.f_lineno
        f = f.f_back
    return None


def _assignment_lines(source: str) -> dict[str, int]:
    """name -> line of its last assignment anywhere at module level of the cell."""
    try:
        tree = ast.parse(source)
    except Exception:  # not compilable: the cell error says why
        return {}
    lines: dict[str, int] = {}
    for stmt in tree.body:
        for node in ast.walk(stmt):
            targets: list[ast.AST] = []
            if isinstance(node, ast.Assign):
                targets = list(node.targets)
            elif isinstance(node, (ast.AnnAssign, ast.AugAssign, ast.NamedExpr)):
                targets = [node.target]
            elif isinstance(node, (ast.For, ast.With)):
                targets = [node.target] if isinstance(node, ast.For) else [i.optional_vars for i in node.items if i.optional_vars]
            elif isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
                lines[node.name] = node.lineno
                continue
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                for alias in node.names:
                    lines[(alias.asname or alias.name).split(".")[0]] = node.lineno
                continue
            for t in targets:
                for n in ast.walk(t):
                    if isinstance(n, ast.Name):
                        lines[n.id] = max(lines.get(n.id, 0), node.lineno)
    return lines


def _name_calls(ctx: Context) -> None:
    """Attach the variable each call's output was bound to (``encoded = ...``)."""
    by_id: dict[int, str] = {}
    for name in ctx.bound:
        v = ctx.namespace.get(name)
        if kc.is_keras_tensor(v):
            by_id[id(v)] = name
    for call in ctx.calls:
        for o in call.outputs:
            if id(o) in by_id:
                call.variable = by_id[id(o)]
                break


def _cell_error(ctx: Context, exc: BaseException) -> CellError:
    line: int | None = None
    if isinstance(exc, SyntaxError) and (exc.filename in ("<unknown>", None) or exc.filename.startswith("<ae_magic-cell")):
        line = exc.lineno
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_globals is ctx.namespace:
            line = tb.tb_lineno
        tb = tb.tb_next
    if isinstance(exc, SyntaxError) and line is None:
        line = exc.lineno
    try:
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    except Exception:
        text = describe(exc)
    # The user's exception may have a __str__ that raises: its message is read safely.
    return CellError(exception=exc, type=type(exc).__name__, message=safe_str(exc), line=line, traceback=text)


def _is_error_of(predicate: Callable[[BaseException], bool], exc: BaseException) -> bool:
    """``predicate(exc)`` for the user's exception, False when reading it fails (a raising ``__str__``)."""
    try:
        return bool(predicate(exc))
    except Exception:
        return False


# -- choosing the autoencoder ------------------------------------------------


def choose_model(ctx: Context, model: Any = None) -> None:
    """Pick the autoencoder: ``model`` (a name or object) or the cell's best candidate."""
    from .errors import AeMagicUsageError

    models = {n: ctx.namespace[n] for n in ctx.bound if kc.is_model(ctx.namespace.get(n))}
    if model is not None:
        if isinstance(model, str):
            if model not in ctx.namespace:
                raise AeMagicUsageError(f"--model {model}: no variable named {model!r} exists after the cell ran.")
            obj = ctx.namespace[model]
            if not kc.is_model(obj):
                raise AeMagicUsageError(
                    f"--model {model}: {model!r} is a {type(obj).__name__}, not a Keras model."
                )
            ctx.model, ctx.model_name = obj, model
        else:
            if not kc.is_model(model):
                raise AeMagicUsageError(f"model is a {type(model).__name__}, not a Keras model.")
            ctx.model = model
            ctx.model_name = ctx.var_of(model) or _name_in(ctx.namespace, model)
        ctx.other_models = {n: m for n, m in models.items() if m is not ctx.model}
        return
    if not models:
        return
    qualifying = [n for n in models if _reconstructs(models[n])]
    compiled = [n for n in models if kc.is_compiled(models[n]) and (n in qualifying or _shapeless(models[n]))]
    if compiled:
        # The model the cell compiles is the one it trains: round 79's dx10 wraps two Sequential parts in a
        # subclassed VAE (no symbolic shapes), and its 64 -> 256 -> 128 -> 64 encoder body, uncompiled, only
        # looks like an autoencoder by its shapes.
        qualifying = compiled
    trained = _trained_at_error(ctx, models) if not qualifying and ctx.cell_error is not None else None
    if trained is not None:
        # Round 45: the keras.io Conv1D anomaly model at 30 time steps, whose decoder gives 32; `model.fit(x, x)`
        # raised on the shapes. The model the failing line trains is the autoencoder, whatever its output shape,
        # so the shape checks (AE105) explain the error at the layer where the sizes part.
        qualifying = [trained]
    if not qualifying and ctx.cell_error is not None:
        # The cell failed before it built an autoencoder: the models it did
        # build (a standalone encoder...) are parts, and diagnosing them as
        # the autoencoder would bury the real error under shape findings.
        ctx.other_models = models
        ctx.notes.append(
            "The cell raised before it built a model that reconstructs its input; "
            f"{', '.join(f'`{n}`' for n in models)} not diagnosed as the autoencoder (use --model NAME to choose one)."
        )
        return
    pool = qualifying or list(models)
    name = max(pool, key=lambda n: (ctx.assign_lines.get(n, 0), pool.index(n)))
    ctx.model, ctx.model_name = models[name], name
    ctx.other_models = {n: m for n, m in models.items() if n != name}
    if len(models) > 1 and not qualifying:
        ctx.notes.append(
            f"The cell bound {len(models)} models ({', '.join(models)}) and none maps its input to an "
            f"output of the same shape; diagnosing the last bound, {name!r}. Use --model NAME to choose."
        )


_TRAINING_METHODS = frozenset({"fit", "train_on_batch", "evaluate", "test_on_batch", "fit_generator"})


def _trained_at_error(ctx: Context, models: dict[str, Any]) -> str | None:
    """The bound model that the statement the cell raised at trains or evaluates (``model.fit(...)``), if any."""
    err = ctx.cell_error
    if err is None or err.line is None or not ctx.source:
        return None
    try:
        tree = ast.parse(ctx.source)
    except SyntaxError:
        return None
    # Every line of the cell's own code in the traceback: a model's train_step that raised inside fit puts the
    # innermost at the step's line and the fit call's line further out (round 46's ap01).
    lines = {err.line}
    tb = getattr(err.exception, "__traceback__", None)
    while tb is not None:
        if tb.tb_frame.f_globals is ctx.namespace:
            lines.add(tb.tb_lineno)
        tb = tb.tb_next
    for stmt in ast.walk(tree):
        if not isinstance(stmt, ast.stmt) or isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
                                                                ast.For, ast.While, ast.If, ast.With, ast.Try)):
            continue
        if not any(stmt.lineno <= n <= (stmt.end_lineno or stmt.lineno) for n in lines):
            continue
        for node in ast.walk(stmt):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in _TRAINING_METHODS and isinstance(node.func.value, ast.Name)
                    and node.func.value.id in models):
                return node.func.value.id
    return None


def _name_in(ns: dict[str, Any], obj: Any) -> str | None:
    for k, v in ns.items():
        if v is obj and not k.startswith("_"):
            return k
    return None


def _shapeless(model: Any) -> bool:
    """No symbolic input or output shape to compare (a subclassed or unbuilt model)."""
    return kc.safe_input_shape(model) is None or kc.safe_output_shape(model) is None


def _reconstructs(model: Any) -> bool:
    """Input and output have the same per-sample shape (an autoencoder's mark)."""
    i, o = kc.safe_input_shape(model), kc.safe_output_shape(model)
    if i is None or o is None:
        return False
    return list(i[1:]) == list(o[1:]) and len(kc.graph_inputs(model)) == 1


# -- explaining the cell's exception -------------------------------------------


def explain_cell_error(ctx: Context) -> list[Finding]:
    """AE101 / AE112 / AE100 for the exception the cell raised."""
    err = ctx.cell_error
    if err is None:
        return []
    line = ctx.cell_line(err.line)
    src = ctx.line_text(err.line)
    exc = err.exception
    if _is_error_of(kc.is_disconnect_error, exc):
        return [_explain_disconnect(ctx, err)]
    if _is_error_of(kc.is_unbuilt_error, exc):
        return [_explain_unbuilt(ctx, err)]
    where = f" on line {line}" if line else ""
    quoted = f": `{src}`" if src else ""
    after = ""
    if ctx.model is not None:
        after = f" The autoencoder `{ctx.model_name}` was built before the error and is diagnosed below."
    mismatch = _backend_mismatch(ctx)
    if mismatch is not None:
        return [_explain_backend_mismatch(ctx, err, mismatch, after)]
    from . import size_errors

    sized = size_errors.explain(ctx, err)
    if sized is not None:
        return [sized]
    return [
        Finding(
            code="AE100",
            severity="error",
            title="The cell raised an exception",
            message=f"{err.type}{where}{quoted}\n{err.message}{after}",
            line=line,
            source_line=src,
            evidence={"exception": err.type, "message": err.message[:2000]},
            fix="Fix the error above; the full traceback is in the report's `cell_error`.",
        )
    ]


def tensorflow_lines(source: str) -> list[int]:
    """Lines of ``source`` that use TensorFlow: its imports (``tensorflow.keras`` too) and ``tf.`` names other than ``tf.keras``."""
    import ast

    try:
        tree = ast.parse(source)
    except Exception:  # SyntaxError, ValueError (NUL bytes), MemoryError, RecursionError: not a TF question
        return []
    names = {"tf"}
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "tensorflow":
                    names.add(alias.asname or "tensorflow")
                    found.add(node.lineno)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "tensorflow":
            found.add(node.lineno)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in names and node.attr != "keras":
            found.add(node.lineno)
    return sorted(found)


def _backend_mismatch(ctx: Context) -> list[int] | None:
    """The cell's TensorFlow lines when Keras runs on another backend (None when there is no mismatch)."""
    backend = kc.keras.backend.backend()
    if backend == "tensorflow" or not ctx.source:
        return None
    lines = tensorflow_lines(ctx.source)
    return lines or None


def _explain_backend_mismatch(ctx: Context, err: CellError, tf_lines: list[int], after: str) -> Finding:
    backend = kc.keras.backend.backend()
    line = ctx.cell_line(err.line) if err.line else ctx.cell_line(tf_lines[0])
    src = ctx.line_text(err.line) if err.line else ctx.line_text(tf_lines[0])
    shown = ", ".join(str(ctx.cell_line(n)) for n in tf_lines[:6])
    return Finding(
        code="AE100",
        severity="error",
        title=f"The cell uses TensorFlow, but Keras runs on {backend}",
        message=(
            f"The cell raised {err.type}: {err.message.splitlines()[0][:300] if err.message else ''}\n"
            f"It uses TensorFlow (line{'s' if len(tf_lines) > 1 else ''} {shown}), while Keras runs on the "
            f"{backend} backend: TensorFlow ops can't take {backend} tensors, and model code written with `tf.` "
            f"only runs on the TensorFlow backend.{after}"
        ),
        line=line,
        source_line=src,
        evidence={"exception": err.type, "message": err.message[:2000], "backend": backend,
                  "tensorflow_lines": [ctx.cell_line(n) for n in tf_lines]},
        fix=(
            "# either write the model with keras.ops instead of tf (e.g. tf.reduce_mean -> keras.ops.mean),\n"
            "# or run this notebook on TensorFlow: set KERAS_BACKEND=tensorflow before Keras is imported"
        ),
    )


def _explain_disconnect(ctx: Context, err: CellError) -> Finding:
    line = ctx.cell_line(err.line)
    src = ctx.line_text(err.line)
    args = kc.disconnect_args(err.exception)
    declared: list[Any] = []
    outputs: list[Any] = []
    if args is not None:
        declared, outputs = args
    declared_ids = {id(t) for t in declared}
    real: list[Any] = []
    for out in outputs:
        for t in kc.source_inputs(out):
            if id(t) not in declared_ids and all(t is not r for r in real):
                real.append(t)

    local = _local_input(ctx, err.line) if declared and not ctx.var_of(declared[0]) else None

    def name(t: Any) -> str:
        if local and declared and t is declared[0]:
            return local[0]  # the function's own name for its input (`latent_inputs`), not the tensor's ("z")
        return ctx.var_of(t) or getattr(t, "name", "?")

    def at(t: Any) -> str:
        n = ctx.var_of(t)
        ln = ctx.cell_line(ctx.assign_lines.get(n)) if n else None
        return f"`{name(t)}` (line {ln})" if ln else f"`{name(t)}`"

    out_names = ", ".join(at(o) for o in outputs) or "the output"
    decl_names = ", ".join(at(t) for t in declared) or "the given inputs"
    evidence: dict[str, Any] = {
        "keras_message": err.message,
        "declared_inputs": [name(t) for t in declared],
        "outputs": [name(o) for o in outputs],
        "output_depends_on": [name(t) for t in real],
    }
    if real:
        why = (
            f"{out_names} is computed from {', '.join(at(t) for t in real)}, not from {decl_names}. "
            "Keras can only build a model whose outputs are computed from its inputs."
        )
    else:
        why = f"{out_names} cannot be reached from {decl_names}."
    fix = None
    departure = _departure(ctx, declared, outputs, local[1] if local else None) if real else None
    if departure is not None:
        # The first call after the declared input that reads a tensor of the other graph: the fix goes there.
        call, read, made = departure
        dline, dsrc = ctx.cell_line(call.line), ctx.line_text(call.line)
        why += (f" The path to the output leaves {decl_names} at line {dline}: `{dsrc}` reads `{name(read)}` "
                f"(made on line {ctx.cell_line(made)}, before `{name(declared[0])}`).")
        evidence["departs_at_line"] = dline
        evidence["reads"] = name(read)
        text = ctx.line_text(call.line) or ""
        arg = ctx.var_of(read)
        own = local[0] if local else name(declared[0])
        if arg and text.rstrip().endswith(f"({arg})"):
            fix = text.rstrip()[: -len(f"({arg})")] + f"({own})"
    if fix is None and real and declared and ctx.model is not None:
        fix = _decoder_fix(ctx, declared[0])
    if fix is None:
        fix = (
            "Build the output from the model's own input: call the layers on the input you pass to "
            "keras.Model(...), e.g.\n"
            f"x = {name(declared[0]) if declared else 'inputs'}\n"
            "for layer in decoder_layers:  # the layers you want in this model\n"
            "    x = layer(x)\n"
            f"model = keras.Model({name(declared[0]) if declared else 'inputs'}, x)"
        )
    quoted = f" (`{src}`)" if src else ""
    if departure is not None:
        line, src = ctx.cell_line(departure[0].line), ctx.line_text(departure[0].line)
    return Finding(
        code="AE101",
        severity="error",
        title="Graph disconnected: the output is not computed from the model's input",
        message=f"Line {ctx.cell_line(err.line)}{quoted}: {why}\nKeras says: {err.message}",
        line=line,
        source_line=src,
        evidence=evidence,
        fix=fix,
    )


def _local_input(ctx: Context, line: int | None) -> tuple[str, int] | None:
    """``(name, line)`` of the input a function of the cell binds and passes to the failing ``keras.Model(...)``
    call on source line ``line``: a decoder built inside ``build_decoder()`` (round 64's cp08), whose
    ``latent_inputs`` is a local the namespace never sees."""
    import ast

    try:
        tree = ast.parse(ctx.source or "")
    except SyntaxError:
        return None
    for fn in (n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))):
        if line is None or not fn.lineno <= line <= (fn.end_lineno or fn.lineno):
            continue
        call = next((n for n in ast.walk(fn) if isinstance(n, ast.Call) and n.lineno == line and n.args
                     and ast.unparse(n.func).split(".")[-1] in ("Model", "Functional")), None)
        first = call.args[0] if call is not None else None
        if not isinstance(first, ast.Name):
            continue
        binds = [n for n in ast.walk(fn) if isinstance(n, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == first.id for t in n.targets)]
        if binds:
            return first.id, min(b.lineno for b in binds)
    return None


def _departure(
    ctx: Context, declared: list[Any], outputs: list[Any], start: int | None = None
) -> tuple[LayerCall, Any, int] | None:
    """``(call, tensor it reads, the line that made that tensor)``: the earliest layer call on the way to
    ``outputs``, written after the declared input, that reads a tensor made before it (round 61's ck08: the
    standalone decoder's first ``Dense(...)(z)`` reads the encoder's ``z`` instead of ``latent_inputs``);
    None when there is none."""
    if not declared:
        return None
    var = ctx.var_of(declared[0])
    start = ctx.assign_lines.get(var) if var else start  # else: the function-local input's line, if any
    if start is None:
        return None

    def made_at(t: Any) -> int | None:
        call = ctx.call_for_output(t)
        if call is not None:
            return call.line
        n = ctx.var_of(t)
        return ctx.assign_lines.get(n) if n else None

    best: tuple[LayerCall, Any, int] | None = None
    stack, seen = list(outputs), set()
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        call = ctx.call_for_output(t)
        if call is None:
            continue
        for inp in call.inputs:
            before = made_at(inp)
            if (call.line is not None and call.line > start and before is not None and before < start
                    and (best is None or call.line < best[0].line)):
                best = (call, inp, before)
            stack.append(inp)
    return best


def _decoder_fix(ctx: Context, latent_input: Any) -> str | None:
    """The classic standalone-decoder fix: re-apply the autoencoder's decoder layers."""
    g = ctx.graph
    model = ctx.model
    try:
        width = kc.width_of(latent_input.shape)
        layers = [lyr for lyr in model.layers if not isinstance(lyr, kc.keras.layers.InputLayer)]
        # Decoder layers: those after the last layer whose output has the latent's width.
        idx = max(
            (i for i, lyr in enumerate(layers) if kc.width_of(getattr(lyr, "output", None).shape) == width),
            default=None,
        )
    except Exception:
        return None
    if idx is None or idx + 1 >= len(layers):
        return None
    n = len(layers) - idx - 1
    lat = ctx.var_of(latent_input) or "latent_input"
    _ = g
    return (
        f"# reuse the trained decoder layers of `{ctx.model_name}` on `{lat}`\n"
        f"x = {lat}\n"
        f"for layer in {ctx.model_name}.layers[-{n}:]:\n"
        "    x = layer(x)\n"
        f"decoder = keras.Model({lat}, x)"
    )


def _explain_unbuilt(ctx: Context, err: CellError) -> Finding:
    line = ctx.cell_line(err.line)
    src = ctx.line_text(err.line)
    built = ctx.built_from_data
    msg = (
        f"Line {line}: {err.message.rstrip('.')}. A Sequential model without `keras.Input(...)` has no input "
        "shape until it is called or built, so `.input`/`.output` do not exist yet (Keras 3 raises "
        "AttributeError where Keras 2 built it silently)."
    )
    if built:
        shape = tuple(ctx.data.shape[1:]) if ctx.data is not None else ()
        msg += f" ae_magic built it from the data's shape {shape} on a copy to continue the diagnosis."
    elif ctx.data is None:
        msg += " Pass --data so ae_magic can build it from the data's shape and continue."
    shape_txt = str(tuple(ctx.data.shape[1:])) if ctx.data is not None else "(n_features,)"
    return Finding(
        code="AE112",
        severity="warning" if built else "error",
        title="Model used before it has an input shape",
        message=msg,
        line=line,
        source_line=src,
        evidence={"exception": err.type, "keras_message": err.message, "built_from_data": built},
        fix=f"Start the Sequential with an Input layer:\nkeras.Sequential([keras.Input(shape={shape_txt}), ...])",
    )


def rerun_with_autobuild(ctx: Context) -> bool:
    """After an AE112 error, re-run the cell on a scratch namespace with the first
    unbuilt Sequential built from the data's shape; diagnose what that builds.

    The user's namespace is not touched: the scratch run starts from a shallow
    copy of the namespace as it was before the cell.
    """
    if ctx.data is None or ctx.source is None or ctx.cell_error is None:
        return False
    if not _is_error_of(kc.is_unbuilt_error, ctx.cell_error.exception):
        return False
    scratch = dict(ctx.pre_namespace)
    sub = Context(source=ctx.source, namespace=scratch, options=ctx.options)
    shape = tuple(int(d) for d in ctx.data.shape[1:])
    with kc.autobuild_sequential(shape) as built:
        run_cell(sub, ctx.source)
    if not built or sub.cell_error is not None:
        return False
    choose_model(sub)
    if sub.model is None:
        return False
    ctx.model, ctx.model_name = sub.model, sub.model_name
    ctx.other_models = sub.other_models
    ctx.calls = sub.calls
    ctx.bound = sub.bound
    ctx.assign_lines = sub.assign_lines
    ctx.creation_lines = sub.creation_lines
    # Names now refer to the scratch run's objects; the user's dict is untouched.
    ctx.namespace = scratch
    ctx.built_from_data = True
    ctx.notes = [*sub.notes]
    ctx.notes.append(
        f"`{ctx.model_name}` was diagnosed on a scratch copy of the cell, with the unbuilt Sequential "
        f"built from the data's shape {shape}; your namespace is as the cell left it."
    )
    return True
